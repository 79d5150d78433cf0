"""Volume drivers as dockerd holds them: its ``local`` driver and adapters for plugins.

``volume/drivers`` in moby: a plugin adapter wraps the plugin client; ``Capabilities``
is asked once and cached (errors are not cached: asked again at the next ``scope()``);
v1 adapters are kept for the engine's life in the driver store.  Every operation
returns or raises what dockerd's adapter does, with dockerd's texts.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

import trio

from emulator.engine.locks import QuickLock
from emulator.engine.plugins import PluginRegistry
from emulator.errors import (
    EngineError,
    PluginCallError,
    PluginHangError,
    PluginLookupError,
    PluginTransportError,
)
from emulator.golang.strconv import quote as go_quote
from emulator.golang.time import ZERO_TIME
from emulator.protocol import volume as wire
from emulator.transport.client import PluginClient

log = logging.getLogger("emulator.volumes")

T = TypeVar("T")


class VolumeDriverError(EngineError):
    """A driver operation failed; ``str()`` is the driver's error text as dockerd has it.

    ``network`` is True for transport failures (Go ``net.Error``): dockerd then keeps
    a volume it could not check, instead of forgetting it.
    """

    default_hint = (
        "the volume driver refused: for a plugin, what it answered is in engine.journal "
        "and why in its output; for `local`, the volume name and options"
    )

    def __init__(self, text: str, *, network: bool = False, http_status: int = 500) -> None:
        super().__init__(text)
        self.network = network
        self.http_status = http_status


class DriverVolume:
    """A volume as a driver reports it (``volumeAdapter`` / ``localVolume``)."""

    def __init__(
        self,
        name: str,
        driver: str,
        *,
        mountpoint: str = "",
        created_at: dt.datetime | None = None,
        status: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.driver = driver
        self.cached_path = mountpoint
        """The last mountpoint seen (``eMount``): from Get/List/Mount, cleared by Unmount."""
        self.created_at = created_at or ZERO_TIME
        self.status: dict[str, Any] = dict(status or {})

    def __repr__(self) -> str:
        return f"<DriverVolume {self.driver}/{self.name} path={self.cached_path!r}>"


class VolumeDriver(Protocol):
    """What the volume store needs from a driver."""

    name: str

    async def scope(self) -> str: ...
    async def create(self, name: str, opts: Mapping[str, str] | None) -> DriverVolume: ...
    async def remove(self, volume: DriverVolume) -> None: ...
    async def get(self, name: str) -> DriverVolume: ...
    async def list(self) -> list[DriverVolume]: ...
    async def mount(self, volume: DriverVolume, mount_id: str) -> str: ...
    async def unmount(self, volume: DriverVolume, mount_id: str) -> None: ...


# -- plugins --------------------------------------------------------------------------


class PluginVolumeDriver:
    """A plugin seen as a volume driver (``volumeDriverAdapter`` + ``volumeDriverProxy``).

    For a managed (v2) plugin, ``scoped_path`` is its ``ScopedPath``: mountpoints
    from ``Mount`` and ``List`` are re-rooted with it (not those from ``Get``).
    """

    def __init__(
        self,
        name: str,
        client: PluginClient,
        *,
        scoped_path: Callable[[str], str] | None = None,
    ) -> None:
        self.name = name
        self._client = client
        self._scope: str | None = None
        self._scoped_path = scoped_path

    def _host_path(self, path: str) -> str:
        """``scopePath``: the identity for v1 plugins."""
        return self._scoped_path(path) if self._scoped_path is not None else path

    async def scope(self) -> str:
        """``Scope()``: Capabilities once, lower-cased; ""/unknown → local; errors not cached."""
        if self._scope is not None:
            return self._scope
        try:
            reply = await self._call(
                wire.CAPABILITIES, wire.EmptyRequest(), wire.CapabilitiesResponse
            )
        except VolumeDriverError as exc:
            log.debug(
                "Volume driver returned an error while trying to query its capabilities, "
                "using default capabilities driver=%s error=%s",
                self.name,
                exc,
            )
            return wire.LOCAL_SCOPE
        scope, valid = wire.normalize_scope(reply.Capabilities.Scope)
        if not valid:
            log.warning("Volume driver returned an invalid scope driver=%s", self.name)
        self._scope = scope
        return scope

    async def create(self, name: str, opts: Mapping[str, str] | None) -> DriverVolume:
        request = wire.CreateRequest(Name=name, Opts=dict(opts) if opts is not None else None)
        await self._call(wire.CREATE, request, wire.ErrResponse)
        return DriverVolume(name, self.name)

    async def remove(self, volume: DriverVolume) -> None:
        await self._call(wire.REMOVE, wire.NameRequest(Name=volume.name), wire.ErrResponse)

    async def get(self, name: str) -> DriverVolume:
        reply = await self._call(wire.GET, wire.NameRequest(Name=name), wire.GetResponse)
        found = reply.Volume
        if found is None:
            raise VolumeDriverError(wire.NO_SUCH_VOLUME)
        return DriverVolume(
            name,
            self.name,
            mountpoint=found.Mountpoint,
            created_at=found.CreatedAt,
            status=found.Status,
        )

    async def list(self) -> list[DriverVolume]:
        reply = await self._call(wire.LIST, wire.EmptyRequest(), wire.ListResponse)
        return [
            DriverVolume(v.Name, self.name, mountpoint=self._host_path(v.Mountpoint))
            for v in reply.Volumes or ()
        ]

    async def mount(self, volume: DriverVolume, mount_id: str) -> str:
        request = wire.MountRequest(Name=volume.name, ID=mount_id)
        try:
            reply = await self._call(wire.MOUNT, request, wire.MountpointResponse, check_err=False)
        except VolumeDriverError:
            volume.cached_path = ""
            raise
        volume.cached_path = self._host_path(reply.Mountpoint)
        if reply.Err:
            raise VolumeDriverError(reply.Err)
        return volume.cached_path

    async def unmount(self, volume: DriverVolume, mount_id: str) -> None:
        request = wire.MountRequest(Name=volume.name, ID=mount_id)
        await self._call(wire.UNMOUNT, request, wire.ErrResponse)
        volume.cached_path = ""

    async def _call(
        self, method: str, request: object, reply_type: type[T], *, check_err: bool = True
    ) -> T:
        try:
            reply = await self._client.call(
                method, request, reply_type, timeout=self._client.profile.deadline_for(method)
            )
        except (PluginTransportError, PluginHangError) as exc:
            raise VolumeDriverError(str(exc), network=True) from exc
        except PluginCallError as exc:
            raise VolumeDriverError(str(exc)) from exc
        err: str = getattr(reply, "Err", "")
        if check_err and err:
            raise VolumeDriverError(err)
        return reply


# -- dockerd's local driver ------------------------------------------------------------

_LOCAL_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


class LocalVolumeDriver:
    """dockerd's built-in ``local`` driver: a directory per volume under ``DATA_ROOT/volumes``.

    Options are checked as dockerd checks them (``type``, ``device``, ``o``, ``size``)
    and stored; they are not mounted (no real ``mount(2)`` in the emulator).
    """

    name = wire.DEFAULT_DRIVER

    def __init__(self, root: Path) -> None:
        self.root = root
        self._volumes: dict[str, DriverVolume] = {}
        self._active: dict[str, int] = {}
        # dockerd's local driver: volumes/ and volumes/<name> 0701, _data 0755 (local.go)
        root.mkdir(parents=True, exist_ok=True, mode=0o701)
        if stat.S_IMODE(root.stat().st_mode) != 0o701:
            root.chmod(0o701)
        for entry in sorted(root.iterdir()):
            if entry.is_dir() and (entry / wire.LOCAL_DATA_DIR).is_dir():
                self._volumes[entry.name] = self._volume(entry.name)

    def path_of(self, name: str) -> Path:
        """Where the volume's data lives."""
        return self.root / name / wire.LOCAL_DATA_DIR

    async def scope(self) -> str:
        return wire.LOCAL_SCOPE

    async def create(self, name: str, opts: Mapping[str, str] | None) -> DriverVolume:
        if len(name) == 1:
            raise VolumeDriverError(
                "volume name is too short, names should be at least two alphanumeric characters",
                http_status=400,
            )
        if not _LOCAL_NAME.match(name):
            raise VolumeDriverError(
                f"{go_quote(name)} includes invalid characters for a local volume name, only "
                f"{go_quote(wire.RESTRICTED_NAME_CHARS)} are allowed. If you intended to pass a "
                "host directory, use absolute path",
                http_status=400,
            )
        for key in opts or {}:
            if key not in wire.LOCAL_VALID_OPTS:
                raise VolumeDriverError(f"invalid option: {go_quote(key)}", http_status=400)
        existing = self._volumes.get(name)
        if existing is not None:
            return existing
        for directory, mode in ((self.root / name, 0o701), (self.path_of(name), 0o755)):
            directory.mkdir(mode=mode, exist_ok=True)
            directory.chmod(mode)
        volume = self._volume(name)
        self._volumes[name] = volume
        return volume

    async def remove(self, volume: DriverVolume) -> None:
        if self._active.get(volume.name, 0) > 0:
            raise VolumeDriverError("volume has active mounts")
        self._volumes.pop(volume.name, None)
        shutil.rmtree(self.root / volume.name, ignore_errors=True)

    async def get(self, name: str) -> DriverVolume:
        await trio.lowlevel.checkpoint()
        volume = self._volumes.get(name)
        if volume is None:
            raise VolumeDriverError(wire.LOCAL_NOT_FOUND)
        return volume

    async def list(self) -> list[DriverVolume]:
        await trio.lowlevel.checkpoint()
        return list(self._volumes.values())

    async def mount(self, volume: DriverVolume, mount_id: str) -> str:
        await trio.lowlevel.checkpoint()
        self._active[volume.name] = self._active.get(volume.name, 0) + 1
        return str(self.path_of(volume.name))

    async def unmount(self, volume: DriverVolume, mount_id: str) -> None:
        await trio.lowlevel.checkpoint()
        count = self._active.get(volume.name, 0)
        if count > 0:
            self._active[volume.name] = count - 1

    def _volume(self, name: str) -> DriverVolume:
        path = self.path_of(name)
        created = dt.datetime.fromtimestamp(os.stat(path.parent).st_ctime, dt.UTC).replace(
            microsecond=0
        )
        return DriverVolume(name, self.name, mountpoint=str(path), created_at=created)


