"""dockerd's own log files, as ``docker logs`` reads them: ``json-file``, ``local`` and the
dual-logging cache (moby/moby ``daemon/logger/jsonfilelog``, ``daemon/logger/local``,
``daemon/logger/loggerutils/logfile.go`` and ``loggerutils/cache``, v28.5.2).

A :class:`LogStore` keeps a container's records as the driver would keep its files:
rotated by size (``max-size``, ``max-file``: a record goes to a new file once the
current one is at least ``max-size``; the oldest file goes beyond ``max-file``), with
each record counted at the size the driver's format gives it (a ``json-file`` JSON
line, a ``local`` frame with its length before and after).  Reading follows
``LogFile.ReadLogs``: ``tail`` records from the end, ``since``/``until`` on their
times (the read stops at the first record after ``until``), and ``follow`` waits for
new records until the logger closes.  Lines come back with their newline, except the
pieces of a split line before the last one.

Records live in memory while the engine runs; closing a store writes them to its file
(``DATA_ROOT/containers/<id>/…``) from a worker thread, and a fresh store over that file
reads them back, so ``docker logs`` works after an engine restart.  The file is the
emulator's (framed ``LogEntry`` records), not dockerd's, whatever the driver.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Final

import attrs
import trio

from emulator.clock import real_io
from emulator.golang.json import encode as go_encode
from emulator.golang.units import UnitsError, from_human_size, parse_bool
from emulator.protocol.logdriver.entry import (
    FRAME_HEADER,
    FrameError,
    LogRecord,
    decode_frames,
    encode_frame,
)
from emulator.protocol.logdriver.wire import go_time

__all__ = ["LogLine", "LogStore", "ReadOptions", "StoreConfig", "store_config"]

LOG = logging.getLogger("emulator.logs")

#: The ``local`` driver's (and so the cache's) defaults: 20 MiB per file, 5 files.
LOCAL_MAX_SIZE: Final = 20 * 1024 * 1024
LOCAL_MAX_FILES: Final = 5
#: What one store keeps in memory at most (bytes of lines); beyond it the oldest records
#: go, as if rotated away (dockerd's files on disk have no such bound).
MEMORY_LIMIT: Final = 128 * 1024 * 1024


@attrs.frozen
class ReadOptions:
    """``logger.ReadConfig`` with times as Unix nanoseconds (None = unset)."""

    since: int | None = None
    until: int | None = None
    tail: int = -1
    """-1 for all."""
    follow: bool = False


@attrs.frozen
class LogLine:
    """One message ``docker logs`` writes: ``backend.LogMessage``'s source, time and line."""

    source: str
    time_nano: int
    line: bytes
    local: bool = False
    """The time is in the daemon's zone (``time.Unix`` of a plugin's ``ReadLogs`` entry);
    dockerd's own files give UTC times."""


@attrs.frozen
class StoreConfig:
    """Rotation: ``max_size`` bytes per file (-1: no limit), ``max_files`` files."""

    kind: str
    """``json-file`` or ``local`` (the cache is ``local``): how a record's size is counted."""
    max_size: int = -1
    max_files: int = 1


def store_config(driver: str, options: Mapping[str, str]) -> StoreConfig:
    """The driver's ``New`` reading its options (dockerd's texts on a bad value)."""
    if driver == "json-file":
        max_size, max_files = -1, 1
    else:
        max_size, max_files = LOCAL_MAX_SIZE, LOCAL_MAX_FILES
    if "max-size" in options:
        try:
            max_size = from_human_size(options["max-size"])
        except UnitsError as exc:
            if driver == "json-file":
                raise ValueError(str(exc)) from None
            raise ValueError(f"invalid value for max-size: {options['max-size']}: {exc}") from None
        if driver == "json-file" and max_size <= 0:
            raise ValueError("max-size must be a positive number")
    if "max-file" in options:
        text = options["max-file"]
        try:
            max_files = int(text)
        except ValueError:
            error = f'strconv.Atoi: parsing "{text}": invalid syntax'
            if driver == "json-file":
                raise ValueError(error) from None
            raise ValueError(f"invalid value for max-file: {text}: {error}") from None
        if driver == "json-file" and max_files < 1:
            raise ValueError("max-file cannot be less than 1")
    if "compress" in options:
        try:
            parse_bool(options["compress"])
        except UnitsError as exc:
            if driver == "json-file":
                raise ValueError(str(exc)) from None
            raise ValueError(f"error reading compress log option: {exc}") from None
    return StoreConfig("json-file" if driver == "json-file" else "local", max_size, max_files)


