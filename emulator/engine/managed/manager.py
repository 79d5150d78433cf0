"""Managed (v2) plugins without containers: ``docker plugin create/ls/inspect/enable/...``.

:class:`ManagedPlugins` is ``engine.managed_plugins``: dockerd's plugin manager
(``plugin/manager*.go``, ``plugin/backend_linux.go``, ``plugin/store.go``) with
its rules and texts, and with a host process in place of the plugin container:

* ``create(name, dir)`` copies ``dir/rootfs`` to ``DATA_ROOT/plugins/<id>/rootfs``
  and persists the plugin as ``DATA_ROOT/plugins/<id>/config.json`` (as dockerd).
* ``enable`` runs the entrypoint, resolved inside ``rootfs`` (a symlink in the
  rootfs may point at a host interpreter), with ``cwd = rootfs/WorkDir``, the
  environment ``PATH=<default>`` + ``Settings.Env`` only, and ``argv =
  Entrypoint + Settings.Args``.  Where the kernel allows (util-linux
  ``unshare``), the process gets a private mount namespace in which
  ``DATA_ROOT/plugins/<id>/run`` is ``/run`` and the socket directory
  ``ROOT/run/docker/plugins/<id>/`` is ``/run/docker/plugins``, so the plugin
  listens on ``/run/docker/plugins/<Socket>`` as in its container.  Fallback,
  when that is not possible: the process runs in the host's mount namespace, a
  warning is logged, and ``EMULATOR_PLUGIN_SOCKET_DIR`` in its environment names
  the host socket directory, or a short ``/proc/PID/fd/N`` alias of it when the
  path is too long for a unix socket (a plugin that hard-codes
  ``/run/docker/plugins`` then listens on the host's real directory and is not
  found).
* Readiness as ``pluginPostStart``: dockerd dials at 0.5, 3.5, 6.5 and 9.5 s
  after the start; the emulator watches the socket continuously (real time) and
  reports ready at the dial at which dockerd would have succeeded; a plugin not
  accepting by 9.5 s (or exiting before) fails enable with Go's dial error.  No
  ``/Plugin.Activate``.  Then the handlers for the plugin's types run
  (``NetworkDriver.GetCapabilities``, ``IpamDriver.GetCapabilities``).
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
import math
import os
import re
import secrets
import shlex
import shutil
import stat
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Final

import attrs
import trio

from emulator.clock import real_io, real_sleep
from emulator.discovery import PluginSpec
from emulator.engine.managed.blobs import (
    PluginBlobs,
    collect_garbage,
    store_created,
)
from emulator.engine.managed.blobstore import BlobStore
from emulator.engine.managed.install import PluginInstaller
from emulator.engine.managed.leftovers import record_process, shut_down_leftover
from emulator.engine.managed.lint import DEFAULT_PATH
from emulator.engine.managed.remote import (
    RegistryAccess,
    RemoteOptions,
    user_agent,
)
from emulator.engine.managed.settings import SettingError, apply_setting
from emulator.engine.managed.upload import stage_upload, tar_directory
from emulator.engine.plugins import Plugin as RegistryPlugin
from emulator.engine.processes import PluginProcess, PluginStartError, private_run_support
from emulator.engine.scoped_fs import ScopedFS, go_clean, remove_tree
from emulator.engine.unpack import UnpackError, UnpackLimits
from emulator.errors import EngineError, ManagedPluginError, PluginLookupError
from emulator.faults import FaultSet
from emulator.golang import json as gojson
from emulator.golang.strconv import quote as go_quote
from emulator.journal import Journal
from emulator.protocol import distribution as dist
from emulator.protocol import engine_api
from emulator.protocol import jsonmessage as jm
from emulator.protocol import plugin_config as pc
from emulator.protocol.activation import Manifest
from emulator.protocol.http import target_for
from emulator.protocol.profiles import EngineProfile
from emulator.protocol.registry_hosts import RegistryConfig
from emulator.transport.client import DEFAULT_BODY_LIMIT, PluginClient

__all__ = ["ManagedPlugin", "ManagedPluginError", "ManagedPlugins", "RunningPlugin"]

LOG = logging.getLogger("emulator.managed")

#: ``pluginPostStart``: first dial after 500 ms, then every 3 s, four dials in all.
FIRST_DIAL: Final = 0.5
DIAL_INTERVAL: Final = 3.0
DIALS: Final = 4
#: ``shutdownTimeout``: SIGTERM, then SIGKILL after this many seconds.
SHUTDOWN_TIMEOUT: Final = 10.0
#: Longest unix socket path (``sun_path`` holds 108 bytes with the NUL).
_MAX_SOCKET: Final = 107
_FULL_ID = re.compile(r"^[a-f0-9]{64}$")
_HANDLER_CALLS: Final = {
    "docker.networkdriver/1.0": "NetworkDriver.GetCapabilities",
    "docker.ipamdriver/1.0": "IpamDriver.GetCapabilities",
}

Handler = Callable[[str, PluginClient], Awaitable[None]]
Progress = Callable[[jm.Progress], None]


@attrs.frozen
class _Prepared:
    """A create's unpacked rootfs (outside the store yet), its config and stored blobs."""

    rootfs: Path
    config: pc.PluginConfig
    blobs: PluginBlobs


