"""The archive API of a fake container: stat, tar and untar a path (``docker cp``).

moby/moby daemon/archive_unix.go (v28.5.2), each function run in the container's
view (:class:`~emulator.engine.scoped_fs.ScopedFS`: the rootfs with the volumes
mounted at their destinations, walked as from inside):

* :func:`stat_path` is ``containerStatPath`` (``HEAD``): ``lstat`` of the path as
  given; a link's ``linkTarget`` is ``FollowSymlinkInScope`` of it.
* :func:`archive_path` is ``containerArchivePath`` (``GET``): the path is joined to
  ``/`` and cleaned first (so ``..`` is lexical here), then stat-ed the same way; a
  directory is archived with its content under its base name (``TarResourceRebaseOpts``),
  anything else as the one entry.  Mount points inside are walked into, as in the view.
* :func:`extract_to_dir` is ``containerExtractToDir`` (``PUT``): the path is joined,
  cleaned and every link followed (``EvalSymlinks``); it must be a directory
  (``extraction point is not a directory``, 400) on a writable mount
  (``mounted volume is marked read-only``, 400); the tar goes through
  :func:`emulator.engine.unpack.unpack`.

Not emulated: ``copyUIDGID`` (fake containers have no ``User``: dockerd then uses the
defaults, as here), a read-only rootfs (fake containers have none), sockets in an
archive (Go's tar writer refuses them: dockerd logs and skips them, as here).
"""

from __future__ import annotations

import logging
import os
import stat as statmod
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

import attrs

from emulator.engine.scoped_fs import (
    Located,
    ScopedFS,
    go_base,
    go_file_mode,
    go_join,
)
from emulator.engine.unpack import (
    UnpackError,
    UnpackOptions,
    read_members,
    renamed,
    unpack,
    unpack_members,
)
from emulator.golang.errors import errno_text

__all__ = [
    "ArchiveError",
    "PathStat",
    "archive_path",
    "extract_to_dir",
    "os_error_text",
    "stat_path",
    "tar_host_path",
    "untar_on_host",
]

log = logging.getLogger("emulator.containers")

_READ_DIR: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FILE: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CHUNK: Final = 1 << 20


class ArchiveError(Exception):
    """An archive call failed; ``str()`` is dockerd's text, ``http_status`` its status."""

    def __init__(self, text: str, *, http_status: int = 500) -> None:
        super().__init__(text)
        self.text = text
        self.http_status = http_status

    def __str__(self) -> str:
        return self.text


@attrs.frozen
class PathStat:
    """``container.PathStat``: what ``X-Docker-Container-Path-Stat`` carries."""

    name: str
    size: int
    mode: int
    """Go's ``os.FileMode`` bits."""
    mtime_ns: int
    link_target: str

    @property
    def is_dir(self) -> bool:
        return bool(self.mode & (1 << 31))


def _preserve_trailing(cleaned: str, original: str) -> str:
    """``archive.PreserveTrailingDotOrSeparator``."""
    if go_base(cleaned) != "." and go_base(original) == ".":
        if not cleaned.endswith("/"):
            cleaned += "/"
        cleaned += "."
    if not cleaned.endswith("/") and original.endswith("/"):
        cleaned += "/"
    return cleaned


def _stat(fs: ScopedFS, path: str, name: str) -> tuple[PathStat, os.stat_result]:
    with fs.locate(path) as found:
        if found.stat is None:
            raise FileNotFoundError(2, "no such file or directory", path)
        info = found.stat
    target = fs.follow_in_scope(path) if statmod.S_ISLNK(info.st_mode) else ""
    stat = PathStat(name, info.st_size, go_file_mode(info.st_mode), info.st_mtime_ns, target)
    return stat, info


def stat_path(fs: ScopedFS, path: str) -> PathStat:
    """``HEAD /containers/{id}/archive``: ``FileNotFoundError`` when it is missing."""
    return _stat(fs, path, go_base(path))[0]


