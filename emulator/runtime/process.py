"""The engine's side of a real container process: start it in two steps, signal it, reap it.

:class:`ContainerProcess` follows containerd's task life: :meth:`~ContainerProcess.create`
starts the shim and PID 1 and waits until PID 1 has set everything up (``ready``),
:meth:`~ContainerProcess.start` lets it ``execve`` the command (``go``).  Between the two,
the caller knows PID 1's host PID (:attr:`~ContainerProcess.pid`) and configures its
network namespace, as dockerd's prestart hook does.  :class:`ExecProcess` is
``docker exec``'s process in a running container.

PID 1 talks to the engine through two FIFOs in the container's directory (``status``,
JSON lines from PID 1; ``go``, one byte to PID 1), as runc's ``exec.fifo``: paths, not
inherited descriptors, because the shim would otherwise hold their other ends.

Time: spawning and the set-up handshake are real-world I/O (``real_io``) bounded by
:data:`START_TIMEOUT` real seconds.  Waiting for the process's exit is the caller's to
bound (see docs/containers.md, "Time").  Signals go through a pidfd, so a PID the kernel
reused after the exit can never be signalled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import trio

from emulator.clock import real_io, real_sleep
from emulator.errors import EngineError

__all__ = ["ContainerProcess", "ExecProcess", "ProcessStartError", "docker_exit_code"]

LOG = logging.getLogger("emulator.runtime")

INIT: Final = Path(__file__).with_name("init.py")
#: Real seconds PID 1 may take to report ``ready`` (or an exec to report its PID).
START_TIMEOUT: Final = 30.0
#: Real seconds a SIGKILLed process tree may take to disappear before we give up on it.
KILL_WAIT: Final = 10.0


class ProcessStartError(EngineError):
    """The process could not start; ``str()`` is the runtime's text, ``exit_code`` dockerd's.

    ``exit_code``: 127 (command not found, bad mount), 126 (not executable), 128 (other),
    as dockerd's ``setExitCodeFromError`` sets them.
    """

    default_hint = (
        "the container's command could not be started: check that it exists in the busybox "
        "userland every container gets (docs/containers.md) and that its mounts' sources exist"
    )

    def __init__(self, text: str, *, exit_code: int = 128) -> None:
        super().__init__(text)
        self.exit_code = exit_code


def docker_exit_code(returncode: int) -> int:
    """A reaped process's status as dockerd reports it: the code, or 128 + the signal."""
    return 128 - returncode if returncode < 0 else returncode & 0xFF


def _start_exit_code(text: str) -> int:
    """``setExitCodeFromError``: 126 for permission errors, 127 for missing things."""
    lowered = text.lower()
    if "permission denied" in lowered or "is a directory" in lowered:
        return 126
    if any(
        part in lowered
        for part in ("executable file not found", "no such file or directory", "not a directory")
    ):
        return 127
    return 128


