"""Managed (v2) plugins without containers: ``docker plugin create/ls/inspect/enable/...``.

:class:`ManagedPlugins` is ``engine.managed_plugins``: dockerd's plugin manager
(``plugin/manager*.go``, ``plugin/backend_linux.go``, ``plugin/store.go``) with
its rules and texts, and with a host process in place of the plugin container:

* ``create(name, dir)`` copies ``dir/rootfs`` to ``DATA_ROOT/plugins/<id>/rootfs``
  and persists the plugin as ``DATA_ROOT/plugins/<id>/config.json`` (as dockerd).
* ``enable`` runs the entrypoint as a host process set up as the plugin's container
  would be, and waits for its socket as dockerd's ``pluginPostStart`` dials
  (:mod:`emulator.engine.managed.runtime`).  No ``/Plugin.Activate``.  Then the
  handlers for the plugin's types run (``NetworkDriver.GetCapabilities``,
  ``IpamDriver.GetCapabilities``).
* A plugin that exits on its own is logged with its exit status and restarted,
  as dockerd's ``HandleExitEvent`` does while the plugin is enabled.
* Output: every stdout line is logged at INFO and every stderr line at ERROR to
  the ``emulator.plugin`` logger as ``<line> plugin=<id>``.

Not emulated: config ``Mounts``/``Devices``/``Capabilities``/``Network``/
``PidHost``/``IpcHost`` (checked and shown, never applied), mount propagation
back to the host (``propagated-mount`` is bound at ``PropagatedMount`` only
when that lies under ``/run`` or exists on the host), ``User``,
registries (``pull``/``push``/``upgrade``).  The ``enable`` ``timeout`` is the plugin
client's HTTP timeout, as in dockerd (``http.Client.Timeout``: every call, body
included).  Plugin events (create/enable/disable/remove) go to ``engine.events``.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

import attrs
import trio

from emulator.clock import real_io
from emulator.engine.managed.blobs import (
    PluginBlobs,
    collect_garbage,
)
from emulator.engine.managed.blobstore import BlobStore
from emulator.engine.managed.create import Prepared, read_config, stage_plugin
from emulator.engine.managed.leftovers import shut_down_leftover
from emulator.engine.managed.plugin import (
    FULL_ID,
    ManagedPlugin,
    RunningPlugin,
    RuntimeBind,
    load_plugins,
    plugin_filter,
    save_plugin,
)
from emulator.engine.managed.runtime import dial_error, launch, running_view, start_failure
from emulator.engine.managed.settings import SettingError, apply_setting
from emulator.engine.managed.upload import tar_directory
from emulator.engine.plugins import Plugin as RegistryPlugin
from emulator.engine.processes import PluginProcess
from emulator.engine.scoped_fs import remove_tree
from emulator.engine.unpack import UnpackLimits
from emulator.errors import EngineError, ManagedPluginError, PluginLookupError
from emulator.protocol import distribution as dist
from emulator.protocol import engine_api
from emulator.protocol import jsonmessage as jm
from emulator.protocol import plugin_config as pc
from emulator.protocol.http import target_for
from emulator.protocol.registry_hosts import RegistryConfig
from emulator.transport.client import CallSettings, PluginClient

if TYPE_CHECKING:
    from emulator.engine.managed.install import PluginInstaller
    from emulator.engine.managed.remote import RegistryAccess, RemoteOptions

__all__ = ["ManagedPlugin", "ManagedPluginError", "ManagedPlugins", "RunningPlugin"]

LOG = logging.getLogger("emulator.managed")

_HANDLER_CALLS: Final = {
    "docker.networkdriver/1.0": "NetworkDriver.GetCapabilities",
    "docker.ipamdriver/1.0": "IpamDriver.GetCapabilities",
}

Handler = Callable[[str, PluginClient], Awaitable[None]]
Progress = Callable[[jm.Progress], None]


class ManagedPlugins:
    """dockerd's managed-plugin manager; ``engine.managed_plugins``.

    Every method takes a plugin by full ID, name (``repo`` means ``repo:latest``)
    or unique ID prefix, and raises :class:`ManagedPluginError` with dockerd's
    text and HTTP status.  Persisted under ``DATA_ROOT/plugins``; a new engine on
    the same data-root re-enables the plugins that were enabled.
    """

    def __init__(
        self,
        *,
        data_root: Path,
        exec_root: Path,
        settings: CallSettings,
        nursery: trio.Nursery,
        events: Callable[[str, str, Mapping[str, str]], None] | None = None,
        registries: RegistryConfig | None = None,
        certs_dir: Path | None = None,
        restore: bool = True,
    ) -> None:
        """``restore=False``: the data-root had no plugins directory when the daemon started,
        so there is nothing saved to load (the engine makes its manager on first use)."""
        profile = settings.profile
        self.root = data_root / "plugins"
        self.blobs = BlobStore(self.root / "storage")
        """``DATA_ROOT/plugins/storage``: layers, configs and manifests by digest."""
        self._registries = registries or RegistryConfig.load()
        self._certs_dir = certs_dir or Path("/etc/docker/certs.d")
        self._events = events
        self.exec_root = exec_root
        self._settings = settings
        self.profile = profile
        self.journal = settings.journal
        self.faults = settings.faults
        self._nursery = nursery
        self.upload_limits = UnpackLimits()
        """Bounds on a ``plugin create`` upload (entries, bytes)."""
        self._users: list[Callable[[str], int]] = []
        self._handlers: dict[str, list[Handler]] = {}
        self._disable_handlers: dict[str, list[Callable[[str], None]]] = {}
        self._runtime_binds: dict[str, list[RuntimeBind]] = {}
        self._before_enable: dict[str, list[Callable[[], Awaitable[None]]]] = {}
        self._default_handlers: dict[str, Handler] = {
            typ: _capabilities_handler(method) for typ, method in _HANDLER_CALLS.items()
        }
        self._plugins = load_plugins(self.root, self.exec_root) if restore else {}

    # -- queries -------------------------------------------------------------------

    def resolve(self, ref: str) -> ManagedPlugin:
        """``resolvePluginID`` + ``GetV2Plugin``: full ID, name, then unique ID prefix."""
        if FULL_ID.match(ref):
            found = self._plugins.get(ref)
            if found is None:
                raise ManagedPluginError(pc.not_found_text(ref), http_status=404)
            return found
        try:
            full, _ = pc.normalize_name(ref)
        except pc.ReferenceError:
            raise ManagedPluginError(pc.not_found_text(ref), http_status=404) from None
        for plugin in self._plugins.values():
            if plugin.name == full:
                return plugin
        matches = [p for id_, p in self._plugins.items() if id_.startswith(ref)]
        if len(matches) > 1:
            raise ManagedPluginError(pc.ambiguous_text(ref), http_status=400)
        if not matches:
            raise ManagedPluginError(pc.not_found_text(ref), http_status=404)
        return matches[0]

    def list(self, filters: Mapping[str, Sequence[str]] | None = None) -> list[pc.Plugin]:
        """``GET /plugins``: filters ``enabled`` (a bool) and ``capability`` (Go regexps).

        A plugin passes ``capability=X`` only if *every* declared type's
        capability matches one of the values, as dockerd checks it.
        """
        wanted = plugin_filter(filters or {})
        return [plugin.obj for plugin in self._plugins.values() if wanted(plugin)]

    def inspect(self, ref: str) -> pc.Plugin:
        """``GET /plugins/{name}/json``: the ``types.Plugin`` object."""
        return self.resolve(ref).obj

    def privileges(self, ref: str | os.PathLike[str]) -> builtins.list[pc.PluginPrivilege]:
        """``computePrivileges`` for a created plugin (by name) or a plugin directory (a Path)."""
        if isinstance(ref, str):
            return pc.compute_privileges(self.resolve(ref).obj.Config)
        config = read_config(Path(ref))
        return pc.compute_privileges(config)

    def in_use(self, plugin: ManagedPlugin) -> int:
        """dockerd's refcount: explicit references plus volumes using the plugin's driver."""
        return plugin.refcount + sum(count(plugin.name) for count in self._users)

    def add_user_counter(self, counter: Callable[[str], int]) -> None:
        """Count references held elsewhere (e.g. volumes by driver name) as refcount."""
        self._users.append(counter)

    def add_handler(self, iface_type: str, handler: Handler) -> None:
        """``plugingetter.Handle``: call ``handler(name, client)`` after each enable.

        For ``docker.networkdriver/1.0`` and ``docker.ipamdriver/1.0``, while no
        handler is registered, a bare ``GetCapabilities`` call stands in (the
        engine registers ``engine.networks``' handlers).
        """
        self._handlers.setdefault(iface_type, []).append(handler)

    def add_runtime_bind(self, iface_type: str, bind: RuntimeBind) -> None:
        """``RegisterRuntimeOpt``: ``bind`` in the view of every plugin of type
        ``iface_type`` (the metrics socket for metrics collectors)."""
        self._runtime_binds.setdefault(iface_type, []).append(bind)

    def add_before_enable(self, iface_type: str, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``hook`` before a plugin of type ``iface_type`` starts (the metrics socket
        must exist before it is bound)."""
        self._before_enable.setdefault(iface_type, []).append(hook)

    def clients_of(self, iface_type: str) -> builtins.list[tuple[str, PluginClient]]:
        """``GetAllManagedPluginsByCap``: name and client of every enabled plugin of the type."""
        return [
            (p.name, p.client)
            for p in self._plugins.values()
            if p.enabled and p.client is not None and iface_type in _types(p)
        ]

    def add_disable_handler(self, capability: str, handler: Callable[[str], None]) -> None:
        """Call ``handler(name)`` when a plugin with ``capability`` is disabled, before it
        stops (``Disable``: an ``authz`` plugin leaves the authorization chain)."""
        self._disable_handlers.setdefault(capability, []).append(handler)

    def process(self, ref: str) -> PluginProcess | None:
        """The plugin's host process while enabled (to inject crashes, freezes, ...)."""
        return self.resolve(ref).process

    def processes(self) -> builtins.list[RunningPlugin]:
        """Every plugin and its process, as ``plugin-emulator plugin ps`` shows them."""
        return [running_view(plugin) for plugin in self._plugins.values()]

    # -- dockerd's plugin.Store.Get, for the v1 registry ---------------------------------

    def lookup_v2(self, name: str, iface: str) -> RegistryPlugin | None:
        """``Store.Get`` for the registry: the enabled v2 plugin, an error, or None (v1).

        None when ``name`` is no managed plugin (the caller falls back to v1); a
        disabled one is ``plugin NAME found but disabled`` (no fallback).
        """
        if not self._plugins:
            return None  # no managed plugin at all: every lookup is a v1 one
        try:
            plugin = self.resolve(name)
        except ManagedPluginError as exc:
            if exc.http_status == 404:
                return None
            raise PluginLookupError(str(exc), name=name, http_status=400, cause=exc) from None
        return plugin.registry_view(name, iface)

    def all_v2(self, iface: str) -> builtins.list[RegistryPlugin]:
        """``GetAllByCap``'s v2 part: every enabled plugin with the capability."""
        out = []
        for plugin in self._plugins.values():
            if plugin.enabled and plugin.filter_by_cap(iface):
                out.append(plugin.registry_view(plugin.name, iface))
        return out

    # -- lifecycle -----------------------------------------------------------------------

    def create(self, name: str, directory: str | os.PathLike[str]) -> str:
        """``docker plugin create NAME DIR``: returns the new plugin's ID (it is disabled).

        ``DIR`` is sent as the CLI sends it (a tar of the directory) and unpacked as an
        upload is (:meth:`create_from_tar`), here on the calling thread.
        """
        full = self._new_name(name)
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
            tar_directory(Path(directory), spool)
            staged = self._stage(spool)
        return self._register(full, staged)

    async def create_from_tar(self, name: str, archive: IO[bytes]) -> str:
        """``POST /plugins/create``: the uploaded tar of ``config.json`` and ``rootfs/``.

        The unpacking (:mod:`emulator.engine.managed.upload`) runs in a worker thread.
        """
        full = self._new_name(name)
        with real_io():
            staged = await trio.to_thread.run_sync(self._stage, archive)
        return self._register(full, staged)

    def _stage(self, archive: IO[bytes]) -> Prepared:
        release = self.profile.release.removeprefix("v")
        return stage_plugin(archive, self.root / "tmp", self.upload_limits, self.blobs, release)

    def _new_name(self, name: str) -> str:
        """The stored name for ``name`` (``CreateFromContext``'s checks, in its order)."""
        try:
            full, digest = pc.normalize_name(name)
        except pc.ReferenceError as exc:
            raise ManagedPluginError(f"failed to parse reference {name}: {exc}") from None
        if digest:
            raise ManagedPluginError(pc.CANONICAL_REFUSED)
        if any(p.name == full for p in self._plugins.values()):
            raise ManagedPluginError(pc.exists_text(full), http_status=409)
        return full

    def _register(self, full: str, prepared: Prepared) -> str:
        """``createPlugin``: the name checked again, a new ID, the rootfs moved in, saved."""
        if any(p.name == full for p in self._plugins.values()):
            remove_tree(prepared.rootfs)
            self.gc()  # dockerd: GC after a failed create drops the blobs it stored
            raise ManagedPluginError(pc.exists_text(full), http_status=409)
        obj = pc.Plugin(
            Config=prepared.config,
            Enabled=False,
            ID="",  # add() picks it
            Name=full,
            PluginReference=full,
            Settings=pc.initial_settings(prepared.config),
        )
        try:
            plugin = self.add(obj, prepared.rootfs, prepared.blobs)
        except BaseException:
            remove_tree(prepared.rootfs)
            raise
        self._event(plugin, full, "create")
        LOG.info("plugin %s created with ID %s", full, plugin.id)
        return plugin.id

    async def enable(self, ref: str, timeout: int = 30) -> None:
        """``docker plugin enable``: start the process, wait as dockerd does, then enable.

        Refused with ``plugin already enabled: plugin NAME is enabled`` (409).  A
        plugin not accepting connections on its socket fails with Go's dial error.
        """
        plugin = self.resolve(ref)
        if plugin.enabled:
            raise ManagedPluginError(
                f"plugin already enabled: {pc.enabled_text(plugin.name)}", http_status=409
            )
        plugin.timeout = timeout
        await self._enable(plugin)
        self._event(plugin, ref, "enable")

    async def disable(self, ref: str, force: bool = False) -> None:
        """``docker plugin disable [-f]``: refused while in use unless forced; stops it."""
        plugin = self.resolve(ref)
        if not force and self.in_use(plugin) > 0:
            raise ManagedPluginError(pc.in_use_text(plugin.name), http_status=409)
        for typ in plugin.obj.Config.types:
            for handler in self._disable_handlers.get(typ.Capability, ()):
                handler(plugin.name)
        if not plugin.enabled:
            raise ManagedPluginError(
                f"plugin is already disabled: {pc.disabled_text(plugin.name)}", http_status=409
            )
        await self._stop(plugin)
        plugin.set_enabled(False)
        self.save(plugin)
        self._event(plugin, ref, "disable")

    def set(self, ref: str, settings: Sequence[str]) -> None:
        """``docker plugin set NAME k=v...`` with dockerd's settable rules (only when disabled).

        As in dockerd, settings before a failing one stay applied in memory but
        nothing is saved.
        """
        plugin = self.resolve(ref)
        if plugin.enabled:
            raise ManagedPluginError(pc.SET_WHILE_ENABLED)
        try:
            for arg in settings:
                plugin.obj = apply_setting(plugin.obj, arg)
        except SettingError as exc:
            raise ManagedPluginError(str(exc)) from None
        self.save(plugin)

    async def remove(self, ref: str, force: bool = False) -> None:
        """``docker plugin rm [-f]``: refused while in use, then while enabled, unless forced."""
        plugin = self.resolve(ref)
        if not force:
            if self.in_use(plugin) > 0:
                raise ManagedPluginError(pc.in_use_text(plugin.name), http_status=409)
            if plugin.enabled:
                raise ManagedPluginError(pc.enabled_text(plugin.name), http_status=409)
        if plugin.enabled:
            await self._stop(plugin)
            plugin.set_enabled(False)
        self._plugins.pop(plugin.id, None)
        removing = plugin.data_dir.with_name(plugin.id + "-removing")
        with contextlib.suppress(FileNotFoundError):
            plugin.data_dir.rename(removing)
        remove_tree(removing)
        self.gc()
        self._event(plugin, ref, "remove")
        LOG.info("plugin %s (%s) removed", plugin.name, plugin.id)

    def acquire(self, ref: str) -> None:
        """``Store.Get(..., Acquire)``: one more reference (a network using the driver)."""
        self.resolve(ref).refcount += 1

    def release(self, ref: str) -> None:
        """``Store.Get(..., Release)``: one reference fewer."""
        plugin = self.resolve(ref)
        plugin.refcount = max(0, plugin.refcount - 1)

    # -- registries: install, upgrade, push (emulator.engine.managed.install) -----------
    # The registry half (install, remote, registry_session, registry_auth and their
    # models) is imported on first use: ≈45 ms of start-up measured for every command
    # that opens an engine, most of which never reaches a registry (bench/startup.py).

    @cached_property
    def registry(self) -> RegistryAccess:
        """How registries are reached (``--insecure-registry``, mirrors, ``certs.d``)."""
        from emulator.engine.managed.remote import RegistryAccess, user_agent

        release = self.profile.release.removeprefix("v")
        return RegistryAccess(
            self._registries,
            self._certs_dir,
            self.blobs,
            lambda client: user_agent(
                release, engine_api.ENGINE_GO_VERSION, engine_api.ENGINE_GIT_COMMIT, client
            ),
        )

    @cached_property
    def _installer(self) -> PluginInstaller:
        from emulator.engine.managed.install import PluginInstaller

        return PluginInstaller(self)

    @staticmethod
    def _remote_options(options: RemoteOptions | None) -> RemoteOptions:
        from emulator.engine.managed.remote import RemoteOptions

        return options or RemoteOptions()

    async def remote_privileges(
        self, remote: str, options: RemoteOptions | None = None
    ) -> builtins.list[pc.PluginPrivilege] | None:
        """``GET /plugins/privileges?remote=``: None when the plugin asks for nothing
        (``null``), ``[]`` when it cannot be fetched (dockerd swallows the error)."""
        return await self._installer.privileges(remote, self._remote_options(options))

    async def pull(
        self,
        remote: str,
        name: str = "",
        *,
        privileges: Sequence[pc.PluginPrivilege] | None = None,
        options: RemoteOptions | None = None,
        out: Progress | None = None,
    ) -> str:
        """``POST /plugins/pull`` (``docker plugin install``): returns the new plugin's name.

        ``name`` is the alias ("": the remote's name); ``privileges`` what the user
        granted (None: what the plugin asks, as ``--grant-all-permissions``); ``out``
        gets dockerd's progress events.  Installed disabled, as dockerd leaves it.
        """
        return await self._installer.pull(
            remote, name, privileges, self._remote_options(options), out or _discard
        )

    async def upgrade(
        self,
        ref: str,
        remote: str,
        *,
        privileges: Sequence[pc.PluginPrivilege] | None = None,
        options: RemoteOptions | None = None,
        out: Progress | None = None,
    ) -> None:
        """``POST /plugins/{name}/upgrade``: a disabled plugin gets the remote's rootfs
        and config; ID, name and settings are kept (any repository: the CLI asks)."""
        await self._installer.upgrade(
            ref, remote, privileges, self._remote_options(options), out or _discard
        )

    async def push(
        self,
        ref: str,
        *,
        options: RemoteOptions | None = None,
        out: Progress | None = None,
    ) -> dist.Descriptor:
        """``POST /plugins/{name}/push``: to the repository in the plugin's name; returns
        the manifest's descriptor (the stream's aux ``Digest`` and ``Size``)."""
        return await self._installer.push(ref, self._remote_options(options), out or _discard)

    def gc(self) -> builtins.list[str]:
        """``Manager.GC``: delete blobs no plugin's config or layers refer to."""
        return collect_garbage(self.blobs, [p.blobs for p in self._plugins.values()])

    def name_in_use(self, name: str) -> bool:
        """Whether a plugin has the normalized name ``name`` (``Store.validateName``)."""
        return any(p.name == name for p in self._plugins.values())

    def add(self, obj: pc.Plugin, rootfs: Path, blobs: PluginBlobs) -> ManagedPlugin:
        """``createPlugin``'s end: a new ID, ``rootfs`` moved in, saved.  Returns the plugin."""
        plugin_id = _new_id()
        while plugin_id in self._plugins:
            plugin_id = _new_id()
        self.root.mkdir(mode=0o700, exist_ok=True)
        data_dir = self.root / plugin_id
        data_dir.mkdir(mode=0o700)
        try:
            rootfs.rename(data_dir / "rootfs")
        except BaseException:
            remove_tree(data_dir)
            raise
        plugin = ManagedPlugin(
            attrs.evolve(obj, ID=plugin_id), data_dir, self.exec_root / plugin_id, blobs
        )
        self._plugins[plugin_id] = plugin
        self.save(plugin)
        return plugin

    def log_event(self, actor: str, name: str, action: str) -> None:
        """``LogPluginEvent``: type ``plugin``, the actor's ID, attribute ``name``."""
        if self._events is not None:
            self._events("plugin", action, {"id": actor, "name": name})

    async def start(self) -> None:
        """dockerd's ``reload``: re-enable (timeout 0) the plugins saved as enabled."""
        async with trio.open_nursery() as nursery:
            for plugin in list(self._plugins.values()):
                if plugin.enabled:
                    nursery.start_soon(self._restore, plugin)

    async def shutdown(self, *, kill: bool = False) -> None:
        """Stop every plugin process (the daemon going away); saved states are kept.

        ``shutdownPlugin``: SIGTERM, SIGKILL after 10 s; ``kill`` sends SIGKILL at once
        (what is left when the daemon's shutdown timeout ran out).
        """
        for plugin in list(self._plugins.values()):
            if plugin.process is not None:
                if kill:
                    await plugin.process.kill()
                await self._stop(plugin)

    # -- internals -----------------------------------------------------------------------

    def _event(self, plugin: ManagedPlugin, ref: str, action: str) -> None:
        """``LogPluginEvent``: type ``plugin``, actor the ID, attribute ``name`` as given."""
        if self._events is not None:
            self._events("plugin", action, {"id": plugin.id, "name": ref})

    async def _restore(self, plugin: ManagedPlugin) -> None:
        plugin.timeout = 0
        # Without live-restore, a process the old daemon left running is shut down first.
        await shut_down_leftover(plugin.exec_dir, plugin.id)
        try:
            await self._enable(plugin)
        except ManagedPluginError as exc:
            LOG.error("failed to enable plugin %s: %s", plugin.id, exc)

    async def _enable(self, plugin: ManagedPlugin) -> None:
        plugin.runtime_binds = []
        for typ in _types(plugin):
            plugin.runtime_binds += self._runtime_binds.get(typ, [])
            for hook in self._before_enable.get(typ, ()):
                await hook()
        supervisor = plugin.supervisor = await launch(plugin)
        try:
            await self._nursery.start(supervisor.run)
        except BaseException as exc:
            failure = start_failure(exc)
            self._cleanup(plugin)
            if failure is None:
                raise
            plugin.set_enabled(False)  # pluginPostStart: SetState(p, false), unsaved
            tail = "\n".join(failure.output) or "(no output)"
            raise ManagedPluginError(
                dial_error(plugin.socket_path, supervisor.dial),
                hint=f"{failure.text.splitlines()[0]}; last output:\n{tail}",
            ) from None
        plugin.client = self._new_client(plugin, supervisor.dial)
        plugin.set_enabled(True)
        await self._call_handlers(plugin)
        self.save(plugin)

    async def _stop(self, plugin: ManagedPlugin) -> None:
        if plugin.supervisor is not None:
            await plugin.supervisor.stop()
        if plugin.client is not None:
            await plugin.client.aclose()
        self._cleanup(plugin)

    def _cleanup(self, plugin: ManagedPlugin) -> None:
        """What ``HandleExitEvent`` does after the plugin is gone: its socket dir removed."""
        if plugin.supervisor is not None:
            plugin.supervisor.close()
        plugin.supervisor = None
        plugin.client = None  # the registry closes the connections it made with it
        shutil.rmtree(plugin.exec_dir, ignore_errors=True)

    def save(self, plugin: ManagedPlugin) -> None:
        """Write ``plugins/<id>/config.json`` as dockerd does (atomically)."""
        save_plugin(plugin)

    def _new_client(self, plugin: ManagedPlugin, dial: Path) -> PluginClient:
        target = target_for(f"unix://{dial}", self.profile)
        return PluginClient(
            plugin.name, target, self._settings, client_timeout=float(plugin.timeout) or None
        )

    async def _call_handlers(self, plugin: ManagedPlugin) -> None:
        """``CallHandler``: each handler of each declared type, errors logged."""
        assert plugin.client is not None
        for typ in plugin.obj.Config.Interface.Types or ():
            handlers = self._handlers.get(str(typ)) or [
                h for h in (self._default_handlers.get(str(typ)),) if h is not None
            ]
            for handler in handlers:
                try:
                    await handler(plugin.name, plugin.client)
                except EngineError as exc:
                    LOG.error("error getting capability for %s due to %s", plugin.name, exc)


# -- helpers ------------------------------------------------------------------------------


def _capabilities_handler(method: str) -> Handler:
    async def handler(name: str, client: PluginClient) -> None:
        await client.call_raw(method, None, timeout=client.profile.deadline_for(method))

    return handler


def _discard(event: jm.Progress) -> None:
    """Progress nobody reads."""


def _new_id() -> str:
    """``stringid.GenerateRandomID``: 64 hex, never 12 leading digits."""
    while True:
        value = secrets.token_hex(32)
        if not value[:12].isdigit():
            return value


def _types(plugin: ManagedPlugin) -> set[str]:
    """The plugin's interface types as strings (``docker.metricscollector/1.0``)."""
    return {str(t) for t in plugin.obj.Config.Interface.Types or ()}
