"""A container's output: its stdout and stderr as two byte streams, one interface.

Whatever produces a container's output writes it here, and dockerd's side reads it
from here: the log copier (:mod:`emulator.engine.log_copier`, then the container's log
driver) and attached clients.  Today the producer is the fake command table
(:mod:`emulator.engine.lifecycle`: ``echo``, ``printf`` …); a real process (the
container-processes work) plugs its pipes into the same two streams with
:meth:`OutputStream.write` and :meth:`ContainerOutput.close` and changes nothing in
the logging code.

Each stream is a bounded pipe, as between a container's process and dockerd (a kernel
pipe of 64 KiB through containerd's shim): a write waits while the pipe is full, so a
log driver that does not keep up blocks the container, as it does under dockerd.  A
closed stream reads as EOF once drained; writing to it is an error.

Attached clients (``docker run`` without ``-d``) get a copy of every chunk through
:meth:`OutputStream.subscribe`; they never slow the container down (dockerd's attach
copies through a broadcaster that waits for them, the emulator buffers instead).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Final

import trio

__all__ = ["PIPE_CAPACITY", "ContainerOutput", "OutputClosed", "OutputStream"]

#: A Linux pipe's default capacity (16 pages).
PIPE_CAPACITY: Final = 64 * 1024


class OutputClosed(Exception):
    """A write to a stream that was closed (the process's end of the pipe is gone)."""


class OutputStream:
    """One of a container's output streams (``stdout`` or ``stderr``)."""

    def __init__(self, name: str, capacity: int = PIPE_CAPACITY) -> None:
        self.name = name
        self.capacity = capacity
        self._buffer = bytearray()
        self._closed = False
        self._changed = trio.Event()
        self._subscribers: list[trio.MemorySendChannel[bytes]] = []
        self.written = 0
        """Bytes written so far (for tests and figures)."""

    @property
    def closed(self) -> bool:
        """True once the writer closed it (reads drain what is left, then EOF)."""
        return self._closed

    @property
    def buffered(self) -> int:
        """Bytes written and not read yet."""
        return len(self._buffer)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def write(self, data: bytes) -> None:
        """Write all of ``data``, waiting while the pipe is full (the writer blocks)."""
        view = memoryview(data)
        while view:
            if self._closed:
                raise OutputClosed(f"write to closed {self.name}")
            room = self.capacity - len(self._buffer)
            if room <= 0:
                await self._changed.wait()
                continue
            chunk = bytes(view[:room])
            self._buffer += chunk
            self.written += len(chunk)
            view = view[room:]
            for subscriber in list(self._subscribers):
                try:
                    subscriber.send_nowait(chunk)
                except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                    self._subscribers.remove(subscriber)
            self._notify()
        await trio.lowlevel.checkpoint()

    async def read(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` bytes, waiting for some; ``b""`` at EOF."""
        while not self._buffer:
            if self._closed:
                return b""
            await self._changed.wait()
        data = bytes(self._buffer[:max_bytes])
        del self._buffer[:max_bytes]
        self._notify()
        return data

    def close(self) -> None:
        """The writer's end is closed: readers see EOF after the buffered bytes."""
        if not self._closed:
            self._closed = True
            for subscriber in self._subscribers:
                subscriber.close()
            self._subscribers.clear()
            self._notify()

    def discard(self) -> int:
        """Drop what is buffered (the reader went away for good); how many bytes."""
        dropped = len(self._buffer)
        self._buffer.clear()
        self._notify()
        return dropped

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[trio.MemoryReceiveChannel[bytes]]:
        """A copy of every chunk written from now on; the channel ends when the stream closes."""
        send, receive = trio.open_memory_channel[bytes](1 << 16)
        if self._closed:
            send.close()
        else:
            self._subscribers.append(send)
        try:
            yield receive
        finally:
            if send in self._subscribers:
                self._subscribers.remove(send)
            send.close()


class ContainerOutput:
    """A container's ``stdout`` and ``stderr`` streams, created at each start."""

    def __init__(self, capacity: int = PIPE_CAPACITY) -> None:
        self.stdout = OutputStream("stdout", capacity)
        self.stderr = OutputStream("stderr", capacity)

    def stream(self, name: str) -> OutputStream:
        """``stdout`` or ``stderr``."""
        if name == "stdout":
            return self.stdout
        if name == "stderr":
            return self.stderr
        raise ValueError(f"no output stream {name!r}: use stdout or stderr")

    @property
    def streams(self) -> tuple[OutputStream, OutputStream]:
        return (self.stdout, self.stderr)

    def close(self) -> None:
        """The process ended: both streams reach EOF once drained."""
        self.stdout.close()
        self.stderr.close()
