"""The engine: one emulated dockerd, with its plugin registry and call journal."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import trio

from emulator.clock import park_when_idle
from emulator.discovery import LocalRegistry, PluginPaths
from emulator.engine.authz import AuthorizationChain, AuthorizationStartError, ResolvedPlugin
from emulator.engine.container_runtime import ContainerRuntime
from emulator.engine.container_store import ContainerStore
from emulator.engine.containers import ContainerService
from emulator.engine.database import StateDB
from emulator.engine.events import EventLog
from emulator.engine.logs import LogService
from emulator.engine.metrics import PLUGIN_TYPE as METRICS_TYPE
from emulator.engine.metrics import MetricsService
from emulator.engine.networks import NetworkController
from emulator.engine.plugins import Plugin, PluginRegistry
from emulator.engine.sandbox_namespaces import OsSandboxes
from emulator.engine.volume_drivers import DriverStore, LocalVolumeDriver
from emulator.engine.volume_store import VolumeStore
from emulator.engine.volumes import VolumeService
from emulator.faults import FaultSet
from emulator.journal import Journal
from emulator.protocol.authz import AUTHZ_IMPLEMENTS
from emulator.protocol.profiles import EngineProfile, get_profile
from emulator.protocol.registry_hosts import DEFAULT_CERTS_DIR, RegistryConfig
from emulator.protocol.shutdown import SHUTDOWN_TIMEOUT
from emulator.runtime.netns import NetnsRunner
from emulator.transport.client import DEFAULT_BODY_LIMIT, CallSettings

if TYPE_CHECKING:
    from emulator.engine.managed import ManagedPlugins

log = logging.getLogger("emulator.engine")

#: dockerd's ``--shutdown-timeout`` default (see :mod:`emulator.protocol.shutdown`).
DEFAULT_SHUTDOWN_TIMEOUT = SHUTDOWN_TIMEOUT


@attrs.frozen
class EngineConfig:
    """How one emulated dockerd is set up: :func:`open_engine`'s arguments, resolved.

    Kept by the engine (``engine.config``) and used again by every
    :meth:`~Engine.restart` and :meth:`~Engine.reset`: what a restarted daemon gets
    is what its command line said.
    """

    paths: PluginPaths
    """Where plugins are looked for."""
    data_root: Path
    """The engine's state directory."""
    profile: EngineProfile
    """The dockerd version emulated."""
    hang_guard: float | None = 300.0
    """Engine seconds after which a call dockerd would wait on forever is cut."""
    body_limit: int = DEFAULT_BODY_LIMIT
    """The largest plugin answer read."""
    in_userns: bool = False
    """Behave as a dockerd running in a user namespace."""
    seed: int | None = None
    """The faults' random seed (None: random)."""
    registries: RegistryConfig | None = None
    """``--insecure-registry`` and ``--registry-mirror`` (None: ``RegistryConfig.load()``)."""
    authorization_plugins: tuple[str, ...] = ()
    """``--authorization-plugin``, in order."""
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    """``--shutdown-timeout``, engine seconds."""
    journal_limit: int | None = None
    """How many of the latest plugin call attempts the journal keeps (None: all)."""
    containers: str | None = None
    """Whether containers run real processes: auto, processes, fake (None: the
    ``EMULATOR_CONTAINERS`` variable, else auto)."""
    network_namespace: str | None = None
    """The network namespace plugins make interfaces in (None: the engine's own)."""
    durable: bool = False
    """Every state commit waits for the disk (``serve --durable``; see
    :mod:`emulator.engine.database`)."""


