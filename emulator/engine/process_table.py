"""The process table as a plugin host reads it: process groups, states, pipe holders (Linux /proc).

Small helpers for :mod:`emulator.engine.processes`; every wait is on the real clock.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import signal
import socket as _stdsocket
import struct
import termios
import time
from pathlib import Path

import trio

from emulator.clock import real_sleep

__all__ = [
    "accepts_connections",
    "bytes_pending",
    "group_members",
    "is_alive",
    "kill_pipe_holders",
    "pipe_holders",
    "proc_state",
    "status_text",
    "wait_real",
]


def bytes_pending(fd: int) -> int:
    """How many bytes wait to be read from the pipe ``fd`` (0 when it is closed)."""
    try:
        raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    return int(struct.unpack("i", raw)[0])


def status_text(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"{code} ({signal.Signals(-code).name})"
    return str(code)


async def accepts_connections(path: Path) -> bool:
    sock = trio.socket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_STREAM)
    try:
        await sock.connect(str(path))
    except OSError:
        return False
    finally:
        sock.close()
    return True


async def wait_real(event: trio.Event, timeout: float) -> bool:
    """Wait for ``event`` at most ``timeout`` real seconds; True if it is set."""
    if not event.is_set() and timeout > 0:
        async with trio.open_nursery() as nursery:

            async def alarm() -> None:
                await real_sleep(timeout)
                nursery.cancel_scope.cancel()

            if math.isfinite(timeout):
                nursery.start_soon(alarm)
            await event.wait()
            nursery.cancel_scope.cancel()
    return event.is_set()


def proc_stat(pid: str) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def proc_state(pid: int) -> str:
    fields = proc_stat(str(pid))
    return fields[0] if fields else ""


def is_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    return proc_state(pid) not in ("", "Z")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = proc_stat(entry)
            if fields and fields[0] != "Z" and fields[2] == str(pgid):
                members.append(int(entry))
    return members


def pipe_holders(inodes: set[int]) -> list[int]:
    """Other processes holding one of the pipes ``inodes`` open."""
    wanted = {f"pipe:[{inode}]" for inode in inodes}
    holders = []
    me = str(os.getpid())
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or entry == me:
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/fd/{fd}") in wanted:
                        holders.append(int(entry))
                        break
    return holders


async def kill_pipe_holders(inodes: set[int], plugin: str, wait: float) -> None:
    """SIGKILL the processes outside a plugin's group that hold its output pipes (a
    daemonized child), each with a warning; wait up to ``wait`` real seconds for them."""
    escaped = pipe_holders(inodes)
    for pid in escaped:
        logging.getLogger("emulator.plugin").warning(
            "plugin %s: killing pid %d, which left the process group but holds its output",
            plugin,
            pid,
            extra={"plugin": plugin},
        )
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + wait
    while any(is_alive(pid) for pid in escaped) and time.monotonic() < deadline:
        await real_sleep(0.01)  # its pipes close a moment before it is gone
