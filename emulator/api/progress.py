"""Streamed answers of long operations (plugin pull, push, upgrade), as dockerd writes them.

dockerd's handlers wrap the response in ``ioutils.NewWriteFlusher`` and run the
operation with a progress writer (moby v28.5.2
``api/server/router/plugin/plugin_routes.go``): an error before anything was
written is an ordinary error answer (status from its errdefs class); once a
progress line was flushed the status is 200 and the error is the stream's last
line (``streamformatter.FormatError``).  :func:`progress_response` does the same:
it starts the operation in the engine's nursery, waits for its first event or its
end, and then either raises the error or streams the events as JSON lines.  The
operation is cancelled if the client goes away.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable

import trio
from quart import Response

from emulator.errors import EngineError
from emulator.protocol import engine_api as api
from emulator.protocol import jsonmessage as jm

__all__ = ["Operation", "progress_response"]

LOG = logging.getLogger("emulator.api")

Operation = Callable[[Callable[[jm.Progress], None]], Awaitable[None]]


async def progress_response(
    nursery: trio.Nursery, operation: Operation, headers: dict[str, str] | None = None
) -> Response:
    """Run ``operation(out)`` and answer as dockerd's flushing progress writer does."""
    send, receive = trio.open_memory_channel[jm.Progress | BaseException](math.inf)
    scope = trio.CancelScope()

    async def run() -> None:
        with scope:
            try:
                await operation(send.send_nowait)
            except EngineError as exc:
                send.send_nowait(exc)
            except Exception as exc:
                LOG.exception("plugin operation failed")
                send.send_nowait(exc)
        send.close()

    nursery.start_soon(run)
    try:
        first = await receive.receive()
    except trio.EndOfChannel:
        response = Response(b"", status=200, content_type=api.JSON_CONTENT_TYPE)
        response.headers.update(headers or {})
        return response
    except BaseException:
        scope.cancel()
        raise
    if isinstance(first, BaseException):
        scope.cancel()
        raise first

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield jm.format_progress(first)
            async for item in receive:
                if isinstance(item, BaseException):
                    yield jm.format_error(str(item))
                else:
                    yield jm.format_progress(item)
        finally:
            scope.cancel()

    response = Response(stream(), status=200, content_type=api.JSON_CONTENT_TYPE)
    response.headers.update(headers or {})
    response.timeout = None
    return response
