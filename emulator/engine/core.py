"""The engine: one emulated dockerd, with its plugin registry and call journal."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from emulator.discovery import LocalRegistry, PluginPaths
from emulator.engine.authz import AuthorizationChain, AuthorizationStartError, ResolvedPlugin
from emulator.engine.containers import ContainerService
from emulator.engine.events import EventLog
from emulator.engine.managed import ManagedPlugins
from emulator.engine.networks import NetworkController
from emulator.engine.plugins import PluginRegistry
from emulator.engine.state import StateDB
from emulator.engine.volume_drivers import DriverStore, LocalVolumeDriver
from emulator.engine.volume_store import VolumeStore
from emulator.engine.volumes import VolumeService
from emulator.faults import FaultSet
from emulator.journal import Journal
from emulator.protocol.authz import AUTHZ_IMPLEMENTS
from emulator.protocol.profiles import EngineProfile, get_profile
from emulator.protocol.registry_hosts import DEFAULT_CERTS_DIR, RegistryConfig
from emulator.transport.client import DEFAULT_BODY_LIMIT


class Engine:
    """An emulated dockerd.  Create it with :func:`open_engine`.

    Attributes: ``plugins`` (the v1 plugin registry), ``managed_plugins`` (managed
    v2 plugins, see :mod:`emulator.engine.managed`), ``volumes`` (the volume
    service), ``containers`` (fake containers), ``networks`` (networks, remote
    network and IPAM drivers), ``faults`` (injected faults),
    ``journal`` (every plugin call),
    ``events`` (what ``docker events`` would show), ``profile`` (the dockerd version
    emulated), ``paths`` (where plugins are looked for), ``data_root`` (the engine's
    state directory), ``authz`` (the authorization chain, :mod:`emulator.engine.authz`)
    and ``authorization_plugins`` (the ``--authorization-plugin`` list it started with).
    """

    def __init__(
        self,
        *,
        paths: PluginPaths,
        data_root: Path,
        profile: EngineProfile,
        nursery: trio.Nursery,
        hang_guard: float | None,
        body_limit: int,
        in_userns: bool,
        seed: int | None = None,
        registries: RegistryConfig | None = None,
        reset_state: bool = False,
        db: StateDB | None = None,
        authorization_plugins: Sequence[str] = (),
    ) -> None:
        self.paths = paths
        self.registries = registries or RegistryConfig.load()
        self.faults = FaultSet(seed)
        self.data_root = data_root
        self.profile = profile
        self.journal = Journal()
        self.events = EventLog()
        self.nursery = nursery
        self._discovery = LocalRegistry(
            paths, in_userns=in_userns and profile.userns_skips_unreadable_spec_dirs
        )
        self._hang_guard = hang_guard
        self._body_limit = body_limit
        if db is None:
            _prepare_data_root(data_root)
            db = StateDB(data_root / "emulator.db", reset=reset_state)
        self.db = db
        self.managed_plugins = self._new_managed()
        self.plugins = self._new_registry()
        self.volumes = VolumeService(self._new_volume_store())
        self.containers = ContainerService(
            self.volumes, self.db, nursery, data_root, events=self.events
        )
        self.networks = self._new_networks()
        self.restarts = 0
        self._configured_authz = tuple(authorization_plugins)
        self.authorization_plugins = self._configured_authz
        self.authz = AuthorizationChain(self._authz_lookup, self.authorization_plugins)

    async def _authz_lookup(self, name: str) -> ResolvedPlugin:
        """``plugin.Store.Get(name, "authz", Lookup)``: managed first, then v1."""
        plugin = await self.plugins.get(name, AUTHZ_IMPLEMENTS)
        assert plugin.client is not None
        return ResolvedPlugin(plugin.name, plugin.client)

    def _new_networks(self) -> NetworkController:
        """A network controller wired to the registry and the container service."""
        networks = NetworkController(self.plugins)
        networks.containers = self.containers
        self.containers.network_hook = networks
        return networks

    def _new_registry(self) -> PluginRegistry:
        registry = PluginRegistry(
            self._discovery,
            self.profile,
            self.journal,
            hang_guard=self._hang_guard,
            body_limit=self._body_limit,
            faults=self.faults,
        )
        registry.v2 = self.managed_plugins  # names resolve as managed plugins first
        return registry

    def _new_managed(self) -> ManagedPlugins:
        """The managed-plugin manager, loaded from ``DATA_ROOT/plugins``."""
        managed = ManagedPlugins(
            data_root=self.data_root,
            exec_root=self.paths.sockets_dir,
            profile=self.profile,
            journal=self.journal,
            nursery=self.nursery,
            hang_guard=self._hang_guard,
            body_limit=self._body_limit,
            faults=self.faults,
            events=lambda *args: self.events(*args),  # the current log (reset replaces it)
            registries=self.registries,
            certs_dir=self.paths.root / DEFAULT_CERTS_DIR,
        )
        # Store.CallHandler after enable: remote network and IPAM drivers register.
        managed.add_handler(
            "docker.networkdriver/1.0", lambda n, c: self.networks.register_driver(n, c)
        )
        managed.add_handler("docker.ipamdriver/1.0", lambda n, c: self.networks.register_ipam(n, c))
        # Disable removes a managed authz plugin from the chain (plugin/backend_linux.go).
        managed.add_disable_handler(AUTHZ_IMPLEMENTS, lambda name: self.authz.remove_plugin(name))
        # dockerd's refcount for a volume driver: one per volume created with it.
        managed.add_user_counter(lambda name: sum(v.driver == name for v in self.db.volumes()))
        return managed

    def _new_volume_store(self) -> VolumeStore:
        local = LocalVolumeDriver(self.data_root / "volumes")
        return VolumeStore(DriverStore(self.plugins, local), self.db, events=self.events)

    async def start(self) -> None:
        """What dockerd does when it starts on an existing data-root: restore state.

        Each stored volume's driver is asked ``Get`` (plugins are looked up and
        activated for that); containers get their volume references back.  A fresh
        data-root costs nothing.  Managed plugins saved as enabled are enabled first.
        """
        await self.managed_plugins.start()
        await self.volumes.store.restore()
        await self.containers.restore()
        # After managed plugins are restored (cmd/dockerd/daemon.go: "Don't change order").
        await self.authz.validate(self.authorization_plugins)

    async def restart(
        self, *, crash: bool = False, authorization_plugins: Sequence[str] | None = None
    ) -> None:
        """Restart the emulated dockerd, as ``systemctl restart docker`` would.

        ``authorization_plugins`` restarts it with that ``--authorization-plugin`` list
        (each plugin is looked up at start: :class:`AuthorizationStartError` when one
        cannot be found, as dockerd refuses to start).

        Running containers are stopped first (their volumes unmounted), unless
        ``crash``: then they die with the daemon and nothing is unmounted.  The new
        daemon has forgotten every activation and capability answer; it asks each
        stored volume's driver ``Get`` (no ``List``), forgets volumes a driver no
        longer has, keeps those it could not ask, then re-adds container references.
        """
        if crash:
            self.containers.forget_running()
        else:
            await self.containers.shutdown()
        await self.managed_plugins.shutdown()
        await self.plugins.aclose()
        self.managed_plugins = self._new_managed()
        self.plugins = self._new_registry()
        self.networks.bind(self.plugins)
        self.volumes.store = self._new_volume_store()
        if authorization_plugins is not None:
            self.authorization_plugins = tuple(authorization_plugins)
        self.authz = AuthorizationChain(self._authz_lookup, self.authorization_plugins)
        self.restarts += 1
        await self.start()

    async def reset(self) -> None:
        """Forget everything, as a brand-new engine on an empty data-root would (for tests).

        No plugin is called: running containers are dropped without ``Unmount``, the
        state database is emptied and the local driver's volumes are deleted, activations and
        plugin connections are dropped, and the journal, faults (same seed) and events
        start empty.  Only what the engine itself made in ``data_root`` is removed.
        """
        self.containers.forget_running()
        await self.managed_plugins.shutdown()
        await self.plugins.aclose()
        for meta in self.db.volumes():  # row by row: reopening the database costs ~3 ms
            self.db.delete_volume(meta.name)
        for data in list(self.db.containers()):
            self.db.delete_container(data["id"])
        shutil.rmtree(self.data_root / "plugins", ignore_errors=True)
        for name in ("volumes", "containers"):
            shutil.rmtree(self.data_root / name, ignore_errors=True)
        self.faults = FaultSet(self.faults.seed)
        self.journal = Journal()
        self.events = EventLog()
        self.managed_plugins = self._new_managed()
        self.plugins = self._new_registry()
        self.volumes = VolumeService(self._new_volume_store())
        self.containers = ContainerService(
            self.volumes, self.db, self.nursery, self.data_root, events=self.events
        )
        self.networks = self._new_networks()
        self.restarts = 0
        self.authorization_plugins = self._configured_authz
        self.authz = AuthorizationChain(self._authz_lookup, self.authorization_plugins)

    async def aclose(self) -> None:
        """Stop managed plugins, close every connection the engine holds and the database."""
        await self.managed_plugins.shutdown()
        await self.plugins.aclose()
        self.db.close()


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
    when :class:`~emulator.engine.state.StateError` says the database is damaged.
    The data-root gets dockerd's modes: 0710 for it, 0600 for the database.
    ``authorization_plugins`` is dockerd's ``--authorization-plugin`` list: every Engine
    API request goes through these plugins (docs/authz.md); each is looked up at start,
    and a missing one raises :class:`~emulator.engine.authz.AuthorizationStartError`.

    Every task the engine starts belongs to it and ends with the block.
    """
    root_path = Path(root)
    paths = PluginPaths.under(root_path)
    state = Path(data_root) if data_root is not None else root_path / "var/lib/docker"
    # Before the nursery, so a StateError reaches the caller as itself, not in a group.
    _prepare_data_root(state)
    db = StateDB(state / "emulator.db", reset=reset_state)
    refused: AuthorizationStartError | None = None
    async with trio.open_nursery() as nursery:
        try:
            engine = Engine(
                paths=paths,
                data_root=state,
                profile=get_profile(profile),
                nursery=nursery,
                hang_guard=hang_guard,
                body_limit=body_limit,
                in_userns=in_userns,
                seed=seed,
                registries=registries,
                db=db,
                authorization_plugins=authorization_plugins,
            )
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