# -- the driver store -------------------------------------------------------------------


class DriverStore:
    """Looks drivers up by name (``volume/drivers.Store``): ``local``, then plugins.

    A v1 plugin adapter is built once (after discovery, activation and a first
    ``Capabilities``) and reused for the engine's life.  A managed (v2) plugin's
    adapter is built on every lookup, named with the plugin's full ``name:tag``,
    so ``Capabilities`` is asked on every lookup, as dockerd does.
    """

    def __init__(self, registry: PluginRegistry, local: LocalVolumeDriver) -> None:
        self._registry = registry
        self.local = local
        self._extensions: dict[str, VolumeDriver] = {local.name: local}
        self._locks: dict[str, QuickLock] = {}

    def names(self) -> list[str]:
        """``GetDriverList``: the drivers known so far, sorted (``local`` and every v1
        plugin looked up; managed plugins are never kept, so never listed)."""
        return sorted(self._extensions)

    async def get(self, name: str) -> VolumeDriver:
        """``GetDriver``/``CreateDriver`` for v1 plugins (no reference counting)."""
        if name == "":
            raise VolumeDriverError(wire.EMPTY_DRIVER_NAME, http_status=400)
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = QuickLock()
        async with lock:
            known = self._extensions.get(name)
            if known is not None:
                return known
            try:
                plugin = await self._registry.get(name, "VolumeDriver")
            except PluginLookupError as exc:
                raise VolumeDriverError(
                    wire.plugin_lookup_text(name, str(exc)), http_status=exc.http_status
                ) from exc
            assert plugin.client is not None
            if plugin.is_v2:
                driver = PluginVolumeDriver(
                    plugin.name, plugin.client, scoped_path=plugin.scoped_path
                )
                await driver.scope()  # validateDriver, on every lookup of a v2 plugin
                return driver
            driver = PluginVolumeDriver(name, plugin.client)
            await driver.scope()  # validateDriver: Capabilities right after activation
            self._extensions[name] = driver
            return driver

    async def get_all(self) -> list[VolumeDriver]:
        """``GetAllDrivers``: known drivers plus every discoverable volume plugin.

        Enumeration activates every discoverable plugin (whatever it implements);
        new plugin drivers are added without asking Capabilities.
        """
        plugins = await self._registry.get_all("VolumeDriver")
        drivers = list(self._extensions.values())
        for plugin in plugins:
            if plugin.name in self._extensions:
                continue
            assert plugin.client is not None
            if plugin.is_v2:
                drivers.append(
                    PluginVolumeDriver(plugin.name, plugin.client, scoped_path=plugin.scoped_path)
                )
                continue
            driver = PluginVolumeDriver(plugin.name, plugin.client)
            self._extensions[plugin.name] = driver
            drivers.append(driver)
        return drivers
