"""A scripted HTTP server for registry client tests: each request answered by a function.

For what Debian's docker-registry never does (405 to a HEAD, 503, redirects).  Serves
HTTP/1.1 with h11 on ``127.0.0.1:0`` in the test's nursery and records every request.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

import attrs
import h11
import trio


@attrs.frozen
class Answer:
    status: int
    headers: dict[str, str] = attrs.field(factory=dict)
    body: bytes = b""


class FakeRegistry:
    """Answers ``script(method, target)``; ``seen`` and ``headers`` record the requests."""

    def __init__(self, script: Callable[[str, str], Answer]) -> None:
        self._script = script
        self.seen: list[tuple[str, str]] = []
        self.headers: list[dict[str, str]] = []
        self.raw_headers: list[list[tuple[str, str]]] = []

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        task_status.started(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        async with stream:
            while True:
                try:
                    request = await self._read(conn, stream)
                except h11.RemoteProtocolError:  # e.g. a TLS hello: Go's server answers 400
                    await stream.send_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                    return
                if request is None:
                    return
                method, target = request.method.decode(), request.target.decode()
                self.seen.append((method, target))
                self.headers.append({k.decode().lower(): v.decode() for k, v in request.headers})
                self.raw_headers.append([(k.decode(), v.decode()) for k, v in request.headers])
                answer = self._script(method, target)
                headers = {"Content-Length": str(len(answer.body)), **answer.headers}
                reason = HTTPStatus(answer.status).phrase.encode()
                head = h11.Response(
                    status_code=answer.status, headers=list(headers.items()), reason=reason
                )
                await stream.send_all(conn.send(head))
                if method != "HEAD" and answer.body:
                    await stream.send_all(conn.send(h11.Data(data=answer.body)))
                await stream.send_all(conn.send(h11.EndOfMessage()))
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()

    async def _read(self, conn: h11.Connection, stream: trio.SocketStream) -> h11.Request | None:
        request: h11.Request | None = None
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data:
                    return None
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.EndOfMessage):
                return request
            elif isinstance(event, h11.ConnectionClosed):
                return None
