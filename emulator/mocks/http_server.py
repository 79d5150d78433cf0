"""The built-in mock plugins' HTTP/1.1 server: h11 on trio sockets.

The mocks were served by Quart on hypercorn, which cost about a millisecond per
request and several to start and stop (most of what a test with a mock plugin paid).
A plugin's HTTP server has little to do: read a request, answer it, keep the
connection.  This one does that with h11 directly, and sends the bytes hypercorn sent,
so that nothing a plugin author or a test sees changes:

* the status line has no reason phrase (``HTTP/1.1 200 \\r\\n``);
* header names are lower-case; ``content-length`` comes first, then the reply's own
  headers in order, then ``date`` (no ``server`` header, as Go's ``net/http`` sends
  none); an HTTP/1.0 request or ``Connection: close`` gets h11's ``Connection: close``
  and the connection is closed after the answer;
* a streamed answer (a log plugin's ``ReadLogs``) has no ``content-length``: h11 adds
  ``Transfer-Encoding: chunked`` after ``date`` and sends each piece as it comes (to an
  HTTP/1.0 client, unchunked and then closed);
* ``Expect: 100-continue`` is answered ``100`` with a ``date`` before the body is read;
* a request h11 cannot parse is answered with its status hint (``400``), headers
  ``content-length: 0``, ``connection: close`` and ``date``, and the connection closed;
* the request path is percent-decoded after the query is cut off, with any leading run
  of slashes made one (``//VolumeDriver.List`` is ``/VolumeDriver.List``), as
  werkzeug's requests showed it; an absolute-form target (``http://host/x``) is its path.

Every method is answered by the handler, as Go's ``http.ServeMux`` in a plugin does
(hypercorn's application refused methods outside GET, POST, PUT, PATCH, DELETE and
OPTIONS with 405 and answered HEAD like GET, without a body; HEAD still has no body).
There is no idle timeout and no limit of requests per connection (Go's
``http.Server`` has neither); cancelling the serving task closes every connection at
once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from urllib.parse import unquote, urlsplit
from wsgiref.handlers import format_date_time

import attrs
import h11
import trio

__all__ = ["ServerRequest", "ServerResponse", "serve_http"]

_log = logging.getLogger("emulator.mocks.host")

#: hypercorn's ``h11_max_incomplete_size``: the most of a request head held unparsed.
MAX_INCOMPLETE_HEAD = 16 * 1024
_READ_SIZE = 65536


@attrs.frozen
class ServerRequest:
    """One complete request as the server read it."""

    http_method: str
    path: str
    """The decoded path, without the query (see the module)."""
    headers: tuple[tuple[str, str], ...]
    """As received, names lower-cased (latin-1)."""
    body: bytes
    received: float
    """trio's clock when the request's head had arrived."""


@attrs.frozen
class ServerResponse:
    """What to answer: status, the reply's own headers (in order), the body — or, with
    ``stream``, the pieces it yields, sent as they come (``body`` is then unused)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    stream: AsyncIterable[bytes] | None = None


Handler = Callable[[ServerRequest], Awaitable[ServerResponse]]


async def serve_http(
    listener: trio.SocketListener,
    handler: Handler,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer every connection accepted on ``listener`` with ``handler`` until cancelled."""

    async def connection(stream: trio.SocketStream) -> None:
        await _serve_connection(stream, handler)

    await trio.serve_listeners(connection, [listener], task_status=task_status)  # type: ignore[arg-type]


class _Closed(Exception):
    """The peer went away, or the connection cannot carry another request."""


async def _serve_connection(stream: trio.SocketStream, handler: Handler) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_INCOMPLETE_HEAD)
    try:
        while True:
            request = await _read_request(stream, conn)
            response = await handler(request)
            await _send_response(stream, conn, request, response)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return  # MUST_CLOSE: HTTP/1.0 or Connection: close
            conn.start_next_cycle()
    except (_Closed, trio.BrokenResourceError, trio.ClosedResourceError):
        return
    except h11.LocalProtocolError as exc:  # a reply h11 cannot send (a status below 200)
        _log.warning("mock plugin: cannot send the reply: %s; connection closed", exc)
    finally:
        await trio.aclose_forcefully(stream)


async def _read_request(stream: trio.SocketStream, conn: h11.Connection) -> ServerRequest:
    head: h11.Request | None = None
    received = 0.0
    chunks: list[bytes] = []
    while True:
        if conn.they_are_waiting_for_100_continue:
            reply = h11.InformationalResponse(status_code=100, headers=[_date_header()])
            await stream.send_all(conn.send(reply))
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            await _refuse(stream, conn, exc.error_status_hint)
            raise _Closed from None
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(_READ_SIZE))
        elif isinstance(event, h11.Request):
            head, received = event, trio.current_time()
        elif isinstance(event, h11.Data):
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            return ServerRequest(
                http_method=head.method.decode("ascii").upper(),
                path=_request_path(head.target),
                headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers),
                body=b"".join(chunks),
                received=received,
            )
        else:  # ConnectionClosed, or PAUSED after a cycle that cannot be continued
            raise _Closed


async def _send_response(
    stream: trio.SocketStream,
    conn: h11.Connection,
    request: ServerRequest,
    response: ServerResponse,
) -> None:
    streamed = response.stream is not None
    headers = [] if streamed else [(b"content-length", str(len(response.body)).encode())]
    for name, value in response.headers:
        encoded = (name.lower().encode().strip(), value.encode().strip())
        if encoded[0] == b"content-length" and not streamed:
            headers[0] = encoded  # the reply's own length replaces the computed one
        else:
            headers.append(encoded)
    headers.append(_date_header())
    data = conn.send(h11.Response(status_code=response.status, headers=headers, reason=b""))
    if request.http_method == "HEAD":
        pass
    elif response.stream is not None:
        await stream.send_all(data)
        data = b""
        async for piece in response.stream:
            if piece:
                await stream.send_all(conn.send(h11.Data(data=piece)))
    elif response.body:
        data += conn.send(h11.Data(data=response.body))
    data += conn.send(h11.EndOfMessage())
    await stream.send_all(data)


async def _refuse(stream: trio.SocketStream, conn: h11.Connection, status: int) -> None:
    """hypercorn's answer to a request it cannot parse, when one can still be sent."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    headers = [(b"content-length", b"0"), (b"connection", b"close"), _date_header()]
    try:
        data = conn.send(h11.Response(status_code=status, headers=headers, reason=b""))
        data += conn.send(h11.EndOfMessage())
    except h11.LocalProtocolError:
        return
    await stream.send_all(data)


def _request_path(target: bytes) -> str:
    """The path the handler sees: see the module."""
    raw = target.decode("ascii")
    if raw.startswith(("http://", "https://")):
        raw = urlsplit(raw).path
    path = unquote(raw.partition("?")[0])
    return "/" + path.lstrip("/")


_date_cache: tuple[int, tuple[bytes, bytes]] = (0, (b"date", b""))


def _date_header() -> tuple[bytes, bytes]:
    """``date`` as hypercorn sends it (the wall clock, RFC 7231), made once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, (b"date", format_date_time(now).encode("ascii")))
    return _date_cache[1]
