"""A plugin written at the byte level, for tests of exact request bytes and misbehaviour.

The project's mock host (Quart on hypercorn) is a *correct* plugin; this one can
record the raw bytes dockerd's client sends and answer with anything: truncated or
garbage bodies, resets, silence.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Callable
from pathlib import Path

import attrs
import h11
import trio


@attrs.frozen
class RawRequest:
    raw: bytes
    method: str
    path: str
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    connection: int


@attrs.frozen
class Respond:
    status: int = 200
    body: bytes = b"{}"
    headers: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class Raw:
    data: bytes
    then_close: bool = False


@attrs.frozen
class Close:
    """Close the connection without answering (the client sees EOF)."""


@attrs.frozen
class Reset:
    """Abort the connection with a TCP/unix reset (SO_LINGER 0)."""


@attrs.frozen
class Hang:
    """Never answer."""


Action = Respond | Raw | Close | Reset | Hang
Script = Callable[[RawRequest], Action]


def _default(req: RawRequest) -> Action:
    if req.path == "/Plugin.Activate":
        return Respond(body=b'{"Implements": ["VolumeDriver"]}\n')
    return Respond(body=b"{}\n")


class RawPlugin:
    def __init__(self, script: Script = _default, *, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.requests: list[RawRequest] = []
        self.connections = 0

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    async def serve(
        self,
        bind: Path | tuple[str, int],
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve on a unix socket path or a loopback ``(host, port)``; report the address."""
        if isinstance(bind, Path):
            bind.parent.mkdir(parents=True, exist_ok=True)
            # Bound synchronously: trio binds unix sockets in a worker thread, which an
            # autojumping MockClock would not wait for.
            raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            raw.bind(str(bind))
            sock = trio.socket.from_stdlib_socket(raw)
            address = f"unix://{bind}"
        else:
            sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
            await sock.bind(bind)
            host, port = sock.getsockname()
            address = f"tcp://{host}:{port}"
        sock.listen(16)
        listener = trio.SocketListener(sock)
        try:
            async with trio.open_nursery() as nursery:
                task_status.started(address)
                while True:
                    stream = await listener.accept()
                    self.connections += 1
                    nursery.start_soon(self._handle, stream, self.connections)

        finally:
            # Unlink first: under cancellation the close below raises Cancelled.
            if isinstance(bind, Path):
                bind.unlink(missing_ok=True)
            await trio.aclose_forcefully(listener)

    async def _handle(self, stream: trio.SocketStream, number: int) -> None:
        if self.tls is None:
            await self._serve_connection(stream, stream, number)
            return
        secured = trio.SSLStream(stream, self.tls, server_side=True)
        try:
            await secured.do_handshake()
        except trio.BrokenResourceError:
            await trio.aclose_forcefully(stream)
            return
        await self._serve_connection(secured, stream, number)

    async def _serve_connection(
        self, stream: trio.abc.Stream, plain: trio.SocketStream, number: int
    ) -> None:
        conn = h11.Connection(h11.SERVER)
        buffer = b""
        try:
            while True:
                request: h11.Request | None = None
                body = b""
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        data = await stream.receive_some(65536)
                        if not data:
                            return
                        buffer += data
                        conn.receive_data(bytes(data))
                        continue
                    if isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    elif isinstance(event, h11.ConnectionClosed):
                        return
                assert request is not None
                leftover = len(conn.trailing_data[0])
                raw, buffer = buffer[: len(buffer) - leftover], buffer[len(buffer) - leftover :]
                req = RawRequest(
                    raw=raw,
                    method="POST",
                    path=request.target.decode(),
                    headers=tuple((bytes(k), bytes(v)) for k, v in request.headers.raw_items()),
                    body=body,
                    connection=number,
                )
                self.requests.append(req)
                action = self.script(req)
                if isinstance(action, Hang):
                    await trio.sleep_forever()
                if isinstance(action, Close):
                    return
                if isinstance(action, Reset):
                    plain.socket.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    return
                if isinstance(action, Raw):
                    await stream.send_all(action.data)
                    if action.then_close:
                        return
                    # Keep reading further requests with a fresh parser.
                    conn = h11.Connection(h11.SERVER)
                    continue
                headers = [("Content-Length", str(len(action.body))), *action.headers]
                await stream.send_all(
                    conn.send(h11.Response(status_code=action.status, headers=headers))
                    + conn.send(h11.Data(data=action.body))
                    + conn.send(h11.EndOfMessage())
                )
                if conn.our_state is not h11.DONE:
                    return
                try:
                    conn.start_next_cycle()
                except h11.LocalProtocolError:
                    return  # "Connection: close" was sent
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        finally:
            await trio.aclose_forcefully(stream)
