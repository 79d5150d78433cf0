"""What flows over a hijacked connection: ``attach`` and ``exec start`` (no terminal).

After ``101 UPGRADED`` the connection is raw (:class:`~emulator.api.connections.
HijackedStream`): the container's output goes out as stdcopy frames
(:mod:`emulator.api.stdcopy`), the client's bytes go to the process's stdin.  As dockerd
(moby/moby ``container/stream/attach.go`` ``CopyStreams``, ``daemon/attach.go``,
v28.5.2): when the client closes its side, a ``StdinOnce`` container's stdin is closed
(``docker run -i``), otherwise the attachment ends; the attachment also ends when the run
it follows is over (its output drained).  A client that stops reading holds the
container's output back, as dockerd's broadcaster does.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio

from emulator.api.connections import HijackedStream
from emulator.api.stdcopy import frame
from emulator.engine.container_model import Container, ContainerError
from emulator.engine.containers import ContainerService

__all__ = ["AttachOptions", "serve_attach", "serve_exec"]


@attrs.frozen
class AttachOptions:
    """``POST /containers/{id}/attach``'s query: which streams, live or replayed."""

    stdin: bool = False
    stdout: bool = False
    stderr: bool = False
    stream: bool = False
    logs: bool = False


async def _send(raw: HijackedStream, stream: str, data: bytes) -> bool:
    """One frame to the client; False once it is gone."""
    try:
        await raw.send_all(frame(stream, data))
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        return False
    return True


async def serve_attach(
    containers: ContainerService,
    container: Container,
    raw: HijackedStream,
    options: AttachOptions,
) -> None:
    """The logs (``logs=1``), then the live streams until the run is over."""
    if options.logs:
        wanted = {n for n, on in (("stdout", options.stdout), ("stderr", options.stderr)) if on}
        async for message in containers.log_messages(container.id):
            if message.stream in wanted and not await _send(raw, message.stream, message.line):
                return
    containers.emit_event(container, "attach", {})  # daemon/attach.go: after the logs
    if not options.stream:
        return
    streams = containers.streams(container)
    with streams.attach(stdout=options.stdout, stderr=options.stderr) as attachment:
        async with trio.open_nursery() as nursery:
            if options.stdin and container.config.open_stdin:
                nursery.start_soon(_copy_stdin, containers, container, raw, nursery.cancel_scope)
            async for name, data in attachment:
                if not await _send(raw, name, data):
                    break
            nursery.cancel_scope.cancel()


async def _copy_stdin(
    containers: ContainerService,
    container: Container,
    raw: HijackedStream,
    attach_scope: trio.CancelScope,
) -> None:
    streams = containers.streams(container)
    while data := await raw.receive_some():
        if not await streams.write_stdin(data):
            break
    if container.config.stdin_once:
        await streams.close_stdin()
    else:
        attach_scope.cancel()  # dockerd closes the attachment's stdout and stderr


async def serve_exec(containers: ContainerService, exec_id: str, raw: HijackedStream) -> None:
    """Run the exec with its output framed to the client; a start error written as dockerd
    writes it (the text and ``\\r\\n`` on stdout)."""
    execs = containers.execs
    instance = execs.get(exec_id)

    async def write(stream: str, data: bytes) -> None:
        await _send(raw, stream, data)

    read: Any = raw.receive_some if instance.open_stdin else None
    try:
        await execs.start(exec_id, write, read)
    except ContainerError as exc:
        await _send(raw, "stdout", f"{exc}\r\n".encode())