class Engine:
    """An emulated dockerd.  Create it with :func:`open_engine`.

    Attributes: ``plugins`` (the v1 plugin registry), ``managed_plugins`` (managed
    v2 plugins, see :mod:`emulator.engine.managed`), ``volumes`` (the volume
    service), ``containers`` (fake containers), ``logs`` (container logging and log
    driver plugins, :mod:`emulator.engine.logs`), ``metrics`` (dockerd's metrics
    endpoint and metrics plugins, :mod:`emulator.engine.metrics`), ``networks`` (networks, remote
    network and IPAM drivers), ``faults`` (injected faults),
    ``journal`` (every plugin call),
    ``events`` (what ``docker events`` would show), ``profile`` (the dockerd version
    emulated), ``paths`` (where plugins are looked for), ``data_root`` (the engine's
    state directory), ``authz`` (the authorization chain, :mod:`emulator.engine.authz`),
    ``authorization_plugins`` (the ``--authorization-plugin`` list it started with),
    ``shutdown_timeout`` (engine seconds :meth:`shutdown` may take), ``journal_limit``
    (how many of the latest plugin call attempts the journal keeps; None: all),
    ``config`` (all of these settings, :class:`EngineConfig`) and ``wall_offset`` (add
    it to an engine-clock time to get Unix time).

    The daemon's services (``managed_plugins``, ``plugins``, ``volumes``,
    ``containers``, ``networks``, ``authz``) are built together, each given what it
    uses, by one method that a restart and a reset run again; the journal, faults,
    events and database are the engine's own and outlive a restart.
    """

    def __init__(self, config: EngineConfig, *, nursery: trio.Nursery, db: StateDB) -> None:
        self.config = config
        self.paths = config.paths
        self.data_root = config.data_root
        self.profile = config.profile
        self.journal_limit = config.journal_limit
        self.shutdown_timeout = config.shutdown_timeout
        self.registries = config.registries or RegistryConfig.load()
        self.nursery = nursery
        self.db = db
        self.runtime = ContainerRuntime(config.containers)
        """Whether containers run real processes, and how they start."""
        self.wall_offset = time.time() - trio.current_time()
        self._shutdown_scope: trio.CancelScope | None = None
        self._discovery = LocalRegistry(
            config.paths,
            in_userns=config.in_userns and config.profile.userns_skips_unreadable_spec_dirs,
        )
        self.faults = FaultSet(config.seed)
        self.journal = Journal(self.journal_limit)
        self.events = EventLog()
        self.restarts = 0
        self.authorization_plugins = config.authorization_plugins
        self.metrics = MetricsService(
            _EngineState(self), root=self.paths.root, profile=self.profile
        )
        """dockerd's Prometheus endpoint and metrics plugins (:mod:`emulator.engine.metrics`)."""
        self.logs = LogService(
            lambda: self.plugins,
            root=self.paths.root,
            containers_dir=self.data_root / "containers",
            nursery=nursery,
            faults=lambda: self.faults,
            acquire=lambda name: self.managed_plugins.acquire(name),
            release=lambda name: self.managed_plugins.release(name),
            hang_guard=config.hang_guard,
        )
        """Container logging and log driver plugins (:mod:`emulator.engine.logs`)."""
        self._build_services()

    def _os_sandboxes(self) -> OsSandboxes | None:
        """Containers' network namespaces, where real processes run as root."""
        support = self.runtime.support
        if self.runtime.mode == "fake" or not support.available or support.busybox is None:
            return None
        if support.rootless:
            # Binding a namespace at its sandbox key and moving interfaces between
            # namespaces need root in the host's namespaces.
            log.warning(
                "not running as root: containers run in their own network namespace "
                "with only a loopback; network plugins' interfaces are not moved "
                "into them (run as root for that)"
            )
            return None
        runner = NetnsRunner(support.busybox, self.config.network_namespace)
        return OsSandboxes(self.paths.root, runner)

    def _build_services(self) -> None:
        """A new daemon's services, each constructed with what it uses, in that order.

        The v1 registry that consults the managed plugins first (``plugin.Store``; the
        manager is made on first use, :meth:`_make_managed`), the volume service, the
        containers (shared by the network controller for ``docker network connect``),
        the network controller, the container service (which connects networks at
        start), the authorization chain.
        """
        settings = CallSettings(
            self.profile,
            self.journal,
            self.faults,
            hang_guard=self.config.hang_guard,
            body_limit=self.config.body_limit,
        )
        plugins = PluginRegistry(
            self._discovery,
            settings,
            v2=_ManagedLookup(self),  # names resolve as managed plugins first
        )
        local = LocalVolumeDriver(self.data_root / "volumes")
        volumes = VolumeService(
            VolumeStore(DriverStore(plugins, local), self.db, events=self.events)
        )
        stored = ContainerStore(self.db)
        networks = NetworkController(plugins, store=self.db, containers=stored)
        networks.os_sandboxes = self._os_sandboxes()
        networks.events = self.events
        containers = ContainerService(
            volumes,
            stored,
            self.nursery,
            self.data_root,
            networks=networks,
            events=self.events,
            wall=self.wall_now,
            plugins=plugins,
            runtime=self.runtime,
        )
        containers.logging.service = self.logs
        containers.logging.action_timer = self.metrics.observe
        authz = AuthorizationChain(_authz_lookup(plugins), self.authorization_plugins)
        self.plugins = plugins
        self.volumes = volumes
        self.containers = containers
        self.networks = networks
        self.authz = authz
        self._call_settings = settings
        # dockerd's plugin manager is made now when DATA_ROOT/plugins exists (there may be
        # plugins to restore), else on first use: importing and building it is ≈25 ms of
        # the start-up of every command and fixture that opens an engine (measured on top
        # of the rest of an engine's imports, bench/startup.py), and an engine without
        # managed plugins has nothing in it to look up, restore or stop.
        self._managed_restore = (self.data_root / "plugins").is_dir()
        self._managed: ManagedPlugins | None = None
        if self._managed_restore:
            self._managed = self._make_managed()

    @property
    def managed_plugins(self) -> ManagedPlugins:
        """Managed (v2) plugins (:mod:`emulator.engine.managed`), made on first use."""
        if self._managed is None:
            self._managed = self._make_managed()
        return self._managed

    def _make_managed(self) -> ManagedPlugins:
        """This daemon's plugin manager, with what runs after a plugin is enabled or
        disabled (``Store.CallHandler``)."""
        from emulator.engine.managed import ManagedPlugins
        from emulator.engine.managed.plugin import RuntimeBind

        managed = ManagedPlugins(
            data_root=self.data_root,
            exec_root=self.paths.sockets_dir,
            settings=self._call_settings,
            nursery=self.nursery,
            events=self.events,
            registries=self.registries,
            certs_dir=self.paths.root / DEFAULT_CERTS_DIR,
            restore=self._managed_restore,
        )
        # Store.CallHandler after enable: remote network and IPAM drivers register.
        managed.add_handler("docker.networkdriver/1.0", self.networks.register_driver)
        managed.add_handler("docker.ipamdriver/1.0", self.networks.register_ipam)
        # Disable removes a managed authz plugin from the chain (plugin/backend_linux.go).
        managed.add_disable_handler(AUTHZ_IMPLEMENTS, self.authz.remove_plugin)
        # internal/metrics: the socket bound into metrics plugins, StartMetrics once enabled.
        managed.add_runtime_bind(
            METRICS_TYPE, RuntimeBind(self.metrics.socket_path, "/run/docker/metrics.sock")
        )
        managed.add_before_enable(METRICS_TYPE, self._metrics_listening)
        managed.add_handler(METRICS_TYPE, self.metrics.start_plugin)
        # dockerd's refcount for a volume driver: one per volume created with it.
        managed.add_user_counter(lambda name: sum(v.driver == name for v in self.db.volumes()))
        return managed

    async def _metrics_listening(self) -> None:
        await self.metrics.ensure_listening(self.nursery)

    async def stop_metrics_plugins(self) -> None:
        """``CleanupPlugin``: ``StopMetrics`` to every enabled metrics plugin (daemon shutdown)."""
        managed = self._managed.clients_of(METRICS_TYPE) if self._managed is not None else []
        await self.metrics.stop_plugins(managed)

    def managed_or_none(self) -> ManagedPlugins | None:
        """The plugin manager if it has been made (None: no managed plugin exists)."""
        return self._managed

    async def _shutdown_managed(self, *, kill: bool = False) -> None:
        if self._managed is not None:
            await self._managed.shutdown(kill=kill)

    def wall_now(self) -> float:
        """The engine clock's now as Unix time (what dockerd's ``time.Now()`` shows)."""
        return trio.current_time() + self.wall_offset

    async def start(self) -> None:
        """What dockerd does when it starts on an existing data-root: restore state.

        In dockerd's order: managed plugins saved as enabled are enabled; each stored
        volume's driver is asked ``Get`` (plugins are looked up and activated for that);
        containers are loaded (running ones died with the old daemon); ``--rm``
        containers are removed and the others get their volume references back.  A
        fresh data-root costs nothing.
        """
        self._shutdown_scope = None
        if self._managed is not None:
            await self._managed.start()
        else:  # as the manager's empty nursery would: one schedule point
            await trio.lowlevel.cancel_shielded_checkpoint()
        await self.volumes.store.restore()
        await self.containers.load()
        await self.networks.restore()
        await self.containers.prepare()
        # After managed plugins are restored (cmd/dockerd/daemon.go: "Don't change order").
        await self.authz.validate(self.authorization_plugins)

    async def restart(
        self, *, crash: bool = False, authorization_plugins: Sequence[str] | None = None
    ) -> None:
        """Restart the emulated dockerd, as ``systemctl restart docker`` would.

        ``authorization_plugins`` restarts it with that ``--authorization-plugin`` list
        (each plugin is looked up at start: :class:`AuthorizationStartError` when one
        cannot be found, as dockerd refuses to start).

        The old daemon is :meth:`shutdown` first, unless ``crash``: then running
        containers die with it and nothing is unmounted or released.  The new daemon has
        forgotten every activation and capability answer and restores its state from
        the data-root (:meth:`start`).
        """
        if crash:
            self.containers.forget_running()
            await self.logs.shutdown()
            await self._shutdown_managed()
        else:
            await self.shutdown()
        await self.plugins.aclose()
        if authorization_plugins is not None:
            self.authorization_plugins = tuple(authorization_plugins)
        self._build_services()
        self.restarts += 1
        await self.start()

    async def shutdown(self) -> None:
        """dockerd's ``Daemon.Shutdown`` (no live-restore), bounded by ``shutdown_timeout``.

        Running containers are stopped, all at once, as ``docker stop`` stops them
        (networks left and endpoints deleted, addresses released, volumes unmounted,
        ``--rm`` ones removed), then managed plugins are stopped.  dockerd gives the
        whole of it ``--shutdown-timeout`` (15 s), then logs ``Force shutdown daemon``
        and exits: here what is left is abandoned (containers forgotten, plugin
        processes killed).  Once per daemon: a second call returns at once; a
        :meth:`force_shutdown` from another task cuts it short.
        """
        if self._shutdown_scope is not None:
            return
        scope = self._shutdown_scope = trio.CancelScope()
        scope.deadline = trio.current_time() + self.shutdown_timeout
        with scope:
            await self.containers.shutdown()
            await self.stop_metrics_plugins()  # CleanupPlugin: after the containers
            await self._shutdown_managed()
        if scope.cancelled_caught:
            log.error("Force shutdown daemon")
            self.containers.forget_running()
            with trio.CancelScope(shield=True):
                await self._shutdown_managed(kill=True)
        else:
            log.debug("Clean shutdown succeeded")
        with trio.CancelScope(shield=True):
            await self.logs.shutdown()

    def force_shutdown(self) -> None:
        """End a :meth:`shutdown` under way now, as its timeout would."""
        if self._shutdown_scope is not None:
            self._shutdown_scope.cancel()

    async def reset(self) -> None:
        """Forget everything, as a brand-new engine on an empty data-root would (for tests).

        First the daemon is :meth:`shutdown` as dockerd shuts down, so plugins are left
        as dockerd would leave them (running containers stopped: their endpoints left
        and deleted, addresses released, volumes unmounted).  Then the state database
        is emptied and the local driver's volumes are deleted, activations and plugin
        connections are dropped, and the journal, faults (same seed) and events start
        empty.  Only what the engine itself made in ``data_root`` is removed.
        """
        await self.shutdown()
        await self.plugins.aclose()
        self.db.clear()
        shutil.rmtree(self.data_root / "plugins", ignore_errors=True)
        for name in ("volumes", "containers"):
            shutil.rmtree(self.data_root / name, ignore_errors=True)
        self.faults = FaultSet(self.faults.seed)
        self.journal = Journal(self.journal_limit)
        self.events = EventLog()
        self.restarts = 0
        self.authorization_plugins = self.config.authorization_plugins
        self._build_services()
        self._shutdown_scope = None

    async def aclose(self) -> None:
        """:meth:`shutdown`, then close every connection the engine holds and the database."""
        await self.shutdown()
        await self.plugins.aclose()
        self.db.close()


