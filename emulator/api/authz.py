"""The authorization chain as the outermost middleware of the Engine API.

dockerd wraps every routed API handler in ``authorization.Middleware.WrapHandler``
(moby/moby v28.5.2 pkg/authorization/middleware.go), added last and so run first, before
API-version validation (cmd/dockerd/daemon.go ``initMiddlewares``,
api/server/middleware.go).  Requests for unknown paths or methods get ``404 page not
found`` without it (api/server/server.go ``CreateMux``); the emulator's own
``/emulator/`` control API is not dockerd's and is not authorized either.

For each request while the chain (``engine.authz``) holds plugins:

1. the request object: method, request-target, headers (Go's ``r.Header``, flattened,
   credentials left out), ``User``/``UserAuthNMethod`` and the peer certificates of a
   TLS client, and the body when :func:`~emulator.protocol.authz.wants_request_body`
   says dockerd reads it (up to 1 MiB peeked, then handed on to the handler intact);
2. ``AuthZReq`` to each plugin; a refusal or failure is answered as dockerd's
   ``makeHTTPHandler`` answers an error, without the handler's headers;
3. the handler writes into a :class:`~emulator.api.go_writer.ResponseModifier` (64 KiB
   buffer; streams and hijacked connections flush as dockerd's handlers do, see
   :data:`~emulator.protocol.authz.STREAMING_ROUTES`); an error the handler returns is
   held back, as it is written only after the middleware returns;
4. ``AuthZRes`` to the plugins the chain holds now (none left: the buffered answer is
   dropped and the client gets an empty 200, as in dockerd); allowed: everything
   buffered goes out; refused or failed: the buffered answer is dropped and the error
   sent instead, unless the handler had failed (its error wins).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, RequestRedirect

from emulator.api.go_writer import GoResponseWriter, ResponseModifier
from emulator.api.http import OUTCOME_KEY, HandlerOutcome, json_body
from emulator.engine.authz import Authorization, AuthorizationError
from emulator.engine.core import Engine
from emulator.protocol import authz as proto
from emulator.protocol import engine_api as api

__all__ = ["ApiRoutes", "AuthzMiddleware", "peer_identity", "request_uri"]

log = logging.getLogger("emulator.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The headers dockerd's version and experimental middlewares set before the handler.
_MIDDLEWARE_HEADERS = frozenset(name for name, _ in api.COMMON_HEADERS)


def peer_identity(scope: Scope) -> tuple[str, tuple[bytes, ...]]:
    """``User`` and the PEM certificates of the TLS client, from the ASGI TLS extension.

    ``User`` is the first certificate's subject common name (Go's ``CommonName``: the
    last CN attribute), empty without a client certificate.
    """
    tls = scope.get("extensions", {}).get("tls") or {}
    chain = tuple(str(pem).encode("ascii") for pem in tls.get("client_cert_chain") or ())
    if not chain:
        return "", ()
    subject = tls.get("emulator.client_subject")
    if subject is None:
        subject = _rdn_pairs(str(tls.get("client_cert_name") or ""))
    names = [value for key, value in subject if key == "CN"]
    return (names[-1] if names else ""), chain


def _rdn_pairs(name: str) -> list[tuple[str, str]]:
    """An RFC 4514 name (``CN=a\\,b,O=x``) as (type, value) pairs; escapes resolved."""
    pairs: list[tuple[str, str]] = []
    for part in re.split(r"(?<!\\)[,+]", name):
        key, sep, value = part.partition("=")
        if sep:
            pairs.append((key.strip(), re.sub(r"\\(.)", r"\1", value)))
    return pairs


class ApiRoutes:
    """Whether dockerd's router would hand a request to a handler (else: 404, no authz)."""

    def __init__(self, url_map: Map, extra: Sequence[tuple[str, re.Pattern[str]]] = ()) -> None:
        self._adapter = url_map.bind("localhost")
        self._extra = tuple(extra)

    def matches(self, method: str, path: str) -> bool:
        if method == "OPTIONS":
            return True  # dockerd's optionsHandler answers every path
        if path.startswith("/emulator/") or path == "/emulator":
            return False
        if any(method == m and pattern.match(path) for m, pattern in self._extra):
            return True
        if method == "HEAD" and not any(p.match(path) for p in proto.HEAD_ROUTES):
            return False  # gorilla/mux has no implicit HEAD for GET routes
        try:
            self._adapter.match(path, method="GET" if method == "HEAD" else method)
        except (HTTPException, RequestRedirect):
            return False
        return True


