"""HTTP/1.1 connections to one plugin, with keep-alive reuse as Go's ``http.Transport`` does.

Bytes are produced and parsed by h11; this module only moves them and turns socket
failures into Go's error texts.  A failure is reported as :class:`WireFailure`,
which says *where* it happened, because dockerd treats a failure before the
response head (retried) differently from one while reading the body (not retried).
"""

from __future__ import annotations

import errno
import re
import select
import socket as _stdsocket
import ssl
import zlib
from collections.abc import AsyncIterator
from typing import Literal

import attrs
import h11
import trio
from trio.lowlevel import current_clock

from emulator.clock import VirtualClock, is_in_process_peer, real_io
from emulator.golang import errors as goerrors
from emulator.golang import net as gonet
from emulator.golang.strconv import quote as go_quote
from emulator.protocol.http import Target
from emulator.transport.faulty import FaultyStream, StreamFault
from emulator.transport.tls import handshake_error_text

#: Go's ``Transport.MaxResponseHeaderBytes`` default (10 MiB).
MAX_RESPONSE_HEAD = 10 << 20
#: Go's ``DefaultMaxIdleConnsPerHost``.
MAX_IDLE_PER_PLUGIN = 2
_READ_CHUNK = 65536
#: The length of a TLS record header (what Go reads first).
_TLS_RECORD_HEADER = 5

Phase = Literal["dial", "write", "head", "body"]


class WireFailure(Exception):
    """A request did not complete; ``cause`` is Go's text for the underlying error.

    ``phase`` is where it failed: ``dial`` (nothing sent), ``write``, ``head`` (no
    response head yet) or ``body`` (head received, body incomplete).  ``written`` says
    whether any of the request reached the socket (dockerd's drained-buffer quirk).
    """

    def __init__(self, cause: str, *, phase: Phase, written: bool, status: int | None = None):
        super().__init__(cause)
        self.cause = cause
        self.phase = phase
        self.written = written
        self.status = status


class BodyTooLarge(Exception):
    """The plugin sent more than the emulator's body limit."""

    def __init__(self, limit: int, status: int) -> None:
        super().__init__(f"response body exceeds the emulator's limit of {limit} bytes")
        self.limit = limit
        self.status = status


class WriteMark:
    """Set once the request is on its way to the plugin (dockerd drains its request buffer
    then, so a retry after that re-sends an empty body); per attempt."""

    __slots__ = ("written",)

    def __init__(self) -> None:
        self.written = False

    def set(self) -> None:
        """The request is being written."""
        self.written = True


@attrs.frozen
class RawResponse:
    """A complete plugin answer."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


class StreamedResponse:
    """An answer whose body is read as it arrives (``ReadLogs``)."""

    def __init__(
        self,
        status: int,
        headers: tuple[tuple[bytes, bytes], ...],
        events: AsyncIterator[h11.Response | h11.Data | h11.EndOfMessage],
    ) -> None:
        self.status = status
        self.headers = headers
        self._events = events
        self.complete = False
        """True once the whole body was read (the connection may then be reused)."""

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as they come; raises :class:`WireFailure` on a broken body."""
        async for event in self._events:
            if isinstance(event, h11.Data):
                yield bytes(event.data)
        self.complete = True


