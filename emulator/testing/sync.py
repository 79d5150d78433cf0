"""The synchronous facade behind the ``plugin_engine`` fixture.

:class:`PluginEngine` drives an :class:`~emulator.testing.thread.EngineThread` from
ordinary (non-async) test code: ``plugin_engine.volumes.create("v1", driver="myvol")``
blocks until the engine thread has done it.  Services are reached through
:class:`Blocking` proxies, so every coroutine method of the engine becomes a plain call.
"""

from __future__ import annotations

import inspect
import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from emulator.api.clients import DockerResult, docker_client, run_docker
from emulator.engine.core import Engine
from emulator.engine.processes import PluginProcess, ProcessSpec
from emulator.faults import Fault, FaultSet
from emulator.faults.vocabulary import fault_from_call
from emulator.journal import JournalEntry
from emulator.journal_assertions import JournalAssertions, not_found_message
from emulator.matching import CallSpec
from emulator.mocks.authz import AuthzRule, MockAuthzPlugin
from emulator.mocks.log import MockLogDriver
from emulator.mocks.volume import MockVolumePlugin
from emulator.testing.thread import EngineThread, TaskScope

__all__ = ["Blocking", "BlockingFaults", "PluginEngine", "SyncPluginProcess"]

LOG = logging.getLogger("emulator.testing")
_POLL = 0.002


class Blocking:
    """A proxy whose coroutine methods run in the engine thread and block until done.

    Plain methods run in the engine thread too; other attributes are read directly.
    The target is looked up on every access (``engine.volumes`` is replaced by a reset).
    """

    def __init__(self, thread: EngineThread, target: Callable[[], object]) -> None:
        self._thread = thread
        self._target = target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target(), name)
        if inspect.iscoroutinefunction(value):
            return lambda *args, **kwargs: self._thread.run(value, *args, **kwargs)
        if inspect.ismethod(value):
            return lambda *args, **kwargs: self._thread.run_sync(value, *args, **kwargs)
        return value

    def __repr__(self) -> str:
        return f"<Blocking {self._target()!r}>"


class BlockingFaults(Blocking):
    """``plugin_engine.faults``: the fault words are checked in the caller's thread, so a
    mistake is a plain :class:`~emulator.vocabulary.nodes.FaultSpecError` at the call."""

    def add(self, fault: Fault | Mapping[str, Any] | None = None, /, **words: Any) -> Fault:
        """``engine.faults.add`` (docs/faults.md), from sync code."""
        checked = fault_from_call(fault, words, source="plugin_engine.faults.add()")
        faults = self._target()
        assert isinstance(faults, FaultSet)
        return self._thread.run_sync(faults.add, checked)


class SyncPluginProcess:
    """A :class:`~emulator.engine.processes.PluginProcess` driven from sync code."""

    def __init__(self, thread: EngineThread, process: PluginProcess) -> None:
        self._thread = thread
        self.process = process

    def __repr__(self) -> str:
        return repr(self.process)

    name = property(lambda self: self.process.name, doc="The plugin's name.")
    socket = property(lambda self: self.process.socket, doc="Its socket path.")
    pid = property(lambda self: self.process.pid, doc="Its pid (and process group).")
    running = property(lambda self: self.process.running, doc="Whether it runs.")
    exit_status = property(lambda self: self.process.exit_status, doc="Its exit status.")
    output = property(lambda self: self.process.output, doc="Its output lines.")
    command = property(lambda self: self.process.command, doc="What was executed.")

    def kill(self) -> None:
        """SIGKILL the process group (a crash); the socket stays."""
        self._thread.run(self.process.kill)

    def terminate(self) -> None:
        """SIGTERM, then SIGKILL after the grace period."""
        self._thread.run(self.process.terminate)

    def stop(self) -> None:
        """SIGSTOP: the plugin freezes."""
        self._thread.run(self.process.stop)

    def cont(self) -> None:
        """SIGCONT after :meth:`stop`."""
        self._thread.run(self.process.cont)

    def restart(self) -> None:
        """Terminate and start again; wait for the socket."""
        self._thread.run(self.process.restart)

    def remove_socket(self) -> None:
        """Unlink the socket while the process keeps running."""
        self._thread.run_sync(self.process.remove_socket)


