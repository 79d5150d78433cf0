"""dockerd's ``json-file`` log of a container: the copier that cuts lines, the file, the reader.

Written as dockerd writes ``DATA_ROOT/containers/<id>/<id>-json.log`` (moby/moby
``daemon/logger/copier.go``, ``daemon/logger/jsonfilelog``, v28.5.2):

* the copier cuts each stream into messages at ``\\n`` (the newline is not part of the
  message); a line that fills its 16 KiB buffer without a newline, and what is left at
  end-of-file, are **partial** messages; every message is timestamped when it is cut (a
  partial line's pieces share the first piece's time);
* each message is one JSON line ``{"log":…,"stream":…,"time":…}`` encoded as jsonlog's
  ``MarshalJSONBuf`` does (``<``, ``>``, ``&`` escaped as ``\\u003c``…, invalid UTF-8 as
  ``\\ufffd``, the time in RFC 3339 with nanoseconds and trailing zeros dropped); the
  newline is put back at the end of ``log`` except for partial messages;
* reading follows ``LogFile.ReadLogs``: ``tail`` lines from the end, then messages before
  ``since`` skipped and the first one after ``until`` ending the read; ``follow`` waits for
  new lines until the log is closed (the container stopped).

Times are the engine clock's (:meth:`Engine.wall_now`), so they agree with the events
and ``State.StartedAt``.  This module only sees ``write(stream, chunk)`` and ``close()``
(:data:`emulator.engine.streams.OutputWriter`): issue 18's logging drivers can take its
place behind the same calls.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Final

import attrs
import trio

__all__ = ["COPIER_BUFFER", "JsonFileLog", "LogMessage", "format_log_time", "marshal"]

#: The copier's buffer (``bufSize``): a line longer than this is cut into partials.
COPIER_BUFFER: Final = 16 * 1024
_ESCAPED: Final = {ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\r"): "\\r"}


@attrs.frozen
class LogMessage:
    """One message as ``docker logs`` gets it: stream, time (Unix ns), bytes to show."""

    stream: str
    time_ns: int
    line: bytes


def format_log_time(time_ns: int, *, fixed: bool = False) -> str:
    """Go's ``RFC3339Nano`` in UTC (``fixed``: ``RFC3339NanoFixed``, nine digits always)."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    base = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if fixed:
        return f"{base}.{nanos:09d}Z"
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def _json_string(data: bytes) -> str:
    """jsonlog's ``ffjsonWriteJSONBytesAsString``."""
    out = ['"']
    for char in data.decode("utf-8", errors="surrogateescape"):
        code = ord(char)
        if code in _ESCAPED:
            out.append(_ESCAPED[code])
        elif code < 0x20 or char in "<>&" or char in "\u2028\u2029":
            out.append(f"\\u{code:04x}")
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8
            out.append("\\ufffd")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def marshal(stream: str, line: bytes, time_ns: int, *, partial: bool) -> bytes:
    """One line of the json-file log (with its newline)."""
    log = line if partial else line + b"\n"
    head = f'{{"log":{_json_string(log)},' if log else "{"
    return (
        f'{head}"stream":{_json_string(stream.encode())},"time":"{format_log_time(time_ns)}"}}\n'
    ).encode()


@attrs.define
class _Splitter:
    """The copier's state for one stream: unlogged bytes, the time of a partial line."""

    pending: bytes = b""
    partial_time: int | None = None


class JsonFileLog:
    """One container's json-file log: :meth:`write` while it runs, :meth:`read` any time."""

    def __init__(self, path: Path, now_ns: Callable[[], int]) -> None:
        self.path = path
        self._now_ns = now_ns
        self._split: dict[str, _Splitter] = {}
        self._file: IO[bytes] | None = None
        self._changed = trio.Event()
        self.open = False
        """True while a run writes to it (``follow`` waits only then)."""

    def begin(self) -> None:
        """A run starts writing (the file is appended to, as dockerd does)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")
        self.path.chmod(0o640)
        self._split = {}
        self.open = True

    async def write(self, stream: str, data: bytes) -> None:
        """A chunk of ``stream``'s output: complete lines (and full buffers) are logged."""
        state = self._split.setdefault(stream, _Splitter())
        buffer = state.pending + data
        logged = False
        while True:
            cut = buffer.find(b"\n", 0, COPIER_BUFFER)
            if cut >= 0:
                line, buffer = buffer[:cut], buffer[cut + 1 :]
                stamp = state.partial_time if state.partial_time is not None else self._now_ns()
                state.partial_time = None
                self._append(marshal(stream, line, stamp, partial=False))
            elif len(buffer) >= COPIER_BUFFER:
                piece, buffer = buffer[:COPIER_BUFFER], buffer[COPIER_BUFFER:]
                if state.partial_time is None:
                    state.partial_time = self._now_ns()
                self._append(marshal(stream, piece, state.partial_time, partial=True))
            else:
                break
            logged = True
        state.pending = buffer
        if logged:
            self._notify()
        await trio.lowlevel.checkpoint()

    async def close(self) -> None:
        """End of the run: what is left of each stream is logged as partial; followers end."""
        for stream, state in self._split.items():
            if state.pending:
                stamp = state.partial_time or self._now_ns()
                self._append(marshal(stream, state.pending, stamp, partial=True))
                state.pending = b""
        if self._file is not None:
            self._file.close()
            self._file = None
        self.open = False
        self._notify()
        await trio.lowlevel.checkpoint()

    def _append(self, record: bytes) -> None:
        assert self._file is not None, "write before begin()"
        self._file.write(record)
        self._file.flush()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def read(
        self,
        *,
        since: int | None = None,
        until: int | None = None,
        tail: int = -1,
        follow: bool = False,
    ) -> AsyncIterator[LogMessage]:
        """``ReadLogs``: messages from the file, then (``follow``) new ones until closed."""
        offset, lines = await trio.to_thread.run_sync(_read_lines, self.path, 0)
        if tail >= 0:
            lines = lines[len(lines) - tail :] if tail else []
        while True:
            for raw in lines:
                message = _parse(raw)
                if message is None:
                    continue
                if until is not None and message.time_ns > until:
                    return
                if since is not None and message.time_ns < since:
                    continue
                yield message
            if not (follow and self.open):
                return
            await self._changed.wait()
            offset, lines = await trio.to_thread.run_sync(_read_lines, self.path, offset)


def _read_lines(path: Path, offset: int) -> tuple[int, list[bytes]]:
    """Complete lines of ``path`` from byte ``offset``; the offset after the last one."""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            data = file.read()
    except FileNotFoundError:
        return offset, []
    end = data.rfind(b"\n") + 1
    return offset + end, data[:end].splitlines()


def _parse(raw: bytes) -> LogMessage | None:
    try:
        entry = json.loads(raw)
        stamp = entry["time"]
        stream = entry.get("stream", "")
        text = entry.get("log", "")
    except (ValueError, KeyError, TypeError):
        return None
    return LogMessage(str(stream), parse_log_time(str(stamp)), str(text).encode())


def parse_log_time(text: str) -> int:
    """Unix nanoseconds of an RFC 3339 time with up to nine fraction digits."""
    main, _, zone = text.partition("Z") if text.endswith("Z") else (text[:-6], "", text[-6:])
    base, _, fraction = main.partition(".")
    when = dt.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    seconds = int(when.timestamp())
    if zone and zone != "Z":
        sign = -1 if zone[0] == "+" else 1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        seconds += sign * (hours * 3600 + minutes * 60)
    return seconds * 1_000_000_000 + int((fraction + "000000000")[:9] or 0)
