"""A minimal plugin server for benchmarks: h11 on a unix socket, answers from a function.

As cheap as a plugin server gets in Python, so that a benchmark's ratio shows the
engine's own cost rather than the server's.  :func:`serve_h11_plugin` serves in the
caller's trio run; :func:`plugin_process` runs the same server as a process of its own,
as real plugins run (``python bench/h11_plugin.py SOCKET MODULE:FACTORY [ARG]``, the
factory called with ARG, or with nothing, returns the answer function).
"""

from __future__ import annotations

import contextlib
import importlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def plugin_process(path: Path, factory: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run the server on ``path`` in a process of its own until the block ends."""
    here = Path(__file__).parent
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(here / "h11_plugin.py"), str(path), factory, *args]
    proc = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 30
        while not path.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the plugin process did not start on {path}")
            time.sleep(0.01)
        yield proc
    finally:
        proc.terminate()
        proc.wait()


def _main() -> None:
    path, factory, *args = sys.argv[1:]
    sys.path.insert(0, str(Path(__file__).parent))
    module, _, name = factory.partition(":")
    made = getattr(importlib.import_module(module), name)
    answer = made(*args) if args else made
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(serve_h11_plugin, Path(path), answer)


if __name__ == "__main__":
    _main()
