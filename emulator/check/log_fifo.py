"""Watching a logging plugin's FIFO from dockerd's side of it.

dockerd holds its end of the FIFO open read-write and removes the file once
``StopLogging`` is answered; what the plugin did with its end is visible only through
the pipe itself.  A :class:`FifoProbe` opens the FIFO a second time, read-only and
non-blocking, while the container runs, and never reads from it while the plugin may:
it keeps the pipe alive after dockerd and the plugin let go, so it tells

* how many bytes are in the pipe that nobody has read (``FIONREAD``), against the pipe's
  capacity (``F_GETPIPE_SZ``): a full pipe is a container blocked on its output;
* who else still holds the FIFO open (every process's ``/proc/PID/fd``, matched by
  device and inode, so a plugin in another mount namespace is found too);
* once nobody else holds it, the records the plugin never read (:meth:`FifoProbe.take`).

Waiting for a plugin to read or close is waiting for real work: :meth:`FifoProbe.settle`
polls in real time, marked as real I/O (virtual time stands still meanwhile), within a
bound of real seconds.
"""

from __future__ import annotations

import array
import errno
import fcntl
import os
import termios
import time
from pathlib import Path

import attrs

from emulator.clock import real_io, real_sleep
from emulator.protocol.logdriver.entry import FrameDecoder, FrameError, LogRecord

__all__ = ["FifoProbe", "Holder", "Settled"]

#: Real seconds between two looks at the pipe while waiting for the plugin.
_POLL = 0.01
#: ``/proc/PID/fd`` links that cannot be the FIFO (no stat needed).
_NOT_FILES = ("socket:", "pipe:", "anon_inode:")
_ACCESS = {os.O_RDONLY: "read", os.O_WRONLY: "write", os.O_RDWR: "read-write"}
_O_PATH = 0o10000000


@attrs.frozen
class Holder:
    """One open file descriptor of the FIFO in some process."""

    pid: int
    fd: int
    access: str
    """``read``, ``write``, ``read-write`` or ``path`` (an ``O_PATH`` handle)."""
    command: str

    def describe(self) -> str:
        return f"{self.command} (pid {self.pid}) fd {self.fd} open for {self.access}"


@attrs.frozen
class Settled:
    """What :meth:`FifoProbe.settle` found when the wait ended."""

    unread: int
    """Bytes in the pipe nobody has read."""
    holders: tuple[Holder, ...]
    """Who else still holds the FIFO open."""
    complete: bool
    """False when some process's descriptors could not be read (not root)."""
    waited: float
    """Real seconds the wait took."""


class FifoProbe:
    """A second, read-only descriptor of a FIFO; see the module docstring."""

    def __init__(self, path: Path, fd: int, identity: tuple[int, int]) -> None:
        self.path = path
        self.fd = fd
        self.identity = identity
        """The FIFO's ``(st_dev, st_ino)``: it outlives the file's name."""

    @classmethod
    def open(cls, path: Path) -> FifoProbe | None:
        """Open ``path`` (None when it is gone already)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        info = os.fstat(fd)
        return cls(path, fd, (info.st_dev, info.st_ino))

    def close(self) -> None:
        """Close the probe (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def unread(self) -> int:
        """Bytes in the pipe that nobody has read."""
        count = array.array("i", [0])
        fcntl.ioctl(self.fd, termios.FIONREAD, count, True)
        return int(count[0])

    def capacity(self) -> int:
        """How many bytes the pipe holds before a writer blocks."""
        return int(fcntl.fcntl(self.fd, fcntl.F_GETPIPE_SZ))

    def holders(self) -> tuple[list[Holder], bool]:
        """Every other open descriptor of the FIFO, and whether every process was seen."""
        found: list[Holder] = []
        complete = True
        me = os.getpid()
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                names = os.listdir(f"/proc/{pid}/fd")
            except FileNotFoundError:
                continue
            except PermissionError:
                complete = False
                continue
            for name in names:
                if pid == me and int(name) == self.fd:
                    continue
                holder = self._holder(pid, int(name))
                if holder is not None:
                    found.append(holder)
        return found, complete

    def _holder(self, pid: int, fd: int) -> Holder | None:
        link = f"/proc/{pid}/fd/{fd}"
        try:
            if os.readlink(link).startswith(_NOT_FILES):
                return None
            info = os.stat(link)
        except OSError:
            return None
        if (info.st_dev, info.st_ino) != self.identity:
            return None
        return Holder(pid, fd, _access(pid, fd), _command(pid))

    async def settle(self, bound: float) -> Settled:
        """Wait (real time, at most ``bound`` seconds) until nobody else holds the FIFO."""
        began = time.monotonic()
        with real_io():
            while True:
                holders, complete = self.holders()
                waited = time.monotonic() - began
                if not holders or waited >= bound:
                    return Settled(self.unread(), tuple(holders), complete, waited)
                await real_sleep(_POLL)

    def take(self) -> tuple[list[LogRecord], str]:
        """Read what is left in the pipe (only once nobody else can): its records, and a
        note when the bytes do not decode."""
        data = bytearray()
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    break
                raise
            if not chunk:
                break
            data += chunk
        decoder = FrameDecoder()
        try:
            records = decoder.feed(bytes(data))
        except FrameError as exc:
            return [], f"the bytes left do not decode: {exc}"
        return records, ""


def _access(pid: int, fd: int) -> str:
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}") as info:
            for line in info:
                if line.startswith("flags:"):
                    flags = int(line.split()[1], 8)
                    if flags & _O_PATH:
                        return "path"
                    return _ACCESS.get(flags & os.O_ACCMODE, "?")
    except (OSError, ValueError):
        pass
    return "?"


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"
