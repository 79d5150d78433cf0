"""The plugin manager's registry side: fetch (install, upgrade, privileges) and push.

Mirrors moby v28.5.2 ``plugin/fetch_linux.go`` (``Manager.fetch``,
``withFetchProgress``, ``applyLayer``, ``storeFetchMetadata``,
``childrenHandler``), ``plugin/backend_linux.go`` (``Privileges``, ``Push``) and
``plugin/registry.go`` (hosts and scopes), on top of
:class:`~emulator.engine.managed.registry_session.RegistrySession`.

Progress goes to an ``out`` callback as :class:`~emulator.protocol.jsonmessage.Progress`
events, in dockerd's order: ``Pulling from``, ``Digest:``, per layer ``Waiting``,
``Pulling fs layer``/``Downloading`` on a 100 ms ticker, ``Download complete``,
``Extracting`` and ``Complete``; for a push ``The push refers to repository``,
``Preparing`` per object, ``Waiting``/``Upload complete`` counts on the ticker, a
final ``Upload complete`` per object and the aux ``{Tag, Digest, Size}``.
Differences: a small layer's ``Download complete`` always comes before its
``Extracting`` (dockerd's ticker may report it after); ``Preparing`` comes once per
object for each push attempt, config before layers.

The layer is unpacked by :func:`emulator.engine.managed.layers.unpack_tar` (the rules of every
upload: nothing lands outside the rootfs, device nodes and FIFOs refused, AUFS whiteouts
applied as ``UnpackLayer`` does).

Known gaps: manifest lists and OCI indexes are refused (containerd would walk
every child manifest of a plugin index); zstd layers are refused.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import platform
import ssl
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, BinaryIO, Final

import attrs
import trio

from emulator.clock import real_sleep
from emulator.engine.managed.blobstore import BlobError, BlobStore
from emulator.engine.managed.layers import UnpackError, unpack_tar
from emulator.engine.managed.registry_session import RegistryError, RegistrySession, UploadStatus
from emulator.protocol import distribution as dist
from emulator.protocol import jsonmessage as jm
from emulator.protocol import plugin_config as pc
from emulator.protocol import registry_auth as ra
from emulator.protocol import registry_hosts as rh
from emulator.protocol.reference import Reference

__all__ = ["FetchFailed", "Fetched", "RegistryAccess", "RemoteOptions"]

Output = Callable[[jm.Progress], None]
TICK: Final = 0.1
#: ``progress.NewProgressReader``: an update every 512 KiB, at most one per 100 ms.
EXTRACT_UPDATE_EVERY: Final = 512 * 1024


class FetchFailed(Exception):
    """A fetch or push failure; ``str()`` is dockerd's text, ``not_found`` its 404 class."""

    def __init__(self, text: str, *, not_found: bool = False) -> None:
        super().__init__(text)
        self.not_found = not_found


@attrs.frozen
class RemoteOptions:
    """What an Engine API request gives a registry operation.

    ``auth`` is the decoded ``X-Registry-Auth``; ``meta_headers`` the request's
    ``X-Meta-*`` headers (forwarded); ``client_agent`` its ``User-Agent`` (shown
    in dockerd's as ``UpstreamClient(...)``).
    """

    auth: ra.AuthConfig = attrs.field(factory=ra.AuthConfig)
    meta_headers: tuple[tuple[str, str], ...] = ()
    client_agent: str = ""


@attrs.frozen
class Fetched:
    """``fetchMeta``: what a fetch stored (digests) and the config it read."""

    manifest: str = ""
    config: str = ""
    blobs: tuple[str, ...] = ()
    config_seen: bool = False


def user_agent(release: str, go_version: str, commit: str, client: str) -> str:
    """``dockerversion.DockerUserAgent``."""
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    agent = (
        f"docker/{release} go/{go_version} git-commit/{commit} kernel/{platform.release()} "
        f"os/linux arch/{machine}"
    )
    if client:
        escaped = "".join("\\" + c if c in "();\\" else c for c in client)
        agent += f" UpstreamClient({escaped})"
    return agent