def archive_path(fs: ScopedFS, path: str, out: IO[bytes]) -> PathStat:
    """``GET /containers/{id}/archive``: write the tar to ``out``; the stat of ``path``."""
    abs_path = _preserve_trailing(go_join("/", path), path)
    stat, info = _stat(fs, abs_path, go_base(abs_path))
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        writer = _TarWriter(fs, tar)
        rebase = go_base(abs_path)
        if statmod.S_ISDIR(info.st_mode):
            writer.tree(abs_path, "" if rebase == "/" else rebase)
        else:
            with fs.locate(abs_path) as found:
                writer.add(found, rebase)
    return stat


def extract_to_dir(
    fs: ScopedFS, path: str, archive: IO[bytes], *, no_overwrite_dir_non_dir: bool = False
) -> None:
    """``PUT /containers/{id}/archive``: unpack ``archive`` into the directory ``path``."""
    with fs.locate(go_join("/", path), follow_last=True) as found:
        if found.stat is None:
            raise FileNotFoundError(2, "no such file or directory", path)
        if not found.is_dir:
            raise ArchiveError("extraction point is not a directory", http_status=400)
        if found.mount is not None and not found.mount.writable:
            raise ArchiveError("mounted volume is marked read-only", http_status=400)
        dest = found.virtual
    options = UnpackOptions(no_overwrite_dir_non_dir=no_overwrite_dir_non_dir)
    try:
        unpack(archive, fs, dest, options, compressed=True)
    except UnpackError as exc:
        raise ArchiveError(str(exc), http_status=exc.http_status) from None


