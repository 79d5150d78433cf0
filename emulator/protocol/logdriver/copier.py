"""dockerd's log copier cutting a container's output into messages (no I/O here).

moby/moby ``daemon/logger/copier.go`` ``copySrc`` (v28.5.2) reads each stream (stdout,
stderr) at most 2 KiB at a time into a 16 KiB buffer and logs:

* every complete line, without its ``\\n``, stamped when it is cut;
* when the buffer is full and holds no newline, the whole 16 KiB as a *partial*
  message: one random 64-hex ID for the line, ordinals 1, 2, …, and the first
  piece's time on every piece; the piece that ends with the newline has
  ``last=True``;
* at the end of the stream, what is left (a line without newline) as a partial
  message with ``last=False`` (ordinal 1 if it is the only piece).

Where the buffer splits depends only on the bytes, not on how they arrive, because
unlogged bytes always sit at the start of the buffer.  :class:`LineSplitter` keeps
that state for one stream; the engine's copier task feeds it what it reads.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Final

from emulator.protocol.logdriver.entry import LogRecord, PartialMetadata

__all__ = ["BUFFER_SIZE", "READ_SIZE", "LineSplitter"]

#: ``defaultBufSize``: the longest line logged in one message.
BUFFER_SIZE: Final = 16 * 1024
#: ``readSize``: the most one read takes from the stream.
READ_SIZE: Final = 2 * 1024

Clock = Callable[[], int]
"""Wall-clock now, Unix nanoseconds (``time.Now().UTC()``)."""


class LineSplitter:
    """``copySrc``'s line cutting for one stream (``source`` is ``stdout`` or ``stderr``).

    ``clock`` stamps messages; ``new_id`` makes partial IDs (``stringid.GenerateRandomID``).
    ``partial_lines`` counts lines that needed splitting (dockerd's
    ``logger_log_entries_size_greater_than_buffer_total``).
    """

    def __init__(
        self,
        source: str,
        clock: Clock,
        *,
        buffer_size: int = BUFFER_SIZE,
        new_id: Callable[[], str] = lambda: secrets.token_hex(32),
    ) -> None:
        self.source = source
        self._clock = clock
        self._size = buffer_size
        self._new_id = new_id
        self._pending = bytearray()
        self._partial_id = ""
        self._partial_time = 0
        self._ordinal = 0
        self.partial_lines = 0

    @property
    def room(self) -> int:
        """How many bytes the next read may take (``readSize``, less when the buffer is fuller)."""
        return min(READ_SIZE, self._size - len(self._pending))

    def feed(self, data: bytes) -> list[LogRecord]:
        """Take the bytes of one read (at most :attr:`room`); the messages they complete."""
        if len(data) > self.room:
            raise ValueError(f"read of {len(data)} bytes exceeds the copier's room ({self.room})")
        self._pending += data
        records = self._lines()
        if len(self._pending) == self._size:
            records.append(self._piece())
        return records

    def end(self) -> list[LogRecord]:
        """The stream ended: what is left goes out as a partial message (``last=False``)."""
        if not self._pending:
            return []
        return [self._piece()]

    def _lines(self) -> list[LogRecord]:
        records = []
        while (newline := self._pending.find(b"\n")) >= 0:
            line = bytes(self._pending[:newline])
            del self._pending[: newline + 1]
            if self._ordinal:
                meta = PartialMetadata(self._partial_id, self._ordinal, last=True)
                records.append(LogRecord(self.source, self._partial_time, line, meta))
                self._ordinal = 0
                self._partial_id = ""
            else:
                records.append(LogRecord(self.source, self._clock(), line))
        return records

    def _piece(self) -> LogRecord:
        """The buffer as one partial message (full buffer without newline, or the end)."""
        if self._ordinal == 0:
            self._partial_time = self._clock()
            self._partial_id = self._new_id()
            self._ordinal = 1
            self.partial_lines += 1
        meta = PartialMetadata(self._partial_id, self._ordinal, last=False)
        record = LogRecord(self.source, self._partial_time, bytes(self._pending), meta)
        self._ordinal += 1
        self._pending.clear()
        return record
