"""Unpacking plugin archives into a directory: one function for every way a rootfs arrives.

``POST /plugins/create`` uploads a tar of ``config.json`` and ``rootfs/``
(:mod:`emulator.engine.managed.upload` splits it); a pulled plugin's layer is a
(usually gzipped) tar of the rootfs.  Both are unpacked by
:func:`emulator.engine.unpack.unpack_members`, so its rules apply to both: every path
resolved inside the destination as a chroot would (no link leads out), device nodes
and FIFOs refused, entries and bytes bounded.  :func:`unpack_tar` is the layer's way
in (``chrootarchive.ApplyLayer``: AUFS whiteouts applied).  Blocking: call it from a
worker thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from emulator.engine.scoped_fs import ScopedFS
from emulator.engine.unpack import UnpackError, UnpackLimits, UnpackOptions, unpack
from emulator.golang.errors import errno_text

__all__ = ["UnpackError", "unpack_tar"]


def unpack_tar(
    source: IO[bytes], dest: Path, *, layer: bool = True, limits: UnpackLimits | None = None
) -> None:
    """Unpack the (already decompressed) tar ``source`` into the directory ``dest``.

    Raises :class:`~emulator.engine.unpack.UnpackError` with dockerd's text.
    """
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with ScopedFS(dest) as fs:
            options = UnpackOptions(layer=layer, limits=limits or UnpackLimits())
            unpack(source, fs, "/", options)
    except OSError as exc:
        reason = errno_text(exc.errno) if exc.errno is not None else str(exc)
        raise UnpackError(f"{exc.filename}: {reason}" if exc.filename else reason) from None