class _TarWriter:
    """``tarAppender`` over the view: headers from ``lstat``, hard links remembered."""

    def __init__(self, fs: ScopedFS, tar: tarfile.TarFile) -> None:
        self.fs = fs
        self.tar = tar
        self.seen: dict[tuple[int, int], str] = {}

    def tree(self, top: str, rebase: str) -> None:
        """``top`` and everything under it (lexical order, depth first), names rebased."""
        with self.fs.locate(top) as found:
            self.add(found, rebase)
            root_fd = os.open(found.name, _READ_DIR, dir_fd=found.parent)
            virtual = found.virtual
        stack: list[tuple[int, str, str, Iterator[str]]] = [
            (root_fd, virtual, rebase, iter(sorted(os.listdir(root_fd))))
        ]
        try:
            while stack:
                fd, where, name, children = stack[-1]
                child = next(children, None)
                if child is None:
                    os.close(fd)
                    stack.pop()
                    continue
                child_fd = self._entry(fd, where, name, child)
                if child_fd is not None:
                    path = f"{where.rstrip('/')}/{child}"
                    stack.append(
                        (child_fd, path, f"{name}/{child}", iter(sorted(os.listdir(child_fd))))
                    )
        finally:
            for fd, *_rest in stack:
                os.close(fd)

    def _entry(self, fd: int, where: str, name: str, child: str) -> int | None:
        """Add ``child`` of the open directory ``fd``; its open descriptor if it is a dir."""
        virtual = f"{where.rstrip('/')}/{child}"
        mount_fd = self.fs.mount_fd(virtual)
        tar_name = f"{name}/{child}"
        if mount_fd is not None:
            located = Located(mount_fd, ".", virtual, None, os.stat(mount_fd))
            self.add(located, tar_name)
            return os.open(".", _READ_DIR, dir_fd=mount_fd)
        try:
            info = os.stat(child, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None  # gone meanwhile (dockerd logs and goes on)
        self.add(Located(fd, child, virtual, None, info), tar_name)
        if statmod.S_ISDIR(info.st_mode):
            try:
                return os.open(child, _READ_DIR, dir_fd=fd)
            except OSError:
                return None
        return None

    def add(self, found: Located, name: str) -> None:
        """One header (and a regular file's content) for ``found`` as ``name``."""
        info = found.stat
        assert info is not None
        assert found.parent is not None
        mode = info.st_mode
        entry = tarfile.TarInfo(name)
        entry.mode = statmod.S_IMODE(mode)
        entry.uid, entry.gid = info.st_uid, info.st_gid
        entry.mtime = info.st_mtime_ns // 1_000_000_000
        if statmod.S_ISDIR(mode):
            entry.type = tarfile.DIRTYPE
        elif statmod.S_ISLNK(mode):
            entry.type = tarfile.SYMTYPE
            entry.linkname = os.readlink(found.name, dir_fd=found.parent)
        elif statmod.S_ISCHR(mode) or statmod.S_ISBLK(mode):
            entry.type = tarfile.CHRTYPE if statmod.S_ISCHR(mode) else tarfile.BLKTYPE
            entry.devmajor, entry.devminor = os.major(info.st_rdev), os.minor(info.st_rdev)
        elif statmod.S_ISFIFO(mode):
            entry.type = tarfile.FIFOTYPE
        elif statmod.S_ISREG(mode):
            self._add_file(found, entry, info)
            return
        else:
            log.error("Can't add file %s to tar: archive/tar: sockets not supported", found.virtual)
            return
        self.tar.addfile(entry)

    def _add_file(self, found: Located, entry: tarfile.TarInfo, info: os.stat_result) -> None:
        key = (info.st_dev, info.st_ino)
        if info.st_nlink > 1 and key in self.seen:
            entry.type = tarfile.LNKTYPE
            entry.linkname = self.seen[key]
            self.tar.addfile(entry)
            return
        assert found.parent is not None
        try:
            fd = os.open(found.name, _READ_FILE, dir_fd=found.parent)
        except OSError as exc:
            log.error("Can't add file %s to tar: %s", found.virtual, exc.strerror)
            return
        with os.fdopen(fd, "rb") as source:
            opened = os.fstat(fd)
            if not statmod.S_ISREG(opened.st_mode) or opened.st_ino != info.st_ino:
                log.error("Can't add file %s to tar: it changed while archived", found.virtual)
                return
            entry.type = tarfile.REGTYPE
            entry.size = info.st_size
            self.tar.addfile(entry, _Exactly(source, info.st_size))
        if info.st_nlink > 1:
            self.seen[key] = entry.name


class _Exactly:
    """``size`` bytes of ``source``: cut when it grew, zero-padded when it shrank."""

    def __init__(self, source: IO[bytes], size: int) -> None:
        self.source = source
        self.left = size

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        want = self.left if n < 0 else min(n, self.left)
        data = self.source.read(min(want, _CHUNK))
        if not data:
            data = bytes(min(want, _CHUNK))
        self.left -= len(data)
        return data


def os_error_text(exc: OSError) -> str:
    """Go's ``*PathError`` text for an error met in the container's view."""
    reason = errno_text(exc.errno) if exc.errno is not None else str(exc)
    if exc.filename is None:
        return reason
    return f"lstat {exc.filename}: {reason}"


def tar_host_path(source: Path, name: str, out: IO[bytes]) -> None:
    """The CLI's side of ``docker cp SRC CONTAINER:DST``: ``source`` as a tar named ``name``."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(source, arcname=name)
    out.seek(0)


def untar_on_host(archive: IO[bytes], dest: Path) -> None:
    """The CLI's side of ``docker cp CONTAINER:SRC DEST``, kept inside ``dest``.

    Into the directory ``dest`` when it is one, else as ``dest`` itself (its parent
    must exist).  Owners are not copied (the CLI extracts with ``NoLchown``).
    Raises :class:`~emulator.engine.unpack.UnpackError`.
    """
    archive.seek(0)
    if dest.is_dir():
        root, rename = dest, None
    else:
        root, rename = dest.parent, dest.name
    members = read_members(archive)
    if rename is not None:
        members = ((renamed(member, _rebase(member.name, rename)), tar) for member, tar in members)
    with ScopedFS(root) as fs:
        unpack_members(members, fs, "/", UnpackOptions(chown=False))


def _rebase(name: str, first: str) -> str:
    """``name`` with its first component replaced by ``first``."""
    _head, sep, rest = name.lstrip("/").partition("/")
    return f"{first}{sep}{rest}"