@attrs.frozen
class _Persisted:
    """``v2.Plugin`` as dockerd writes it to ``plugins/<id>/config.json``."""

    __go_name__ = "v2.Plugin"
    PluginObj: pc.Plugin = attrs.field(metadata={"json": {"name": "plugin"}})
    Rootfs: str = ""
    Config: str = ""
    Blobsums: list[str] | None = None
    Manifest: str = ""
    SwarmServiceID: str = ""


@attrs.frozen
class RunningPlugin:
    """A managed plugin as ``runc list`` would show its container, plus how to enter it.

    ``status`` is ``running``, ``paused`` (SIGSTOPped) or ``stopped``; ``cwd`` and
    ``env`` are the process's; ``private_namespace`` says whether it runs in its
    own mount namespace (enter it with ``nsenter --target PID --mount``).
    """

    id: str
    name: str
    pid: int | None
    status: str
    socket: str
    cwd: str
    env: dict[str, str]
    private_namespace: bool


class ManagedPlugin:
    """One managed plugin: its API object plus the engine's run-time state."""

    def __init__(
        self, obj: pc.Plugin, data_dir: Path, exec_dir: Path, blobs: PluginBlobs | None = None
    ) -> None:
        self.obj = obj
        self.data_dir = data_dir
        self.exec_dir = exec_dir
        self.blobs = blobs or PluginBlobs()
        """The config, layer and manifest digests in the blob store (``v2.Plugin``)."""
        self.refcount = 0
        """Explicit references (``Acquire``/``Release``) from networks and the like."""
        self.timeout = 0
        """The ``enable`` timeout, in seconds (dockerd: the plugin client's HTTP timeout)."""
        self.process: PluginProcess | None = None
        self.client: PluginClient | None = None
        self._scope: trio.CancelScope | None = None
        self._done: trio.Event | None = None
        self._restart = False
        self._dir_fd: int | None = None

    @property
    def id(self) -> str:
        """The 64-hex ID."""
        return self.obj.ID

    @property
    def name(self) -> str:
        """The normalized ``repo:tag`` name."""
        return self.obj.Name

    @property
    def enabled(self) -> bool:
        """True once enable succeeded (until disable, or a failed restart)."""
        return self.obj.Enabled

    @property
    def rootfs(self) -> Path:
        """``DATA_ROOT/plugins/<id>/rootfs``."""
        return self.data_dir / "rootfs"

    @property
    def socket_name(self) -> str:
        """``Socket``, kept inside the socket directory (``..`` stops at it).

        The plugin sees that directory as ``/run/docker/plugins``: a name that leaves
        it could not work in dockerd either, and the engine dials nothing else.
        """
        return go_clean("/" + self.obj.Config.Interface.Socket).lstrip("/")

    @property
    def socket_path(self) -> Path:
        """``ROOT/run/docker/plugins/<id>/<Socket>``: where the engine dials."""
        return self.exec_dir / self.socket_name

    def filter_by_cap(self, capability: str) -> bool:
        """``FilterByCap``: lower-cased capability, exact match, prefix ``docker``."""
        capability = capability.lower()
        return any(
            t.Capability == capability and t.Prefix == "docker" for t in self.obj.Config.types
        )

    def scoped_path(self, path: str) -> str:
        """``ScopedPath``: a path the plugin reported, as the host sees it."""
        propagated = self.obj.Config.PropagatedMount
        if propagated and path.startswith(propagated):
            rest = path[len(propagated) :]
            return os.path.normpath(f"{self.data_dir}/propagated-mount/{rest}")
        return os.path.normpath(f"{self.rootfs}/{path}")

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"<ManagedPlugin {self.name} {self.id[:12]} {state}>"


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
        profile: EngineProfile,
        journal: Journal,
        nursery: trio.Nursery,
        hang_guard: float | None = 300.0,
        body_limit: int = DEFAULT_BODY_LIMIT,
        faults: FaultSet | None = None,
        events: Callable[[str, str, Mapping[str, str]], None] | None = None,
        registries: RegistryConfig | None = None,
        certs_dir: Path | None = None,
    ) -> None:
        self.root = data_root / "plugins"
        self.blobs = BlobStore(self.root / "storage")
        """``DATA_ROOT/plugins/storage``: layers, configs and manifests by digest."""
        self.registry = RegistryAccess(
            registries or RegistryConfig.load(),
            certs_dir or Path("/etc/docker/certs.d"),
            self.blobs,
            lambda client: user_agent(
                profile.release.removeprefix("v"),
                engine_api.ENGINE_GO_VERSION,
                engine_api.ENGINE_GIT_COMMIT,
                client,
            ),
        )
        """How registries are reached (``--insecure-registry``, mirrors, ``certs.d``)."""
        self._events = events
        self.exec_root = exec_root
        self.profile = profile
        self.journal = journal
        self.faults = faults
        self._nursery = nursery
        self._hang_guard = hang_guard
        self._body_limit = body_limit
        self.upload_limits = UnpackLimits()
        """Bounds on a ``plugin create`` upload (entries, bytes)."""
        self._plugins: dict[str, ManagedPlugin] = {}
        self._users: list[Callable[[str], int]] = []
        self._handlers: dict[str, list[Handler]] = {}
        self._disable_handlers: dict[str, list[Callable[[str], None]]] = {}
        self._default_handlers: dict[str, Handler] = {
            typ: _capabilities_handler(method) for typ, method in _HANDLER_CALLS.items()
        }
        self._installer = PluginInstaller(self)
        self._load()

    # -- queries -------------------------------------------------------------------

    def resolve(self, ref: str) -> ManagedPlugin:
        """``resolvePluginID`` + ``GetV2Plugin``: full ID, name, then unique ID prefix."""
        if _FULL_ID.match(ref):
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
        filters = {k: list(v) for k, v in (filters or {}).items()}
        for key in filters:
            if key not in ("enabled", "capability"):
                raise ManagedPluginError(f"invalid filter '{key}'", http_status=400)
        enabled_only = disabled_only = False
        if "enabled" in filters:
            values = set(filters["enabled"])
            if not values:
                raise ManagedPluginError("invalid filter 'enabled'", http_status=400)
            is_false, is_true = bool(values & {"0", "false"}), bool(values & {"1", "true"})
            if is_false == is_true:
                shown = " ".join(sorted(values))
                raise ManagedPluginError(f"invalid filter 'enabled=[{shown}]'", http_status=400)
            enabled_only, disabled_only = is_true, is_false
        out = []
        for plugin in self._plugins.values():
            if (enabled_only and not plugin.enabled) or (disabled_only and plugin.enabled):
                continue
            if "capability" in filters and not all(
                _filter_match(filters["capability"], t.Capability) for t in plugin.obj.Config.types
            ):
                continue
            out.append(plugin.obj)
        return out

    def inspect(self, ref: str) -> pc.Plugin:
        """``GET /plugins/{name}/json``: the ``types.Plugin`` object."""
        return self.resolve(ref).obj

    def privileges(self, ref: str | os.PathLike[str]) -> builtins.list[pc.PluginPrivilege]:
        """``computePrivileges`` for a created plugin (by name) or a plugin directory (a Path)."""
        if isinstance(ref, str):
            return pc.compute_privileges(self.resolve(ref).obj.Config)
        config = _read_config(Path(ref))
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

    def add_disable_handler(self, capability: str, handler: Callable[[str], None]) -> None:
        """Call ``handler(name)`` when a plugin with ``capability`` is disabled, before it
        stops (``Disable``: an ``authz`` plugin leaves the authorization chain)."""
        self._disable_handlers.setdefault(capability, []).append(handler)

    def process(self, ref: str) -> PluginProcess | None:
        """The plugin's host process while enabled (to inject crashes, freezes, ...)."""
        return self.resolve(ref).process

    def processes(self) -> builtins.list[RunningPlugin]:
        """Every plugin and its process, as ``plugin-emulator plugin ps`` shows them."""
        out = []
        for plugin in self._plugins.values():
            process = plugin.process
            status = "stopped"
            if process is not None and process.running:
                status = "paused" if process.stopped else "running"
            try:
                _argv, cwd, env = self._runtime(plugin)
            except ManagedPluginError:
                cwd, env = plugin.rootfs, {}
            command = (process.command if process is not None else None) or []
            private = bool(command) and Path(command[0]).name == "unshare"
            env = {
                **env,
                "EMULATOR_PLUGIN_SOCKET_DIR": pc.RUNTIME_SOCKET_DIR
                if private
                else str(plugin.exec_dir),
            }
            out.append(
                RunningPlugin(
                    id=plugin.id,
                    name=plugin.name,
                    pid=process.pid if status != "stopped" and process is not None else None,
                    status=status,
                    socket=str(plugin.socket_path),
                    cwd=str(cwd),
                    env=env,
                    private_namespace=private,
                )
            )
        return out

    # -- dockerd's plugin.Store.Get, for the v1 registry ---------------------------------

    def lookup_v2(self, name: str, iface: str) -> RegistryPlugin | None:
        """``Store.Get`` for the registry: the enabled v2 plugin, an error, or None (v1).

        None when ``name`` is no managed plugin (the caller falls back to v1); a
        disabled one is ``plugin NAME found but disabled`` (no fallback).
        """
        try:
            plugin = self.resolve(name)
        except ManagedPluginError as exc:
            if exc.http_status == 404:
                return None
            raise PluginLookupError(str(exc), name=name, http_status=400, cause=exc) from None
        return self._registry_view(plugin, name, iface)

    def all_v2(self, iface: str) -> builtins.list[RegistryPlugin]:
        """``GetAllByCap``'s v2 part: every enabled plugin with the capability."""
        out = []
        for plugin in self._plugins.values():
            if plugin.enabled and plugin.filter_by_cap(iface):
                out.append(self._registry_view(plugin, plugin.name, iface))
        return out

    def _registry_view(self, plugin: ManagedPlugin, name: str, iface: str) -> RegistryPlugin:
        if not plugin.enabled or plugin.client is None:
            raise PluginLookupError(pc.disabled_text(name), name=name, http_status=409, cause=None)
        if not plugin.filter_by_cap(iface):
            raise PluginLookupError(
                f"plugin does not provide {go_quote(iface.lower())} capability",
                name=name,
                http_status=404,
                cause=None,
            )
        spec = PluginSpec(
            name=plugin.name,
            addr=f"unix://{plugin.socket_path}",
            tls=None,
            source=plugin.data_dir / "config.json",
            kind="socket",
        )
        view = RegistryPlugin(spec)
        view.manifest = Manifest(Implements=[t.Capability for t in plugin.obj.Config.types])
        view.client = plugin.client
        view.scoped_path = plugin.scoped_path
        return view

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

    def _stage(self, archive: IO[bytes]) -> _Prepared:
        """The file work of a create (worker thread): unpack, parse the config, store blobs.

        Nothing is left behind when it fails.
        """
        try:
            staged = stage_upload(archive, self.root / "tmp", self.upload_limits)
        except UnpackError as exc:
            raise ManagedPluginError(str(exc), http_status=exc.http_status) from None
        try:
            config = pc.parse_config(staged.config or b"")
            config, blobs = store_created(
                self.blobs, staged.rootfs, config, self.profile.release.removeprefix("v")
            )
        except pc.ConfigError as exc:
            remove_tree(staged.rootfs)
            raise ManagedPluginError(str(exc)) from None
        except BaseException:
            remove_tree(staged.rootfs)
            raise
        return _Prepared(staged.rootfs, config, blobs)

    def _register(self, full: str, prepared: _Prepared) -> str:
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
        self._set_enabled(plugin, False)
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
            self._set_enabled(plugin, False)
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

    async def remote_privileges(
        self, remote: str, options: RemoteOptions | None = None
    ) -> builtins.list[pc.PluginPrivilege] | None:
        """``GET /plugins/privileges?remote=``: None when the plugin asks for nothing
        (``null``), ``[]`` when it cannot be fetched (dockerd swallows the error)."""
        return await self._installer.privileges(remote, options or RemoteOptions())

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
            remote, name, privileges, options or RemoteOptions(), out or _discard
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
            ref, remote, privileges, options or RemoteOptions(), out or _discard
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
        return await self._installer.push(ref, options or RemoteOptions(), out or _discard)

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

    def _load(self) -> None:
        if not self.root.is_dir():
            return
        self.root.chmod(0o700)  # dockerd's plugin root (plugin/manager.go NewManager)
        remove_tree(self.root / "tmp")  # uploads a crash left half unpacked
        for entry in sorted(self.root.iterdir()):
            if entry.name.endswith("-removing") and _FULL_ID.match(entry.name[: -len("-removing")]):
                remove_tree(entry)
                continue
            if not _FULL_ID.match(entry.name):
                continue
            try:
                saved = gojson.unmarshal_into((entry / "config.json").read_bytes(), _Persisted)
            except (OSError, gojson.GoJSONError) as exc:
                LOG.error("failed to load plugin %s: %s", entry.name, exc)
                continue
            blobs = PluginBlobs(saved.Config, tuple(saved.Blobsums or ()), saved.Manifest)
            plugin = ManagedPlugin(saved.PluginObj, entry, self.exec_root / entry.name, blobs)
            self._plugins[entry.name] = plugin

    async def _restore(self, plugin: ManagedPlugin) -> None:
        plugin.timeout = 0
        # Without live-restore, a process the old daemon left running is shut down first.
        await shut_down_leftover(plugin.exec_dir, plugin.id)
        try:
            await self._enable(plugin)
        except ManagedPluginError as exc:
            LOG.error("failed to enable plugin %s: %s", plugin.id, exc)

    def save(self, plugin: ManagedPlugin) -> None:
        """Write ``plugins/<id>/config.json`` as dockerd does (atomically)."""
        blobs = plugin.blobs
        persisted = _Persisted(
            plugin.obj, str(plugin.rootfs), blobs.config, list(blobs.blobsums), blobs.manifest
        )
        data = gojson.encode(persisted)
        path = plugin.data_dir / "config.json"
        tmp = path.with_name(".config.json.tmp")
        # dockerd's atomicwriter.WriteFile(..., 0o600): settings may hold secrets
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)

    def _set_enabled(self, plugin: ManagedPlugin, enabled: bool) -> None:
        plugin.obj = attrs.evolve(plugin.obj, Enabled=enabled)

    async def _enable(self, plugin: ManagedPlugin) -> None:
        argv, cwd, env = self._runtime(plugin)
        plugin.exec_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        plugin.exec_dir.chmod(0o700)
        dial = self._dial_path(plugin)
        argv, env = await self._namespace(plugin, argv, env, dial.parent)
        process = PluginProcess(
            plugin.id,
            argv,
            socket=dial,
            root=plugin.data_dir,
            env=env,
            cwd=cwd,
            inherit_env=False,
            log_output=True,  # dockerd's makeLoggerStreams: stdout INFO, stderr ERROR
            startup_timeout=FIRST_DIAL + DIAL_INTERVAL * (DIALS - 1),
            grace=SHUTDOWN_TIMEOUT,
        )
        plugin.process = process
        plugin._done = trio.Event()
        plugin._scope = trio.CancelScope()
        try:
            await self._nursery.start(self._supervise, plugin, process)
        except BaseException as exc:
            failure = _start_failure(exc)
            self._cleanup(plugin)
            if failure is None:
                raise
            self._set_enabled(plugin, False)  # pluginPostStart: SetState(p, false), unsaved
            dial_error = _dial_error(plugin.socket_path, dial)
            tail = "\n".join(failure.output) or "(no output)"
            raise ManagedPluginError(
                dial_error,
                hint=f"{failure.text.splitlines()[0]}; last output:\n{tail}",
            ) from None
        plugin.client = self._new_client(plugin, dial)
        self._set_enabled(plugin, True)
        await self._call_handlers(plugin)
        self.save(plugin)

    async def _supervise(
        self,
        plugin: ManagedPlugin,
        process: PluginProcess,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run the process until disabled; restart it when it dies (``HandleExitEvent``)."""
        assert plugin._scope is not None
        assert plugin._done is not None
        try:
            with plugin._scope:
                async with trio.open_nursery() as inner:
                    started = time.monotonic()
                    await inner.start(process.run)
                    record_process(plugin.exec_dir, process.pid)
                    await _dockerd_dial_wait(time.monotonic() - started)
                    plugin._restart = True
                    task_status.started()
                    await self._watch(plugin, process)
                    inner.cancel_scope.cancel()
        finally:
            plugin._done.set()

    async def _watch(self, plugin: ManagedPlugin, process: PluginProcess) -> None:
        while True:
            await real_sleep(0.05)
            if process.running or not plugin._restart:
                continue
            LOG.warning(
                "plugin %s exited (status %s) while enabled: restarting it",
                plugin.id,
                process.exit_status,
                extra={"plugin": plugin.id},
            )
            started = time.monotonic()
            try:
                await process.restart()
                record_process(plugin.exec_dir, process.pid)
                await _dockerd_dial_wait(time.monotonic() - started)
            except PluginStartError as exc:
                LOG.error(
                    "failed to restart plugin %s: %s", plugin.id, exc, extra={"plugin": plugin.id}
                )
                self._set_enabled(plugin, False)
                plugin._restart = False
                if plugin.client is not None:
                    await plugin.client.aclose()
                    plugin.client = None
                shutil.rmtree(plugin.exec_dir, ignore_errors=True)
                return

    async def _stop(self, plugin: ManagedPlugin) -> None:
        plugin._restart = False
        if plugin._scope is not None:
            plugin._scope.cancel()
        if plugin._done is not None:
            await plugin._done.wait()
        if plugin.client is not None:
            await plugin.client.aclose()
        self._cleanup(plugin)

    def _cleanup(self, plugin: ManagedPlugin) -> None:
        """What ``HandleExitEvent`` does after the plugin is gone: its socket dir removed."""
        plugin.process = None
        plugin._scope = plugin._done = None
        plugin.client = None  # the registry closes the connections it made with it
        if plugin._dir_fd is not None:
            os.close(plugin._dir_fd)
            plugin._dir_fd = None
        shutil.rmtree(plugin.exec_dir, ignore_errors=True)

    def _runtime(self, plugin: ManagedPlugin) -> tuple[builtins.list[str], Path, dict[str, str]]:
        """``InitSpec``: argv, working directory and environment of the plugin process."""
        obj = plugin.obj
        for mount in obj.Settings.Mounts or ():
            if mount.Source is None:
                raise ManagedPluginError(pc.MOUNT_SOURCE_UNSET)
        entry = list(obj.Config.Entrypoint or [])
        if not entry:
            raise ManagedPluginError(
                "OCI runtime create failed: args must not be empty",
                hint="config.json has no Entrypoint",
            )
        program = _find_program(plugin.rootfs, entry[0], obj.Config.WorkDir)
        if program is None:
            raise ManagedPluginError(
                f'OCI runtime create failed: exec: "{entry[0]}": '
                "executable file not found in $PATH",
                hint=f"{entry[0]!r} is not in {plugin.rootfs}; see `plugin-emulator plugin lint`",
            )
        argv = [str(program), *entry[1:], *(obj.Settings.Args or [])]
        env = {"PATH": DEFAULT_PATH}
        for item in obj.Settings.Env or ():
            key, _, value = item.partition("=")
            env[key] = value
        return argv, _working_dir(plugin.rootfs, obj.Config.WorkDir), env

    def _dial_path(self, plugin: ManagedPlugin) -> Path:
        """The socket path the engine dials (via ``/proc/PID/fd`` when the real one is too long)."""
        path = plugin.socket_path
        if len(os.fsencode(path)) <= _MAX_SOCKET:
            return path
        plugin._dir_fd = os.open(plugin.exec_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return Path(f"/proc/{os.getpid()}/fd/{plugin._dir_fd}") / plugin.socket_name

    async def _namespace(
        self,
        plugin: ManagedPlugin,
        argv: builtins.list[str],
        env: dict[str, str],
        socket_dir: Path,
    ) -> tuple[builtins.list[str], dict[str, str]]:
        """Wrap ``argv`` so ``/run/docker/plugins`` is the plugin's socket directory.

        Without a namespace, ``socket_dir`` (the host directory, or its short
        ``/proc/PID/fd/N`` alias) is passed in ``EMULATOR_PLUGIN_SOCKET_DIR``.
        """
        with real_io():
            prefix, reason = await private_run_support()
        if prefix is None:
            LOG.warning(
                "plugin %s: no private mount namespace here (%s); it runs in the host's, and "
                "EMULATOR_PLUGIN_SOCKET_DIR=%s tells it where to listen",
                plugin.id,
                reason,
                socket_dir,
                extra={"plugin": plugin.id},
            )
            return argv, {**env, "EMULATOR_PLUGIN_SOCKET_DIR": str(socket_dir)}
        run_dir = plugin.data_dir / "run"
        (run_dir / "docker/plugins").mkdir(parents=True, exist_ok=True)
        unshare = list(prefix[: prefix.index("--") + 1])
        mount = shutil.which("mount") or "mount"
        sh = shutil.which("sh") or "/bin/sh"
        binds = [(str(run_dir), "/run"), (str(plugin.exec_dir), pc.RUNTIME_SOCKET_DIR)]
        propagated = self._propagated_target(plugin, run_dir)
        if propagated is not None:
            binds.append((str(plugin.data_dir / "propagated-mount"), propagated))
        script = " && ".join(
            f"{shlex.quote(mount)} --bind {shlex.quote(src)} {shlex.quote(dst)}"
            for src, dst in binds
        )
        wrapped = [*unshare, sh, "-c", f'{script} && exec "$@"', "sh", *argv]
        return wrapped, {**env, "EMULATOR_PLUGIN_SOCKET_DIR": pc.RUNTIME_SOCKET_DIR}

    def _propagated_target(self, plugin: ManagedPlugin, run_dir: Path) -> str | None:
        """Where to bind ``propagated-mount`` in the namespace, if it can be done cleanly.

        dockerd shares ``DATA_ROOT/plugins/<id>/propagated-mount`` with the plugin at
        ``PropagatedMount``.  The emulator binds it there when the target lies under
        the plugin's private ``/run`` (created in ``DATA_ROOT/plugins/<id>/run``) or
        already exists on the host; it never creates directories on the host.
        """
        target = os.path.normpath(plugin.obj.Config.PropagatedMount or "")
        host_dir = plugin.data_dir / "propagated-mount"
        if target in ("", ".", "/"):
            return None
        host_dir.mkdir(mode=0o755, exist_ok=True)
        if target.startswith("/run/"):
            (run_dir / target.removeprefix("/run/")).mkdir(parents=True, exist_ok=True)
            return target
        if os.path.isdir(target):
            return target
        LOG.info(
            "plugin %s: PropagatedMount %s does not exist on this host; not bound",
            plugin.id,
            target,
            extra={"plugin": plugin.id},
        )
        return None

    def _new_client(self, plugin: ManagedPlugin, dial: Path) -> PluginClient:
        target = target_for(f"unix://{dial}", self.profile)
        return PluginClient(
            plugin.name,
            target,
            self.profile,
            self.journal,
            hang_guard=self._hang_guard,
            body_limit=self._body_limit,
            faults=self.faults,
            client_timeout=float(plugin.timeout) or None,
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


async def _dockerd_dial_wait(elapsed: float) -> None:
    """Wait (real time) until the dockerd dial that would first have found the socket."""
    dials = max(0, math.ceil((elapsed - FIRST_DIAL) / DIAL_INTERVAL))
    await real_sleep(max(0.0, FIRST_DIAL + DIAL_INTERVAL * dials - elapsed))


def _start_failure(exc: BaseException) -> PluginStartError | None:
    if isinstance(exc, PluginStartError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _start_failure(inner)
            if found is not None:
                return found
    return None


def _dial_error(shown: Path, dialled: Path) -> str:
    """Go's ``net.Dial`` error for the socket as it is now."""
    try:
        exists = os.path.exists(dialled)
    except OSError:
        exists = False
    why = "connection refused" if exists else "no such file or directory"
    return f"dial unix {shown}: connect: {why}"


def _filter_match(values: Sequence[str], source: str) -> bool:
    """``filters.Args.Match``: exact, else any value as an unanchored regexp."""
    if source in values:
        return True
    for value in values:
        with contextlib.suppress(re.error):
            if re.search(value, source):
                return True
    return False


def _discard(event: jm.Progress) -> None:
    """Progress nobody reads."""


def _new_id() -> str:
    """``stringid.GenerateRandomID``: 64 hex, never 12 leading digits."""
    while True:
        value = secrets.token_hex(32)
        if not value[:12].isdigit():
            return value


def _working_dir(rootfs: Path, workdir: str) -> Path:
    """``WorkDir`` resolved inside ``rootfs`` as runc resolves a container's ``cwd``.

    ``..`` and links (absolute or relative) never leave the rootfs; a missing
    directory falls back to the rootfs itself.
    """
    with ScopedFS(rootfs) as fs:
        inside = fs.follow_in_scope(workdir or "/")
        with fs.locate(inside) as found:
            exists = found.is_dir
    return rootfs / inside.lstrip("/") if exists else rootfs


def _read_config(directory: Path) -> pc.PluginConfig:
    """``DIR/config.json`` of a plugin directory (a regular file: nothing else is read)."""
    path = directory / "config.json"
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            raise ManagedPluginError(f"{path} is not a regular file")
        data = path.read_bytes()
    except OSError:
        raise ManagedPluginError("config not found") from None
    try:
        return pc.parse_config(data)
    except pc.ConfigError as exc:
        raise ManagedPluginError(str(exc)) from None


def _find_program(rootfs: Path, program: str, workdir: str) -> Path | None:
    """The host path of the entrypoint, resolved inside ``rootfs`` as the container would."""
    from emulator.engine.managed.lint import resolve_in_rootfs  # shared resolution rules

    if program.startswith("/"):
        candidates = [program]
    elif "/" in program:
        candidates = [os.path.join(workdir or "/", program)]
    else:
        candidates = [os.path.join(d, program) for d in DEFAULT_PATH.split(":")]
    for candidate in candidates:
        found = resolve_in_rootfs(rootfs, candidate)
        if found is not None and found.is_file() and os.access(found, os.X_OK):
            return found
    return None
