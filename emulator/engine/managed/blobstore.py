"""The managed plugins' content store: ``DATA_ROOT/plugins/storage``, as dockerd keeps it.

dockerd keeps plugin blobs (rootfs layers, config blobs, manifests) in a
containerd local content store (``plugin/blobstore.go`` → ``content/local``):
``storage/blobs/sha256/<hex>`` for committed blobs, ``storage/ingest/`` for
writes in progress.  A write is committed only when its size and digest are
the expected ones, with containerd's texts (``c8d:plugins/content/local/writer.go``
``Commit``; ``c8d:core/content/helpers.go`` ``Copy``)::

    failed commit on ref "layer-sha256:…": unexpected commit digest sha256:…,
    expected sha256:…: failed precondition

Big blobs are written and read off the event loop (trio's async files).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Final

import trio

from emulator.golang.strconv import quote as go_quote

__all__ = ["BlobError", "BlobStore", "Ingest"]

_CHUNK: Final = 1 << 16
_WRITE_BATCH: Final = 1 << 20


class BlobError(Exception):
    """A blob write or read that failed; ``str()`` is containerd's text."""


class BlobStore:
    """Blobs by digest under ``root`` (``DATA_ROOT/plugins/storage``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._ingests: dict[str, Ingest] = {}

    def path(self, digest: str) -> Path:
        """Where a committed blob lives."""
        algorithm, _, encoded = digest.partition(":")
        if algorithm != "sha256" or len(encoded) != 64 or not encoded.isalnum():
            raise BlobError(f"invalid digest {digest}")
        return self.root / "blobs" / algorithm / encoded

    def size(self, digest: str) -> int | None:
        """``Info``: the committed blob's size, or None when it is not here."""
        try:
            return self.path(digest).stat().st_size
        except (OSError, BlobError):
            return None

    def exists(self, digest: str) -> bool:
        return self.size(digest) is not None

    def read(self, digest: str) -> bytes:
        """A small committed blob (manifest, config)."""
        try:
            return self.path(digest).read_bytes()
        except OSError:
            raise BlobError(f"content digest {digest}: not found") from None

    def write(self, data: bytes) -> str:
        """Commit ``data`` (small blobs); returns its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return digest

    def adopt(self, path: Path, digest: str) -> None:
        """Commit a file already written and hashed (moved into the store)."""
        target = self.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)

    def ingest(self, ref: str, total: int) -> Ingest:
        """Start writing the blob ``ref`` (containerd's ref key) of ``total`` bytes."""
        folder = self.root / "ingest"
        folder.mkdir(parents=True, exist_ok=True)
        ingest = Ingest(self, ref, total, folder / f"{secrets.token_hex(16)}.data")
        self._ingests[ref] = ingest
        return ingest

    def status(self, ref: str) -> tuple[int, int] | None:
        """``Status``: (written, total) of an ingest in progress, or None."""
        ingest = self._ingests.get(ref)
        return None if ingest is None else (ingest.offset, ingest.total)

    def forget(self, ingest: Ingest) -> None:
        if self._ingests.get(ingest.ref) is ingest:
            del self._ingests[ingest.ref]

    def digests(self) -> Iterator[str]:
        """``Walk``: every committed blob."""
        folder = self.root / "blobs" / "sha256"
        if folder.is_dir():
            for entry in folder.iterdir():
                if len(entry.name) == 64:
                    yield "sha256:" + entry.name

    def delete(self, digest: str) -> None:
        with contextlib.suppress(OSError, BlobError):
            self.path(digest).unlink()

    async def chunks(self, digest: str) -> AsyncIterator[bytes]:
        """A committed blob, read in chunks off the event loop."""
        try:
            handle = await trio.open_file(self.path(digest), "rb")
        except OSError:
            raise BlobError(f"content digest {digest}: not found") from None
        async with handle:
            while chunk := await handle.read(_CHUNK):
                yield chunk

    def clear_ingests(self) -> None:
        """Remove leftover partial writes (a daemon that died mid-pull)."""
        shutil.rmtree(self.root / "ingest", ignore_errors=True)


class Ingest:
    """One blob being written: hashed as it goes, committed only if size and digest match."""

    def __init__(self, store: BlobStore, ref: str, total: int, path: Path) -> None:
        self.store = store
        self.ref = ref
        self.total = total
        self.path = path
        self.offset = 0
        self._hash = hashlib.sha256()
        self._file: Any = None  # trio's async file wrapper
        self._pending = bytearray()

    async def write(self, data: bytes) -> None:
        """Hash ``data`` and write it (in 1 MiB batches, each in a worker thread)."""
        self._hash.update(data)
        self.offset += len(data)
        self._pending += data
        if len(self._pending) >= _WRITE_BATCH:
            await self._flush()

    async def _flush(self) -> None:
        if self._file is None:
            self._file = await trio.open_file(self.path, "wb")
        if self._pending:
            data, self._pending = bytes(self._pending), bytearray()
            await self._file.write(data)

    async def commit(self, expected: str) -> None:
        """``Copy``'s short-read check, then ``Commit``'s size and digest checks."""
        try:
            await self._flush()
            if self._file is not None:
                await self._file.aclose()
                self._file = None
            if self.offset < self.total:
                raise BlobError(
                    f"short read: expected {self.total} bytes but got {self.offset}: unexpected EOF"
                )
            prefix = f"failed commit on ref {go_quote(self.ref)}: "
            if self.offset != self.total:
                raise BlobError(
                    prefix + f"unexpected commit size {self.offset}, expected {self.total}: "
                    "failed precondition"
                )
            digest = "sha256:" + self._hash.hexdigest()
            if digest != expected:
                raise BlobError(
                    prefix + f"unexpected commit digest {digest}, expected {expected}: "
                    "failed precondition"
                )
            if self.total == 0:
                self.path.touch()
            self.store.adopt(self.path, digest)
        finally:
            await self.abort()

    async def abort(self) -> None:
        """Drop the partial write."""
        if self._file is not None:
            await self._file.aclose()
            self._file = None
        self.path.unlink(missing_ok=True)
        self.store.forget(self)