def record_size(kind: str, record: LogRecord) -> int:
    """Bytes the record takes in the driver's file."""
    if kind == "local":
        return len(encode_frame(record)) + FRAME_HEADER.size
    newline = record.partial is None or record.partial.last
    text = record.line.decode("utf-8", "replace") + ("\n" if newline else "")
    body = {"log": text, "stream": record.source, "time": go_time(record.time_nano)}
    return len(go_encode(body))


def as_line(record: LogRecord) -> LogLine:
    """The message ``docker logs`` gets: the newline back, except on non-final pieces."""
    newline = record.partial is None or record.partial.last
    return LogLine(record.source, record.time_nano, record.line + (b"\n" if newline else b""))


class LogStore:
    """One container's log files for a built-in driver or the cache."""

    def __init__(self, path: Path, config: StoreConfig) -> None:
        self.path = path
        self.config = config
        self._kept: list[LogRecord] = []
        """The records of every kept file, oldest first."""
        self._base = 0
        """The sequence number of ``_kept[0]`` (records dropped by rotation come before)."""
        self._file_counts = [0]
        self._size = 0
        self._held = 0
        """Bytes of lines held in memory."""
        self._loaded = False
        self._closed = False
        self._warned = False
        self._changed = trio.Event()

    @property
    def closed(self) -> bool:
        return self._closed

    def records(self) -> list[LogRecord]:
        """Every record kept, oldest first."""
        self._load()
        return list(self._kept)

    async def log(self, record: LogRecord) -> None:
        """``LogFile.WriteLogEntry``: rotate first if the current file is full, then append."""
        self._load()
        if self._closed:
            raise RuntimeError("write to a closed log file")
        limit = self.config.max_size
        if limit > 0 and self._size >= limit:
            self._file_counts.append(0)
            self._size = 0
            if len(self._file_counts) > max(self.config.max_files, 1):
                dropped = self._file_counts.pop(0)
                self._held -= sum(len(r.line) for r in self._kept[:dropped])
                del self._kept[:dropped]
                self._base += dropped
        self._kept.append(record)
        self._file_counts[-1] += 1
        self._size += record_size(self.config.kind, record)
        self._held += len(record.line)
        while self._held > MEMORY_LIMIT and len(self._kept) > 1:
            self._drop_oldest()
        self._changed.set()
        self._changed = trio.Event()
        await trio.lowlevel.checkpoint()

    def _drop_oldest(self) -> None:
        if not self._warned:
            self._warned = True
            LOG.warning(
                "%s: more than %d MiB of log lines; the oldest are dropped (the emulator "
                "keeps logs in memory)",
                self.path,
                MEMORY_LIMIT >> 20,
            )
        record = self._kept.pop(0)
        self._held -= len(record.line)
        self._base += 1
        self._file_counts[0] -= 1
        if self._file_counts[0] == 0 and len(self._file_counts) > 1:
            self._file_counts.pop(0)

    async def close(self) -> None:
        """No more writes: followers end, the records go to the file (off the loop)."""
        if self._closed:
            return
        self._closed = True
        self._changed.set()
        data = b"".join(encode_frame(r) for r in self.records())
        with real_io():
            await trio.to_thread.run_sync(_write_file, self.path, data)

    async def read(self, options: ReadOptions) -> AsyncIterator[LogLine]:
        """``ReadLogs``: the kept records, then (``follow``) new ones until closed."""
        self._load()
        records = self._kept
        if options.tail >= 0:
            records = records[len(records) - options.tail :] if options.tail else []
        next_seq = self._base + len(self._kept)
        for record in list(records):
            if not _before_until(record, options):
                return
            if options.since is None or record.time_nano >= options.since:
                yield as_line(record)
        while options.follow and not self._closed:
            await self._changed.wait()
            start = max(next_seq - self._base, 0)
            fresh = self._kept[start:]
            next_seq = self._base + len(self._kept)
            for record in fresh:
                if not _before_until(record, options):
                    return
                if options.since is None or record.time_nano >= options.since:
                    yield as_line(record)

    def _load(self) -> None:
        """Read back what an earlier engine wrote (once, on first use)."""
        if self._loaded:
            return
        self._loaded = True
        try:
            data = self.path.read_bytes()
        except OSError:
            return
        try:
            self._kept = decode_frames(data)
        except FrameError:
            self._kept = []
        self._file_counts = [len(self._kept)]
        self._held = sum(len(r.line) for r in self._kept)


def _before_until(record: LogRecord, options: ReadOptions) -> bool:
    return options.until is None or record.time_nano <= options.until


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o640)
    tmp.replace(path)
