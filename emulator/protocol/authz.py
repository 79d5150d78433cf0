"""Authorization plugins (``authz``): dockerd's request object, its rules and its texts.

Everything here is read from moby/moby v28.5.2 ``pkg/authorization``:

* ``api.go``: the wire structs (``Request``, ``Response``, ``PeerCertificate``) and the
  method names ``AuthZPlugin.AuthZReq`` / ``AuthZPlugin.AuthZRes``;
* ``authz.go``: ``AuthZRequest`` (when the request body is forwarded: ``sendBody``,
  ``isChunked``, ``maxBodySize``, ``drainBody``), ``headers`` (the flattened header map
  without the credentials headers), ``AuthZResponse`` and ``newAuthorizationError``;
* ``response.go``: the response modifier that buffers the handler's output
  (``maxBufferSize`` = 64 KiB) and flushes on ``Flush``/``Hijack``;
* ``middleware.go``: ``WrapHandler`` (``User`` and ``UserAuthNMethod`` from the TLS
  client certificate), ``plugin.go`` (duplicates dropped, lazy lookup).

Which dockerd handlers flush or hijack their response is a table here
(:data:`STREAMING_ROUTES`), read in moby's ``api/server/router``; what Go's HTTP server
itself takes out of a request's headers (``Host``, and ``Transfer-Encoding`` and
``Content-Length`` of a chunked request) or adds to a response (``Content-Length``,
the sniffed ``Content-Type`` of ``GET /_ping``) is another.  Version differences are
in the engine profile (``authz_forwards_chunked_body``: the CVE-2024-41110 fix).
"""

from __future__ import annotations

import base64
import enum
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from emulator.golang import url as gourl
from emulator.golang.mime import MediaTypeError, parse_media_type
from emulator.golang.textproto import canonical_mime_header_key

__all__ = [
    "AUTHZ_CAPABILITY",
    "AUTHZ_IMPLEMENTS",
    "AUTHZ_REQ",
    "AUTHZ_RES",
    "MAX_BODY_SIZE",
    "MAX_BUFFER_SIZE",
    "AuthzRequest",
    "AuthzResponse",
    "Flushing",
    "denied_text",
    "flushing_of",
    "plugin_failed_text",
    "readable",
    "request_headers",
    "response_headers",
    "send_body",
    "validation_text",
    "wants_request_body",
]

#: ``AuthZApiRequest`` / ``AuthZApiResponse``: the two methods (api.go).
AUTHZ_REQ: Final = "AuthZPlugin.AuthZReq"
AUTHZ_RES: Final = "AuthZPlugin.AuthZRes"
#: ``AuthZApiImplements``: what a v1 plugin lists in ``Implements``.
AUTHZ_IMPLEMENTS: Final = "authz"
#: The managed (v2) plugin type (``interface.types`` in config.json).
AUTHZ_CAPABILITY: Final = "docker.authz/1.0"
#: ``UserAuthNMethod`` when ``User`` comes from a TLS client certificate (middleware.go).
TLS_AUTHN: Final = "TLS"

#: ``maxBodySize``: request bodies of this size or more are not forwarded (authz.go).
MAX_BODY_SIZE: Final = 1048576
#: ``maxBufferSize``: the response modifier flushes before its buffer would exceed this.
MAX_BUFFER_SIZE: Final = 64 * 1024
#: ``sendBody``: only bodies of this media type are forwarded.
BODY_MEDIA_TYPE: Final = "application/json"
#: ``isAuthEndpoint``: bodies of ``/auth`` (registry credentials) are never forwarded.
AUTH_ENDPOINT: Final = re.compile(r"^[^\/]*\/(v\d[\d\.]*\/)?auth.*", re.ASCII)

#: ``headers()``: request headers never shown to a plugin (credentials).
STRIPPED_HEADERS: Final = frozenset({"authorization", "x-registry-config", "x-registry-auth"})
#: Go's server moves ``Host`` out of ``r.Header`` (net/http server.go ``readRequest``).
SERVER_REMOVED_HEADERS: Final = frozenset({"host"})
#: ... and, for a chunked request, ``Transfer-Encoding``, ``Content-Length`` and ``Trailer``
#: (net/http transfer.go ``parseTransferEncoding``, ``fixTrailer``).
CHUNKED_REMOVED_HEADERS: Final = frozenset({"transfer-encoding", "content-length", "trailer"})

