"""containerd's docker resolver, fetcher and pusher as dockerd's plugin code uses them.

One :class:`RegistrySession` is one ``docker.NewResolver`` (``plugin/registry.go``
``newResolver``): the hosts to try for the reference's registry
(:func:`emulator.protocol.registry_hosts.endpoints`), the headers every request
carries (``User-Agent`` and the API request's ``X-Meta-*``), one authorizer and
one HTTP client.  Mirrored from ``c8d:remotes/docker/resolver.go`` (``Resolve``,
``doWithRetries``, ``retryRequest``), ``fetcher.go`` (``Fetch``, ``open``) and
``pusher.go`` (``push``, ``pushWriter.Commit``) -- ``c8d:`` is
``vendor/github.com/containerd/containerd/v2/core`` in moby v28.5.2:

* every resolve and fetch tries each host in turn (for a loopback registry:
  ``https`` without verification, then ``http``, as dockerd); a push uses the
  first host only (dockerd retries the whole push with the ``http`` hosts);
* a request is re-sent after a 401 it could authorize, a 405 to a manifest
  ``HEAD`` (as ``GET``), 408/429, or once after a 500/503/504 on the last host,
  at most six responses (:data:`~emulator.protocol.distribution.RETRY_RULES`);
* redirects are followed (10 at most), re-authorized for the new host.

Errors are :class:`RegistryError` with containerd's texts and a ``not_found``
flag (``errdefs.ErrNotFound``, which dockerd's API answers with 404).
"""

from __future__ import annotations

import ssl
import zlib
from collections.abc import AsyncIterable, Callable, Sequence
from typing import Final
from urllib.parse import parse_qsl, urlencode

import attrs

from emulator.engine.managed.blobstore import BlobError, BlobStore
from emulator.engine.managed.registry_auth import AuthFailed, Authorizer, NotImplementedScheme
from emulator.golang import url as gourl
from emulator.protocol import distribution as dist
from emulator.protocol import registry_auth as ra
from emulator.protocol import registry_hosts as rh
from emulator.protocol.reference import Reference, ReferenceError, validate_digest
from emulator.transport.registry_http import RegistryHTTP, RequestFailed, Response

__all__ = ["RegistryError", "RegistrySession", "UploadStatus"]

MAX_REDIRECTS: Final = 10
_REDIRECTS: Final = (301, 302, 303, 307, 308)
BodyFactory = Callable[[], AsyncIterable[bytes]]


class RegistryError(Exception):
    """A registry operation that failed; ``str()`` is containerd's text.

    ``not_found`` is ``errdefs.IsNotFound``; ``invalid_auth`` is
    ``ErrInvalidAuthorization``.
    """

    def __init__(self, text: str, *, not_found: bool = False, invalid_auth: bool = False) -> None:
        super().__init__(text)
        self.not_found = not_found
        self.invalid_auth = invalid_auth


@attrs.define
class UploadStatus:
    """``docker.Status`` of one pushed object, for the progress ticker."""

    total: int = 0
    offset: int = 0
    committed: bool = False
    exists: bool = False


@attrs.define
class _Request:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: BodyFactory | None = None
    size: int | None = None


