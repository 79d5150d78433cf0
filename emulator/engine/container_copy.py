"""``docker cp`` and the archive API on fake containers (``daemon/archive*.go``, v28.5.2).

:class:`ContainerCopy` is a part of :class:`~emulator.engine.containers.ContainerService`:
each archive call mounts the container's volumes (with a running container's mount IDs)
for its duration and walks the container's file system as from inside it
(:class:`~emulator.engine.scoped_fs.ScopedFS`); the host side lives in
:mod:`emulator.engine.container_archive`.
"""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Final, TypeVar

import trio

from emulator.clock import real_io
from emulator.engine.container_archive import (
    ArchiveError,
    PathStat,
    archive_path,
    extract_to_dir,
    os_error_text,
    stat_path,
    tar_host_path,
    untar_on_host,
)
from emulator.engine.container_model import Container, ContainerError, MountPoint
from emulator.engine.scoped_fs import Mount, ScopedFS
from emulator.engine.unpack import UnpackError

__all__ = ["SPOOL_IN_MEMORY", "ContainerCopy"]

T = TypeVar("T")

#: Archives up to this size are kept in memory on their way; larger ones go to a file.
SPOOL_IN_MEMORY: Final = 8 << 20


def _view_mounts(container: Container) -> tuple[Mount, ...]:
    return tuple(
        Mount(mp.destination, Path(source), writable=mp.rw)
        for mp in container.mounts
        if (source := mp.path if mp.type == "volume" else mp.source)
    )


class ContainerCopy:
    """The archive calls of the container service (a mixin; the service provides the rest)."""

    def get(self, ref: str) -> Container:
        """The container ``ref`` (the service's lookup)."""
        raise NotImplementedError

    def rootfs(self, container: Container) -> Path:
        """The container's root file system on the host."""
        raise NotImplementedError

    async def setup_mounts(self, container: Container) -> None:
        """Mount the container's volumes (``setupMounts``)."""
        raise NotImplementedError

    async def unmount_volumes(self, container: Container) -> None:
        """Unmount them again (``UnmountVolumes``)."""
        raise NotImplementedError

    @staticmethod
    def missing_source(container: Container) -> MountPoint | None:
        """The first mount whose source is not on this host."""
        raise NotImplementedError

    async def in_fs(self, container: Container, work: Callable[[ScopedFS], T], path: str) -> T:
        """Run ``work`` on the container's file system in a worker thread (one archive call).

        ``openContainerFS``: the volumes are mounted (same IDs while running) for the
        call and unmounted after it; ``work`` sees the rootfs with every volume and
        bind mount at its destination, walked as from inside the container
        (:class:`~emulator.engine.scoped_fs.ScopedFS`).  Errors become
        :class:`ContainerError` with dockerd's texts; ``path`` is the path the caller
        asked for (``Could not find the file PATH in container NAME``).
        """
        root = self.rootfs(container)

        def run() -> T:
            with ScopedFS(root, _view_mounts(container)) as fs:
                return work(fs)

        async with _ContainerFS(self, container, path):
            try:
                with real_io():
                    return await trio.to_thread.run_sync(run, abandon_on_cancel=True)
            except FileNotFoundError:
                raise ContainerError(
                    f"Could not find the file {path} in container {container.name}",
                    http_status=404,
                ) from None
            except ArchiveError as exc:
                raise ContainerError(str(exc), http_status=exc.http_status) from None
            except OSError as exc:
                raise ContainerError(os_error_text(exc)) from None

    async def stat_path(self, ref: str, path: str) -> PathStat:
        """``HEAD /containers/{id}/archive``: the stat of ``path`` (its last link not followed)."""
        container = self.get(ref)
        return await self.in_fs(container, lambda fs: stat_path(fs, path), path)

    async def archive_path(self, ref: str, path: str, out: IO[bytes]) -> PathStat:
        """``GET /containers/{id}/archive``: write the tar of ``path`` to ``out``."""
        container = self.get(ref)
        return await self.in_fs(container, lambda fs: archive_path(fs, path, out), path)

    async def extract_to_dir(
        self, ref: str, path: str, archive: IO[bytes], *, no_overwrite_dir_non_dir: bool = False
    ) -> None:
        """``PUT /containers/{id}/archive``: unpack ``archive`` into the directory ``path``."""
        container = self.get(ref)
        await self.in_fs(
            container,
            lambda fs: extract_to_dir(
                fs, path, archive, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir
            ),
            path,
        )

    async def copy(
        self, ref: str, container_path: str, host_path: str | Path, *, into: bool = False
    ) -> None:
        """``docker cp``, with the archive calls the v28 CLI makes.

        ``into=False`` copies ``container_path`` out to ``host_path`` (one ``GET``;
        ``host_path`` is the copy's name, or the directory to put it in);
        ``into=True`` copies ``host_path`` into the container: a stat call, then the
        upload (``PUT``), each mounting and unmounting the volumes.  Everything the
        container holds is written through the same safe unpacking as an upload.
        """
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            if into:
                await self._copy_in(ref, container_path, Path(host_path), spool)
                return
            await self.archive_path(ref, container_path, spool)
            try:
                with real_io():
                    await trio.to_thread.run_sync(untar_on_host, spool, Path(host_path))
            except UnpackError as exc:
                raise ContainerError(str(exc), http_status=exc.http_status) from None

    async def _copy_in(self, ref: str, container_path: str, source: Path, spool: IO[bytes]) -> None:
        try:
            found: PathStat | None = await self.stat_path(ref, container_path)
        except ContainerError as exc:
            if exc.http_status != 404:
                raise
            found = None
        if found is not None and found.is_dir:
            directory, name = container_path, source.name
        else:
            trimmed = container_path.rstrip("/") or "/"
            directory, name = posixpath.dirname(trimmed), posixpath.basename(trimmed)
        with real_io():
            await trio.to_thread.run_sync(tar_host_path, source, name, spool)
        await self.extract_to_dir(ref, directory, spool, no_overwrite_dir_non_dir=True)


class _ContainerFS:
    """``openContainerFS``: the volumes mounted for the duration of one archive call.

    ``setupMounts`` mounts every volume (``Get`` + ``Mount``, the running container's
    IDs).  A failing ``Mount`` is not cleaned up: dockerd registers its clean-up only
    after ``setupMounts`` succeeded, so volumes mounted before the failing one stay
    mounted.  After that, any error unmounts them all (``UnmountVolumes``), as at the
    end of the call.  Each mount's source is looked at first (``os.Stat`` while binding
    it into the private view): a Mountpoint that does not exist on this host (a plugin
    in its own mount namespace) is ``os.IsNotExist``, which the archive API answers as
    404 ``Could not find the file PATH in container NAME`` (moby/moby
    ``daemon/containerfs_linux.go`` and ``daemon/archive.go``, v28.5.2).  The
    Unmounts run even when the caller is cancelled (dockerd's ``WithoutCancel``).
    """

    def __init__(self, service: ContainerCopy, container: Container, path: str) -> None:
        self._service = service
        self._container = container
        self._path = path

    async def __aenter__(self) -> None:
        await self._service.setup_mounts(self._container)
        if self._service.missing_source(self._container) is not None:
            await self._unmount()
            raise ContainerError(
                f"Could not find the file {self._path} in container {self._container.name}",
                http_status=404,
            )

    async def __aexit__(self, *exc_info: object) -> None:
        await self._unmount()

    async def _unmount(self) -> None:
        with trio.CancelScope(shield=True):
            await self._service.unmount_volumes(self._container)
