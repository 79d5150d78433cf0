"""A managed plugin's blobs: what ``plugin create`` stores and ``plugin push`` sends.

Mirrors moby v28.5.2 ``plugin/backend_linux.go``: ``CreateFromContext`` (the
rootfs, tarred and gzipped, is the layer blob; the config gets
``rootfs.diff_ids = [<gzip digest>]`` and ``DockerVersion``, and is stored as
``json.Encoder`` writes it, newline included; a schema2 manifest is written),
``getManifestDescriptor`` / ``buildManifest`` (the stored manifest is reused, or
one is built from the config and ``Blobsums``), ``plugin/manager_linux.go``
``setupNewPlugin`` (a pulled config is decoded and the privileges checked) and
``plugin/manager.go`` ``GC`` (blobs no plugin's ``Config`` or ``Blobsums`` names
are deleted; manifests are not kept, so a push may rebuild one).

The layer is Python's tar and gzip of the rootfs directory (sorted, gzip
header time 0), so its bytes and digest differ from dockerd's Go-made ones;
everything built on it (config, manifest) has dockerd's layout.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import secrets
import tarfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from emulator.engine.managed.blobstore import BlobError, BlobStore
from emulator.golang import json as gojson
from emulator.protocol import distribution as dist
from emulator.protocol import plugin_config as pc

__all__ = [
    "PluginBlobs",
    "PluginBlobsError",
    "collect_garbage",
    "manifest_descriptor",
    "setup_new_plugin",
    "store_created",
]

#: Go's ``gzip.DefaultCompression``.
GZIP_LEVEL = 6


class PluginBlobsError(Exception):
    """A blob problem; ``str()`` is dockerd's text."""


@attrs.frozen
class PluginBlobs:
    """``v2.Plugin``'s ``Config``, ``Blobsums`` and ``Manifest`` digests."""

    config: str = ""
    blobsums: tuple[str, ...] = ()
    manifest: str = ""


def _write_layer(store: BlobStore, rootfs: Path) -> tuple[str, int]:
    """The rootfs as a gzipped tar in the store: its digest and size."""
    folder = store.root / "ingest"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"create-{secrets.token_hex(8)}.tar.gz"
    try:
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=GZIP_LEVEL) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            tar.add(rootfs, arcname=".", recursive=False)
            for top, dirs, files in os.walk(rootfs):
                dirs.sort()
                for name in sorted([*dirs, *files]):
                    path = Path(top) / name
                    tar.add(path, arcname=str(path.relative_to(rootfs)), recursive=False)
        digest = "sha256:" + _sha256_file(tmp)
        size = tmp.stat().st_size
        store.adopt(tmp, digest)
        return digest, size
    finally:
        tmp.unlink(missing_ok=True)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def store_created(
    store: BlobStore, rootfs: Path, config: pc.PluginConfig, docker_version: str
) -> tuple[pc.PluginConfig, PluginBlobs]:
    """``CreateFromContext``'s blobs: layer, config (as stored) and manifest."""
    layer, layer_size = _write_layer(store, rootfs)
    config = attrs.evolve(
        config,
        DockerVersion=docker_version,
        Rootfs=pc.PluginConfigRootfs(Type="layers", DiffIds=[layer]),
    )
    config_bytes = gojson.encode(config)
    config_digest = store.write(config_bytes)
    manifest = dist.manifest_bytes(
        dist.Descriptor(Digest=config_digest, Size=len(config_bytes)),
        [dist.Descriptor(Digest=layer, Size=layer_size)],
    )
    manifest_digest = store.write(manifest)
    return config, PluginBlobs(config_digest, (layer,), manifest_digest)


def setup_new_plugin(
    store: BlobStore,
    config_digest: str,
    privileges: Sequence[pc.PluginPrivilege] | None,
) -> pc.PluginConfig:
    """``setupNewPlugin``: decode the fetched config, then compare the granted privileges."""
    try:
        data = store.read(config_digest)
    except BlobError as exc:
        raise PluginBlobsError(str(exc)) from None
    try:
        gojson.decode_stream(data)
    except gojson.GoJSONError as exc:
        raise PluginBlobsError(f"failed to parse config: {exc}") from None
    try:
        gojson.unmarshal(data)
    except gojson.GoJSONError:
        raise PluginBlobsError("invalid config json") from None
    try:
        config = pc.parse_config(data)
    except pc.ConfigError as exc:
        raise PluginBlobsError(str(exc)) from None
    if privileges is not None and not pc.privileges_match(
        pc.compute_privileges(config), privileges
    ):
        raise PluginBlobsError("incorrect privileges")
    return config


def manifest_descriptor(store: BlobStore, blobs: PluginBlobs) -> dist.Descriptor:
    """``getManifestDescriptor``: the stored manifest, else one built and stored now."""
    if blobs.manifest:
        size = store.size(blobs.manifest)
        if size is not None:
            return dist.Descriptor(
                MediaType=dist.MANIFEST_MEDIA_TYPE, Digest=blobs.manifest, Size=size
            )
    config_size = store.size(blobs.config) if blobs.config else None
    if config_size is None:
        raise PluginBlobsError(
            f"error reading plugin config content for digest {blobs.config}: "
            f"content digest {blobs.config}: not found"
        )
    layers = []
    for layer in blobs.blobsums:
        size = store.size(layer)
        if size is None:
            raise PluginBlobsError(
                f"error fetching info for content digest {layer}: content digest {layer}: not found"
            )
        layers.append(dist.Descriptor(Digest=layer, Size=size))
    data = dist.manifest_bytes(dist.Descriptor(Digest=blobs.config, Size=config_size), layers)
    digest = store.write(data)
    return dist.Descriptor(MediaType=dist.MANIFEST_MEDIA_TYPE, Digest=digest, Size=len(data))


def collect_garbage(store: BlobStore, plugins: Iterable[PluginBlobs]) -> list[str]:
    """``Manager.GC``: delete every blob no plugin's config or blobsums name; returns them."""
    used: set[str] = set()
    for blobs in plugins:
        used.add(blobs.config)
        used.update(blobs.blobsums)
    removed = [d for d in store.digests() if d not in used]
    for digest in removed:
        store.delete(digest)
    return removed