class RegistrySession:
    """One resolver: ``ref``'s registry hosts, headers, authorizer and connections."""

    def __init__(
        self,
        ref: Reference,
        hosts: Sequence[rh.Endpoint],
        *,
        auth: ra.AuthConfig,
        headers: Sequence[tuple[str, str]],
        tls_context: Callable[[rh.Endpoint], ssl.SSLContext],
        resolve_accept: Sequence[str] = (dist.RESOLVE_ACCEPT,),
    ) -> None:
        self.ref = ref
        self.hosts = list(hosts)
        self._headers = list(headers)
        self._resolve_accept = list(resolve_accept)
        by_host = {h.host: h for h in self.hosts}
        self._http = RegistryHTTP(lambda host: tls_context(by_host[host]))
        self._auth = Authorizer(self._http, auth, self._headers)
        self.statuses: dict[str, UploadStatus] = {}
        self.scopes: list[str] = []

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- requests ------------------------------------------------------------------------

    def _url(self, host: rh.Endpoint, *parts: str) -> str:
        path = "/".join(["/v2", self.ref.path, *parts])
        query = f"?ns={host.proxy_ns}" if host.proxy_ns else ""
        return f"{host.base}{path}{query}"

    async def _do(self, req: _Request, *, last_host: bool) -> Response:
        """``doWithRetries``: send, then resend as :data:`RETRY_RULES` say."""
        responses: list[Response] = []
        while True:
            response = await self._send_following(req)
            responses.append(response)
            if not await self._retry(req, responses, last_host):
                return response
            await response.aclose()

    async def _retry(self, req: _Request, responses: list[Response], last_host: bool) -> bool:
        last = responses[-1]
        rule = dist.RETRY_RULES.get(last.code)
        if len(responses) >= dist.MAX_RESPONSES or rule is None:
            return False
        if rule.action == "authorize":
            try:
                self._auth.add_responses(_host_of(last.url), responses)
            except NotImplementedScheme:
                return False
            except AuthFailed as exc:
                await last.aclose()
                raise RegistryError(str(exc), invalid_auth=exc.invalid) from None
            return True
        if rule.action == "get":
            if req.method == "HEAD" and "/manifests/" in req.url:
                req.method = "GET"
                return True
            return False
        if rule.action == "always":
            return True
        previous = responses[-2].code if len(responses) > 1 else None
        return last_host and previous != last.code

    async def _send_following(self, req: _Request) -> Response:
        """``request.do``: authorize, send, and follow redirects as Go's client does."""
        method, url = req.method, req.url
        body = req.body
        for _ in range(MAX_REDIRECTS + 1):
            headers = [h for h in req.headers if h[0].lower() != "authorization"]
            try:
                value = await self._auth.header(_host_of(url), self.scopes)
            except AuthFailed as exc:
                raise RegistryError(f"failed to authorize: {exc}") from None
            if value is not None:
                headers.append(("Authorization", value))
            try:
                response = await self._http.send(
                    method,
                    url,
                    headers,
                    body() if body is not None else None,
                    content_length=req.size if body is not None else None,
                )
            except RequestFailed as exc:
                raise RegistryError(f"failed to do request: {exc}") from None
            location = response.header("Location")
            if response.code not in _REDIRECTS or location is None:
                return response
            await response.aclose()
            url = _resolve_location(url, location)
            if response.code in (301, 302, 303) and method not in ("GET", "HEAD"):
                method, body = "GET", None
        raise RegistryError(
            f'failed to do request: {method[:1]}{method[1:].lower()} "{url}": '
            "stopped after 10 redirects"
        )

    # -- resolve -------------------------------------------------------------------------

    async def resolve(self, object_: str) -> dist.Descriptor:
        """``dockerResolver.Resolve`` of a tag or digest: the manifest's descriptor.

        Tries ``manifests/<object>`` on every host (then ``blobs/<digest>`` for a
        digest); reports the most relevant failure as containerd ranks them.
        """
        digest = object_ if ":" in object_ else ""
        paths = [("manifests", object_)]
        if digest:
            try:
                validate_digest(digest)
            except ReferenceError as exc:
                raise RegistryError(str(exc)) from None
            paths.append(("blobs", digest))
        self.scopes = self._scopes(push=False)
        first: tuple[int, RegistryError] | None = None
        ref_text = self.ref.string()
        for parts in paths:
            for index, host in enumerate(self.hosts):
                headers = [*self._headers, *(("Accept", a) for a in self._resolve_accept)]
                req = _Request("HEAD", self._url(host, *parts), headers)
                try:
                    response = await self._do(req, last_host=index == len(self.hosts) - 1)
                except RegistryError as exc:
                    if exc.invalid_auth:
                        exc = RegistryError(
                            "pull access denied, repository does not exist or may require "
                            f"authorization: {exc}"
                        )
                    first = _ranked(first, 1, exc)
                    continue
                try:
                    found = await self._resolved(response, req, digest, ref_text)
                except _Skip as skip:
                    first = _ranked(first, skip.priority, skip.error)
                    continue
                return found
        if first is None:
            raise RegistryError(f"{ref_text}: not found", not_found=True)
        raise first[1]

    async def _resolved(
        self, response: Response, req: _Request, digest: str, ref_text: str
    ) -> dist.Descriptor:
        await response.read(0)
        if response.code > 299:
            if response.code == 404:
                raise _Skip(2, RegistryError(f"{ref_text}: not found", not_found=True))
            error = RegistryError(
                dist.unexpected_status_text(response.method, response.url, response.status, b"")
            )
            if response.code > 399:
                raise _Skip(3, error)
            raise error
        size = response.content_length
        media_type = _manifest_media_type(response)
        if not digest:
            header = response.header("Docker-Content-Digest") or ""
            if header and size != -1:
                try:
                    validate_digest(header)
                except ReferenceError as exc:
                    raise RegistryError(f'"{header}" in header not a valid digest: {exc}') from None
                digest = header
        if not digest or size == -1:
            get = _Request("GET", req.url, req.headers)
            body_response = await self._do(get, last_host=True)
            data = await body_response.read(dist.MAX_MANIFEST_SIZE + 1)
            media_type = _manifest_media_type(body_response)
            digest = digest or dist.digest_of(data)
            size = len(data)
        if size > dist.MAX_MANIFEST_SIZE:
            raise _Skip(
                4,
                RegistryError(
                    f"rejecting {size} byte manifest for {ref_text}: not found", not_found=True
                ),
            )
        return dist.Descriptor(MediaType=media_type, Digest=digest, Size=size)

    def _scopes(self, *, push: bool) -> list[str]:
        return ra.token_scopes(self.ref.path, push=push)

    # -- fetch ---------------------------------------------------------------------------

    async def fetch(self, desc: dist.Descriptor, store: BlobStore) -> None:
        """``remotes.Fetch`` into ``store``: skipped when present, digest-checked on commit."""
        if store.exists(desc.Digest):
            return
        if desc.Size == 0:
            raise RegistryError(
                f"unable to fetch descriptor ({desc.Digest}) which reports content size "
                "of zero: invalid argument"
            )
        self.scopes = self._scopes(push=False)
        kind = (
            "manifests" if desc.MediaType in (*dist.MANIFEST_TYPES, *dist.INDEX_TYPES) else "blobs"
        )
        first: RegistryError | None = None
        for index, host in enumerate(self.hosts):
            headers = [
                *self._headers,
                ("Accept", dist.accept_for(desc.MediaType)),
                ("Accept-Encoding", dist.ACCEPT_ENCODING),
            ]
            req = _Request("GET", self._url(host, kind, desc.Digest), headers)
            try:
                response = await self._open(req, last_host=index == len(self.hosts) - 1)
            except RegistryError as exc:
                first = first or exc
                continue
            await self._copy(response, desc, store)
            return
        assert first is not None
        if kind == "blobs" and first.not_found:
            raise RegistryError(
                f"could not fetch content descriptor {desc.Digest} ({desc.MediaType}) "
                "from remote: not found",
                not_found=True,
            )
        raise first

    async def _open(self, req: _Request, *, last_host: bool) -> Response:
        """``dockerFetcher.open`` with ``withErrorCheck``."""
        response = await self._do(req, last_host=last_host)
        if response.code > 299:
            body = await response.read(64000)
            if response.code == 404:
                raise RegistryError(f"content at {req.url} not found: not found", not_found=True)
            raise RegistryError(
                dist.unexpected_status_text(response.method, response.url, response.status, body)
            )
        return response

    async def _copy(self, response: Response, desc: dist.Descriptor, store: BlobStore) -> None:
        """``content.Copy``: the body (Content-Encoding undone) into an ingest, then commit."""
        decoder = _decoder(response)
        ingest = store.ingest(dist.ref_key(desc), desc.Size)
        try:
            async for chunk in response.iter_body():
                data = decoder(chunk) if decoder is not None else chunk
                await ingest.write(data)
                if ingest.offset > desc.Size:
                    await response.aclose()
                    break
            await ingest.commit(desc.Digest)
        except RequestFailed as exc:
            await ingest.abort()
            raise RegistryError(f"failed to copy: {exc.cause}") from None
        except BlobError as exc:
            raise RegistryError(str(exc)) from None
        finally:
            await ingest.abort()

    # -- push ----------------------------------------------------------------------------

    async def push(
        self,
        desc: dist.Descriptor,
        body: BodyFactory,
        *,
        tag: str,
        on_start: Callable[[], None] = lambda: None,
    ) -> None:
        """``dockerPusher.push`` + ``content.Copy`` of one object to the first host.

        Returns quietly when the registry has it already (a 200 to the ``HEAD``,
        or a 201 to the upload ``POST``), as containerd's ``AlreadyExists``.
        """
        key = dist.ref_key(desc)
        status = self.statuses.get(key)
        if status is not None and status.committed and status.offset == status.total:
            return
        self.scopes = self._scopes(push=True)
        host = self.hosts[0]
        manifest = desc.MediaType in (*dist.MANIFEST_TYPES, *dist.INDEX_TYPES)
        parts = ("manifests", tag) if manifest else ("blobs", desc.Digest)
        head = _Request(
            "HEAD",
            self._url(host, *parts),
            [*self._headers, ("Accept", dist.accept_for(desc.MediaType))],
        )
        if await self._exists(head, desc, manifest=manifest):
            self.statuses[key] = UploadStatus(committed=True, exists=True)
            return
        if manifest:
            put = _Request(
                "PUT", self._url(host, *parts), [*self._headers, ("Content-Type", desc.MediaType)]
            )
        else:
            location = await self._start_upload(host)
            if location is None:
                self.statuses[key] = UploadStatus(desc.Size, desc.Size, committed=True)
                return
            put = _Request(
                "PUT",
                _with_digest(location, desc.Digest),
                [*self._headers, ("Content-Type", "application/octet-stream")],
            )
        status = self.statuses[key] = UploadStatus(total=desc.Size)
        on_start()
        await self._upload(put, desc, body, status)

    async def _exists(self, head: _Request, desc: dist.Descriptor, *, manifest: bool) -> bool:
        try:
            response = await self._do(head, last_host=True)
        except RegistryError as exc:
            if not exc.invalid_auth:
                raise
            return False  # "Unable to check existence, continuing with push"
        await response.read(0)
        if response.code == 200:
            return not manifest or response.header("Docker-Content-Digest") == desc.Digest
        if response.code != 404:
            raise RegistryError(
                dist.unexpected_status_text(response.method, response.url, response.status, b"")
            )
        return False

    async def _start_upload(self, host: rh.Endpoint) -> str | None:
        """``POST blobs/uploads/``: the upload URL, or None when the blob exists (201)."""
        req = _Request("POST", self._url(host, "blobs", "uploads/"), list(self._headers))
        try:
            response = await self._do(req, last_host=True)
        except RegistryError as exc:
            if exc.invalid_auth:
                raise RegistryError(
                    "push access denied, repository does not exist or may require "
                    f"authorization: {exc}"
                ) from None
            raise
        body = await response.read(64000)
        if response.code == 201:
            return None
        if response.code not in dist.UPLOAD_STARTED:
            raise RegistryError(
                dist.unexpected_status_text(response.method, response.url, response.status, body)
            )
        return _resolve_upload(host, response.header("Location") or "")

    async def _upload(
        self, put: _Request, desc: dist.Descriptor, body: BodyFactory, status: UploadStatus
    ) -> None:
        """The PUT with the whole content, then ``pushWriter.Commit``'s checks."""

        async def counted() -> AsyncIterable[bytes]:
            status.offset = 0
            async for chunk in body():
                status.offset += len(chunk)
                yield chunk

        put.body, put.size = counted, desc.Size
        response = await self._do(put, last_host=True)
        data = await response.read(64000)
        prefix = f'failed commit on ref "{dist.ref_key(desc)}": '
        if response.code not in dist.UPLOAD_DONE:
            raise RegistryError(
                prefix
                + dist.unexpected_status_text(response.method, response.url, response.status, data)
            )
        if status.offset != desc.Size:
            raise RegistryError(prefix + f"unexpected size {status.offset}, expected {desc.Size}")
        actual = response.header("Docker-Content-Digest") or ""
        try:
            validate_digest(actual)
        except ReferenceError as exc:
            raise RegistryError(prefix + f"invalid content digest in response: {exc}") from None
        if actual != desc.Digest:
            raise RegistryError(prefix + f"got digest {actual}, expected {desc.Digest}")
        status.committed = True


