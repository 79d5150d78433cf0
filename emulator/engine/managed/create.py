"""``docker plugin create``: the file work that turns an upload into a stored rootfs.

:func:`stage_plugin` runs in a worker thread: the upload is unpacked
(:mod:`emulator.engine.managed.upload`), its ``config.json`` parsed and the rootfs and
config stored as blobs (:mod:`emulator.engine.managed.blobs`), as dockerd's
``CreateFromContext`` does before ``createPlugin``.  :func:`read_config` reads a plugin
directory's ``config.json`` (``docker plugin create`` and ``plugin privileges``).
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import IO

import attrs

from emulator.engine.managed.blobs import PluginBlobs, store_created
from emulator.engine.managed.blobstore import BlobStore
from emulator.engine.managed.upload import stage_upload
from emulator.engine.scoped_fs import remove_tree
from emulator.engine.unpack import UnpackError, UnpackLimits
from emulator.errors import ManagedPluginError
from emulator.protocol import plugin_config as pc

__all__ = ["Prepared", "read_config", "stage_plugin"]


@attrs.frozen
class Prepared:
    """A create's unpacked rootfs (outside the store yet), its config and stored blobs."""

    rootfs: Path
    config: pc.PluginConfig
    blobs: PluginBlobs


def stage_plugin(
    archive: IO[bytes], tmp: Path, limits: UnpackLimits, blobs: BlobStore, release: str
) -> Prepared:
    """The file work of a create (worker thread): unpack, parse the config, store blobs.

    ``tmp`` is where uploads are unpacked (``DATA_ROOT/plugins/tmp``); ``release`` the
    daemon's version (it goes into the stored config).  Nothing is left behind when it
    fails.
    """
    try:
        staged = stage_upload(archive, tmp, limits)
    except UnpackError as exc:
        raise ManagedPluginError(str(exc), http_status=exc.http_status) from None
    try:
        config = pc.parse_config(staged.config or b"")
        config, stored = store_created(blobs, staged.rootfs, config, release)
    except pc.ConfigError as exc:
        remove_tree(staged.rootfs)
        raise ManagedPluginError(str(exc)) from None
    except BaseException:
        remove_tree(staged.rootfs)
        raise
    return Prepared(staged.rootfs, config, stored)


def read_config(directory: Path) -> pc.PluginConfig:
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