#: The log line of ``drainBody`` when a chunked body reaches the limit.
BODY_TOO_LARGE_LOG: Final = f"Request body is larger than: '{MAX_BODY_SIZE}' skipping body"


def _json(name: str) -> dict[str, Any]:
    return {"json": {"name": name, "omitempty": True}}


@attrs.frozen
class AuthzRequest:
    """``authorization.Request``: sent to both ``AuthZReq`` and ``AuthZRes`` (every field
    ``omitempty``; ``[]byte`` fields travel as base64)."""

    __go_name__ = "authorization.Request"
    User: str = attrs.field(default="", metadata=_json("User"))
    """The TLS client certificate's subject common name."""
    UserAuthNMethod: str = attrs.field(default="", metadata=_json("UserAuthNMethod"))
    RequestMethod: str = attrs.field(default="", metadata=_json("RequestMethod"))
    RequestURI: str = attrs.field(default="", metadata=_json("RequestUri"))
    """The request-target as sent (version prefix and query included)."""
    RequestBody: bytes = attrs.field(default=b"", metadata=_json("RequestBody"))
    RequestHeaders: dict[str, str] | None = attrs.field(
        default=None, metadata=_json("RequestHeaders")
    )
    RequestPeerCertificates: tuple[bytes, ...] = attrs.field(
        default=(), metadata=_json("RequestPeerCertificates")
    )
    """Each the PEM text of one certificate the client presented (``PeerCertificate``'s
    ``MarshalJSON`` writes it as base64, like any ``[]byte``)."""
    ResponseStatusCode: int = attrs.field(default=0, metadata=_json("ResponseStatusCode"))
    ResponseBody: bytes = attrs.field(default=b"", metadata=_json("ResponseBody"))
    ResponseHeaders: dict[str, str] | None = attrs.field(
        default=None, metadata=_json("ResponseHeaders")
    )


@attrs.frozen
class AuthzResponse:
    """``authorization.Response``: what dockerd reads from a plugin's 200 answer.

    ``Err`` is decoded and then ignored by dockerd: only ``Allow`` and ``Msg`` count
    (a plugin reports an error with a non-200 status).
    """

    __go_name__ = "authorization.Response"
    Allow: bool = False
    Msg: str = attrs.field(default="", metadata=_json("Msg"))
    Err: str = attrs.field(default="", metadata=_json("Err"))


# -- texts ----------------------------------------------------------------------------------


def denied_text(plugin: str, msg: str) -> str:
    """``newAuthorizationError``: the 403 text."""
    return f"authorization denied by plugin {plugin}: {msg}"


def plugin_failed_text(plugin: str, error: str) -> str:
    """``AuthZRequest``/``AuthZResponse``: the 500 text of a failed plugin call."""
    return f"plugin {plugin} failed with error: {error}"


def validation_text(error: str) -> str:
    """What dockerd prints (and exits 1 with) when a configured plugin cannot be found
    at start (cmd/dockerd/daemon.go ``validateAuthzPlugins``)."""
    return f"failed to validate authorization plugin: {error}"


# -- the request ----------------------------------------------------------------------------


def _header_text(raw: bytes) -> str:
    """A header as a Go string: bytes that are not UTF-8 stay bytes (lone surrogates),
    which Go's JSON encoder writes as ``\\ufffd`` each."""
    return raw.decode("utf-8", "surrogateescape")