class PluginEngine(JournalAssertions):
    """An emulated dockerd for synchronous tests (the ``plugin_engine`` fixture).

    ``volumes``, ``containers``, ``networks``, ``plugins``, ``logs`` and ``faults`` are the
    engine's services with every coroutine method made blocking (``logs.entries(container)``:
    what went to log plugins for it); ``journal`` is the call journal.  The
    assertion methods come from :class:`~emulator.journal_assertions.JournalAssertions`.
    """

    def __init__(self, thread: EngineThread) -> None:
        self._thread = thread
        self._scope: TaskScope | None = None
        self._clients: list[Any] = []
        #: The plugin processes started for this test (their output goes to its report).
        self.processes: list[PluginProcess] = []
        self.volumes = Blocking(thread, lambda: self.engine.volumes)
        self.containers = Blocking(thread, lambda: self.engine.containers)
        self.plugins = Blocking(thread, lambda: self.engine.plugins)
        self.networks = Blocking(thread, lambda: self.engine.networks)
        self.logs = Blocking(thread, lambda: self.engine.logs)
        self.faults = BlockingFaults(thread, lambda: self.engine.faults)

    def __repr__(self) -> str:
        return f"<PluginEngine root={str(self.root)!r}>"

    # -- what it is --------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The underlying trio engine (touch it only in code passed to :meth:`run`)."""
        return self._thread.engine

    @property
    def root(self) -> Path:
        """The test root: plugins are looked for under ``ROOT/run/docker/plugins`` etc."""
        return self._thread.root

    @property
    def sockets_dir(self) -> Path:
        """``ROOT/run/docker/plugins``: where a plugin's socket must appear."""
        return self.engine.paths.sockets_dir

    @property
    def spec_dirs(self) -> tuple[Path, ...]:
        """``ROOT/etc/docker/plugins`` and ``ROOT/usr/lib/docker/plugins``."""
        return self.engine.paths.spec_dirs

    @property
    def data_root(self) -> Path:
        """The engine's state directory."""
        return self.engine.data_root

    def socket_path(self, name: str) -> Path:
        """Where the engine looks for plugin ``name``'s socket."""
        return self.sockets_dir / f"{name}.sock"

    @property
    def journal(self) -> Any:
        """The call journal (:class:`~emulator.journal.Journal`)."""
        return self.engine.journal

    def journal_entries(self) -> tuple[JournalEntry, ...]:
        """A snapshot of the journal, taken in the engine thread."""
        return self._thread.run_sync(lambda: self.engine.journal.entries)

    # -- doing things ------------------------------------------------------------------

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Await ``fn(*args, **kwargs)`` in the engine's trio thread; return its result."""
        return self._thread.run(fn, *args, **kwargs)

    def restart(
        self, *, crash: bool = False, authorization_plugins: Sequence[str] | None = None
    ) -> None:
        """Restart the emulated dockerd (see :meth:`Engine.restart`); with
        ``authorization_plugins``, as ``dockerd --authorization-plugin ...`` (until the
        test ends)."""
        self._thread.run(
            self.engine.restart, crash=crash, authorization_plugins=authorization_plugins
        )

    def set_authorization_plugins(self, *names: str) -> None:
        """Put ``names`` in the authorization chain, as a dockerd configuration reload does
        (each is looked up first; until the test ends).  ``docker info`` keeps showing the
        list the daemon started with; :meth:`restart` with ``authorization_plugins``
        changes both."""
        self._thread.run(self.engine.authz.reload, names)

    # -- the docker CLI and docker-py ---------------------------------------------------

    @property
    def docker_host(self) -> str:
        """``unix://ROOT/docker.sock``: the Engine API of this engine, served from first use."""
        return self._thread.run(self._thread.endpoint.start, self.engine)

    def docker(
        self,
        *args: str,
        input: bytes | None = None,
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> DockerResult:
        """Run the real ``docker`` CLI against this engine: ``docker("volume", "ls")``.

        Returns a :class:`~emulator.api.clients.DockerResult` (``exit_code``,
        ``stdout``, ``stderr``, ``output``); ``.check()`` raises unless it exited 0.
        The command runs from the engine's thread as a stretch of real I/O, so virtual
        time holds while it works (``timeout`` is real seconds).
        """
        return self._thread.run(
            run_docker,
            self.docker_host,
            self.root / "docker-config",
            args,
            input=input,
            timeout=timeout,
            env=dict(env or {}),
        )

    def docker_client(self, **options: Any) -> Any:
        """A docker-py ``DockerClient`` on this engine (closed when the test ends).

        docker-py asks ``GET /version`` first unless ``version="1.51"`` is given.  Its
        requests come from the test's thread, unseen by the engine's clock, so from here
        to the end of the test the engine runs on the real clock (docs/virtual-time.md).
        """
        self._thread.use_real_time(True)
        client = docker_client(self.docker_host, **options)
        self._clients.append(client)
        return client

    def wait_for(self, method: str, /, *, timeout: float = 5.0, **fields: Any) -> JournalEntry:
        """Wait up to ``timeout`` real seconds for a matching call; return its entry."""
        __tracebackhide__ = True
        spec = CallSpec(method, fields)
        deadline = time.monotonic() + timeout
        while True:
            entries = self.journal_entries()
            for entry in entries:
                if spec.matches(entry):
                    return entry
            if time.monotonic() >= deadline:
                raise AssertionError(
                    not_found_message(spec, entries, f"no call {spec} within {timeout:g}s")
                )
            time.sleep(_POLL)

    def add_faults(self, faults: Sequence[Mapping[str, Any] | Fault]) -> None:
        """Add faults: mappings of fault words (docs/faults.md), or ready ``Fault`` objects."""
        for fault in faults:
            self.faults.add(fault)

    def settle_output(self) -> None:
        """Wait until what the test's plugin processes wrote so far is in their output."""
        for process in self.processes:
            self._thread.run(process.settle_output)

    # -- per-test tasks ----------------------------------------------------------------

    def _task_scope(self) -> TaskScope:
        if self._scope is None:
            self._scope = self._thread.open_scope()
        return self._scope

    def start_process(self, spec: ProcessSpec) -> SyncPluginProcess:
        """Start a plugin command and wait for its socket; it is stopped with the test.

        See the ``plugin_process`` fixture; a ``spec`` without a socket listens where
        the engine looks for its name.  Raises ``PluginStartError`` (with the process's
        output) when the socket does not accept in ``startup_timeout``.
        """
        socket = spec.socket or self.socket_path(spec.name)
        process = PluginProcess(attrs.evolve(spec, socket=socket), root=self.root)
        self.processes.append(process)
        scope = self._task_scope()

        async def started() -> None:
            assert scope.nursery is not None
            await scope.nursery.start(process.run)

        self._thread.run(started)
        return SyncPluginProcess(self._thread, process)

    def mock_volume_plugin(
        self, name: str = "mockvol", *, scope: str = "local"
    ) -> MockVolumePlugin:
        """Serve the built-in mock volume plugin as ``name`` until the test ends."""
        plugin = MockVolumePlugin(self.root / "mocks" / name, name=name, scope=scope)
        task_scope = self._task_scope()
        bind = f"unix:{self.socket_path(name)}"

        async def started() -> None:
            assert task_scope.nursery is not None
            await task_scope.nursery.start(plugin.serve, bind)

        self._thread.run(started)
        return plugin

    def mock_log_driver(self, name: str = "mocklog", *, read_logs: bool = True) -> MockLogDriver:
        """Serve the built-in mock logging plugin as ``name`` until the test ends."""
        plugin = MockLogDriver(name, read_logs=read_logs)
        task_scope = self._task_scope()
        bind = f"unix:{self.socket_path(name)}"

        async def started() -> None:
            assert task_scope.nursery is not None
            await task_scope.nursery.start(plugin.serve, bind)

        self._thread.run(started)
        return plugin

    def mock_authz_plugin(
        self, name: str = "mockauthz", rules: Sequence[AuthzRule] = ()
    ) -> MockAuthzPlugin:
        """Serve the built-in mock authz plugin as ``name`` until the test ends (put it in
        the chain with :meth:`restart` or :meth:`set_authorization_plugins`)."""
        plugin = MockAuthzPlugin(rules, name=name)
        task_scope = self._task_scope()
        bind = f"unix:{self.socket_path(name)}"

        async def started() -> None:
            assert task_scope.nursery is not None
            await task_scope.nursery.start(plugin.serve, bind)

        self._thread.run(started)
        return plugin

    # -- between tests -----------------------------------------------------------------

    def end_test(self) -> None:
        """Shut the engine down as dockerd does while the test's plugins still run (their
        containers stopped: Leave, DeleteEndpoint, ReleaseAddress, Unmount), stop the
        test's tasks (processes, mocks), then reset the engine and the root."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        self._thread.run(self.engine.shutdown)
        if self._scope is not None:
            # Close the engine's connections first: a server waits for open ones to end.
            self._thread.run(self.engine.plugins.forget)
            scope, self._scope = self._scope, None
            self._thread.run(scope.aclose)
        self.reset()

    def reset(self) -> None:
        """Back to a fresh engine: no state, journal, faults, activations or plugin files."""
        self._thread.run(self.engine.reset)
        for directory in (self.sockets_dir, *self.spec_dirs, self.root / "mocks"):
            if directory.exists():
                shutil.rmtree(directory, ignore_errors=True)
