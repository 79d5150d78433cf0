"""dockerd's volume store (``volume/service/store.go``): names, references, metadata.

The choreography a volume plugin sees comes from here: ``Get`` before ``Create``
(an existing volume is adopted), a ``Get`` to check a known volume still exists,
the tri-state ``Get`` (a transport error keeps the volume, any other failure makes
the engine forget it), ``Get``, ``Get``, ``Remove`` on removal, and the probing of
every driver for a name the engine does not know.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import attrs
import trio

from emulator.engine.database import StateDB, VolumeMetadata
from emulator.engine.events import EventSink
from emulator.engine.locks import QuickLock
from emulator.engine.volume_drivers import (
    DriverStore,
    DriverVolume,
    VolumeDriver,
    VolumeDriverError,
)
from emulator.errors import EngineError
from emulator.golang.strconv import quote as go_quote
from emulator.protocol import volume as wire

log = logging.getLogger("emulator.volumes")


class VolumeError(EngineError):
    """A volume operation failed; ``str()`` is dockerd's text (``create v1: …``).

    ``kind`` classifies it as dockerd's errdefs do: ``not_found`` (404), ``in_use``
    and ``conflict`` (409), ``invalid`` (400) or ``system`` (500).
    """

    default_hint = (
        "check the volume's name and driver (`volumes.list()`, `docker volume ls`); "
        "engine.journal shows what its driver answered"
    )

    _STATUS = {"not_found": 404, "in_use": 409, "conflict": 409, "invalid": 400, "system": 500}

    def __init__(self, text: str, *, kind: str = "system", refs: list[str] | None = None) -> None:
        super().__init__(text)
        self.kind = kind
        self.http_status = self._STATUS[kind]
        self.refs = refs or []


def _kind_of(exc: BaseException) -> str:
    if isinstance(exc, VolumeError):
        return exc.kind
    if isinstance(exc, VolumeDriverError):
        return {404: "not_found", 400: "invalid", 409: "conflict"}.get(exc.http_status, "system")
    return "system"


def _op(op: str, name: str, exc: BaseException, *, kind: str | None = None) -> VolumeError:
    if isinstance(exc, VolumeError) and exc.text.startswith(f"{op} "):
        return exc
    return VolumeError(wire.op_error(op, name, str(exc)), kind=kind or _kind_of(exc))


@attrs.define
class StoredVolume:
    """A volume as the store holds it (``volumeWrapper``): driver view plus metadata."""

    volume: DriverVolume
    labels: dict[str, str] | None
    scope: str
    options: dict[str, str] | None

    @property
    def name(self) -> str:
        return self.volume.name

    @property
    def driver(self) -> str:
        return self.volume.driver


class VolumeStore:
    """Volumes by name, the containers referencing them, and their persisted metadata."""

    def __init__(self, drivers: DriverStore, db: StateDB, events: EventSink | None = None) -> None:
        self.drivers = drivers
        self.db = db
        self._events = events
        self.names: dict[str, StoredVolume] = {}
        self.refs: dict[str, set[str]] = {}
        self.labels: dict[str, dict[str, str] | None] = {}
        self.options: dict[str, dict[str, str] | None] = {}
        self._locks: dict[str, QuickLock] = {}

    def _locked(self, name: str) -> QuickLock:
        """The lock of volume ``name`` (dockerd's per-name ``locker``)."""
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = QuickLock()
        return lock

    # -- references -------------------------------------------------------------------

    def _set_named(self, v: StoredVolume, ref: str) -> None:
        self.names[v.name] = v
        if ref:
            self.refs.setdefault(v.name, set()).add(ref)

    def has_ref(self, name: str) -> bool:
        return bool(self.refs.get(name))

    def get_refs(self, name: str) -> list[str]:
        return sorted(self.refs.get(name, ()))

    async def release(self, name: str, ref: str) -> None:
        """Drop ``ref`` (a container ID) from the volume's references."""
        async with self._locked(name):
            self.refs.get(name, set()).discard(ref)

    def _emit(self, action: str, name: str, driver: str) -> None:
        if self._events is not None:
            self._events("volume", action, {"name": name, "driver": driver})

    def log_pruned(self, reclaimed: int) -> None:
        """The ``prune`` event after ``docker volume prune`` (volume/service/service.go:
        no actor, the bytes reclaimed)."""
        if self._events is not None:
            self._events("volume", "prune", {"name": "", "reclaimed": str(reclaimed)})

    # -- create -----------------------------------------------------------------------

    async def create(
        self,
        name: str,
        driver_name: str,
        *,
        opts: Mapping[str, str] | None,
        labels: Mapping[str, str] | None,
        reference: str = "",
    ) -> StoredVolume:
        """``VolumeStore.Create``: adopt, or ask the driver (``Get``, then ``Create`` if absent)."""
        async with self._locked(name):
            try:
                v, created = await self._create(name, driver_name, opts, labels)
            except (VolumeError, VolumeDriverError) as exc:
                raise _op("create", name, exc) from None
            if created:
                self._emit("create", v.name, v.driver)
            self._set_named(v, reference)
            return v

    async def _create(
        self,
        name: str,
        driver_name: str,
        opts: Mapping[str, str] | None,
        labels: Mapping[str, str] | None,
    ) -> tuple[StoredVolume, bool]:
        existing = await self._check_conflict(name, driver_name)
        if existing is not None and existing.name in self.names:
            return self.names[existing.name], False
        if driver_name == "":
            try:
                return await self._get_volume(name, ""), False
            except (VolumeError, VolumeDriverError):
                pass
            driver_name = wire.DEFAULT_DRIVER
        driver = await self.drivers.get(driver_name)
        try:
            found: DriverVolume | None = await driver.get(name)
        except VolumeDriverError:
            found = None
        if found is None:
            found = await driver.create(name, opts)
        label_map = dict(labels) if labels is not None else None
        opt_map = dict(opts) if opts is not None else None
        self.labels[name] = label_map
        self.options[name] = opt_map
        self.refs[name] = set()
        self.db.put_volume(VolumeMetadata(name, driver.name, label_map, opt_map))
        return StoredVolume(found, label_map, await driver.scope(), opt_map), True

    async def _check_conflict(self, name: str, driver_name: str) -> StoredVolume | None:
        known = self.names.get(name)
        if known is None:
            return None
        conflict = False
        if driver_name:
            driver = await self.drivers.get(driver_name)
            conflict = known.driver != driver.name
        try:
            exists = await self._lookup_volume(known.driver, name) is not None
        except VolumeDriverError as exc:
            raise VolumeError(
                f"found reference to volume '{name}' in driver '{known.driver}', but got an "
                f"error while checking the driver: {exc}: {wire.NAME_CONFLICT}",
                kind="conflict",
            ) from None
        if exists:
            if conflict:
                raise VolumeError(
                    f"driver '{known.driver}' already has volume '{name}': {wire.NAME_CONFLICT}",
                    kind="conflict",
                )
            return known
        if self.has_ref(name):
            raise VolumeError(
                f"found references to volume '{name}' in driver '{known.driver}' but the volume "
                "was not found in the driver -- you may need to remove containers referencing "
                "this volume or force remove the volume to re-create it: " + wire.NAME_CONFLICT,
                kind="conflict",
            )
        self._purge(name)
        return None

    # -- get ------------------------------------------------------------------------------

    async def get(self, name: str, *, driver: str = "", reference: str = "") -> StoredVolume:
        """``VolumeStore.Get``: the volume, checked with its driver (one ``Get`` call)."""
        async with self._locked(name):
            try:
                v = await self._get_volume(name, driver)
            except (VolumeError, VolumeDriverError) as exc:
                raise _op("get", name, exc) from None
            if driver and v.driver != driver:
                raise VolumeError(
                    wire.op_error(
                        "get", name, "found volume driver does not match passed in driver"
                    ),
                    kind="conflict",
                )
            self._set_named(v, reference)
            return v

    async def _lookup_volume(self, driver_name: str, name: str) -> DriverVolume | None:
        """``lookupVolume``: None when the driver says no; raises on transport errors."""
        driver_name = driver_name or wire.DEFAULT_DRIVER
        try:
            driver = await self.drivers.get(driver_name)
        except VolumeDriverError as exc:
            raise VolumeDriverError(
                f"error while checking if volume {go_quote(name)} exists in driver "
                f"{go_quote(driver_name)}: {exc}",
                network=exc.network,
                http_status=exc.http_status,
            ) from None
        try:
            return await driver.get(name)
        except VolumeDriverError as exc:
            if exc.network:
                raise VolumeDriverError(
                    f"error while checking if volume {go_quote(name)} exists in driver "
                    f"{go_quote(driver_name)}: {exc}",
                    network=True,
                ) from None
            log.debug("Error while looking up volume %s in %s: %s", name, driver_name, exc)
            return None

    async def _get_volume(self, name: str, driver_name: str) -> StoredVolume:
        meta = self.db.get_volume(name) or VolumeMetadata(name, "")
        if driver_name:
            if meta.driver == "":
                meta = attrs.evolve(meta, driver=driver_name)
            if driver_name != meta.driver:
                raise VolumeError(
                    "provided volume driver does not match stored driver", kind="conflict"
                )
        if not driver_name:
            driver_name = meta.driver
        if not driver_name:
            known = self.names.get(name)
            if known is not None:
                meta = attrs.evolve(meta, driver=known.driver)
                self.db.put_volume(meta)
        if meta.driver:
            found = await self._lookup_volume(meta.driver, name)
            if found is None:
                self._purge(name)
                raise VolumeError(wire.NO_SUCH_VOLUME, kind="not_found")
            scope = await self._scope(meta.driver)
            return StoredVolume(found, _copy(meta.labels), scope, _copy(meta.options))
        log.debug("Probing all drivers for volume %s", name)
        for driver in await self.drivers.get_all():
            try:
                found = await driver.get(name)
            except VolumeDriverError:
                continue
            meta = attrs.evolve(meta, driver=found.driver)
            self.db.put_volume(meta)
            return StoredVolume(
                found, _copy(meta.labels), await driver.scope(), _copy(meta.options)
            )
        raise VolumeError(wire.NO_SUCH_VOLUME, kind="not_found")

    # -- remove -------------------------------------------------------------------------

    async def remove(self, v: StoredVolume, *, purge_on_error: bool = False) -> None:
        """``VolumeStore.Remove``: refused while referenced; ``Get``, then the driver's Remove."""
        name = v.name
        async with self._locked(name):
            if self.has_ref(name):
                refs = self.get_refs(name)
                raise VolumeError(
                    wire.op_error("remove", name, wire.VOLUME_IN_USE, refs),
                    kind="in_use",
                    refs=refs,
                )
            current = await self._get_volume(name, v.driver)
            try:
                driver = await self.drivers.get(current.driver)
            except VolumeDriverError as exc:
                raise _op("remove", current.driver, exc) from None
            error: VolumeError | None = None
            try:
                await driver.remove(current.volume)
            except VolumeDriverError as exc:
                error = _op("remove", name, exc)
            if error is None or purge_on_error:
                self._purge(name)
            if error is not None:
                raise error
            self._emit("destroy", name, current.driver)

    def _purge(self, name: str) -> None:
        """Forget everything about ``name`` (memory and metadata)."""
        self.db.delete_volume(name)
        self.names.pop(name, None)
        self.refs.pop(name, None)
        self.labels.pop(name, None)
        self.options.pop(name, None)

    # -- list ---------------------------------------------------------------------------

    async def list(
        self, driver_names: list[str] | None = None
    ) -> tuple[list[StoredVolume], list[str]]:
        """``VolumeStore.list`` + ``Find``: every driver's ``List``, concurrently.

        A failing driver becomes a warning ``list D: <err>`` and its known volumes are
        listed from the engine's own records instead.
        """
        drivers = await self.drivers.get_all()
        if driver_names:
            drivers = [d for d in drivers if d.name in driver_names]
        results: list[list[StoredVolume] | VolumeDriverError] = [[] for _ in drivers]

        async def one(index: int, driver: VolumeDriver) -> None:
            try:
                listed = await driver.list()
            except VolumeDriverError as exc:
                results[index] = exc
                return
            wrapped = []
            for dv in listed:
                scope = await driver.scope()
                wrapped.append(
                    StoredVolume(dv, self.labels.get(dv.name), scope, self.options.get(dv.name))
                )
            results[index] = wrapped

        async with trio.open_nursery() as nursery:
            for index, driver in enumerate(drivers):
                nursery.start_soon(one, index, driver)

        volumes: list[StoredVolume] = []
        warnings: list[str] = []
        bad: set[str] = set()
        for driver, result in zip(drivers, results, strict=True):
            if isinstance(result, VolumeDriverError):
                warnings.append(wire.op_error("list", driver.name, str(result)))
                bad.add(driver.name)
            else:
                volumes.extend(result)
        if bad:
            volumes.extend(v for v in self.names.values() if v.driver in bad)
        out = []
        for v in volumes:
            stored = self.names.get(v.name)
            if stored is not None and stored.driver != v.driver:
                log.warning(
                    "Volume name %s already exists for driver %s, not including volume "
                    "returned by %s",
                    v.name,
                    stored.driver,
                    v.driver,
                )
                continue
            out.append(v)
        return out, warnings

    # -- restart --------------------------------------------------------------------------

    async def restore(self) -> None:
        """After an engine restart: ``Get`` every stored volume (in parallel), no ``List``.

        Not found (or any non-transport error) → the entry is deleted; a transport
        error or a failed plugin lookup → warning ``Error restoring volume``, entry kept.
        """
        stale: list[str] = []

        async def one(meta: VolumeMetadata) -> None:
            if meta.driver:
                try:
                    found = await self._lookup_volume(meta.driver, meta.name)
                except VolumeDriverError as exc:
                    log.warning(
                        "Error restoring volume driver=%s volume=%s error=%s",
                        meta.driver,
                        meta.name,
                        exc,
                    )
                    return
                if found is None:
                    stale.append(meta.name)
                    return
                stored = StoredVolume(
                    found, _copy(meta.labels), await self._scope(meta.driver), _copy(meta.options)
                )
            else:
                try:
                    stored = await self._get_volume(meta.name, "")
                except VolumeError as exc:
                    if exc.kind == "not_found":
                        stale.append(meta.name)
                    return
                except VolumeDriverError:
                    return
            self.options[stored.name] = _copy(meta.options)
            self.labels[stored.name] = _copy(meta.labels)
            self.names[stored.name] = stored
            self.refs[stored.name] = set()

        async with trio.open_nursery() as nursery:
            for meta in self.db.volumes():
                nursery.start_soon(one, meta)
        for name in stale:
            self.db.delete_volume(name)

    async def _scope(self, driver_name: str) -> str:
        try:
            return await (await self.drivers.get(driver_name)).scope()
        except VolumeDriverError:
            return ""


def _copy(value: Mapping[str, str] | None) -> dict[str, str] | None:
    return dict(value) if value is not None else None
