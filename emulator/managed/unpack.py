"""Unpacking plugin archives into a directory: one function for every way a rootfs arrives.

``POST /plugins/create`` uploads a tar of ``config.json`` and ``rootfs/``; a pulled
plugin's layer is a (usually gzipped) tar of the rootfs.  Both are unpacked by
:func:`unpack_tar`, so whatever rules it enforces apply to both.  Blocking: call it
from a worker thread.
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import BinaryIO

__all__ = ["UnpackError", "unpack_tar"]


class UnpackError(Exception):
    """The archive is not a tar the emulator will unpack; ``str()`` is Go's text."""


def unpack_tar(source: BinaryIO, dest: Path) -> None:
    """Extract the uncompressed tar ``source`` into ``dest`` (tarfile's ``tar`` filter)."""
    try:
        with tarfile.open(fileobj=source, mode="r:") as tar:
            tar.extractall(dest, filter="tar")
    except tarfile.TarError:
        raise UnpackError("archive/tar: invalid tar header") from None