class _Skip(Exception):
    def __init__(self, priority: int, error: RegistryError) -> None:
        super().__init__(str(error))
        self.priority = priority
        self.error = error


def _ranked(
    current: tuple[int, RegistryError] | None, priority: int, error: RegistryError
) -> tuple[int, RegistryError]:
    """``firstErr``: the first error of the highest priority seen."""
    if current is None or current[0] < priority:
        return priority, error
    return current


def _host_of(url: str) -> str:
    return url.partition("://")[2].partition("/")[0]


def _manifest_media_type(response: Response) -> str:
    """``getManifestMediaType``: parameters dropped; ``text/plain`` means schema 1."""
    value = (response.header("Content-Type") or "").partition(";")[0]
    if value == "text/plain":
        return "application/vnd.docker.distribution.manifest.v1+prettyjws"
    return value


def _resolve_location(base: str, location: str) -> str:
    if "://" in location:
        return location
    scheme, _, rest = base.partition("://")
    host = rest.partition("/")[0]
    if location.startswith("/"):
        return f"{scheme}://{host}{location}"
    directory = base.rsplit("/", 1)[0]
    return f"{directory}/{location}"


def _resolve_upload(host: rh.Endpoint, location: str) -> str:
    """The pusher's ``Location`` handling: relative to the host, or absolute."""
    if location.startswith("/"):
        return f"{host.base}{location}"
    if "://" not in location:
        location = f"{host.scheme}://{location}"
    return location


def _with_digest(location: str, digest: str) -> str:
    """``q.Add("digest", …)`` then ``q.Encode()``: keys sorted, values escaped."""
    url = gourl.parse(location)
    pairs = parse_qsl(url.raw_query, keep_blank_values=True)
    pairs.append(("digest", digest))
    query = urlencode(sorted(pairs, key=lambda kv: kv[0]))
    return f"{url.scheme}://{url.host}{url.raw_path or url.path}?{query}"


def _decoder(response: Response) -> Callable[[bytes], bytes] | None:
    """``open``'s Content-Encoding handling (gzip and deflate; zstd is refused loudly)."""
    encodings = [
        e for e in (response.header("Content-Encoding") or "").replace(",", " ").split() if e
    ]
    if not encodings or encodings == ["identity"]:
        return None
    if encodings == ["gzip"]:
        return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress
    if encodings == ["deflate"]:
        return zlib.decompressobj().decompress
    raise RegistryError(
        f"unsupported Content-Encoding algorithm {' '.join(encodings)!r} "
        "(plugin-emulator decodes gzip and deflate)"
    )