class _ManagedLookup:
    """``engine.managed_plugins`` for the v1 registry's lookups: while the manager has not
    been made there is no managed plugin, and every lookup is a v1 one."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def lookup_v2(self, name: str, iface: str) -> Plugin | None:
        managed = self._engine.managed_or_none()
        return managed.lookup_v2(name, iface) if managed is not None else None

    def all_v2(self, iface: str) -> list[Plugin]:
        managed = self._engine.managed_or_none()
        return managed.all_v2(iface) if managed is not None else []


class _EngineState:
    """The engine's numbers for the metrics collector."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def container_states(self) -> tuple[int, int, int]:
        containers = self._engine.containers.list(all=True)
        running = sum(1 for c in containers if c.running)
        return running, 0, len(containers) - running

    def events_logged(self) -> int:
        return self._engine.events.count

    def event_subscribers(self) -> int:
        return self._engine.events.subscribers


def _authz_lookup(plugins: PluginRegistry) -> Callable[[str], Awaitable[ResolvedPlugin]]:
    """``plugin.Store.Get(name, "authz", Lookup)`` on ``plugins``: managed first, then v1."""

    async def lookup(name: str) -> ResolvedPlugin:
        plugin = await plugins.get(name, AUTHZ_IMPLEMENTS)
        assert plugin.client is not None
        return ResolvedPlugin(plugin.name, plugin.client)

    return lookup


