"""A container's volumes as dockerd mounts them: ``setupMounts``, ``UnmountVolumes``, release.

What a volume plugin sees from a container (moby/moby ``daemon/volumes_unix.go``,
``container/container.go``, ``daemon/delete.go``, v28.5.2): each volume mount point gets
its mount ID (kept while active and after a failed ``Unmount``, else a new random
64-hex one) and is mounted with ``Get`` + ``Mount``; unmounting is ``Get`` + ``Unmount``
per active mount with errors only logged; removal releases the container's references
and removes its anonymous volumes when asked.
"""

from __future__ import annotations

import logging
import os
import posixpath
import secrets
from collections.abc import Callable
from pathlib import Path

import trio

from emulator.engine.container_model import Container, ContainerError, MountPoint
from emulator.engine.volume_drivers import VolumeDriverError
from emulator.engine.volume_store import VolumeError
from emulator.engine.volumes import VolumeService
from emulator.golang.errors import errno_text

__all__ = ["ContainerVolumes", "missing_source", "subpath_join"]

log = logging.getLogger("emulator.containers")

VolumeEvent = Callable[[str, Container, MountPoint], None]


def subpath_join(base: str, subpath: str) -> str:
    """``safepath.Join``'s checks: ``subpath`` of the mounted volume at ``base`` must exist
    and, its symlinks resolved, stay inside it (moby/moby internal/safepath, v28.5.2)."""
    root = Path(base)
    if not root.exists():
        raise ContainerError(
            f"cannot access path {base}: lstat {base}: no such file or directory",
            http_status=404,
        )
    resolved_base = root.resolve()
    combined = Path(posixpath.normpath(posixpath.join(str(resolved_base), subpath)))
    probe = resolved_base
    for part in combined.relative_to("/").parts[len(resolved_base.parts) - 1 :]:
        probe = probe / part
        if not os.path.lexists(probe):
            raise ContainerError(
                f"cannot access path {combined}: lstat {probe}: no such file or directory",
                http_status=404,
            )
    resolved = combined.resolve()
    if resolved != resolved_base and resolved_base not in resolved.parents:
        raise ContainerError(
            "path concatenation escapes the base directory, "
            f"base: {resolved_base}, subpath: {subpath}",
            http_status=400,
        )
    return str(resolved)


def make_bind_source(source: str) -> None:
    """``user.MkdirAllAndChown(source, 0o755, …, WithOnlyNew)``: a path that exists as
    something else than a directory is left for the mount to refuse (ENOTDIR ignored)."""
    try:
        os.makedirs(source, mode=0o755, exist_ok=True)
    except FileExistsError:
        return  # a file: the bind mounts it as a file
    except NotADirectoryError:
        return
    except OSError as exc:
        reason = errno_text(exc.errno) if exc.errno else str(exc)
        raise ContainerError(
            f"error while creating mount source path '{source}': "
            f"mkdir {exc.filename or source}: {reason}"
        ) from None


def missing_source(container: Container) -> MountPoint | None:
    """The first mount whose source is not on this host (``os.Stat`` fails), if any."""
    for mp in container.mounts:
        source = mp.path if mp.type == "volume" else mp.source
        if source and not Path(source).exists():
            return mp
    return None


class ContainerVolumes:
    """Mount, unmount and release a container's volumes through the volume service."""

    def __init__(self, volumes: VolumeService, event: VolumeEvent) -> None:
        self.volumes = volumes
        self._event = event

    async def mount(self, container: Container) -> None:
        """``setupMounts``: each volume mount gets its (kept or new) ID and is mounted; a
        ``-v`` bind's missing host directory is made (0755, as ``MountPoint.Setup``)."""
        for mp in container.mounts:
            if mp.type == "bind" and mp.create_source:
                await trio.to_thread.run_sync(make_bind_source, mp.source)
            if mp.type != "volume":
                continue
            mount_id = mp.id or secrets.token_hex(32)
            try:
                if not mp.attached:  # lazyInitializeVolume
                    await self.volumes.get(mp.name, driver=mp.driver, reference=container.id)
                    mp.attached = True
                path = await self.volumes.mount(mp.name, mp.driver, mount_id)
            except (VolumeError, VolumeDriverError) as exc:
                raise ContainerError(
                    f"error while mounting volume '{mp.source}': {exc}",
                    http_status=getattr(exc, "http_status", 500),
                ) from None
            if mp.subpath:
                try:
                    path = subpath_join(path, mp.subpath)
                except ContainerError:
                    await self._unmount_quietly(mp, mount_id)
                    raise
            mp.id = mount_id
            mp.active += 1
            mp.path = path
            self._event("mount", container, mp)

    async def _unmount_quietly(self, mp: MountPoint, mount_id: str) -> None:
        """``Volume.Unmount`` after a failed subpath join; its error is only logged."""
        try:
            await self.volumes.unmount(mp.name, mp.driver, mount_id)
        except (VolumeError, VolumeDriverError) as exc:
            log.error("failed to unmount after safepath.Join failed: %s", exc)

    @staticmethod
    def check_sources(container: Container) -> None:
        """The runtime binds every mount into the container: a missing source fails it."""
        missing = missing_source(container)
        if missing is not None:
            source = missing.path if missing.type == "volume" else missing.source
            raise ContainerError(
                f'error mounting "{source}" to rootfs at "{missing.destination}": '
                f"stat {source}: no such file or directory (the plugin's Mount "
                "answered a Mountpoint that does not exist on the host)"
            )

    async def unmount(self, container: Container) -> None:
        """``UnmountVolumes``: ``Get`` + ``Unmount`` for each active mount; errors only logged."""
        for mp in container.mounts:
            if mp.type != "volume" or mp.id == "":
                continue
            if mp.active == 0:
                log.error("An attempt to decrement a zero mount count id=%s", mp.id)
                continue
            try:
                await self.volumes.unmount(mp.name, mp.driver, mp.id)
            except (VolumeError, VolumeDriverError) as exc:
                log.error(
                    "%s cleanup: Failed to umount volumes: error while unmounting volumes for "
                    "container %s: error unmounting volume %s: %s",
                    container.id,
                    container.id,
                    mp.name,
                    exc,
                )
                continue
            mp.active -= 1
            self._event("unmount", container, mp)
            if mp.active == 0:
                mp.id = ""
                mp.path = ""

    async def release(self, container: Container, *, remove_anonymous: bool) -> list[str]:
        """References released; anonymous volumes removed if asked.  The removal errors."""
        errors = []
        for mp in container.mounts:
            if mp.type != "volume" or not mp.attached:
                continue
            await self.volumes.release(mp.name, container.id)
            if not remove_anonymous or not mp.anonymous:
                continue
            try:
                await self.volumes.remove(mp.name)
            except VolumeError as exc:
                if exc.kind != "in_use":
                    errors.append(str(exc))
        return errors
