"""The real processes of a container service: start, supervise, signal, stop, reap.

:class:`ProcessTable` keeps what a running container has besides its record: the
process (:class:`~emulator.engine.container_runtime.RunningProcess`), its streams
(:class:`~emulator.engine.streams.ContainerStreams`) and json-file log
(:class:`~emulator.engine.json_log.JsonFileLog`).  The container service decides which
containers run processes and calls in here; the exit goes back through its ``on_exit``
callback (dockerd's ``handleContainerExit``).

Time: signals and the exits they cause are real; timeouts are the engine's.  Waiting for
a process's exit is real I/O (:func:`emulator.clock.real_io`): under a
:class:`~emulator.clock.VirtualClock` virtual time stands still while the process has
its ``grace`` of real seconds to exit, so a process that ends at ``docker stop``'s
SIGTERM is seen before the 10 s timeout, and one that ignores SIGTERM is SIGKILLed once
the grace is over and virtual time jumps to the timeout (docs/containers.md, "Time").
"""

from __future__ import annotations

import logging
import math
import signal
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Final

import trio

from emulator.clock import real_io
from emulator.engine.container_model import Container, ContainerError
from emulator.engine.container_runtime import ContainerRuntime, RunningProcess, SetKey
from emulator.engine.json_log import JsonFileLog
from emulator.engine.streams import ContainerStreams, OutputWriter

__all__ = ["KILL_WAIT", "ProcessTable"]

LOG = logging.getLogger("emulator.containers")

#: How long ``Daemon.Kill`` waits for the exit after SIGKILL (engine seconds).
KILL_WAIT: Final = 10.0

Emit = Callable[[Container, str, Mapping[str, str]], None]


class ProcessTable:
    """Running processes, streams and logs of one container service."""

    def __init__(
        self,
        runtime: ContainerRuntime,
        root: Path,
        now_ns: Callable[[], int],
        nursery: trio.Nursery,
        emit: Emit,
        exited: Callable[[Container], trio.Event],
        on_exit: Callable[[Container, int], Awaitable[None]],
    ) -> None:
        self.runtime = runtime
        self._root = root
        self._now_ns = now_ns
        self._nursery = nursery
        self._emit = emit
        self._exited = exited
        self._on_exit = on_exit
        self._running: dict[str, RunningProcess] = {}
        self._streams: dict[str, ContainerStreams] = {}
        self._logs: dict[str, JsonFileLog] = {}
        self._finished: dict[str, trio.Event] = {}

    # -- what a container has ------------------------------------------------------------

    def streams(self, container: Container) -> ContainerStreams:
        """The container's standard streams (attach, stdin)."""
        return self._streams.setdefault(container.id, ContainerStreams())

    def log(self, container: Container) -> JsonFileLog:
        """The container's json-file log (``DATA_ROOT/containers/<id>/<id>-json.log``)."""
        found = self._logs.get(container.id)
        if found is None:
            path = self._root / container.id / f"{container.id}-json.log"
            found = self._logs[container.id] = JsonFileLog(path, self._now_ns)
        return found

    def get(self, container: Container) -> RunningProcess | None:
        """The container's running process, if it runs a real one."""
        return self._running.get(container.id)

    # -- start and exit ------------------------------------------------------------------

    async def start(
        self,
        container: Container,
        *,
        set_key: SetKey | None,
        writers: list[OutputWriter] | None = None,
    ) -> None:
        """Launch the process; its output flows to the streams and ``writers`` from now on
        (default: the json-file log; the log driver's copier when the container has one)."""
        running = await self.runtime.launch(container, self._root / container.id, set_key=set_key)
        self._running[container.id] = running
        self._finished[container.id] = trio.Event()
        if writers is None:
            log = self.log(container)
            log.begin()
            writers = [log.write]
        self.streams(container).begin(running.process.stdin, writers)
        self._nursery.start_soon(self._supervise, container, running)

    async def _supervise(self, container: Container, running: RunningProcess) -> None:
        finished = self._finished[container.id]
        try:
            code = await running.supervise(self.streams(container))
            if not running.abandoned:
                await self._on_exit(container, code)
        finally:
            finished.set()

    async def finished(self, container: Container) -> None:
        """Until the last run's exit handling is over (``--rm`` removal included)."""
        event = self._finished.get(container.id)
        if event is not None:
            with real_io():
                await event.wait()

    async def ended(self, container: Container) -> None:
        """At the exit: the run's streams end and its log is closed (``Reset``)."""
        container.pid = 0
        if self._running.pop(container.id, None) is not None:
            await self.streams(container).end()
            if self.log(container).open:
                await self.log(container).close()

    def forget(self, container_id: str) -> None:
        """The container is removed: attachments end, its log is forgotten."""
        self._logs.pop(container_id, None)
        self._finished.pop(container_id, None)
        streams = self._streams.pop(container_id, None)
        if streams is not None:
            streams.end_all()

    def abandon_all(self) -> None:
        """The engine crashed: every process SIGKILLed now, no exit handled."""
        for running in self._running.values():
            running.abandoned = True
            running.process.kill_now()
        self._running.clear()

    def clear(self) -> None:
        """A new daemon: nothing runs, nothing is attached."""
        self.abandon_all()
        self._streams.clear()
        self._logs.clear()

    # -- signals -------------------------------------------------------------------------

    async def stop(self, container: Container, signum: int, timeout: float) -> None:
        """``containerStop`` for a process: the signal, the timeout, then SIGKILL."""
        running = self._running[container.id]
        self._emit(container, "kill", {"signal": str(signum)})
        running.process.signal(signum)
        if await self.exited_within(container, timeout) or signum == signal.SIGKILL:
            return
        LOG.info(
            "Container failed to exit within %gs of signal %d - using the force", timeout, signum
        )
        await self.force_kill(container)

    async def force_kill(self, container: Container) -> None:
        """``Daemon.Kill``: SIGKILL, then the exit waited for (:data:`KILL_WAIT` seconds)."""
        running = self._running.get(container.id)
        self._emit(container, "kill", {"signal": str(int(signal.SIGKILL))})
        if running is not None:
            running.process.signal(signal.SIGKILL)
        if not await self.exited_within(container, KILL_WAIT):
            raise ContainerError(
                f"Cannot kill container {container.id}: tried to kill container, but did "
                "not receive an exit event"
            )

    def signal(self, container: Container, signum: int) -> None:
        """``killWithSignal``: send it, log the ``kill`` event, do not wait."""
        running = self._running[container.id]
        running.process.signal(signum)
        self._emit(container, "kill", {"signal": str(signum)})

    async def exited_within(self, container: Container, timeout: float) -> bool:
        """Whether the exit is handled within ``timeout`` engine seconds (negative: ever)."""
        exited = self._exited(container)
        with real_io(), trio.move_on_after(timeout if timeout >= 0 else math.inf):
            await exited.wait()
        return exited.is_set()

    async def wait(self, container: Container) -> None:
        """Until the exit is handled (real I/O: see the module docstring)."""
        with real_io():
            await self._exited(container).wait()
