"""HTTP/1.1 to registries over TCP or TLS, with Go's ``net/http`` error texts (h11 + trio).

dockerd's plugin code talks to registries through one ``http.Client`` per registry
host (``plugin/registry.go`` ``registryHTTPClient``: 30 s dial timeout, 10 s TLS
handshake timeout, keep-alive).  :class:`RegistryHTTP` is that client for one
operation (a pull, a push): it keeps idle connections per ``scheme://host``,
sends any method with a byte or streamed body, and hands back the response with
its body still on the wire (:meth:`Response.iter_body`), so a 10 MB blob is
never held in memory.  Redirects are the caller's business (containerd
re-authorizes them).

Failures are :class:`RequestFailed` whose ``str()`` is Go's ``*url.Error`` text:
``Head "http://127.0.0.1:5000/v2/…": dial tcp 127.0.0.1:5000: connect: connection
refused``, or ``…: http: server gave HTTP response to HTTPS client`` for TLS
spoken to a plain-HTTP registry.

Every exchange is real-world I/O (:func:`emulator.clock.real_io`), so a virtual
clock does not jump while a registry is working.
"""

from __future__ import annotations

import ssl
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Final

import attrs
import h11
import trio

from emulator.clock import real_io
from emulator.golang import errors as goerrors

__all__ = ["RegistryHTTP", "RequestFailed", "Response"]

DIAL_TIMEOUT: Final = 30.0
TLS_HANDSHAKE_TIMEOUT: Final = 10.0
MAX_IDLE_PER_HOST: Final = 2
_READ_CHUNK: Final = 65536
_MAX_HEAD: Final = 1 << 20
Body = bytes | AsyncIterable[bytes] | None


class RequestFailed(Exception):
    """A request that got no usable response; ``str()`` is Go's ``*url.Error`` text."""

    def __init__(self, method: str, url: str, cause: str) -> None:
        self.method = method
        self.url = url
        self.cause = cause
        super().__init__(f'{method[:1].upper()}{method[1:].lower()} "{url}": {cause}')


@attrs.frozen
class _Key:
    scheme: str
    host: str


class _Conn:
    def __init__(self, stream: trio.abc.Stream, key: _Key) -> None:
        self.stream = stream
        self.key = key
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)

    @property
    def reusable(self) -> bool:
        return self.h11.our_state is h11.IDLE and self.h11.their_state is h11.IDLE


