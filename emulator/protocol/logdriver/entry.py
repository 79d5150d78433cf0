"""``LogEntry`` records and their framing, as dockerd writes them to a log plugin's FIFO.

One record on the wire is a 4-byte big-endian length followed by one serialized
protobuf ``LogEntry`` (moby/moby ``api/types/plugins/logdriver/io.go``
``LogEntryEncoder``/``LogEntryDecoder``, v28.5.2).  The same framing carries a plugin's
``ReadLogs`` answer back to the daemon.  The message types come from ``entry.desc``,
the descriptor protoc made from ``entry.proto`` beside this module (the command is in
that file); serialization is the ``protobuf`` package's, never hand-written varints.

:class:`LogRecord` is the emulator's frozen view of one entry; :func:`encode_frame`
and :class:`FrameDecoder` convert between records and bytes.  Decoding errors carry
Go's texts (``unexpected EOF`` for a cut frame), because dockerd reports them as
``error decoding log message: <text>``.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterator
from importlib import resources
from typing import Any, Final

import attrs

__all__ = [
    "FRAME_HEADER",
    "FrameDecoder",
    "FrameError",
    "LogRecord",
    "PartialMetadata",
    "decode_frames",
    "encode_frame",
    "entry_bytes",
]

#: The length prefix: ``binary.BigEndian.PutUint32`` (``binaryEncodeLen = 4``).
FRAME_HEADER: Final = struct.Struct(">I")


@functools.cache
def _message_class() -> type[Any]:
    """``LogEntry`` (with ``PartialLogEntryMetadata``) from the checked-in descriptor.

    A private pool, so the emulator's messages never clash with another library's.  Made
    on first use: importing protobuf and building the pool is ≈20 ms of the start-up of
    every command that opens an engine, most of which never writes a ``LogEntry``
    (measured with ``python -X importtime``, bench/startup.py).
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    data = resources.files(__package__).joinpath("entry.desc").read_bytes()
    files = descriptor_pb2.FileDescriptorSet.FromString(data)
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    entry: type[Any] = message_factory.GetMessageClass(pool.FindMessageTypeByName("LogEntry"))
    return entry


@attrs.frozen
class PartialMetadata:
    """``PartialLogEntryMetadata``: which piece of a long line a record is."""

    id: str
    """64 hex characters, shared by every piece of one line."""
    ordinal: int
    """1 for the first piece, 2 … after it."""
    last: bool
    """True on the piece that ended with the line's newline."""


@attrs.frozen
class LogRecord:
    """One ``LogEntry``: a line (or a piece of one) a container wrote."""

    source: str
    """``stdout`` or ``stderr``."""
    time_nano: int
    """When the copier read it, Unix nanoseconds (the first piece's time for every piece)."""
    line: bytes
    """The bytes without the newline."""
    partial: PartialMetadata | None = None
    """Set on the pieces of a line longer than the copier's 16 KiB buffer."""

    @property
    def text(self) -> str:
        """``line`` decoded as UTF-8 (undecodable bytes replaced), for assertions."""
        return self.line.decode("utf-8", "replace")

    def to_message(self) -> Any:
        """The protobuf ``LogEntry`` (``partial`` set exactly when there is metadata,
        as ``pluginAdapter.Log`` sets it)."""
        message = _message_class()(source=self.source, time_nano=self.time_nano, line=self.line)
        if self.partial is not None:
            message.partial = True
            meta = message.partial_log_metadata
            meta.last = self.partial.last
            meta.id = self.partial.id
            meta.ordinal = self.partial.ordinal
        return message

    @classmethod
    def from_message(cls, message: Any) -> LogRecord:
        """A record from a decoded ``LogEntry``; the metadata is read when present."""
        partial = None
        if message.HasField("partial_log_metadata") or message.partial:
            meta = message.partial_log_metadata
            partial = PartialMetadata(id=meta.id, ordinal=meta.ordinal, last=meta.last)
        return cls(
            source=message.source,
            time_nano=message.time_nano,
            line=bytes(message.line),
            partial=partial,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict (the control API and reports use it)."""
        data: dict[str, Any] = {
            "source": self.source,
            "time_nano": self.time_nano,
            "line": self.text,
        }
        if self.partial is not None:
            data["partial"] = attrs.asdict(self.partial)
        return data


def entry_bytes(record: LogRecord) -> bytes:
    """The serialized ``LogEntry`` alone (no length prefix)."""
    data: bytes = record.to_message().SerializeToString()
    return data


def encode_frame(record: LogRecord) -> bytes:
    """``LogEntryEncoder.Encode``: the length, then the entry."""
    body = entry_bytes(record)
    return FRAME_HEADER.pack(len(body)) + body


class FrameError(Exception):
    """A frame could not be decoded; ``str()`` is Go's text for it."""


class FrameDecoder:
    """``LogEntryDecoder`` over a byte stream fed in pieces.

    :meth:`feed` takes whatever arrived and returns the complete records in it;
    :meth:`end` says the stream ended: a cut frame is ``unexpected EOF`` (``io.ReadFull``
    after some bytes), nothing pending is a clean end.  No size limit, as in dockerd.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received that do not make a complete frame yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[LogRecord]:
        """Add ``data``; the records it completes (raises :class:`FrameError`)."""
        self._buffer += data
        return list(self._drain())

    def end(self) -> None:
        """The stream ended; raise :class:`FrameError` if a frame was cut."""
        if self._buffer:
            raise FrameError("unexpected EOF")

    def _drain(self) -> Iterator[LogRecord]:
        while len(self._buffer) >= FRAME_HEADER.size:
            (size,) = FRAME_HEADER.unpack_from(self._buffer)
            end = FRAME_HEADER.size + size
            if len(self._buffer) < end:
                return
            body = bytes(self._buffer[FRAME_HEADER.size : end])
            del self._buffer[:end]
            yield _parse(body)


def _parse(body: bytes) -> LogRecord:
    from google.protobuf.message import DecodeError  # loaded by _message_class

    message = _message_class()()
    try:
        message.ParseFromString(body)
    except DecodeError as exc:
        raise FrameError(f"proto: LogEntry: {exc}") from None
    return LogRecord.from_message(message)


def decode_frames(data: bytes) -> list[LogRecord]:
    """Every record of a complete stream (raises :class:`FrameError` on a cut frame)."""
    decoder = FrameDecoder()
    records = decoder.feed(data)
    decoder.end()
    return records
