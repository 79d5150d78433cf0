"""The async facade behind the ``plugin_engine_async`` fixture (trio tests).

:func:`open_plugin_engine` runs a fresh engine in the caller's trio run, with a nursery
for the plugins the test starts; :class:`AsyncPluginEngine` gives the engine's services
unchanged (``await eng.volumes.create(...)``) plus the journal assertions and an async
:meth:`~AsyncPluginEngine.wait_for` on trio's clock.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from emulator.api.clients import ApiEndpoint, DockerResult, docker_client, run_docker
from emulator.engine.core import Engine, open_engine
from emulator.engine.processes import PluginProcess, ProcessSpec
from emulator.faults import Fault
from emulator.journal import JournalEntry
from emulator.journal_assertions import JournalAssertions, not_found_message
from emulator.matching import CallSpec
from emulator.mocks.authz import AuthzRule, MockAuthzPlugin
from emulator.mocks.volume import MockVolumePlugin

__all__ = ["AsyncPluginEngine", "open_plugin_engine"]

_POLL = 0.002


class AsyncPluginEngine(JournalAssertions):
    """An engine for trio tests: ``volumes``, ``containers``, ``plugins``, ``faults`` and
    ``journal`` are the engine's own; every other :class:`~emulator.Engine` attribute is
    reachable too.
    """

    def __init__(self, engine: Engine, root: Path, nursery: trio.Nursery) -> None:
        self.engine = engine
        self.root = root
        self._nursery = nursery
        self.endpoint = ApiEndpoint(root / "docker.sock")
        self._clients: list[Any] = []
        #: The plugin processes started for this test (their output goes to its report).
        self.processes: list[PluginProcess] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def __repr__(self) -> str:
        return f"<AsyncPluginEngine root={str(self.root)!r}>"

    @property
    def sockets_dir(self) -> Path:
        """``ROOT/run/docker/plugins``: where a plugin's socket must appear."""
        return self.engine.paths.sockets_dir

    def socket_path(self, name: str) -> Path:
        """Where the engine looks for plugin ``name``'s socket."""
        return self.sockets_dir / f"{name}.sock"

    def journal_entries(self) -> tuple[JournalEntry, ...]:
        """A snapshot of the journal."""
        return self.engine.journal.entries

    async def wait_for(
        self, method: str, /, *, timeout: float = 5.0, **fields: Any
    ) -> JournalEntry:
        """Wait up to ``timeout`` trio-clock seconds for a matching call; return its entry."""
        __tracebackhide__ = True
        spec = CallSpec(method, fields)
        with trio.move_on_after(timeout):
            while True:
                for entry in self.engine.journal.entries:
                    if spec.matches(entry):
                        return entry
                await trio.sleep(_POLL)
        raise AssertionError(
            not_found_message(
                spec, self.engine.journal.entries, f"no call {spec} within {timeout:g}s"
            )
        )

    async def start_process(self, spec: ProcessSpec) -> PluginProcess:
        """Start a plugin command, wait for its socket; it is stopped with the fixture.

        A ``spec`` without a socket listens where the engine looks for its name.
        """
        socket = spec.socket or self.socket_path(spec.name)
        process = PluginProcess(attrs.evolve(spec, socket=socket), root=self.root)
        self.processes.append(process)
        await self._nursery.start(process.run)
        return process

    async def mock_volume_plugin(
        self, name: str = "mockvol", *, scope: str = "local"
    ) -> MockVolumePlugin:
        """Serve the built-in mock volume plugin as ``name`` until the fixture ends."""
        plugin = MockVolumePlugin(self.root / "mocks" / name, name=name, scope=scope)
        await self._nursery.start(plugin.serve, f"unix:{self.socket_path(name)}")
        return plugin

    async def mock_authz_plugin(
        self, name: str = "mockauthz", rules: Sequence[AuthzRule] = ()
    ) -> MockAuthzPlugin:
        """Serve the built-in mock authz plugin as ``name`` until the fixture ends."""
        plugin = MockAuthzPlugin(rules, name=name)
        await self._nursery.start(plugin.serve, f"unix:{self.socket_path(name)}")
        return plugin

    async def docker_host(self) -> str:
        """``unix://ROOT/docker.sock``: this engine's Engine API, served from first use."""
        return await self.endpoint.start(self.engine)

    async def docker(
        self,
        *args: str,
        input: bytes | None = None,
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> DockerResult:
        """Run the real ``docker`` CLI against this engine (see ``PluginEngine.docker``)."""
        return await run_docker(
            await self.docker_host(),
            self.root / "docker-config",
            args,
            input=input,
            timeout=timeout,
            env=dict(env or {}),
        )

    async def docker_client(self, **options: Any) -> Any:
        """A docker-py ``DockerClient`` (blocking: call it with ``trio.to_thread``)."""
        client = docker_client(await self.docker_host(), **options)
        self._clients.append(client)
        return client

    async def aclose(self) -> None:
        """Close docker-py clients and stop serving the API."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        await self.endpoint.aclose()

    def add_faults(self, faults: Sequence[Mapping[str, Any] | Fault]) -> None:
        """Add faults: mappings of fault words (docs/faults.md), or ready ``Fault`` objects."""
        for fault in faults:
            self.engine.faults.add(fault)


@asynccontextmanager
async def open_plugin_engine(
    tmp_base: str = "/tmp", **engine_options: Any
) -> AsyncIterator[AsyncPluginEngine]:
    """A fresh engine on a new short temp root (removed afterwards), in this trio run."""
    root = Path(tempfile.mkdtemp(prefix="pe-", dir=tmp_base))
    try:
        async with trio.open_nursery() as nursery:
            async with open_engine(root=root, **engine_options) as engine:
                wrapped = AsyncPluginEngine(engine, root, nursery)
                try:
                    yield wrapped
                finally:
                    with trio.CancelScope(shield=True):
                        await wrapped.aclose()
            nursery.cancel_scope.cancel()
    finally:
        shutil.rmtree(root, ignore_errors=True)