class _Fifo:
    """A FIFO in the container's directory, opened on the engine's side."""

    def __init__(self, path: Path, flags: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.mkfifo(path, 0o600)
        self.path = path
        self.fd: int | None = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class _Handshake:
    """JSON lines from PID 1 on the status FIFO."""

    def __init__(self, directory: Path, prefix: str) -> None:
        self.status = _Fifo(directory / f"{prefix}status", os.O_RDONLY)
        # A writer of our own, so end-of-file means nothing until PID 1 has opened it.
        self._dummy: int | None = os.open(self.status.path, os.O_WRONLY | os.O_NONBLOCK)
        assert self.status.fd is not None
        self._stream = trio.lowlevel.FdStream(os.dup(self.status.fd))
        self._buffer = b""

    def peer_opened(self) -> None:
        if self._dummy is not None:
            os.close(self._dummy)
            self._dummy = None

    async def message(self) -> dict[str, Any] | None:
        """The next message; None at end-of-file (PID 1 closed it: exec'd or gone)."""
        while b"\n" not in self._buffer:
            chunk = await self._stream.receive_some(65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        value = json.loads(line)
        assert isinstance(value, dict)
        return value

    async def aclose(self) -> None:
        self.peer_opened()
        await self._stream.aclose()
        self.status.close()


class _Process:
    """What a container process and an exec process share: the spawn, the handshake, exit."""

    def __init__(self, directory: Path, name: str, plan: dict[str, Any], *, stdin: bool) -> None:
        self.directory = directory
        self.name = name
        self.plan = plan
        self.open_stdin = stdin
        self.proc: trio.Process | None = None
        self.pid: int | None = None
        """The command's host PID (PID 1 of the container, or the exec'd process)."""
        self._pidfd: int | None = None
        self._handshake: _Handshake | None = None
        self.returncode: int | None = None

    @property
    def stdout(self) -> trio.abc.ReceiveStream:
        assert self.proc is not None
        assert self.proc.stdout is not None
        return self.proc.stdout

    @property
    def stderr(self) -> trio.abc.ReceiveStream:
        assert self.proc is not None
        assert self.proc.stderr is not None
        return self.proc.stderr

    @property
    def stdin(self) -> trio.abc.SendStream | None:
        return None if self.proc is None else self.proc.stdin

    def _argv(self, config: Path) -> list[str]:
        raise NotImplementedError

    async def _spawn(self, prefix: str) -> None:
        self._handshake = _Handshake(self.directory, prefix)
        self.plan["status_fifo"] = str(self._handshake.status.path)
        config = self.directory / f"{prefix}config.json"
        config.write_text(json.dumps(self.plan))
        config.chmod(0o600)
        argv = self._argv(config)
        try:
            self.proc = await trio.lowlevel.open_process(
                argv,
                stdin=subprocess.PIPE if self.open_stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
        except OSError as exc:
            await self._handshake.aclose()
            self._handshake = None
            raise ProcessStartError(f"cannot start {argv[0]}: {exc}") from None

    async def _await(self, wanted: str) -> dict[str, Any] | None:
        """The next message with ``wanted``; None at end-of-file; errors raised.

        Real time, at most :data:`START_TIMEOUT` seconds.  Once the process is gone the
        FIFO's last writer is closed, so what it said is still read, then end-of-file.
        """
        assert self._handshake is not None
        assert self.proc is not None
        handshake, proc = self._handshake, self.proc
        found: dict[str, Any] | None = None

        async def read() -> None:
            nonlocal found
            while True:
                message = await handshake.message()
                if message is None or "error" in message or wanted in message:
                    found = message
                    return
                if "pid" in message:
                    self._learn_pid(int(message["pid"]))
                    handshake.peer_opened()

        async def exited() -> None:
            await proc.wait()
            handshake.peer_opened()

        timed_out = True
        with real_io():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_cancel_after_real, nursery.cancel_scope, START_TIMEOUT)
                nursery.start_soon(exited)

                async def reader() -> None:
                    nonlocal timed_out
                    await read()
                    timed_out = False
                    nursery.cancel_scope.cancel()

                nursery.start_soon(reader)
        if timed_out:
            raise ProcessStartError(
                f"container init did not get ready within {START_TIMEOUT:g}s (real time)"
            )
        if found is not None and "error" in found:
            text = str(found["error"])
            raise ProcessStartError(text, exit_code=_start_exit_code(text))
        return found

    async def _ready(self, when: str) -> None:
        """Wait for ``ready``; end-of-file first means the init died without a word."""
        if await self._await("ready") is None:
            code = self.proc.returncode if self.proc is not None else None
            status = "unknown" if code is None else str(docker_exit_code(code))
            raise ProcessStartError(f"container init exited with status {status} {when}")

    def _learn_pid(self, pid: int) -> None:
        self.pid = pid
        try:
            self._pidfd = os.pidfd_open(pid)
        except OSError:  # gone already: its exit will be seen through the shim
            self._pidfd = None

    def signal(self, signum: int) -> bool:
        """Send ``signum`` to the command (never to a reused PID); False if it is gone."""
        if self._pidfd is None:
            return False
        try:
            signal.pidfd_send_signal(self._pidfd, signum)
        except ProcessLookupError:
            return False
        return True

    async def wait(self) -> int:
        """Until the process (and, for a container, everything in it) is gone: dockerd's code."""
        assert self.proc is not None
        await self.proc.wait()
        assert self.proc.returncode is not None
        self.returncode = self.proc.returncode
        return docker_exit_code(self.proc.returncode)

    def kill_now(self) -> None:
        """SIGKILL the command (or the shim, if the command's PID is unknown); no waiting."""
        if self.proc is None or self.proc.returncode is not None:
            return
        if not self.signal(signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)

    async def kill(self) -> None:
        """:meth:`kill_now`, then wait (real time, at most :data:`KILL_WAIT`) for the reaping."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.kill_now()
        with real_io(), trio.CancelScope(shield=True):
            deadline = time.monotonic() + KILL_WAIT
            while self.proc.returncode is None and time.monotonic() < deadline:
                with trio.move_on_after(0.05) as scope:
                    scope.shield = True
                    await self.proc.wait()
                if self.proc.returncode is None:
                    await real_sleep(0.01)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc.returncode is None:
            LOG.error(
                "container %s: process %s survived SIGKILL for %gs (uninterruptible sleep?)",
                self.name,
                self.proc.pid,
                KILL_WAIT,
            )

    async def aclose(self) -> None:
        """Kill what is left, close pipes, FIFOs and the pidfd."""
        with trio.CancelScope(shield=True):
            await self.kill()
            if self._handshake is not None:
                await self._handshake.aclose()
                self._handshake = None
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
            if self.proc is not None:
                for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                    if stream is not None:
                        await stream.aclose()


class ContainerProcess(_Process):
    """A container's PID 1 under its busybox ``unshare`` shim; see the module docstring."""

    def __init__(
        self,
        directory: Path,
        name: str,
        plan: dict[str, Any],
        *,
        busybox: Path,
        stdin: bool = False,
        new_network: bool = True,
        rootless: bool = False,
    ) -> None:
        super().__init__(directory, name, plan, stdin=stdin)
        self.busybox = busybox
        self.new_network = new_network
        self.rootless = rootless
        self._go: _Fifo | None = None

    def _argv(self, config: Path) -> list[str]:
        flags = ["-p", "-f", "-m", "-u", "-i"]
        if self.new_network:
            flags.append("-n")
        if self.rootless:
            flags.append("-r")
        return [
            str(self.busybox),
            "unshare",
            *flags,
            "--propagation",
            "private",
            "--",
            sys.executable,
            "-I",
            "-S",
            "-B",
            str(INIT),
            str(config),
        ]

    async def create(self) -> None:
        """Start the shim and PID 1; return once PID 1 is ``ready`` (its PID is known)."""
        self._go = _Fifo(self.directory / "init-go", os.O_RDWR)
        self.plan["go_fifo"] = str(self._go.path)
        self.plan["new_network"] = self.new_network
        self.plan["process"]["in_user_namespace"] = self.rootless
        try:
            with real_io():
                await self._spawn("init-")
            await self._ready("before it was ready")
        except BaseException:
            with trio.CancelScope(shield=True):
                await self.aclose()
            raise

    async def start(self) -> None:
        """``go``: PID 1 ``execve``\\ s the command; errors of the exec itself are raised."""
        assert self._go is not None
        assert self._go.fd is not None
        os.write(self._go.fd, b"g")
        self._go.close()
        try:
            await self._await("never")  # end-of-file: the command was exec'd (or ended)
        except ProcessStartError:
            with trio.CancelScope(shield=True):
                await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._go is not None:
            self._go.close()  # PID 1 still waiting for "go" sees end-of-file and leaves
            self._go = None
        await super().aclose()


class ExecProcess(_Process):
    """``docker exec``: a process in a running container's namespaces (its init waits)."""

    def _argv(self, config: Path) -> list[str]:
        return [sys.executable, "-I", "-S", "-B", str(INIT), str(config)]

    async def start(self, prefix: str) -> None:
        """Spawn it; return once the command was exec'd (errors raised with dockerd's codes)."""
        try:
            with real_io():
                await self._spawn(prefix)
            await self._ready("before it ran the command")
        except BaseException:
            with trio.CancelScope(shield=True):
                await self.aclose()
            raise


async def _cancel_after_real(scope: trio.CancelScope, seconds: float) -> None:
    await real_sleep(seconds)
    scope.cancel()


def kill_stray(pids: Sequence[int]) -> None:
    """SIGKILL processes left by an engine that died (recorded shims), ignoring the gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