class Response:
    """A response head; the body is read with :meth:`iter_body` or :meth:`read`.

    ``status`` is Go's ``resp.Status`` (code and reason as sent); ``url`` and
    ``method`` are those of the request (for error texts).
    """

    def __init__(
        self,
        client: RegistryHTTP,
        conn: _Conn,
        event: h11.Response,
        method: str,
        url: str,
        auto_gzip: bool,
    ) -> None:
        self._client = client
        self._conn: _Conn | None = conn
        self.code = event.status_code
        self.status = f"{event.status_code} {event.reason.decode('latin-1')}".rstrip()
        self.headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
        self.method = method
        self.url = url
        self._decompress = (
            zlib.decompressobj(zlib.MAX_WBITS | 16)
            if auto_gzip and self.header("content-encoding") == "gzip"
            else None
        )

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name``."""
        lowered = name.lower()
        return [v for k, v in self.headers if k.lower() == lowered]

    @property
    def content_length(self) -> int:
        """Go's ``resp.ContentLength``: the header's value, or -1."""
        value = self.header("content-length")
        return int(value) if value is not None and value.strip().isdigit() else -1

    async def iter_body(self) -> AsyncIterator[bytes]:
        """The body in chunks; raises :class:`RequestFailed` if the connection breaks."""
        conn = self._conn
        if conn is None:
            return
        try:
            while True:
                event = await self._client.next_event(conn, self.method, self.url, body=True)
                if isinstance(event, h11.Data):
                    data = bytes(event.data)
                    if self._decompress is not None:
                        data = self._decompress.decompress(data)
                    if data:
                        yield data
                elif isinstance(event, h11.EndOfMessage):
                    break
        except BaseException:
            await self.aclose(reuse=False)
            raise
        await self.aclose(reuse=True)

    async def read(self, limit: int = 64 << 20) -> bytes:
        """The whole body (at most ``limit`` bytes are kept)."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.iter_body():
            if size < limit:
                chunks.append(chunk[: limit - size])
            size += len(chunk)
        return b"".join(chunks)

    async def aclose(self, *, reuse: bool = False) -> None:
        """Give the connection back (reusable only after the whole body was read)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._client.release(conn, reuse=reuse)


class RegistryHTTP:
    """Go's ``http.Client`` for one operation; close it with :meth:`aclose`.

    ``tls_context(host)`` gives the TLS settings for an ``https`` host (the
    certs.d CA and client keys, or no verification for insecure registries).
    """

    def __init__(self, tls_context: Callable[[str], ssl.SSLContext]) -> None:
        self._tls_context = tls_context
        self._idle: dict[_Key, list[_Conn]] = {}
        self.dials = 0

    async def send(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: Body = None,
        *,
        content_length: int | None = None,
    ) -> Response:
        """Send one request; the response head is read, the body left for the caller."""
        scheme, _, rest = url.partition("://")
        host, slash, path = rest.partition("/")
        target = (slash + path) or "/"
        key = _Key(scheme, host)
        out = [("Host", host), *headers]
        if isinstance(body, bytes):
            content_length = len(body)
        if body is None and method in ("POST", "PUT", "PATCH"):
            content_length = 0  # Go sends "Content-Length: 0" for these methods
        if content_length is not None and (body is not None or method in ("POST", "PUT", "PATCH")):
            out.append(("Content-Length", str(content_length)))
        # Go's transport asks for gzip (and decodes it) unless the caller chose an encoding.
        auto_gzip = method != "HEAD" and not any(k.lower() == "accept-encoding" for k, _ in headers)
        if auto_gzip:
            out.append(("Accept-Encoding", "gzip"))
        conn = await self._acquire(key, method, url)
        try:
            with real_io():
                await self._write(conn, method, target, out, body, url)
                while True:
                    event = await self.next_event(conn, method, url, body=False)
                    if isinstance(event, h11.Response):
                        return Response(self, conn, event, method, url, auto_gzip)
        except BaseException:
            await self.release(conn, reuse=False)
            raise

    async def _write(
        self,
        conn: _Conn,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: Body,
        url: str,
    ) -> None:
        try:
            data = conn.h11.send(h11.Request(method=method, target=target, headers=headers))
            await conn.stream.send_all(data)
            if isinstance(body, bytes):
                if body:
                    await conn.stream.send_all(conn.h11.send(h11.Data(data=body)))
            elif body is not None:
                async for chunk in body:
                    if chunk:
                        await conn.stream.send_all(conn.h11.send(h11.Data(data=chunk)))
            await conn.stream.send_all(conn.h11.send(h11.EndOfMessage()))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise RequestFailed(method, url, _broken(exc, "write")) from None
        except h11.LocalProtocolError as exc:
            raise RequestFailed(method, url, f"net/http: {exc}") from None

    async def next_event(self, conn: _Conn, method: str, url: str, *, body: bool) -> h11.Event:
        """The next h11 event of ``conn``'s response, reading from the socket as needed."""
        while True:
            try:
                event = conn.h11.next_event()
            except h11.RemoteProtocolError as exc:
                text = "unexpected EOF" if body else f"net/http: malformed HTTP response: {exc}"
                raise RequestFailed(method, url, text) from None
            if event is h11.NEED_DATA:
                try:
                    with real_io():
                        chunk = await conn.stream.receive_some(_READ_CHUNK)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                    raise RequestFailed(method, url, _broken(exc, "read")) from None
                if not chunk and not body:
                    raise RequestFailed(method, url, "EOF")
                conn.h11.receive_data(bytes(chunk))
                continue
            if isinstance(event, h11.ConnectionClosed):
                raise RequestFailed(method, url, "unexpected EOF" if body else "EOF")
            if event is h11.PAUSED:  # pragma: no cover - we stop at EndOfMessage
                raise RequestFailed(method, url, "net/http: unexpected response data")
            if isinstance(event, h11.InformationalResponse) or not isinstance(event, h11.Event):
                continue
            return event

    async def _acquire(self, key: _Key, method: str, url: str) -> _Conn:
        idle = self._idle.get(key, [])
        while idle:
            conn = idle.pop()
            if conn.reusable:
                return conn
            await trio.aclose_forcefully(conn.stream)
        self.dials += 1
        with real_io():
            return await self._dial(key, method, url)

    async def _dial(self, key: _Key, method: str, url: str) -> _Conn:
        host, port = _host_port(key)
        with trio.move_on_after(DIAL_TIMEOUT) as scope:
            stream = await _connect(host, port, method, url)
        if scope.cancelled_caught:
            cause = goerrors.op_error("dial", "tcp", _join(host, port), goerrors.IO_TIMEOUT)
            raise RequestFailed(method, url, cause)
        if key.scheme != "https":
            return _Conn(stream, key)
        context = self._tls_context(key.host)
        tls = trio.SSLStream(
            stream, context, server_hostname=host if context.check_hostname else None
        )
        with trio.move_on_after(TLS_HANDSHAKE_TIMEOUT) as scope:
            try:
                await tls.do_handshake()
            except (trio.BrokenResourceError, ssl.SSLError, OSError) as exc:
                await trio.aclose_forcefully(stream)
                raise RequestFailed(method, url, _tls_error(exc)) from None
        if scope.cancelled_caught:
            await trio.aclose_forcefully(stream)
            raise RequestFailed(method, url, "net/http: TLS handshake timeout")
        return _Conn(tls, key)

    async def release(self, conn: _Conn, *, reuse: bool) -> None:
        """Keep ``conn`` for the next request to its host, or close it."""
        if reuse and conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
            idle = self._idle.setdefault(conn.key, [])
            if len(idle) < MAX_IDLE_PER_HOST:
                idle.append(conn)
                return
        await trio.aclose_forcefully(conn.stream)

    async def aclose(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                await trio.aclose_forcefully(conn.stream)


def _host_port(key: _Key) -> tuple[str, int]:
    host, port = key.host, ""
    if host.startswith("["):
        inner, _, rest = host[1:].partition("]")
        host, port = inner, rest.removeprefix(":")
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
    return host, int(port) if port.isdigit() else (443 if key.scheme == "https" else 80)


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _connect(host: str, port: int, method: str, url: str) -> trio.SocketStream:
    """``net.Dialer.DialContext``: each resolved address in turn; the first error is kept."""
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
    except OSError:
        raise RequestFailed(method, url, f"dial tcp: lookup {host}: no such host") from None
    first: str | None = None
    for family, type_, proto, _, addr in infos:
        sock = trio.socket.socket(family, type_, proto)
        try:
            await sock.connect(addr)
        except OSError as exc:
            sock.close()
            if first is None:
                remote = _join(str(addr[0]), int(addr[1]))
                first = goerrors.op_error(
                    "dial", "tcp", remote, "connect: " + goerrors.errno_text(exc.errno or 0)
                )
            continue
        except BaseException:
            sock.close()
            raise
        return trio.SocketStream(sock)
    raise RequestFailed(method, url, first or f"dial tcp: lookup {host}: no such host")


def _broken(exc: BaseException, op: str) -> str:
    cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) else exc
    if isinstance(cause, OSError) and cause.errno is not None:
        return f"{op}: {goerrors.errno_text(cause.errno)}"
    if isinstance(cause, ssl.SSLError):
        return f"remote error: {cause.reason or cause}"
    return "EOF"


def _tls_error(exc: BaseException) -> str:
    """Go's texts for a failed handshake."""
    cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) else exc
    if isinstance(cause, ssl.SSLCertVerificationError):
        message = cause.verify_message or str(cause)
        if "unable to get local issuer" in message or "self-signed" in message:
            message = "certificate signed by unknown authority"
        elif "Hostname mismatch" in message or "IP address mismatch" in message:
            message = f"certificate is not valid for this host ({message})"
        return f"tls: failed to verify certificate: x509: {message}"
    if isinstance(cause, ssl.SSLError):
        if cause.reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"):
            return "http: server gave HTTP response to HTTPS client"
        return f"remote error: tls: {(cause.reason or str(cause)).lower().replace('_', ' ')}"
    if isinstance(cause, OSError) and cause.errno is not None:
        return f"read: {goerrors.errno_text(cause.errno)}"
    return "EOF"
