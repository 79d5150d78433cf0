"""``docker start`` and what follows until the exit (moby/moby ``daemon/start.go``
``containerStart``, v28.5.2), a part of :class:`~emulator.engine.containers.ContainerService`.

In dockerd's order: the volumes mounted, then either the command as a real process
(``NewTask``: the log driver started in ``InitializeStdio``, ``SetKey`` and the networks,
``Start``) or the command table's process (networks, the log driver, then its output
and its lifetime, :mod:`emulator.engine.container_program`).  A failure is cleaned up
as ``containerStart``'s deferred clean-up does: networks, then volumes.
"""

from __future__ import annotations

import builtins
import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, Protocol

import trio

from emulator.engine.container_logging import ContainerLogging
from emulator.engine.container_model import Container, ContainerError
from emulator.engine.container_processes import ProcessTable
from emulator.engine.container_program import program_of, run_program
from emulator.engine.container_runtime import ContainerRuntime
from emulator.engine.endpoint_settings import EndpointConfig
from emulator.engine.lifecycle import lifetime_of
from emulator.engine.logs import LoggingError
from emulator.engine.streams import ContainerStreams, OutputWriter
from emulator.errors import EngineError

__all__ = ["ContainerStarts", "NetworkHook"]


class NetworkHook(Protocol):
    """The network controller as containers use it (:mod:`emulator.engine.networks`)."""

    async def attach(self, container: Any) -> None: ...

    async def detach(self, container: Any) -> None: ...

    def endpoint_error(self, name: str, config: EndpointConfig) -> str | None: ...

    async def set_key(self, container: Any, pid: int) -> None:
        """The process's network namespace is the sandbox's (before the networks)."""

    def addresses(self, container_id: str) -> list[str]:
        """The container's endpoint addresses (for its ``/etc/hosts``)."""


class ContainerStarts:
    """The start of the container service (a mixin; the service provides the rest)."""

    runtime: ContainerRuntime
    processes: ProcessTable
    logging: ContainerLogging
    _networks: NetworkHook | None
    _nursery: trio.Nursery
    _wall: Callable[[], float]
    _exited: dict[str, trio.Event]
    _exit_timers: dict[str, trio.CancelScope]

    def get(self, ref: str) -> Container:
        raise NotImplementedError

    def streams(self, container: Container) -> ContainerStreams:
        raise NotImplementedError

    def directory(self, container: Container) -> Path:
        raise NotImplementedError

    async def setup_mounts(self, container: Container) -> None:
        raise NotImplementedError

    def _check_sources(self, container: Container) -> None:
        raise NotImplementedError

    async def unmount_volumes(self, container: Container) -> None:
        raise NotImplementedError

    def _save(self, container: Container) -> None:
        raise NotImplementedError

    def _emit(self, container: Container, action: str, extra: dict[str, str] = {}) -> None:  # noqa: B006
        raise NotImplementedError

    async def _exit(self, container: Container, code: int) -> None:
        raise NotImplementedError

    async def start(self, ref: str) -> Container:
        """``docker start``: mount every volume (``Get`` + ``Mount``), then run."""
        container = self.get(ref)
        if container.running:
            return container
        began = trio.current_time()
        try:
            await self.setup_mounts(container)
            self._check_sources(container)
        except ContainerError as exc:
            # The deferred cleanup of containerStart: unmount what this start mounted.
            container.error = str(exc)
            container.exit_code = 128
            await self.unmount_volumes(container)
            self._save(container)
            raise
        if self.runtime.runs(container):
            await self._start_process(container)
            self.logging.timed("start", began)
            return container
        if self._networks is not None and container.networks:
            try:
                await self._networks.attach(container)
            except EngineError as exc:
                await self._start_failed(container, exc, networks=False)
        writers = await self._start_logging(container, networks=True)
        self.streams(container).begin(None, writers)
        lifetime = lifetime_of(container.command, detach=container.detach)
        runs_for = (
            container.runs_for_override
            if container.runs_for_override is not None
            else lifetime.runs_for
        )
        code = (
            container.exit_code_override
            if container.exit_code_override is not None
            else lifetime.exit_code
        )
        self._running_now(container)
        self.logging.timed("start", began)
        steps = program_of(container, runs_for)
        if steps:
            scope = self._exit_timers[container.id] = trio.CancelScope()
            exited = functools.partial(self._exit, container, code)
            self._nursery.start_soon(run_program, self.streams(container), steps, scope, exited)
        elif runs_for == 0:
            await self._exit(container, code)
        elif not math.isinf(runs_for):
            scope = self._exit_timers[container.id] = trio.CancelScope()
            self._nursery.start_soon(self._exit_after, container, runs_for, code, scope)
        return container

    def _running_now(self, container: Container) -> None:
        container.state = "running"
        container.error = ""
        container.started_at = self._wall()
        self._exited[container.id] = trio.Event()
        self._save(container)
        self._emit(container, "start")

    async def _start_failed(
        self, container: Container, exc: EngineError, *, networks: bool
    ) -> NoReturn:
        """``containerStart``'s deferred clean-up: networks, then volumes; raises."""
        container.error = str(exc)
        container.exit_code = getattr(exc, "exit_code", None) or 128
        if networks and self._networks is not None and container.networks:
            await self._networks.detach(container)
        await self.unmount_volumes(container)
        self._save(container)
        if isinstance(exc, ContainerError):
            raise exc
        raise ContainerError(str(exc), http_status=getattr(exc, "http_status", 500)) from None

    async def _start_process(self, container: Container) -> None:
        """The container's command as a real process: ``NewTask``, then (dockerd's
        ``initializeCreatedTask``) ``SetKey`` and the networks allocated, then ``Start``."""
        hook = self._networks
        networked = hook is not None and bool(container.networks)

        async def created(container: Container, pid: int) -> None:
            assert hook is not None
            await hook.set_key(container, pid)
            await hook.attach(container)
            self.runtime.update_hosts(
                self.directory(container), container, hook.addresses(container.id)
            )

        writers = await self._start_logging(container, networks=False)
        try:
            await self.processes.start(
                container, set_key=created if networked else None, writers=writers
            )
        except EngineError as exc:
            await self.logging.stop(container)
            await self._start_failed(container, exc, networks=networked)
        self._running_now(container)

    async def _start_logging(
        self, container: Container, *, networks: bool
    ) -> builtins.list[OutputWriter]:
        """``InitializeStdio``: the log driver, before the process runs; a failure is the
        start's (``containerStart``'s clean-up: networks, then volumes)."""
        try:
            return await self.logging.writers(container)
        except LoggingError as exc:
            await self._start_failed(container, exc, networks=networks)

    async def _exit_after(
        self, container: Container, seconds: float, code: int, scope: trio.CancelScope
    ) -> None:
        with scope:
            await trio.sleep(seconds)
        # Outside the scope: _exit cancels it, which once cut the exit short at its first
        # checkpoint (no Unmount, no StopLogging).
        if not scope.cancelled_caught:
            await self._exit(container, code)