def is_chunked(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """``isChunked``: ``Transfer-Encoding: chunked`` (any case)."""
    return any(
        k.lower() == b"transfer-encoding" and v.strip().lower() == b"chunked" for k, v in headers
    )


def header_map(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    """The request's ``r.Header`` as Go's server builds it: canonical names, values in
    order, ``Host`` (and a chunked request's framing headers) taken out, and
    ``Pragma: no-cache`` implying ``Cache-Control: no-cache`` (``fixPragmaCacheControl``)."""
    pairs = list(headers)
    removed = SERVER_REMOVED_HEADERS | (CHUNKED_REMOVED_HEADERS if is_chunked(pairs) else set())
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        name = _header_text(key)
        if name.lower() in removed:
            continue
        out.setdefault(canonical_mime_header_key(name), []).append(_header_text(value))
    if out.get("Pragma", [""])[0] == "no-cache" and "Cache-Control" not in out:
        out["Cache-Control"] = ["no-cache"]
    return out


def flatten(header: Mapping[str, list[str]]) -> dict[str, str]:
    """``headers()``: one value per name (the last), credentials headers left out."""
    return {k: v[-1] for k, v in header.items() if v and k.lower() not in STRIPPED_HEADERS}


def request_headers(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """``RequestHeaders`` for raw request header pairs."""
    return flatten(header_map(headers))


def send_body(request_uri: str, content_type: str) -> bool:
    """``sendBody``: not an ``/auth`` endpoint and a JSON media type (parameters allowed)."""
    try:
        path = gourl.parse(request_uri).path
    except gourl.URLError:
        return False
    if AUTH_ENDPOINT.match(path):
        return False
    try:
        media_type, _ = parse_media_type(content_type)
    except MediaTypeError:
        return False
    return media_type == BODY_MEDIA_TYPE


def content_length(headers: Iterable[tuple[bytes, bytes]]) -> int:
    """``r.ContentLength``: -1 for a chunked request, 0 when there is no header."""
    pairs = list(headers)
    if is_chunked(pairs):
        return -1
    for key, value in pairs:
        if key.lower() == b"content-length":
            try:
                return int(value.strip())
            except ValueError:
                return 0
    return 0


def wants_request_body(
    request_uri: str,
    headers: Iterable[tuple[bytes, bytes]],
    *,
    forwards_chunked: bool,
) -> bool:
    """Whether dockerd reads the request body for the plugins (``AuthZRequest``'s test).

    ``sendBody(...) && (ContentLength > 0 || isChunked) && ContentLength < maxBodySize``;
    before the CVE-2024-41110 fix (``forwards_chunked`` false) only
    ``ContentLength > 0``: a chunked body was never shown to the plugin.
    """
    pairs = list(headers)
    content_type = header_map(pairs).get("Content-Type", [""])[0]
    if not send_body(request_uri, content_type):
        return False
    length = content_length(pairs)
    chunked = forwards_chunked and is_chunked(pairs)
    return (length > 0 or chunked) and length < MAX_BODY_SIZE


# -- the response ---------------------------------------------------------------------------


class Flushing(enum.Enum):
    """How a dockerd handler writes its answer through the authz response modifier."""

    BUFFERED = "buffered"
    """Plain writes: flushed only when the 64 KiB buffer would overflow."""
    HEADER = "header"
    """``WriteHeader`` and ``Flush`` before the body (``wait``): status and headers
    leave at once; AuthZRes sees neither."""
    EVERY_WRITE = "every_write"
    """An ``ioutils.WriteFlusher``: the header is flushed at once and every write after."""
    HIJACK = "hijack"
    """The handler hijacks the connection and writes raw HTTP itself."""


def _route(pattern: str) -> re.Pattern[str]:
    """A gorilla/mux path template (``{name:.*}``) as a regular expression."""
    regex = re.sub(r"\{[a-z]+:\.\*\}", ".*", pattern)
    return re.compile(f"^{regex}$")


#: dockerd's handlers that do not simply write their answer (moby/moby v28.5.2):
#: api/server/router/system/system_routes.go ``getEvents``; container/container_routes.go
#: ``postContainersWait``, ``getContainersStats``, ``postContainersAttach``,
#: ``wsContainersAttach``, httputils/write_log_stream.go (logs); container/exec.go
#: (exec start); image/image_routes.go (create, push, get, load); plugin/plugin_routes.go
#: (pull, upgrade, push); build/build_routes.go; session and grpc routers.
STREAMING_ROUTES: Final[tuple[tuple[str, re.Pattern[str], Flushing], ...]] = tuple(
    (method, _route(path), flushing)
    for method, path, flushing in (
        ("GET", "/events", Flushing.EVERY_WRITE),
        ("POST", "/containers/{name:.*}/wait", Flushing.HEADER),
        ("GET", "/containers/{name:.*}/logs", Flushing.EVERY_WRITE),
        ("GET", "/containers/{name:.*}/stats", Flushing.EVERY_WRITE),
        ("POST", "/containers/{name:.*}/attach", Flushing.HIJACK),
        ("GET", "/containers/{name:.*}/attach/ws", Flushing.HIJACK),
        ("POST", "/exec/{name:.*}/start", Flushing.HIJACK),
        ("POST", "/session", Flushing.HIJACK),
        ("POST", "/grpc", Flushing.HIJACK),
        ("POST", "/build", Flushing.EVERY_WRITE),
        ("POST", "/images/create", Flushing.EVERY_WRITE),
        ("POST", "/images/{name:.*}/push", Flushing.EVERY_WRITE),
        ("GET", "/images/get", Flushing.EVERY_WRITE),
        ("GET", "/images/{name:.*}/get", Flushing.EVERY_WRITE),
        ("POST", "/images/load", Flushing.EVERY_WRITE),
        ("POST", "/plugins/pull", Flushing.EVERY_WRITE),
        ("POST", "/plugins/{name:.*}/upgrade", Flushing.EVERY_WRITE),
        ("POST", "/plugins/{name:.*}/push", Flushing.EVERY_WRITE),
    )
)

#: dockerd's ``HEAD`` routes (``router.NewHeadRoute``: system.go, container.go); gorilla/mux
#: does not answer HEAD for a GET route, so any other HEAD request is a 404.
HEAD_ROUTES: Final = (_route("/_ping"), _route("/containers/{name:.*}/archive"))

#: Handlers that set ``Content-Length`` themselves (``pingHandler`` for HEAD): for every
#: other route that header is Go's server's, not in the handler's header map.
HANDLER_CONTENT_LENGTH: Final = frozenset({("HEAD", "/_ping")})
#: Handlers that write without a ``Content-Type``: Go's server sniffs one when it sends
#: the header, after the authz middleware has looked (``pingHandler`` for GET).
SNIFFED_CONTENT_TYPE: Final = frozenset({("GET", "/_ping")})


def flushing_of(method: str, path: str) -> Flushing:
    """How the handler of ``method path`` (version prefix removed) writes its answer."""
    for route_method, pattern, flushing in STREAMING_ROUTES:
        if method == route_method and pattern.match(path):
            return flushing
    return Flushing.BUFFERED


def response_headers(
    method: str, path: str, headers: Iterable[tuple[bytes, bytes]]
) -> list[tuple[str, str]]:
    """The headers a handler put in its header map, from the ones the app answered with."""
    out = []
    for key, value in headers:
        name = canonical_mime_header_key(_header_text(key))
        if name == "Content-Length" and (method, path) not in HANDLER_CONTENT_LENGTH:
            continue
        if name == "Content-Type" and (method, path) in SNIFFED_CONTENT_TYPE:
            continue
        out.append((name, _header_text(value)))
    return out


# -- showing a request ----------------------------------------------------------------------


def _readable_bytes(encoded: object) -> object:
    """A base64 ``[]byte`` field as JSON data when it is JSON, else as text."""
    if not isinstance(encoded, str):
        return encoded
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        return encoded
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def readable(body: object) -> object:
    """An ``AuthZReq``/``AuthZRes`` request as JSON data with its bodies decoded (JSON or
    text) and its peer certificates as PEM text, for journals and reports."""
    if not isinstance(body, dict):
        return body
    shown = dict(body)
    for key in ("RequestBody", "ResponseBody"):
        if key in shown:
            shown[key] = _readable_bytes(shown[key])
    certificates = shown.get("RequestPeerCertificates")
    if isinstance(certificates, list):
        shown["RequestPeerCertificates"] = [_readable_bytes(c) for c in certificates]
    return shown
