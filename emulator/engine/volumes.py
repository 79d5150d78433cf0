"""``engine.volumes``: the volume service as dockerd's API uses it (``volume/service``).

Answers are :class:`VolumeInfo`, shaped like the Engine API's ``Volume`` object.
Errors are :class:`~emulator.engine.volume_store.VolumeError` with dockerd's texts.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from emulator.engine.volume_drivers import VolumeDriverError
from emulator.engine.volume_store import StoredVolume, VolumeError, VolumeStore
from emulator.golang.time import ZERO_TIME
from emulator.protocol import volume as wire
from emulator.protocol.filter_args import match, match_kv_list, match_labels


@attrs.frozen
class VolumeInfo:
    """A volume as dockerd's API shows it (``docker volume inspect``); field names are the
    API's, values as dockerd answers them."""

    Name: str
    Driver: str
    """``local`` or the plugin's name."""
    Mountpoint: str
    """The path the driver reported (the plugin's ``Mountpoint``, cached: no ``Path`` call)."""
    CreatedAt: str
    """RFC 3339 (``2025-01-01T00:00:00Z``); the plugin's ``CreatedAt``, else the zero time."""
    Labels: dict[str, str] | None
    """None when the volume was created without labels."""
    Scope: str
    """``local`` or ``global`` (the driver's ``Capabilities``)."""
    Options: dict[str, str] | None
    """The ``Opts`` given at create (None without any)."""
    Status: dict[str, Any] | None = None
    """The plugin's ``Status`` (``inspect`` only; None for ``list`` and without one)."""

    def to_api(self) -> dict[str, Any]:
        """The JSON object dockerd answers (``Status`` only when set), in field order.

        Built field by field rather than with ``attrs.asdict`` (a third of a 10,000-volume
        ``docker volume ls``); the maps are copies, as ``asdict`` made them.
        """
        data: dict[str, Any] = {
            "Name": self.Name,
            "Driver": self.Driver,
            "Mountpoint": self.Mountpoint,
            "CreatedAt": self.CreatedAt,
            "Labels": None if self.Labels is None else dict(self.Labels),
            "Scope": self.Scope,
            "Options": None if self.Options is None else dict(self.Options),
        }
        if self.Status is not None:
            data["Status"] = copy.deepcopy(self.Status)
        return data


def _created_at(v: StoredVolume) -> str:
    created = v.volume.created_at or ZERO_TIME
    if created.utcoffset():  # not UTC (a zero offset is false, as is a naive time's None)
        return created.isoformat(timespec="seconds")
    if created.year < 1000:
        return "0001-01-01T00:00:00Z"
    return (  # Go's RFC 3339 for UTC, written out (strftime is slower)
        f"{created.year:04d}-{created.month:02d}-{created.day:02d}"
        f"T{created.hour:02d}:{created.minute:02d}:{created.second:02d}Z"
    )


def to_info(v: StoredVolume, *, status: bool = False) -> VolumeInfo:
    """``volumeToAPIType``: the cached mountpoint, never a ``Path`` call."""
    return VolumeInfo(
        Name=v.name,
        Driver=v.driver,
        Mountpoint=v.volume.cached_path,
        CreatedAt=_created_at(v),
        Labels=v.labels,
        Scope=v.scope,
        Options=v.options,
        Status=dict(v.volume.status) if status and v.volume.status else None,
    )


@attrs.frozen
class PruneReport:
    """What ``docker volume prune`` removed."""

    VolumesDeleted: list[str]
    """Names of the volumes removed."""
    SpaceReclaimed: int
    """Bytes their directories held."""