def _prepare_data_root(data_root: Path) -> None:
    """Create the data-root with dockerd's mode 0710 (``setupDaemonRoot`` also fixes an
    existing one's)."""
    data_root.mkdir(parents=True, exist_ok=True, mode=0o710)
    if stat.S_IMODE(data_root.stat().st_mode) != 0o710:
        data_root.chmod(0o710)


@asynccontextmanager
async def open_engine(
    root: str | os.PathLike[str] = "/",
    data_root: str | os.PathLike[str] | None = None,
    profile: str | EngineProfile = "28",
    *,
    hang_guard: float | None = 300.0,
    body_limit: int = DEFAULT_BODY_LIMIT,
    in_userns: bool = False,
    seed: int | None = None,
    registries: RegistryConfig | None = None,
    reset_state: bool = False,
    authorization_plugins: Sequence[str] = (),
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    journal_limit: int | None = None,
    containers: str | None = None,
    network_namespace: str | None = None,
    durable: bool = False,
) -> AsyncIterator[Engine]:
    """Run an emulated dockerd for the duration of the ``async with`` block (trio).

    ``root`` relocates every path the daemon uses: plugins are looked for under
    ``ROOT/run/docker/plugins``, ``ROOT/etc/docker/plugins`` and
    ``ROOT/usr/lib/docker/plugins``.  ``data_root`` is the engine's state directory
    (default ``ROOT/var/lib/docker``).  ``profile`` picks the dockerd version ("24" …
    "28").  ``hang_guard`` bounds, in engine seconds, the calls dockerd itself would
    wait on forever (``Plugin.Activate`` and other calls without a deadline); None
    waits forever like dockerd.  ``body_limit`` caps plugin answers (dockerd has none).
    ``in_userns`` says to behave as a dockerd running in a user namespace.  ``seed``
    seeds ``engine.faults`` (random when None; ``engine.faults.seed`` tells it).
    ``registries`` holds dockerd's ``--insecure-registry`` and ``--registry-mirror``
    settings (:meth:`RegistryConfig.load`); loopback registries are always plain
    HTTP-capable, and TLS registries are trusted through ``ROOT/etc/docker/certs.d``.
    ``reset_state`` moves the state database aside first (``--reset-state``): use it
    when :class:`~emulator.engine.database.StateError` says the database is damaged.
    The data-root gets dockerd's modes: 0710 for it, 0600 for the database.
    ``authorization_plugins`` is dockerd's ``--authorization-plugin`` list: every Engine
    API request goes through these plugins (docs/authz.md); each is looked up at start,
    and a missing one raises :class:`~emulator.engine.authz.AuthorizationStartError`.
    ``shutdown_timeout`` bounds, in engine seconds, the shutdown at the end of the block
    (dockerd's ``--shutdown-timeout``, see :meth:`Engine.shutdown`).  ``journal_limit``
    keeps only the latest attempts in ``engine.journal`` (None keeps every one).
    ``containers`` says whether containers run their commands as real processes:
    ``auto`` (where the host allows it, else the command table), ``processes`` (or an
    error) or ``fake`` (the command table); None reads ``EMULATOR_CONTAINERS``, else
    ``auto`` (docs/containers.md).  ``network_namespace`` is the path of the network
    namespace dockerd would live in, where network plugins make the interfaces it moves
    into containers (None: the engine process's own; tests give one they created).
    ``durable`` makes every commit of the state database wait for the disk, as dockerd's
    do; without it a commit survives the process being killed, not a power cut (see
    :mod:`emulator.engine.database`).

    Every task the engine starts belongs to it and ends with the block, after dockerd's
    shutdown: running containers are stopped (plugins see their Leave, DeleteEndpoint,
    ReleaseAddress and Unmount calls) and managed plugins stopped.
    """
    root_path = Path(root)
    config = EngineConfig(
        paths=PluginPaths.under(root_path),
        data_root=Path(data_root) if data_root is not None else root_path / "var/lib/docker",
        profile=get_profile(profile),
        hang_guard=hang_guard,
        body_limit=body_limit,
        in_userns=in_userns,
        seed=seed,
        registries=registries,
        authorization_plugins=tuple(authorization_plugins),
        shutdown_timeout=shutdown_timeout,
        journal_limit=journal_limit,
        containers=containers,
        network_namespace=network_namespace,
        durable=durable,
    )
    async with _running_engine(config, reset_state=reset_state) as engine:
        yield engine


@asynccontextmanager
async def _running_engine(config: EngineConfig, *, reset_state: bool) -> AsyncIterator[Engine]:
    """:func:`open_engine`'s body: the database, the nursery, start and the shutdown."""
    # Before the nursery, so a StateError reaches the caller as itself, not in a group.
    _prepare_data_root(config.data_root)
    db = StateDB(config.data_root / "emulator.db", reset=reset_state, durable=config.durable)
    refused: AuthorizationStartError | None = None
    # On a virtual clock, the engine's idle run loop sleeps rather than spins.
    with park_when_idle():
        async with trio.open_nursery() as nursery:
            try:
                engine = Engine(config, nursery=nursery, db=db)
            except BaseException:
                db.close()
                raise
            try:
                await engine.start()
            except AuthorizationStartError as exc:
                refused = exc  # raised as itself below, not inside the nursery's group
            try:
                if refused is None:
                    yield engine
            finally:
                with trio.CancelScope(shield=True):
                    await engine.aclose()
                nursery.cancel_scope.cancel()
    if refused is not None:
        raise refused