class RegistryAccess:
    """Registry operations of one engine (its registry options, certs dir and blob store)."""

    def __init__(
        self,
        config: rh.RegistryConfig,
        certs_dir: Path,
        store: BlobStore,
        agent: Callable[[str], str],
    ) -> None:
        self.config = config
        self.certs_dir = certs_dir
        self.store = store
        self._agent = agent
        self._contexts: dict[
            tuple[bool, str, tuple[tuple[str, int, int], ...]], ssl.SSLContext
        ] = {}

    # -- sessions ------------------------------------------------------------------------

    async def hosts(self, hostname: str, *, http_only: bool = False) -> list[rh.Endpoint]:
        """``registryHostsFn``: the endpoints for ``hostname`` (push: mirrors excluded later)."""
        addresses = await _lookup(rh.needs_lookup(self.config, hostname))
        mirror_addresses = []
        for mirror in self.config.mirrors:
            host = mirror.split("://", 1)[1].split("/", 1)[0]
            mirror_addresses.append(await _lookup(rh.needs_lookup(self.config, host)))
        found = rh.endpoints(self.config, hostname, addresses, mirror_addresses)
        return [e for e in found if e.scheme == "http"] if http_only else found

    def tls_context(self, endpoint: rh.Endpoint) -> ssl.SSLContext:
        """``newTLSConfig``: no verification for insecure hosts; else system roots plus
        ``certs.d/<host>/*.crt`` and the ``*.cert``/``*.key`` client pair.

        Contexts are kept while the ``certs.d`` directory is unchanged (loading the
        system roots costs ~20 ms); dockerd reads the directory on every lookup.
        """
        directory = self.certs_dir / endpoint.certs_host if endpoint.certs_host else None
        files: tuple[tuple[str, int, int], ...] = ()
        if endpoint.verify and directory is not None and directory.is_dir():
            files = tuple(
                (e.name, e.stat().st_mtime_ns, e.stat().st_size)
                for e in sorted(directory.iterdir())
            )
        key = (endpoint.verify, endpoint.certs_host, files)
        context = self._contexts.get(key)
        if context is None:
            context = self._contexts[key] = self._new_context(endpoint.verify, directory, files)
        return context

    def _new_context(
        self, verify: bool, directory: Path | None, files: tuple[tuple[str, int, int], ...]
    ) -> ssl.SSLContext:
        if not verify:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        context = ssl.create_default_context()
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        names = {name for name, _, _ in files}
        for name in sorted(names):
            assert directory is not None
            entry = directory / name
            if entry.suffix == ".crt":
                context.load_verify_locations(cafile=str(entry))
            elif entry.suffix == ".cert":
                key = entry.with_suffix(".key")
                if key.name not in names:
                    raise FetchFailed(
                        f"missing key {key.name} for client certificate {entry.name}. "
                        "CA certificates must use the extension .crt"
                    )
                context.load_cert_chain(str(entry), str(key))
            elif entry.suffix == ".key" and entry.with_suffix(".cert").name not in names:
                raise FetchFailed(
                    f"missing client certificate {entry.with_suffix('.cert').name} "
                    f"for key {entry.name}"
                )
        return context

    @asynccontextmanager
    async def session(
        self,
        ref: Reference,
        options: RemoteOptions,
        *,
        push: bool = False,
        http_only: bool = False,
        legacy_accept: bool = False,
    ) -> AsyncIterator[RegistrySession]:
        """A resolver for ``ref`` (``newResolver``); the legacy one drops the meta headers."""
        hosts = await self.hosts(ref.domain, http_only=http_only)
        if push:
            hosts = [h for h in hosts if not h.mirror]
        headers = [] if legacy_accept else list(options.meta_headers)
        headers.insert(0, ("User-Agent", self._agent(options.client_agent)))
        accept = dist.LEGACY_RESOLVE_ACCEPT if legacy_accept else (dist.RESOLVE_ACCEPT,)
        session = RegistrySession(
            ref,
            hosts,
            auth=options.auth,
            headers=headers,
            tls_context=self.tls_context,
            resolve_accept=accept,
        )
        try:
            yield session
        finally:
            await session.aclose()

    # -- fetch ---------------------------------------------------------------------------

    async def fetch(
        self,
        ref: Reference,
        options: RemoteOptions,
        out: Output,
        *,
        rootfs: Path | None,
    ) -> Fetched:
        """``Manager.fetch`` with the pull handlers (``rootfs`` given) or the privileges ones.

        Raises :class:`FetchFailed`: ``error resolving plugin reference: …`` before
        anything was fetched (``not_found`` for an unknown tag), else the fetch's error.
        """
        async with self.session(ref, options) as session:
            try:
                desc = await session.resolve(ref.digest or ref.tag)
            except RegistryError:
                desc = None
            if desc is not None:
                return await self._dispatch(session, ref, desc, out, rootfs=rootfs)
        async with self.session(ref, options, legacy_accept=True) as legacy:
            try:
                desc = await legacy.resolve(ref.digest or ref.tag)
            except RegistryError as exc:
                raise FetchFailed(
                    f"error resolving plugin reference: {exc}", not_found=exc.not_found
                ) from None
            return await self._dispatch(legacy, ref, desc, out, rootfs=rootfs)

    async def _dispatch(
        self,
        session: RegistrySession,
        ref: Reference,
        desc: dist.Descriptor,
        out: Output,
        *,
        rootfs: Path | None,
    ) -> Fetched:
        """``images.Dispatch`` from the manifest: children concurrently, first error wins."""
        if desc.MediaType in dist.MANIFEST_TYPES:
            tag = ref.tag_name_only().tag or ref.tag_name_only().string()
            out(jm.message(tag, f"Pulling from {ref.familiar_name()}"))
            out(jm.message("", f"Digest: {desc.Digest}"))
        if desc.MediaType in dist.INDEX_TYPES:
            raise FetchFailed(
                f"{ref.string()} is a manifest list ({desc.MediaType}): plugin-emulator "
                "installs plugins pushed as one schema2 or OCI manifest"
            )
        await self._fetch_one(session, desc)
        meta = Fetched(manifest=desc.Digest if desc.MediaType in dist.MANIFEST_TYPES else "")
        children = self._children(desc, privileges_only=rootfs is None)
        errors: list[Exception] = []
        results: list[Fetched] = []

        async def child(item: dist.Descriptor) -> None:
            try:
                results.append(await self._fetch_child(session, item, out, rootfs))
            except (FetchFailed, RegistryError) as exc:
                errors.append(exc)
                nursery.cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            for item in children:
                nursery.start_soon(child, item)
        if errors:
            raise FetchFailed(str(errors[0]))
        for part in results:
            meta = attrs.evolve(
                meta,
                config=part.config or meta.config,
                blobs=meta.blobs + part.blobs,
                config_seen=meta.config_seen or part.config_seen,
            )
        return meta

    def _children(self, desc: dist.Descriptor, *, privileges_only: bool) -> list[dist.Descriptor]:
        """``childrenHandler`` (config and layers), or ``Privileges``' handler (the config)."""
        if desc.MediaType not in dist.MANIFEST_TYPES:
            return []
        try:
            manifest = dist.parse_manifest(self.store.read(desc.Digest))
        except (dist.ManifestError, BlobError) as exc:
            raise FetchFailed(str(exc)) from None
        if privileges_only:
            return [manifest.Config]
        return [manifest.Config, *(manifest.Layers or [])]

    async def _fetch_one(self, session: RegistrySession, desc: dist.Descriptor) -> None:
        try:
            await session.fetch(desc, self.store)
        except RegistryError as exc:
            raise FetchFailed(str(exc), not_found=exc.not_found) from None

    async def _fetch_child(
        self,
        session: RegistrySession,
        desc: dist.Descriptor,
        out: Output,
        rootfs: Path | None,
    ) -> Fetched:
        is_layer = desc.MediaType in dist.LAYER_MEDIA_TYPES
        if is_layer and rootfs is not None:
            await self._fetch_layer(session, desc, out)
        else:
            await self._fetch_one(session, desc)
        if desc.MediaType == dist.CONFIG_MEDIA_TYPE:
            return Fetched(config=desc.Digest, config_seen=True)
        if is_layer and rootfs is not None:
            await self._apply_layer(desc, rootfs, out)
        blobs = (desc.Digest,) if desc.MediaType in dist.BLOBSUM_MEDIA_TYPES else ()
        return Fetched(blobs=blobs)

    async def _fetch_layer(
        self, session: RegistrySession, desc: dist.Descriptor, out: Output
    ) -> None:
        """``withFetchProgress`` around the layer's fetch."""
        short = dist.truncate_id(desc.Digest)
        if self.store.exists(desc.Digest):
            out(jm.Progress(id=short, action="Already exists", last_update=True))
            return
        out(jm.update(short, "Waiting"))
        key = dist.ref_key(desc)
        async with trio.open_nursery() as nursery:

            async def ticker() -> None:
                pulling = False
                while True:
                    await real_sleep(TICK)  # dockerd's tickers are wall-clock time
                    status = self.store.status(key)
                    if status is None:
                        continue
                    if not pulling:
                        out(jm.update(short, "Pulling fs layer"))
                        pulling = True
                    offset, total = status
                    out(jm.Progress(id=short, action="Downloading", current=offset, total=total))

            nursery.start_soon(ticker)
            try:
                await self._fetch_one(session, desc)
            except FetchFailed as exc:
                failed: FetchFailed | None = exc
            else:
                failed = None
            nursery.cancel_scope.cancel()
        if failed is not None:  # raised out here, not as an exception group
            raise failed
        out(jm.update(short, "Download complete"))

    async def _apply_layer(self, desc: dist.Descriptor, rootfs: Path, out: Output) -> None:
        """``applyLayer``: the blob, decompressed, through the one unpack function."""
        short = dist.truncate_id(desc.Digest)
        path = self.store.path(desc.Digest)
        token = trio.lowlevel.current_trio_token()

        def report(current: int, last: bool) -> None:
            event = jm.Progress(
                id=short, action="Extracting", current=current, total=desc.Size, last_update=last
            )
            trio.from_thread.run_sync(out, event, trio_token=token)

        try:
            await trio.to_thread.run_sync(_apply_layer_file, path, rootfs, report)
        except (UnpackError, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
            raise FetchFailed(f"error applying layer for digest {desc.Digest}: {exc}") from None
        out(jm.update(short, "Complete"))

    # -- privileges ----------------------------------------------------------------------

    async def privileges(
        self, ref: Reference, options: RemoteOptions
    ) -> list[pc.PluginPrivilege] | None:
        """``Manager.Privileges``: ``[]`` on any fetch error, None (Go's nil) when the
        plugin asks for nothing; a manifest without config is an error (500)."""
        try:
            fetched = await self.fetch(ref, options, lambda p: None, rootfs=None)
        except FetchFailed:
            return []
        if not fetched.config_seen:
            raise FetchFailed(f"did not find plugin config for specified reference {ref.string()}")
        try:
            config = pc.decode_config(self.store.read(fetched.config))
        except (pc.ConfigError, BlobError):
            return []
        return pc.compute_privileges(config) or None

    # -- push ----------------------------------------------------------------------------

    async def push(
        self,
        ref: Reference,
        manifest: dist.Descriptor,
        options: RemoteOptions,
        out: Output,
    ) -> None:
        """``Manager.Push`` after the manifest is known: attempt, http fallback, results."""
        out(jm.message("", f"The push refers to repository [{ref.familiar_name()}]"))
        jobs: dict[str, str] = {}
        statuses: dict[str, UploadStatus] = {}
        failed: str | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._push_ticker, jobs, statuses, out)
            try:
                await self._push_attempt(ref, manifest, options, out, jobs, statuses, False)
            except (RegistryError, FetchFailed, BlobError) as first:
                # The pusher only uses the first host (https): dockerd retries over http.
                try:
                    await self._push_attempt(ref, manifest, options, out, jobs, statuses, True)
                except (RegistryError, FetchFailed, BlobError, _NoHosts):
                    failed = f"error pushing plugin: {first}"
            nursery.cancel_scope.cancel()
        if failed is not None:
            raise FetchFailed(failed)
        for name in jobs.values():
            out(jm.update(name, "Upload complete"))
        out(jm.Progress(aux={"Tag": ref.tag, "Digest": manifest.Digest, "Size": manifest.Size}))

    async def _push_ticker(
        self, jobs: dict[str, str], statuses: dict[str, UploadStatus], out: Output
    ) -> None:
        """The 100 ms status goroutine: ``Waiting`` or ``Upload complete`` with counts."""
        while True:
            await real_sleep(TICK)  # dockerd's tickers are wall-clock time
            for key, name in list(jobs.items()):
                status = statuses.get(key)
                if status is None:
                    out(jm.update(name, "Waiting"))
                else:
                    out(
                        jm.Progress(
                            id=name,
                            action="Upload complete",
                            current=status.offset,
                            total=status.total,
                            last_update=status.offset == status.total,
                        )
                    )

    async def _push_attempt(
        self,
        ref: Reference,
        manifest: dist.Descriptor,
        options: RemoteOptions,
        out: Output,
        jobs: dict[str, str],
        statuses: dict[str, UploadStatus],
        http_only: bool,
    ) -> None:
        """``remotes.PushContent``: blobs concurrently, then the manifest by tag."""
        async with self.session(ref, options, push=True, http_only=http_only) as session:
            if not session.hosts:
                raise _NoHosts()
            session.statuses = statuses

            def prepare(desc: dist.Descriptor) -> None:
                name = dist.truncate_id(desc.Digest)
                jobs.setdefault(dist.ref_key(desc), name)
                out(jm.update(name, "Preparing"))

            prepare(manifest)
            children = self._push_children(manifest)
            errors: list[Exception] = []

            for desc in children:  # dockerd's order is the goroutines'; config first here
                prepare(desc)

            async def one(desc: dist.Descriptor) -> None:
                try:
                    await session.push(desc, lambda: self.store.chunks(desc.Digest), tag=ref.tag)
                except (RegistryError, BlobError) as exc:
                    errors.append(exc)
                    nursery.cancel_scope.cancel()

            async with trio.open_nursery() as nursery:
                for desc in children:
                    nursery.start_soon(one, desc)
            if errors:
                raise errors[0]
            data = self.store.read(manifest.Digest)

            async def manifest_body() -> AsyncIterator[bytes]:
                yield data

            await session.push(manifest, manifest_body, tag=ref.tag)

    def _push_children(self, manifest: dist.Descriptor) -> Sequence[dist.Descriptor]:
        try:
            parsed = dist.parse_manifest(self.store.read(manifest.Digest))
        except (dist.ManifestError, BlobError) as exc:
            raise FetchFailed(str(exc)) from None
        return [parsed.Config, *(parsed.Layers or [])]


