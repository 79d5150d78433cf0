"""``docker plugin create``'s upload: ``config.json`` and ``rootfs/`` out of one tar.

moby/moby plugin/backend_linux.go (``CreateFromContext``, ``splitConfigRootFSFromTar``,
v28.5.2) reads the body with ``tar.NewReader`` (a compressed body is not a tar):

* the content of the last entry named ``config.json`` (after ``path.Clean``, a leading
  ``/`` dropped) is the configuration, whatever the entry's type: a directory, link or
  FIFO there has no content, so the config is empty (``failed to parse config:
  unexpected end of JSON input``); it is never read from the disk;
* every entry under ``rootfs/`` loses that prefix (a hard link's target too) and is
  unpacked in a chroot of a fresh ``DATA_ROOT/plugins/tmp/.rootfs*`` directory
  (``chrootarchive.Untar``): here through :func:`emulator.engine.unpack.unpack_members`
  on a :class:`~emulator.engine.scoped_fs.ScopedFS` of it, so no link leads out; the
  ``rootfs`` entry itself becomes ``.`` and is skipped (a ``rootfs`` symlink to
  ``/etc`` copies nothing);
* no entry under ``rootfs/``: ``no rootfs found: EOF``; then no config: ``config
  not found``; all of these are 500.

The emulator adds limits (entries, bytes, a 1 MiB ``config.json``) and refuses
device nodes and FIFOs (400).  All of it is file work for a worker thread; on any
failure the staging directory is removed.
"""

from __future__ import annotations

import posixpath
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

import attrs

from emulator.engine.scoped_fs import ScopedFS, remove_tree
from emulator.engine.unpack import (
    UnpackError,
    UnpackLimits,
    UnpackOptions,
    read_members,
    renamed,
    unpack_members,
)

__all__ = ["MAX_CONFIG_BYTES", "StagedPlugin", "stage_upload", "tar_directory"]

CONFIG_FILE: Final = "config.json"
ROOTFS_DIR: Final = "rootfs"
_PIPE_WORDS: Final = {
    "header": "failed to read from tar: ",
    "content": "error copying tar data: ",
}
#: The largest ``config.json`` accepted (dockerd reads any size; real ones are a few KiB).
MAX_CONFIG_BYTES: Final = 1 << 20


@attrs.frozen
class StagedPlugin:
    """An unpacked upload: the rootfs directory (to rename into place) and its config."""

    rootfs: Path
    config: bytes | None
    """The raw ``config.json`` (None: the upload had none)."""


class _Split:
    """``splitConfigRootFSFromTar``: rootfs entries renamed, config.json kept aside."""

    def __init__(self) -> None:
        self.config: bytes | None = None
        self.has_rootfs = False

    def members(
        self, members: Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]
    ) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
        for member, tar in members:
            name = posixpath.normpath(member.name) if member.name else "."
            name = name.removeprefix("/")
            if name == CONFIG_FILE:
                self.config = _read_config(member, tar)
            parts = name.split("/")
            if parts[0] != ROOTFS_DIR:
                continue
            self.has_rootfs = True
            inner = posixpath.normpath("/".join(parts[1:])) if len(parts) > 1 else "."
            linkname = None
            if member.islnk() and member.linkname.lower().startswith(ROOTFS_DIR + "/"):
                linkname = member.linkname[len(ROOTFS_DIR) + 1 :]
            yield renamed(member, inner, linkname), tar


def _read_config(member: tarfile.TarInfo, tar: tarfile.TarFile) -> bytes:
    if not member.isreg():
        return b""
    if member.size > MAX_CONFIG_BYTES:
        raise UnpackError(
            f"{CONFIG_FILE} is {member.size} bytes: plugin-emulator reads at most "
            f"{MAX_CONFIG_BYTES}",
            http_status=400,
        )
    source = tar.extractfile(member)
    assert source is not None
    try:
        return source.read()
    except (tarfile.ReadError, EOFError):
        raise UnpackError(f"failed to read {CONFIG_FILE}: unexpected EOF") from None


def stage_upload(archive: IO[bytes], tmp_root: Path, limits: UnpackLimits) -> StagedPlugin:
    """Unpack the upload into a new directory under ``tmp_root`` (worker thread).

    Raises :class:`~emulator.engine.unpack.UnpackError` with dockerd's text; nothing is
    left behind then.
    """
    tmp_root.parent.mkdir(mode=0o700, exist_ok=True)
    tmp_root.mkdir(mode=0o700, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".rootfs", dir=tmp_root))
    try:
        return _unpack_into(staging, archive, limits)
    except BaseException:
        remove_tree(staging)
        raise


def _unpack_into(staging: Path, archive: IO[bytes], limits: UnpackLimits) -> StagedPlugin:
    split = _Split()
    with ScopedFS(staging) as fs:
        try:
            unpack_members(
                split.members(read_members(archive, limits=limits)),
                fs,
                "/",
                UnpackOptions(limits=limits),
            )
        except UnpackError as exc:
            # dockerd reads the body in a goroutine and hands the rootfs on through a
            # pipe: the reader's errors arrive wrapped with its words.
            prefix = _PIPE_WORDS.get(exc.reading)
            if prefix is None:
                raise
            raise UnpackError(prefix + str(exc), http_status=exc.http_status) from None
    if not split.has_rootfs:
        raise UnpackError("no rootfs found: EOF")
    if split.config is None:
        raise UnpackError("config not found")
    return StagedPlugin(staging, split.config)


def tar_directory(directory: Path, out: IO[bytes]) -> None:
    """What ``docker plugin create NAME DIR`` sends: ``DIR`` as a tar (nothing followed).

    A missing directory gives an empty archive (dockerd then answers ``no rootfs
    found: EOF``).  ``out`` is rewound.
    """
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if directory.is_dir():
            for entry in sorted(directory.iterdir()):
                tar.add(entry, arcname=entry.name, recursive=True)
    out.seek(0)
