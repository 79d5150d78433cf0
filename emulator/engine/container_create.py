"""What ``docker create`` checks and registers before a container exists (moby/moby v28.5.2).

In dockerd's order (daemon/create.go ``containerCreate`` and ``create``):

1. ``validateNetworkingConfig``: each network's endpoint settings
   (:func:`~emulator.engine.endpoint_settings.endpoint_settings_error`), every problem
   reported as ``invalid config for network N: …``, joined;
2. ``mergeAndVerifyLogConfig``: the log driver must exist
   (:func:`~emulator.engine.log_config.check_log_driver`);
3. the name (``Conflict. The container name "/x" is already in use…``);
4. ``registerMountPoints`` (daemon/volumes.go): ``--volumes-from`` first, then ``-v``.

A mount point copied with ``--volumes-from C[:ro|:rw]`` keeps C's volume, driver,
destination and source; it is read-write only if it was and the mode allows it.  When
C's mount point has no source (an anonymous volume, or a named one not mounted when C
was created) the volume is looked up at once (``Get``, adding a reference); otherwise
the lookup waits for the start (``lazyInitializeVolume``).  A ``-v`` for the same
destination replaces a copied mount point.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from emulator.engine.container_model import (
    ContainerError,
    MountPoint,
    MountRequest,
    parse_volume_spec,
)
from emulator.engine.endpoint_settings import (
    DEFAULT_NETWORK,
    EndpointConfig,
    join_errors,
    normalize_network_mode,
)
from emulator.engine.rollback import undo
from emulator.protocol import volume as wire

if TYPE_CHECKING:
    from emulator.engine.containers import ContainerService

__all__ = [
    "network_settings",
    "networking_error",
    "parse_volumes_from",
    "register_mount_points",
]

_PROPAGATION = frozenset({"private", "rprivate", "slave", "rslave", "shared", "rshared"})


def network_settings(
    network_mode: str, networks: Sequence[str] | Mapping[str, EndpointConfig]
) -> tuple[str, dict[str, EndpointConfig]]:
    """``NetworkMode`` and ``NetworkSettings.Networks`` as create stores them.

    The mode defaults to the first network given, else ``bridge``; ``default`` names the
    default network (``postContainersCreate``).  Without endpoint settings the mode's
    network gets empty ones; a ``container:<ref>`` mode has no networks
    (``updateContainerNetworkSettings``).
    """
    given: dict[str, EndpointConfig] = (
        dict(networks) if isinstance(networks, Mapping) else {n: EndpointConfig() for n in networks}
    )
    mode = normalize_network_mode(network_mode or next(iter(given), DEFAULT_NETWORK))
    if "default" in given:
        given[DEFAULT_NETWORK] = given.pop("default")
    if mode.startswith("container:"):
        return mode, {}
    if not given:
        given = {mode: EndpointConfig()}
    return mode, given


def networking_error(problems: Iterable[tuple[str, str]]) -> ContainerError | None:
    """``validateNetworkingConfig``'s 400 from ``(network, problem)`` pairs, if any."""
    texts = [f"invalid config for network {name}: {problem}" for name, problem in problems]
    return ContainerError(join_errors(texts), http_status=400) if texts else None


def _valid_mode(mode: str) -> bool:
    """``linuxValidMountMode``: known options, at most one of each kind."""
    if mode == "":
        return True
    counts = {"rw": 0, "label": 0, "propagation": 0, "copy": 0, "consistency": 0}
    for option in mode.split(","):
        if option in ("rw", "ro"):
            counts["rw"] += 1
        elif option in ("z", "Z"):
            counts["label"] += 1
        elif option in _PROPAGATION:
            counts["propagation"] += 1
        elif option == "nocopy":
            counts["copy"] += 1
        elif option in ("consistent", "cached", "delegated"):
            counts["consistency"] += 1
        else:
            return False
    return all(n <= 1 for n in counts.values())


def parse_volumes_from(spec: str) -> tuple[str, bool]:
    """``ParseVolumesFrom``: the container reference and whether its mounts stay writable."""
    if spec == "":
        raise ContainerError(
            "volumes-from specification cannot be an empty string", http_status=400
        )
    ref, _, mode = spec.partition(":")
    if mode == "":
        return ref, True
    options = mode.split(",")
    if not _valid_mode(mode) or any(o in _PROPAGATION for o in options) or "nocopy" in options:
        raise ContainerError(f"invalid mode: {mode}", http_status=400)
    return ref, "ro" not in options