class Connection:
    """One open connection; carries requests one after another (HTTP/1.1 keep-alive)."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        sock: trio.socket.SocketType,
        target: Target,
        local: str,
    ) -> None:
        self._stream = _RealIOStream(stream, sock)
        self._sock = sock
        self._target = target
        self._local = local
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_RESPONSE_HEAD)

    @property
    def in_process(self) -> bool:
        """True when the plugin on the other end is served by this very process."""
        return self._stream.in_process

    @property
    def socket(self) -> trio.socket.SocketType:
        """The underlying socket (to tell an in-process peer from an external one)."""
        return self._sock

    @property
    def reusable(self) -> bool:
        """True when both sides finished the last exchange and may start another."""
        return self._h11.our_state is h11.IDLE and self._h11.their_state is h11.IDLE

    def peer_closed(self) -> bool:
        """Whether the plugin closed (or wrote to) this idle connection.

        Go's transport notices this in its read loop and drops the connection from
        the pool before reuse; a readable idle socket is at EOF or holds bytes nobody
        asked for, so either way it is not reused.
        """
        poller = select.poll()
        poller.register(self._sock.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
        return bool(poller.poll(0))

    async def round_trip(
        self,
        path: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        *,
        body_limit: int,
        fault: StreamFault | None = None,
        mark: WriteMark | None = None,
    ) -> RawResponse:
        """Send one request and read the whole answer.

        With ``fault``, the bytes go through a :class:`FaultyStream` for this round trip:
        what the fault does to them is then parsed, and its failures reported, exactly as
        a plugin's own would be.  Such a connection is not sound afterwards unless
        ``fault.keeps_connection``.  ``mark`` is set when the request starts on its way.
        """
        stream = await self._send(
            path, headers, body, fault=fault, body_limit=body_limit, mark=mark
        )
        status: int | None = None
        head: tuple[tuple[bytes, bytes], ...] = ()
        chunks: list[bytes] = []
        size = 0
        async for event in self._response_events(stream):
            if isinstance(event, h11.Response):
                status = event.status_code
                head = tuple((bytes(k), bytes(v)) for k, v in event.headers)
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > body_limit:
                    raise BodyTooLarge(body_limit, status or 0)
                chunks.append(bytes(event.data))
        assert status is not None
        body = b"".join(chunks)
        if self._target.compression and _header(head, b"content-encoding") == b"gzip":
            body = _gunzip(body, status)
        return RawResponse(status=status, headers=head, body=body)

    async def open_stream(
        self,
        path: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        *,
        body_limit: int,
        fault: StreamFault | None = None,
        mark: WriteMark | None = None,
    ) -> StreamedResponse:
        """Send one request and read the answer's head; the body is read from the result
        as it arrives (``plugins.Client.Stream``)."""
        stream = await self._send(
            path, headers, body, fault=fault, body_limit=body_limit, mark=mark
        )
        events = self._response_events(stream)
        async for event in events:
            if isinstance(event, h11.Response):
                head = tuple((bytes(k), bytes(v)) for k, v in event.headers)
                return StreamedResponse(event.status_code, head, events)
        raise AssertionError("h11 ended an answer without its head")  # pragma: no cover

    async def _send(
        self,
        path: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        *,
        fault: StreamFault | None,
        body_limit: int,
        mark: WriteMark | None,
    ) -> trio.abc.Stream:
        mark = mark if mark is not None else WriteMark()
        stream: trio.abc.Stream = self._stream
        if fault is not None:
            stream = FaultyStream(
                stream, fault, limit=MAX_RESPONSE_HEAD + body_limit, on_write=mark.set
            )
        else:
            mark.set()
        try:
            data = self._h11.send(h11.Request(method=b"POST", target=path, headers=headers))
            if body:
                data += self._h11.send(h11.Data(data=body))
            data += self._h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:  # pragma: no cover - our own bug
            raise WireFailure(
                f"net/http: invalid request: {exc}", phase="write", written=False
            ) from None
        try:
            await stream.send_all(data)
        except (trio.BrokenResourceError, OSError) as exc:
            cause = self._op_error("write", _os_error_of(exc))
            raise WireFailure(
                goerrors.CONNECTION_BROKEN + cause, phase="write", written=mark.written
            ) from None
        return stream

    async def _response_events(
        self, stream: trio.abc.Stream
    ) -> AsyncIterator[h11.Response | h11.Data | h11.EndOfMessage]:
        """The answer's head, body pieces and end, with Go's texts for what goes wrong."""
        status: int | None = None
        first_bytes = b""
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                if status is None:
                    raise WireFailure(
                        _malformed_response_text(first_bytes, exc), phase="head", written=True
                    ) from None
                raise WireFailure(
                    _body_error_text(exc), phase="body", written=True, status=status
                ) from None
            if event is h11.NEED_DATA:
                try:
                    chunk = await stream.receive_some(_READ_CHUNK)
                except (trio.BrokenResourceError, OSError) as exc:
                    cause = self._op_error("read", _os_error_of(exc))
                    raise WireFailure(
                        cause,
                        phase="head" if status is None else "body",
                        written=True,
                        status=status,
                    ) from None
                if status is None and len(first_bytes) < 1024:
                    first_bytes += chunk
                if not chunk:
                    if status is None:
                        # Nothing (or only part of a head) before the close: Go reports EOF.
                        raise WireFailure(
                            "EOF" if not first_bytes else "unexpected EOF",
                            phase="head",
                            written=True,
                        )
                    # Closed in the middle of a framed body.
                    try:
                        self._h11.receive_data(b"")
                        continue
                    except h11.RemoteProtocolError:  # pragma: no cover - h11 raises on next_event
                        raise WireFailure(
                            "unexpected EOF", phase="body", written=True, status=status
                        ) from None
                self._h11.receive_data(bytes(chunk))
                continue
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                yield event
                continue
            if isinstance(event, h11.Data):
                yield event
                continue
            if isinstance(event, h11.EndOfMessage):
                assert status is not None
                if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
                    self._h11.start_next_cycle()
                yield event
                return
            if isinstance(event, h11.ConnectionClosed):
                if status is None:
                    raise WireFailure("EOF", phase="head", written=True)
                raise WireFailure("unexpected EOF", phase="body", written=True, status=status)

    def _op_error(self, op: str, cause: str) -> str:
        return goerrors.op_error(
            op, self._target.network, self._target.dial, f"{op}: {cause}", self._local
        )

    async def aclose(self) -> None:
        """Close the connection at once."""
        await trio.aclose_forcefully(self._stream)


def _os_error_of(exc: BaseException) -> str:
    cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) else exc
    if isinstance(cause, OSError) and cause.errno is not None:
        return goerrors.errno_text(cause.errno)
    if isinstance(cause, ssl.SSLError):
        return f"remote error: {cause.reason or cause}"
    return goerrors.errno_text(errno.ECONNRESET)


def _errno_of(exc: OSError) -> str:
    """Go's text for a failed ``connect``: the errno's, or Python's own words without one."""
    return goerrors.errno_text(exc.errno) if exc.errno is not None else str(exc)


