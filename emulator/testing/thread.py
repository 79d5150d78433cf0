"""An engine in a background thread: its own trio run, driven from synchronous code.

:class:`EngineThread` opens :func:`~emulator.open_engine` inside ``trio.run`` on a thread
and hands work to it with ``trio.from_thread``.  Tasks a test starts (plugin processes,
mock plugins) live in a :class:`TaskScope` owned by the thread's root nursery; closing the
scope cancels them and waits until they are gone, so nothing outlives its test, and
closing the thread ends the trio run.

Time: with a :class:`~emulator.clock.VirtualClock` (``clock=``), the run is on virtual
time: dockerd's 2-minute ``Mount`` deadline or an injected 150 s delay cost no wall time,
while real plugin I/O still completes (docs/virtual-time.md).  Without one, trio's real
clock.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import trio

from emulator.api.clients import ApiEndpoint
from emulator.clock import VirtualClock
from emulator.engine.core import Engine, open_engine

__all__ = ["EngineThread", "TaskScope"]

T = TypeVar("T")


class TaskScope:
    """A nursery held open in the engine thread; tasks started in it end with :meth:`aclose`."""

    def __init__(self) -> None:
        self.nursery: trio.Nursery | None = None
        self._cancel = trio.CancelScope()
        self._done = trio.Event()

    async def hold(
        self, *, task_status: trio.TaskStatus[TaskScope] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the nursery until :meth:`aclose` (start it with ``nursery.start``)."""
        try:
            with self._cancel:
                async with trio.open_nursery() as nursery:
                    self.nursery = nursery
                    task_status.started(self)
                    await trio.sleep_forever()
        finally:
            self.nursery = None
            self._done.set()

    async def aclose(self) -> None:
        """Cancel every task in the scope and wait until they have finished."""
        self._cancel.cancel()
        await self._done.wait()


class EngineThread:
    """One emulated dockerd running in a daemon thread; see the module docstring."""

    def __init__(
        self, root: Path, *, clock: VirtualClock | None = None, **engine_options: Any
    ) -> None:
        self.root = root
        self.clock = clock
        self._options = engine_options
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._nursery: trio.Nursery | None = None
        self._engine: Engine | None = None
        self._error: BaseException | None = None
        self.endpoint = ApiEndpoint(root / "docker.sock")
        """The engine's Engine API, served from the first ``plugin_engine.docker(...)``."""

    @property
    def engine(self) -> Engine:
        """The running engine (use it only from code run with :meth:`run`)."""
        if self._engine is None:
            raise RuntimeError("the engine thread is not running")
        return self._engine

    def start(self) -> None:
        """Start the thread and wait until the engine is up (its error is raised here)."""
        self._thread = threading.Thread(
            target=trio.run,
            args=(self._main,),
            kwargs={"clock": None if self.clock is None else self.clock.clock},
            name=f"emulator-engine {self.root}",
            daemon=True,
        )
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    async def _main(self) -> None:
        try:
            async with (
                trio.open_nursery() as nursery,
                open_engine(root=self.root, **self._options) as engine,
            ):
                self._nursery, self._engine = nursery, engine
                self._token = trio.lowlevel.current_trio_token()
                self._stop = trio.Event()
                self._ready.set()
                await self._stop.wait()
                nursery.cancel_scope.cancel()
        except BaseException as exc:
            self._error = exc
            raise
        finally:
            self._engine = None
            self._ready.set()

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Await ``fn(*args, **kwargs)`` in the engine thread and return its result."""
        return trio.from_thread.run(
            functools.partial(fn, *args, **kwargs), trio_token=self._live_token()
        )

    def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``fn(*args, **kwargs)`` in the engine thread and return its result."""
        return trio.from_thread.run_sync(
            functools.partial(fn, *args, **kwargs), trio_token=self._live_token()
        )

    def open_scope(self) -> TaskScope:
        """A new :class:`TaskScope` in the engine thread's root nursery."""

        async def opened() -> TaskScope:
            assert self._nursery is not None
            scope: TaskScope = await self._nursery.start(TaskScope().hold)
            return scope

        return self.run(opened)

    def use_real_time(self, real: bool) -> None:
        """Run on the wall clock's rate (True) or on virtual time (False).

        Only an engine started with a :class:`~emulator.clock.VirtualClock` can switch;
        without one it always runs on trio's real clock, and asking for virtual time is an
        error.
        """
        clock = self.clock
        if clock is None:
            if not real:
                raise RuntimeError("this engine thread runs on trio's real clock: no virtual time")
            return

        def switch() -> None:
            assert clock is not None
            clock.real_time = real

        self.run_sync(switch)

    def _live_token(self) -> trio.lowlevel.TrioToken:
        if self._token is None or self._engine is None:
            raise RuntimeError(f"the engine thread has stopped: {self._error!r}")
        return self._token

    def close(self) -> None:
        """End the trio run (the engine closes, every scope's tasks end) and join the thread."""
        if self._thread is None:
            return
        if self._stop is not None and self._engine is not None:
            self.run_sync(self._stop.set)
        self._thread.join()
        self._thread = None
