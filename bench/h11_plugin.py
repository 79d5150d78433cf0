"""A minimal plugin server for benchmarks: h11 on a unix socket, answers from a function.

As cheap as a plugin server gets in Python, so that a benchmark's ratio shows the
engine's own cost rather than the server's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h11
import trio

Answer = Callable[[bytes, bytes], bytes]
"""(request target, request body) → response body."""


async def serve_h11_plugin(
    path: Path, answer: Answer, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve ``answer`` on the unix socket ``path`` until cancelled; 200 for everything."""

    async def handle(stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        target, body = b"", b""
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(event, h11.Request):
                    target, body = event.target, b""
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    reply = answer(target, body)
                    head = h11.Response(
                        status_code=200, headers=[("Content-Length", str(len(reply)))]
                    )
                    await stream.send_all(
                        conn.send(head)
                        + conn.send(h11.Data(data=reply))
                        + conn.send(h11.EndOfMessage())
                    )
                    conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    return
        except trio.BrokenResourceError:
            return

    path.parent.mkdir(parents=True, exist_ok=True)
    sock = trio.socket.socket(trio.socket.AF_UNIX)
    await sock.bind(str(path))
    sock.listen(64)
    try:
        await trio.serve_listeners(
            handle,  # type: ignore[arg-type]
            [trio.SocketListener(sock)],
            task_status=task_status,  # type: ignore[arg-type]
        )
    finally:
        path.unlink(missing_ok=True)
