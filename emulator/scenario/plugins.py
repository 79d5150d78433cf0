"""The plugins a scenario (or ``plugin-emulator serve``) declares: started before the
engine, controlled by steps.

Built-in mocks are served in-process (:class:`BuiltinPlugin`), commands run as processes
(:class:`ProcessPlugin`, their output kept: :mod:`emulator.engine.plugin_output`),
``address`` plugins get a spec file; ``appear_after`` delays any of them.  They start
before the engine does, as a host's plugins are up before dockerd (which looks up its
authorization plugins when it starts).
"""

from __future__ import annotations

import socket as stdsocket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
import trio.lowlevel

from emulator.engine.plugin_output import PluginOutput
from emulator.errors import EmulatorError
from emulator.scenario.model import PluginSpec

if TYPE_CHECKING:
    from emulator.mocks.authz import MockAuthzPlugin
    from emulator.mocks.log import MockLogDriver
    from emulator.mocks.network import MockIpamPlugin, MockNetworkPlugin
    from emulator.mocks.volume import MockVolumePlugin

__all__ = ["BuiltinPlugin", "NoSuchPlugin", "PluginSet", "ProcessPlugin"]


class NoSuchPlugin(EmulatorError):
    """A step names a plugin the scenario does not start."""


class BuiltinPlugin:
    """A built-in mock plugin served in-process, with lifecycle control for scenarios."""

    def __init__(
        self, spec: PluginSpec, root: Path, socket_path: Path, record_limit: int | None = None
    ) -> None:
        name, scope = spec.name, spec.scope
        self.name = name
        self.socket_path = socket_path
        self.mock: (
            MockVolumePlugin | MockNetworkPlugin | MockIpamPlugin | MockAuthzPlugin | MockLogDriver
        )
        # Each mock is imported when a scenario uses it (a run starts quicker).
        if spec.builtin == "log":
            from emulator.mocks.log import MockLogDriver

            self.mock = MockLogDriver(name, record_limit=record_limit)
        elif spec.builtin == "network":
            from emulator.mocks.network import MockNetworkPlugin

            self.mock = MockNetworkPlugin(name, scope=scope or "local")
        elif spec.builtin == "ipam":
            from emulator.mocks.network import MockIpamPlugin

            self.mock = MockIpamPlugin(name)
        elif spec.builtin == "authz":
            from emulator.mocks.authz import MockAuthzPlugin

            self.mock = MockAuthzPlugin(spec.rules, name=name)
        else:
            from emulator.mocks.volume import MockVolumePlugin

            self.mock = MockVolumePlugin(
                root / "plugin-state" / name,
                name=name,
                scope=scope or "local",
                record_limit=record_limit,
            )
        self._scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._done = trio.Event()

    async def start(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self.socket_path.unlink(missing_ok=True)
        scope = trio.CancelScope()
        done = trio.Event()
        self._scope, self._done = scope, done

        async def serve(task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                with scope:
                    await self.mock.serve(f"unix:{self.socket_path}", task_status=task_status)
            finally:
                done.set()

        await nursery.start(serve)

    async def kill(self) -> None:
        """The plugin dies; its socket file stays behind (connections are refused)."""
        if self._scope is not None:
            self._scope.cancel()
            await self._done.wait()
            self._scope = None
        _stale_socket(self.socket_path)

    async def stop(self) -> None:
        """Frozen like SIGSTOP: requests are accepted and never answered."""
        await trio.lowlevel.checkpoint()
        self.mock.plugin.freeze()

    async def cont(self) -> None:
        await trio.lowlevel.checkpoint()
        self.mock.plugin.thaw()

    async def restart(self) -> None:
        await self.kill()
        assert self._nursery is not None
        await self.start(self._nursery)

    def remove_socket(self) -> None:
        self.socket_path.unlink(missing_ok=True)


def _stale_socket(path: Path) -> None:
    """Leave a socket file nobody listens on, as a crashed plugin does."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = stdsocket.socket(stdsocket.AF_UNIX, stdsocket.SOCK_STREAM)
    try:
        sock.bind(str(path))
    finally:
        sock.close()


class ProcessPlugin:
    """A plugin command run as a process (see :mod:`emulator.engine.processes`)."""

    def __init__(self, spec: Any, root: Path, socket_path: Path) -> None:
        from emulator.engine.processes import PluginProcess, ProcessSpec

        self.name = spec.name
        self.socket_path = socket_path
        self.process = PluginProcess(
            ProcessSpec(
                spec.name,
                spec.command,
                socket=socket_path,
                env=spec.env,
                startup_timeout=spec.startup_timeout,
                private_run=False,
            ),
            root=root,
        )
        self._nursery: trio.Nursery | None = None

    async def start(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        await nursery.start(self.process.run)

    async def kill(self) -> None:
        await self.process.kill()

    async def stop(self) -> None:
        await self.process.stop()

    async def cont(self) -> None:
        await self.process.cont()

    async def restart(self) -> None:
        await self.process.restart()

    def remove_socket(self) -> None:
        self.process.remove_socket()


class PluginSet:
    """The plugins of a scenario's (or serve's) ``plugins:`` list, by name."""

    def __init__(
        self,
        specs: Sequence[PluginSpec],
        root: Path,
        nursery: trio.Nursery,
        *,
        record_limit: int | None = None,
    ) -> None:
        """``record_limit``: how many requests a built-in volume mock keeps (all: None)."""
        self.specs = tuple(specs)
        self.record_limit = record_limit
        self.root = root
        self.nursery = nursery
        self.plugins: dict[str, BuiltinPlugin | ProcessPlugin] = {}

    async def start(self) -> None:
        """Start every declared plugin (or schedule it, with ``appear_after``)."""
        for spec in self.specs:
            socket_path = self.root / "run/docker/plugins" / f"{spec.name}.sock"
            if spec.address is not None:
                spec_file = self.root / "etc/docker/plugins" / f"{spec.name}.spec"
                await self._later(spec.appear_after, _write, spec_file, spec.address + "\n")
                continue
            handle: BuiltinPlugin | ProcessPlugin
            if spec.builtin is not None:
                handle = BuiltinPlugin(spec, self.root, socket_path, self.record_limit)
            else:
                handle = ProcessPlugin(spec, self.root, socket_path)
            self.plugins[spec.name] = handle
            await self._later(spec.appear_after, handle.start, self.nursery)

    async def _later(self, delay: float | None, fn: Callable[..., Any], *args: Any) -> None:
        async def call() -> None:
            result = fn(*args)
            if hasattr(result, "__await__"):
                await result

        if not delay:
            await call()
            return

        async def after() -> None:
            await trio.sleep(delay)
            await call()

        self.nursery.start_soon(after)

    def outputs(self) -> dict[str, PluginOutput]:
        """What each ``command`` plugin wrote, by name (built-in mocks write nothing)."""
        return {
            name: handle.process.output_log
            for name, handle in self.plugins.items()
            if isinstance(handle, ProcessPlugin)
        }

    def get(self, name: str) -> BuiltinPlugin | ProcessPlugin:
        try:
            return self.plugins[name]
        except KeyError:
            raise NoSuchPlugin(f"no plugin {name!r} is started by this scenario") from None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