async def register_mount_points(
    service: ContainerService,
    cid: str,
    volumes_from: Sequence[str],
    binds: Sequence[str],
    anonymous: Sequence[str],
    volume_driver: str,
    mounts: Sequence[MountRequest] = (),
) -> list[MountPoint]:
    """``registerMountPoints`` (and the anonymous volumes of ``Config.Volumes``).

    ``mounts`` (``HostConfig.Mounts``) come after the binds: a volume is created with its
    mount's driver, ``DriverConfig.Options`` and ``Labels``, and a destination given by a
    bind or an earlier mount is refused.

    Each volume looked up or created here holds a reference for ``cid``; on failure the
    references taken are released again.
    """
    points: dict[str, MountPoint] = {}
    referenced: list[str] = []
    try:
        for spec in volumes_from:
            for mp in await _copied_mounts(service, cid, spec):
                if mp.attached:
                    referenced.append(mp.name)
                await _replace(service, points, mp, cid)
        seen: set[str] = set()
        for spec in binds:
            mp = _bind(spec, volume_driver, seen)
            await _create_volume(service, mp, cid, referenced)
            if mp.type == "volume" and mp.driver == wire.DEFAULT_DRIVER and not mp.mode:
                mp.mode = "z"  # setBindModeIfNull
            await _replace(service, points, mp, cid)
        for request in mounts:
            mp = _mount_point(request, seen)
            if mp.type == "volume":
                info = await service.volumes.create(
                    mp.name,
                    mp.driver,
                    request.driver_opts,
                    request.labels,
                    reference=cid,
                    explicit=False,
                )
                referenced.append(info.Name)
                mp.name, mp.driver, mp.source = info.Name, info.Driver, info.Mountpoint
                if mp.driver == wire.DEFAULT_DRIVER and not mp.mode:
                    mp.mode = "z"  # setBindModeIfNull
            await _replace(service, points, mp, cid)
        for destination in anonymous:
            if destination not in points:
                mp = parse_volume_spec(destination, volume_driver)
                await _create_volume(service, mp, cid, referenced)
                mp.source = ""  # AddMountPointWithVolume: no Source
                points[mp.destination] = mp
    except BaseException:
        for name in referenced:
            await undo(service.volumes.release(name, cid))
        raise
    return list(points.values())


def _bind(spec: str, volume_driver: str, seen: set[str]) -> MountPoint:
    """One ``-v``: parsed, its destination not given by another ``-v``."""
    mp = parse_volume_spec(spec, volume_driver)
    if mp.destination in seen:
        raise ContainerError(f"Duplicate mount point: {mp.destination}", http_status=400)
    seen.add(mp.destination)
    return mp


def _mount_point(request: MountRequest, seen: set[str]) -> MountPoint:
    """``ParseMountSpec`` of a mount already validated by the API layer."""
    destination = posixpath.normpath(request.target)
    if destination in seen:
        raise ContainerError(f"Duplicate mount point: {request.target}", http_status=400)
    seen.add(destination)
    if request.type == "bind":
        return MountPoint(
            destination=destination,
            type="bind",
            source=posixpath.normpath(request.source),
            rw=not request.read_only,
            mode=request.propagation,
            create_source=request.create_source,
        )
    return MountPoint(
        destination=destination,
        type="volume",
        name=request.source,
        driver=request.driver,
        rw=not request.read_only,
        anonymous=request.source == "",
        subpath=request.subpath,
    )


async def _create_volume(
    service: ContainerService, mp: MountPoint, cid: str, referenced: list[str]
) -> None:
    if mp.type != "volume":
        return
    info = await service.volumes.create(mp.name, mp.driver, None, reference=cid, explicit=False)
    referenced.append(info.Name)
    mp.name, mp.driver, mp.source = info.Name, info.Driver, info.Mountpoint


async def _replace(
    service: ContainerService, points: dict[str, MountPoint], mp: MountPoint, cid: str
) -> None:
    """``dereferenceIfExists``, then ``mp`` at its destination: a mount point replaced
    there gives back its volume reference."""
    old = points.get(mp.destination)
    if old is not None and old.type == "volume" and old.attached:
        await service.volumes.release(old.name, cid)
    points[mp.destination] = mp


async def _copied_mounts(service: ContainerService, cid: str, spec: str) -> list[MountPoint]:
    """The mount points of ``--volumes-from`` ``spec``, looked up as dockerd does."""
    ref, writable = parse_volumes_from(spec)
    try:
        source = service.get(ref)
    except ContainerError as exc:
        raise ContainerError(str(exc), http_status=400) from None
    copied: list[MountPoint] = []
    for mp in source.mounts:
        cp = MountPoint(
            destination=mp.destination,
            type=mp.type,
            name=mp.name,
            driver=mp.driver,
            source=mp.source,
            rw=mp.rw and writable,
            anonymous=mp.anonymous,
            subpath=mp.subpath,  # dockerd copies the mount's Spec
        )
        if cp.type == "volume":
            cp.attached = False
            if cp.source == "":
                await service.volumes.get(cp.name, driver=cp.driver, reference=cid)
                cp.attached = True
        copied.append(cp)
    return copied