def _body_error_text(exc: h11.RemoteProtocolError) -> str:
    """Go's text for a broken response body: a short body is ``unexpected EOF``."""
    if "peer closed connection without sending complete message body" in str(exc):
        return "unexpected EOF"
    return f"net/http: {exc}"


def _header(headers: tuple[tuple[bytes, bytes], ...], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value.strip().lower()
    return None


def _gunzip(body: bytes, status: int) -> bytes:
    try:
        return zlib.decompress(body, wbits=zlib.MAX_WBITS | 16)
    except zlib.error:
        raise WireFailure(
            "gzip: invalid header", phase="body", written=True, status=status
        ) from None


_STATUS_LINE = re.compile(rb"^([^ ]*) ([^ ]*)")


def _malformed_response_text(received: bytes, exc: h11.RemoteProtocolError) -> str:
    """Go's text for an unparsable response head (``net/http`` ``ReadResponse``)."""
    line = received.split(b"\n", 1)[0].rstrip(b"\r")
    prefix = goerrors.CONNECTION_BROKEN
    if b" " not in line:
        return prefix + f"malformed HTTP response {go_quote(line)}"
    proto, _, rest = line.partition(b" ")
    if not re.fullmatch(rb"HTTP/\d\.\d", proto):
        return prefix + f"malformed HTTP version {go_quote(proto)}"
    code = rest.partition(b" ")[0]
    if len(code) != 3 or not code.isdigit():
        return prefix + f"malformed HTTP status code {go_quote(code)}"
    return prefix + f"malformed HTTP response: {exc}"


class _RealIOStream(trio.abc.Stream):
    """The connection's own stream, each wait on it marked as real I/O.

    Under a :class:`~emulator.clock.VirtualClock` the clock must not jump while an
    external plugin works (``real_io``; a no-op for an in-process peer).  Marking each
    send and receive, rather than the whole round trip, leaves the waits of a
    :class:`FaultyStream` above it (injected delays, drips) on virtual time.
    """

    def __init__(self, inner: trio.abc.Stream, sock: trio.socket.SocketType) -> None:
        self._inner = inner
        self._in_process = is_in_process_peer(sock)
        # Asked once, not per read: the peer does not change, nor does a run's clock.
        self._guarded = not self._in_process and VirtualClock.of(current_clock()) is not None

    @property
    def in_process(self) -> bool:
        """True when the peer is a unix socket of this process (see :func:`is_in_process_peer`)."""
        return self._in_process

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if not self._guarded:
            await self._inner.send_all(data)
            return
        with real_io():
            await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if not self._guarded:
            return await self._inner.receive_some(max_bytes)
        with real_io():
            return await self._inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self._inner.aclose()


class ConnectionPool:
    """Idle connections to one plugin, dialled on demand (Go's per-host idle pool)."""

    def __init__(
        self,
        target: Target,
        *,
        dial_timeout: float,
        ssl_context: ssl.SSLContext | None = None,
        max_idle: int = MAX_IDLE_PER_PLUGIN,
    ) -> None:
        self.target = target
        self._dial_timeout = dial_timeout
        self._ssl_context = ssl_context
        self._max_idle = max_idle
        self._idle: list[Connection] = []
        self.dials = 0

    async def acquire(self) -> Connection:
        """An idle live connection, or a new one.

        Go's transport watches each idle connection in a goroutine of its own and drops
        one the plugin closed as soon as the close arrives.  A plugin in this process
        (a mock) runs only when the engine yields, so the engine yields once before it
        reuses a connection to one: a close the plugin was about to make is seen first,
        as Go would see it.  A plugin in another process closes on its own time.
        """
        if self._idle and self._idle[-1].in_process:
            await trio.lowlevel.checkpoint()
        while self._idle:
            conn = self._idle.pop()
            if conn.peer_closed():
                await conn.aclose()
                continue
            return conn
        return await self._dial()

    async def release(self, conn: Connection) -> None:
        """Give back a connection after a complete exchange; it is kept if reusable."""
        if conn.reusable and len(self._idle) < self._max_idle:
            self._idle.append(conn)
        else:
            await conn.aclose()

    async def aclose(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.aclose()

    async def _dial(self) -> Connection:
        target = self.target
        self.dials += 1
        with trio.move_on_after(self._dial_timeout) as scope:
            if target.network == "unix":
                conn = await self._dial_unix()
            else:
                conn = await self._dial_tcp()
        if scope.cancelled_caught:
            cause = goerrors.op_error("dial", target.network, target.dial, goerrors.IO_TIMEOUT)
            raise WireFailure(cause, phase="dial", written=False)
        return conn

    async def _dial_unix(self) -> Connection:
        # A unix connect() finishes at once: it succeeds, or fails with ENOENT,
        # ECONNREFUSED, or EAGAIN when the listener's backlog is full.  Go reports
        # EAGAIN as an error (it only waits on EINPROGRESS), so the call is made on a
        # non-blocking stdlib socket rather than through trio, which would wait.
        target = self.target
        raw = _stdsocket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_STREAM)
        raw.setblocking(False)
        try:
            raw.connect(target.dial)
        except OSError as exc:
            raw.close()
            cause = goerrors.op_error("dial", "unix", target.dial, "connect: " + _errno_of(exc))
            raise WireFailure(cause, phase="dial", written=False) from None
        try:
            await trio.lowlevel.checkpoint()
        except BaseException:
            raw.close()
            raise
        sock = trio.socket.from_stdlib_socket(raw)
        return Connection(trio.SocketStream(sock), sock, target, local="@")

    async def _dial_tcp(self) -> Connection:
        target = self.target
        host = target.dial_host()
        try:
            port = gonet.lookup_port("tcp", target.dial_port())
        except gonet.AddrError as exc:  # Go resolves the port before any connect
            raise WireFailure(f"dial tcp: {exc}", phase="dial", written=False) from None
        try:
            # An empty host is Go's unspecified address: a local connection.
            infos = await trio.socket.getaddrinfo(host or None, port, type=trio.socket.SOCK_STREAM)
        except (OSError, ValueError):
            cause = f"dial tcp: lookup {host}: no such host"
            raise WireFailure(cause, phase="dial", written=False) from None
        last: OSError | None = None
        for family, type_, proto, _, addr in infos:
            sock = trio.socket.socket(family, type_, proto)
            try:
                await sock.connect(addr)
            except OSError as exc:
                sock.close()
                last = exc
                continue
            except BaseException:
                sock.close()
                raise
            local_host, local_port = sock.getsockname()[:2]
            local = _join_host_port(local_host, local_port)
            plain = trio.SocketStream(sock)
            if target.tls:
                return Connection(await self._start_tls(plain, sock), sock, target, local=local)
            return Connection(plain, sock, target, local=local)
        assert last is not None
        cause = goerrors.op_error("dial", "tcp", target.dial, "connect: " + _errno_of(last))
        raise WireFailure(cause, phase="dial", written=False)

    async def _start_tls(
        self, stream: trio.SocketStream, sock: trio.socket.SocketType
    ) -> trio.SSLStream[_FirstBytes]:
        context = self._ssl_context or ssl.create_default_context()
        server_name = self.target.dial_host()
        recorder = _FirstBytes(stream)
        tls = trio.SSLStream(
            recorder, context, server_hostname=server_name if context.check_hostname else None
        )
        try:
            await tls.do_handshake()
        except (trio.BrokenResourceError, ssl.SSLError) as exc:
            sock.close()
            cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) else exc
            text = handshake_error_text(recorder.head, recorder.closed, cause)
            raise WireFailure(text, phase="dial", written=False) from None
        return tls


class _FirstBytes(trio.abc.Stream):
    """A stream that keeps the first bytes the server sent (what Go's TLS client looks
    at to tell a plain-HTTP server from a broken TLS one)."""

    def __init__(self, inner: trio.SocketStream) -> None:
        self._inner = inner
        self.head = b""
        self.closed = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self._inner.receive_some(max_bytes)
        if not data:
            self.closed = True
        elif len(self.head) < _TLS_RECORD_HEADER:
            self.head += bytes(data[: _TLS_RECORD_HEADER - len(self.head)])
        return data

    async def aclose(self) -> None:
        await self._inner.aclose()


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