class _NoHosts(Exception):
    """No ``http`` host for the fallback push (a secure registry)."""


async def _lookup(name: str | None) -> list[str]:
    """``lookupIP``: the addresses of ``name`` (nothing when it does not resolve)."""
    if name is None:
        return []
    try:
        infos = await trio.socket.getaddrinfo(name, None, type=trio.socket.SOCK_STREAM)
    except OSError:
        return []
    return [str(info[4][0]) for info in infos]


class _Counting(io.RawIOBase):
    """``progress.NewProgressReader`` over the compressed blob: reports bytes read."""

    def __init__(self, raw: BinaryIO, report: Callable[[int, bool], None]) -> None:
        super().__init__()
        self._raw = raw
        self._report = report
        self._last_count = 0
        self._last_time = 0.0

    def readinto(self, buffer: Any) -> int:
        size = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        count = self._raw.tell()
        now = time.monotonic()
        if (
            size
            and count - self._last_count > EXTRACT_UPDATE_EVERY
            and now - self._last_time >= TICK
        ):
            self._last_count, self._last_time = count, now
            self._report(count, False)
        return int(size or 0)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def _decompressed(raw: BinaryIO, report: Callable[[int, bool], None]) -> BinaryIO:
    """``DecompressStream``: gzip, bzip2 and xz detected by their magic; else plain tar."""
    head = raw.read(6)
    raw.seek(0)
    counted = io.BufferedReader(_Counting(raw, report))
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=counted)  # type: ignore[return-value]
    if head.startswith(b"BZh"):
        return bz2.BZ2File(counted)  # type: ignore[return-value]
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(counted)  # type: ignore[return-value]
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        raise UnpackError("zstd-compressed layers are not supported by plugin-emulator")
    return counted


def _apply_layer_file(path: Path, rootfs: Path, report: Callable[[int, bool], None]) -> None:
    """Worker thread: decompress ``path`` and unpack it into ``rootfs``."""
    size = os.path.getsize(path)
    with open(path, "rb") as raw:
        stream = _decompressed(raw, report)
        unpack_tar(stream, rootfs)
    report(size, True)
