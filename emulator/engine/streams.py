"""A container's standard streams, dockerd's ``container/stream.Config``: one fan-out, one stdin.

A container's process writes its stdout and stderr here, chunk by chunk; each chunk goes
to every **writer** in turn: the log copier (``docker logs``) and every attached client
(``docker run``, ``docker attach``, ``docker start -a``).  A writer that does not keep up
holds the container's output back, as dockerd's broadcaster does (the process then
blocks on its full pipe).  Attachments may be opened before the process starts
(``docker run`` attaches, then starts): they receive the next run's output and end when
that run's process is gone.  stdin (``-i``) is a pipe to the process while it runs;
data written before the start waits for it.

The copier and json-file log behind ``docker logs`` are :mod:`emulator.engine.json_log`,
written so they can sit behind the logging-driver interface (issue 18) unchanged: they
only see ``write(stream, chunk)`` and ``close()``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Final

import trio

__all__ = ["Attachment", "ContainerStreams", "OutputWriter"]

#: Chunks an attachment may have queued before the container's output waits for it.
ATTACH_QUEUE: Final = 64

OutputWriter = Callable[[str, bytes], Awaitable[None]]


class Attachment:
    """One attached client's view: ``(stream, chunk)`` pairs until the run's output ends."""

    def __init__(self, streams: frozenset[str]) -> None:
        self.streams = streams
        self._send, self._receive = trio.open_memory_channel[tuple[str, bytes]](ATTACH_QUEUE)
        self.active = False
        """True once a run's output flows to it (it ends with that run)."""

    async def deliver(self, stream: str, data: bytes) -> None:
        if stream in self.streams:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self._send.send((stream, data))

    def end(self) -> None:
        self._send.close()

    async def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        async for item in self._receive:
            yield item

    def close(self) -> None:
        self._send.close()
        self._receive.close()


class ContainerStreams:
    """The fan-out and stdin of one container (for its whole life, across restarts)."""

    def __init__(self) -> None:
        self._attachments: list[Attachment] = []
        self._writers: list[OutputWriter] = []
        self._stdin: trio.abc.SendStream | None = None
        self._stdin_ready = trio.Event()
        self._stdin_lock = trio.Lock()
        self.running = False

    # -- the process's side -------------------------------------------------------------

    def begin(self, stdin: trio.abc.SendStream | None, writers: list[OutputWriter]) -> None:
        """A run starts: its stdin pipe (if any), its writers; waiting attachments join it."""
        self.running = True
        self._writers = list(writers)
        for attachment in self._attachments:
            attachment.active = True
        self._stdin = stdin
        self._stdin_ready.set()

    async def write(self, stream: str, data: bytes) -> None:
        """A chunk of the process's ``stdout`` or ``stderr`` to every writer, in order."""
        for writer in self._writers:
            await writer(stream, data)
        for attachment in [a for a in self._attachments if a.active]:
            await attachment.deliver(stream, data)

    async def end(self) -> None:
        """The run's output is over: its attachments end, stdin is closed."""
        self.running = False
        self._writers = []
        for attachment in [a for a in self._attachments if a.active]:
            attachment.end()
            self._attachments.remove(attachment)
        await self._close_stdin()
        self._stdin_ready = trio.Event()

    def end_all(self) -> None:
        """The container is gone (removed): every attachment ends, waiting or not."""
        for attachment in self._attachments:
            attachment.end()
        self._attachments.clear()
        self._stdin_ready.set()

    # -- the clients' side ----------------------------------------------------------------

    @contextlib.contextmanager
    def attach(self, *, stdout: bool = True, stderr: bool = True) -> Iterator[Attachment]:
        """An attachment to the current run (if one runs) or the next one."""
        wanted = frozenset(n for n, on in (("stdout", stdout), ("stderr", stderr)) if on)
        attachment = Attachment(wanted)
        attachment.active = self.running
        self._attachments.append(attachment)
        try:
            yield attachment
        finally:
            if attachment in self._attachments:
                self._attachments.remove(attachment)
            attachment.close()

    async def write_stdin(self, data: bytes) -> bool:
        """Write to the process's stdin, waiting for the start; False when there is none."""
        await self._stdin_ready.wait()
        async with self._stdin_lock:
            if self._stdin is None:
                return False
            try:
                await self._stdin.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return False
        return True

    async def close_stdin(self) -> None:
        """The attached client closed its input (``StdinOnce``): the process sees end-of-file."""
        if self._stdin_ready.is_set():
            await self._close_stdin()

    async def _close_stdin(self) -> None:
        async with self._stdin_lock:
            stdin, self._stdin = self._stdin, None
            if stdin is not None:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await stdin.aclose()