class VolumeService:
    """Create, inspect, list, remove and prune volumes, and mount them for containers."""

    def __init__(self, store: VolumeStore) -> None:
        self.store = store

    async def create(
        self,
        name: str = "",
        driver: str = wire.DEFAULT_DRIVER,
        opts: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        *,
        reference: str = "",
        explicit: bool = True,
    ) -> VolumeInfo:
        """``docker volume create``: ``opts`` is sent as a map (``{}`` when None).

        ``explicit=False`` is the implicit creation of ``docker run -v``: ``Opts`` is
        then sent as ``null`` when no options are given.  An empty ``name`` makes an
        anonymous volume (random 64-hex name, label ``com.docker.volume.anonymous``).
        """
        label_map = dict(labels) if labels is not None else None
        if name == "":
            name = secrets.token_hex(32)
            driver = driver or wire.DEFAULT_DRIVER
            label_map = {**(label_map or {}), wire.ANONYMOUS_LABEL: ""}
        if opts is None and explicit:
            opts = {}
        v = await self.store.create(name, driver, opts=opts, labels=label_map, reference=reference)
        return to_info(v)

    async def inspect(self, name: str) -> VolumeInfo:
        """``docker volume inspect``: one ``Get`` for a known volume; every driver otherwise."""
        return to_info(await self.store.get(name), status=True)

    async def list(
        self, filters: Mapping[str, Sequence[str]] | None = None
    ) -> tuple[list[VolumeInfo], list[str]]:
        """``docker volume ls``: volumes and warnings (one per failing driver)."""
        filters = dict(filters or {})
        unknown = set(filters) - {"name", "driver", "label", "dangling"}
        if unknown:
            raise VolumeError(f"invalid filter '{sorted(unknown)[0]}'", kind="invalid")
        drivers = list(filters.get("driver", ())) or None
        volumes, warnings = await self.store.list(drivers)
        return [to_info(v) for v in volumes if self._matches(v, filters)], warnings

    def _matches(self, v: StoredVolume, filters: Mapping[str, Sequence[str]]) -> bool:
        # volume/service/convert.go filtersToBy: name by filters.Match, label by MatchKVList
        if not match(filters, "name", v.name) or not match_kv_list(filters, "label", v.labels):
            return False
        dangling = filters.get("dangling")
        if dangling:
            flag = dangling[0].lower() in ("1", "true")
            if self.store.has_ref(v.name) == flag:
                return False
        return True

    async def remove(self, name: str, *, force: bool = False) -> None:
        """``docker volume rm [-f]``: ``Get``, ``Get``, ``Remove``; refused while in use."""
        try:
            v = await self.store.get(name)
        except VolumeError as exc:
            if exc.kind == "not_found" and force:
                return
            raise
        try:
            await self.store.remove(v, purge_on_error=force)
        except VolumeError as exc:
            if exc.kind == "not_found":
                return
            raise

    async def prune(
        self, *, all: bool = False, labels: Mapping[str, Sequence[str]] | None = None
    ) -> PruneReport:
        """``docker volume prune``: unused ``local`` volumes without options (anonymous
        ones only, unless ``all``).  Plugins are still enumerated and activated.

        ``labels`` holds the ``label`` and ``label!`` filters (``byLabelFilter``): a volume
        is pruned if it has every ``label`` and not every ``label!``."""
        labels = labels or {}
        volumes, _ = await self.store.list([wire.DEFAULT_DRIVER])
        deleted: list[str] = []
        reclaimed = 0
        for v in volumes:
            if self.store.has_ref(v.name) or v.options:
                continue
            if not all and wire.ANONYMOUS_LABEL not in (v.labels or {}):
                continue
            if not match_labels(labels, v.labels):
                continue
            size = _size(v.volume.cached_path)
            try:
                await self.store.remove(v)
            except VolumeError:
                continue
            deleted.append(v.name)
            reclaimed += size
        self.store.log_pruned(reclaimed)
        return PruneReport(VolumesDeleted=deleted, SpaceReclaimed=reclaimed)

    # -- what containers use ----------------------------------------------------------

    async def mount(self, name: str, driver: str, mount_id: str) -> str:
        """``VolumesService.Mount``: ``Get`` (with the driver), then the driver's Mount."""
        v = await self.store.get(name, driver=driver)
        driver_obj = await self.store.drivers.get(v.driver)
        return await driver_obj.mount(v.volume, mount_id)

    async def unmount(self, name: str, driver: str, mount_id: str) -> None:
        """``VolumesService.Unmount``: ``Get`` (with the driver), then the driver's Unmount."""
        v = await self.store.get(name, driver=driver)
        driver_obj = await self.store.drivers.get(v.driver)
        await driver_obj.unmount(v.volume, mount_id)

    async def get(self, name: str, *, driver: str = "", reference: str = "") -> VolumeInfo:
        """``VolumesService.Get`` with a reference (container restore, ``--volumes-from``)."""
        return to_info(await self.store.get(name, driver=driver, reference=reference))

    async def release(self, name: str, reference: str) -> None:
        await self.store.release(name, reference)


def _size(path: str) -> int:
    import os

    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for file in files:
            try:
                total += os.lstat(os.path.join(dirpath, file)).st_size
            except OSError:
                continue
    return total


__all__ = ["PruneReport", "VolumeDriverError", "VolumeError", "VolumeInfo", "VolumeService"]