class AuthzMiddleware:
    """ASGI middleware: ``engine.authz`` around the Engine API app (module docstring)."""

    def __init__(self, app: ASGIApp, engine: Callable[[], Engine], routes: ApiRoutes) -> None:
        self.app = app
        self._engine = engine
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        engine = self._engine()
        version, path = _split_version(scope["path"])
        if not engine.authz.plugins() or not self.routes.matches(scope["method"], path):
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(self.app, engine, scope, send, version, path)
        await exchange.run(receive)


def _split_version(path: str) -> tuple[str, str]:
    match = api.VERSIONED_PATH.match(path)
    return (match.group(1), match.group(2)) if match else ("", path)


def request_uri(scope: Scope) -> str:
    """Go's ``r.RequestURI``: the request-target as sent."""
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    query = scope.get("query_string") or b""
    target = bytes(raw) + (b"?" + bytes(query) if query else b"")
    return target.decode("utf-8", "surrogateescape")


class _Exchange:
    """One request through the chain: ``WrapHandler`` for one call."""

    def __init__(
        self, app: ASGIApp, engine: Engine, scope: Scope, send: Send, version: str, path: str
    ) -> None:
        self.app = app
        self.engine = engine
        self.scope = scope
        self.method: str = scope["method"]
        self.uri = request_uri(scope)
        self.version = version
        self.path = path
        self.flushing = proto.flushing_of(self.method, path)
        self.writer = GoResponseWriter(send)
        self.modifier = ResponseModifier(self.writer)
        self.outcome = HandlerOutcome()
        self.error: tuple[int, bytes] | None = None
        """The handler's error answer (status, body), held back."""

    async def run(self, receive: Receive) -> None:
        request, receive_on = await self._request(receive)
        if request is None:
            return  # the client went away while sending the body
        authorization = self.engine.authz.begin(request)
        if authorization is None:  # emptied meanwhile
            await self.app(self.scope, receive_on, self.writer.passthrough)
            return
        try:
            await authorization.check_request()
        except AuthorizationError as exc:
            log.error("AuthZRequest for %s %s returned error: %s", self.method, self.uri, exc)
            await self._answer_error(exc.http_status, str(exc))
            return
        scope = dict(self.scope)
        scope[OUTCOME_KEY] = self.outcome
        await self.app(scope, receive_on, self._handler_send)
        await self._after_handler(authorization)

    async def _request(self, receive: Receive) -> tuple[proto.AuthzRequest | None, Receive]:
        headers = [(bytes(k), bytes(v)) for k, v in self.scope.get("headers", ())]
        body = b""
        if proto.wants_request_body(
            self.uri, headers, forwards_chunked=self.engine.profile.authz_forwards_chunked_body
        ):
            peeked = await _peek_body(receive, proto.MAX_BODY_SIZE)
            if peeked is None:
                return None, receive
            body, receive = peeked
        user, certificates = peer_identity(self.scope)
        request = proto.AuthzRequest(
            User=user,
            UserAuthNMethod=proto.TLS_AUTHN if certificates else "",
            RequestMethod=self.method,
            RequestURI=self.uri,
            RequestBody=body,
            RequestHeaders=proto.request_headers(headers),
            RequestPeerCertificates=certificates,
        )
        return request, receive

    async def _handler_send(self, message: Message) -> None:
        """The handler's ASGI messages, written through the response modifier."""
        kind = message["type"]
        if kind == "http.response.start":
            await self._start(message)
        elif kind == "http.response.body":
            await self._body(message)

    async def _start(self, message: Message) -> None:
        pairs = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
        headers = proto.response_headers(self.method, self.path, pairs)
        if self.outcome.error:
            # Only the middlewares' headers were set on the modifier before the handler failed.
            for name, value in headers:
                if name in _MIDDLEWARE_HEADERS:
                    self.modifier.header.add(name, value)
            self.error = (int(message["status"]), b"")
            return
        if self.flushing is proto.Flushing.HIJACK:
            for name, value in headers:
                if name in _MIDDLEWARE_HEADERS:
                    self.modifier.header.add(name, value)
            await self.modifier.hijack()
            await self.writer.passthrough(message)  # the handler writes raw HTTP itself
            return
        for name, value in headers:
            self.modifier.header.add(name, value)
        self.modifier.write_header(int(message["status"]))
        if self.flushing is not proto.Flushing.BUFFERED:
            await self.modifier.flush()  # WriteHeader, then Flush, before any body

    async def _body(self, message: Message) -> None:
        data = bytes(message.get("body", b""))
        if self.error is not None:
            self.error = (self.error[0], self.error[1] + data)
            return
        if self.modifier.hijacked:
            await self.writer.passthrough(message)
            return
        if data:
            await self.modifier.write(data)
            if self.flushing is proto.Flushing.EVERY_WRITE:
                await self.modifier.flush()

    async def _after_handler(self, authorization: Authorization) -> None:
        plugins = self.engine.authz.plugins()
        if not plugins:
            log.debug("There are no authz plugins in the chain")
            await self.writer.finish()  # the buffered answer is never sent
            return
        header = self.modifier.header
        try:
            await authorization.check_response(
                plugins,
                status=self.modifier.status,
                headers=proto.flatten(header.values),
                body=(
                    bytes(self.modifier.body)
                    if proto.send_body(self.uri, header.get("Content-Type"))
                    else b""
                ),
            )
        except AuthorizationError as exc:
            if self.error is None:
                log.error("AuthZResponse for %s %s returned error: %s", self.method, self.uri, exc)
                await self._answer_error(exc.http_status, str(exc))
                return
        else:
            await self.modifier.flush_all()
        if self.error is not None:
            await self._write_error_body(*self.error)
        await self.writer.finish()

    async def _answer_error(self, status: int, message: str) -> None:
        """``makeHTTPHandler``'s error answer, on the connection's writer."""
        if self.version and api.version_tuple(self.version) < api.version_tuple("1.24"):
            self.writer.header.set("Content-Type", "text/plain; charset=utf-8")
            self.writer.header.set("X-Content-Type-Options", "nosniff")
            self.writer.write_header(status)
            await self.writer.write(message.encode() + b"\n")
        else:
            await self._write_error_body(status, json_body({"message": message}))
        await self.writer.finish()

    async def _write_error_body(self, status: int, body: bytes) -> None:
        """``httputils.WriteJSON(w, status, ErrorResponse)`` (the body is the app's)."""
        self.writer.header.set("Content-Type", api.JSON_CONTENT_TYPE)
        self.writer.write_header(status)
        await self.writer.write(body)


async def _peek_body(receive: Receive, limit: int) -> tuple[bytes, Receive] | None:
    """``drainBody``: read up to ``limit`` bytes of the body, and a ``receive`` that gives
    the handler every message again.  The bytes are ``b""`` when the body reaches the
    limit (dockerd's warning is logged); None when the client went away."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        messages.append(message)
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
        if size >= limit:
            break
    if size >= limit:
        log.warning(proto.BODY_TOO_LARGE_LOG)
        data = b""
    else:
        data = b"".join(bytes(m.get("body", b"")) for m in messages)
    replay = list(messages)

    async def replayed() -> Message:
        return replay.pop(0) if replay else await receive()

    return data, replayed
