"""The built-in mock logging plugin: a small but real ``LogDriver``.

:class:`MockLogDriver` does what a careful logging plugin does, and records it::

    driver = MockLogDriver("mocklog")
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.serve, "unix:/tmp/root/run/docker/plugins/mocklog.sock")
        ...  # docker run --log-driver mocklog ...
        driver.entries(container_id)       # the LogEntry records it read from its FIFO

* ``Plugin.Activate``: ``{"Implements": ["LogDriver"]}``.
* ``Capabilities``: ``{"Cap": {"ReadLogs": true}}`` (``read_logs=False`` says false).
* ``StartLogging``: opens the FIFO named by ``File`` for reading (non-blocking, so the
  open does not wait) and reads framed ``LogEntry`` records from it until the daemon
  closes it; ``Info`` is kept per stream.  A FIFO that cannot be opened is an error
  (HTTP 500 ``{"Err": …}``).
* ``StopLogging``: drains what is readable *before* answering (the daemon closes its
  end only after the answer, so waiting for EOF first would deadlock), then closes.
* ``ReadLogs``: the container's records (by ``Info.ContainerID``, every stream it had),
  filtered by ``Since``/``Until``/``Tail``, framed as the daemon reads them; with
  ``Follow`` new records follow until the container's logging stops.  dockerd prints a
  ``ReadLogs`` line as it is, so the mock puts back the newline the copier took off
  (not on pieces of a split line before the last one), as dockerd's own files do.

For faults on the plugin's side: :meth:`stall` stops reading the FIFOs (a slow or stuck
reader: the pipe fills, the daemon's writes block, the container blocks),
:meth:`resume` reads again, ``read_rate`` limits reading to that many bytes per
second, and :meth:`crash` makes the plugin die mid-stream: its socket and FIFO readers
are gone at once.  ``read_logs=False`` answers ``ReadLogs`` false and does not serve
``ReadLogs`` at all (404, as a plugin without it).

``bugs`` (names from :data:`~emulator.mocks.log_bugs.LOG_BUGS`) make it misbehave in
the ways real logging plugins do, for ``plugin-emulator check``'s tests; without bugs it
is the correct plugin the checks pass against.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import attrs
import trio

from emulator.golang.time import TimeParseError, parse_rfc3339
from emulator.mocks.bugs import validate_bugs
from emulator.mocks.host import MockPlugin, RecordedRequest, Reply
from emulator.mocks.log_bugs import EOF_WAIT, LAG_PER_RECORD, LOG_BUGS, LogBugs, json_lines
from emulator.protocol.logdriver.entry import (
    FRAME_HEADER,
    FrameDecoder,
    FrameError,
    LogRecord,
    encode_frame,
)

__all__ = ["LOG_BUGS", "LogStream", "MockLogDriver"]

_READ_CHUNK = 65536


@attrs.define
class LogStream:
    """One ``StartLogging``: its FIFO, the ``Info`` sent, the records read."""

    file: str
    info: dict[str, Any]
    records: list[LogRecord] = attrs.Factory(list)
    open: bool = True
    error: str = ""
    """Why reading stopped early (a cut or undecodable frame)."""
    fd: trio.lowlevel.FdStream | None = attrs.field(default=None, repr=False)
    reader: trio.CancelScope = attrs.Factory(trio.CancelScope)
    done: trio.Event = attrs.Factory(trio.Event)
    decoder: FrameDecoder = attrs.Factory(FrameDecoder)
    changed: trio.Event = attrs.Factory(trio.Event)

    @property
    def container_id(self) -> str:
        return str(self.info.get("ContainerID", ""))


class MockLogDriver:
    """A logging plugin served in-process; see the module docstring."""

    def __init__(
        self,
        name: str = "mocklog",
        *,
        read_logs: bool = True,
        read_rate: float | None = None,
        path_map: Callable[[str], Path] | None = None,
        record_limit: int | None = None,
        bugs: Iterable[str] = (),
    ) -> None:
        self.name = name
        self.read_logs = read_logs
        self.bugs = LogBugs(validate_bugs(bugs, LOG_BUGS))
        self.read_rate = read_rate
        """Bytes per second it reads its FIFOs at (None: as fast as they come)."""
        self._path_map = path_map or Path
        self.streams: list[LogStream] = []
        self.record_limit = record_limit
        """Keep only about this many records per stream, and requests (None: all)."""
        self.plugin = MockPlugin(self.bugs.implements, name=name, record_limit=record_limit)
        self.plugin.on("Plugin.Activate", self.bugs.activation())
        capabilities = Reply(body=self.bugs.capabilities(read_logs))
        handlers: dict[str, Callable[[RecordedRequest], Any]] = {
            "LogDriver.Capabilities": lambda _recorded: capabilities,
            "LogDriver.StartLogging": self._start,
            "LogDriver.StopLogging": self._stop,
        }
        if read_logs:
            handlers["LogDriver.ReadLogs"] = self._read_logs
        for method, handler in handlers.items():
            self.plugin.on(method, self.bugs.wrap(method, handler))
        self.leaked: list[trio.lowlevel.FdStream] = []
        """FIFO readers ``keep_fifo_open`` never closed (closed when serving ends)."""
        self._nursery: trio.Nursery | None = None
        self._serving: trio.CancelScope | None = None
        self._resumed: trio.Event | None = None
        self.crashed = False

    def __repr__(self) -> str:
        return f"<MockLogDriver {self.name!r} streams={len(self.streams)}>"

    # -- what it received ---------------------------------------------------------------

    def entries(self, container: str | None = None) -> list[LogRecord]:
        """Every record read, in order (only ``container``'s, by full ID or prefix)."""
        return [
            record
            for stream in self.streams
            if container is None or stream.container_id.startswith(container)
            for record in stream.records
        ]

    def lines(self, container: str | None = None, source: str | None = None) -> list[str]:
        """The records' lines as text (``source`` ``stdout``/``stderr`` to pick one)."""
        return [r.text for r in self.entries(container) if source is None or r.source == source]

    # -- faults ----------------------------------------------------------------------------

    def stall(self) -> None:
        """Stop reading the FIFOs until :meth:`resume` (writes in the daemon then block)."""
        if self._resumed is None:
            self._resumed = trio.Event()

    def resume(self) -> None:
        """Read again."""
        if self._resumed is not None:
            self._resumed.set()
            self._resumed = None

    def crash(self) -> None:
        """Die mid-stream: stop serving (the socket goes away) and reading every FIFO."""
        self.crashed = True
        for stream in self.streams:
            stream.reader.cancel()
            stream.open = False
        if self._serving is not None:
            self._serving.cancel()

    # -- serving ---------------------------------------------------------------------------

    async def serve(
        self, bind: str, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve on ``bind`` (as :meth:`MockPlugin.serve`) until cancelled or crashed."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._serving = trio.CancelScope()
                with self._serving:
                    address = await nursery.start(self.plugin.serve, bind)
                    task_status.started(address)
                    await trio.sleep_forever()
                nursery.cancel_scope.cancel()
        finally:
            for stream in self.streams:
                await _close(stream)
            for fd in self.leaked:
                await fd.aclose()
            self.leaked.clear()

    async def _start(self, request: RecordedRequest) -> Reply:
        body = request.json() or {}
        file = str(body.get("File", ""))
        stream = LogStream(file=file, info=dict(body.get("Info") or {}))
        if not file:
            return Reply(status=400, body={"Err": "StartLogging without a File"})
        refused = self.bugs.start_refusal(stream.info, (s.container_id for s in self.streams))
        if refused is not None:
            return refused
        try:
            fd = os.open(self._path_map(file), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            return Reply(status=500, body={"Err": f"open {file}: {os.strerror(exc.errno or 0)}"})
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.close(fd)
            return Reply(status=500, body={"Err": f"open {file}: not a FIFO"})
        stream.fd = trio.lowlevel.FdStream(fd)
        self.streams.append(stream)
        if "never_reads" in self.bugs:
            stream.done.set()
            return Reply(body={})
        assert self._nursery is not None
        reader = self._read_lagging if "stop_without_drain" in self.bugs else self._read
        self._nursery.start_soon(reader, stream)
        return Reply(body={})

    async def _read(self, stream: LogStream) -> None:
        try:
            with stream.reader:
                while stream.fd is not None:
                    if self._resumed is not None:
                        await self._resumed.wait()
                        continue
                    size = (
                        _READ_CHUNK if self.read_rate is None else max(1, int(self.read_rate / 10))
                    )
                    data = await stream.fd.receive_some(size)
                    if not data:
                        break
                    self._take(stream, data)
                    if self.read_rate is not None:
                        await trio.sleep(len(data) / self.read_rate)
        finally:
            stream.done.set()

    async def _read_lagging(self, stream: LogStream) -> None:
        """``stop_without_drain``'s reader: one frame at a time, a backend call each."""
        try:
            with stream.reader:
                while stream.fd is not None:
                    head = await _receive_exactly(stream.fd, FRAME_HEADER.size)
                    if not head:
                        break
                    (size,) = FRAME_HEADER.unpack(head)
                    self._take(stream, head + await _receive_exactly(stream.fd, size))
                    await trio.sleep(LAG_PER_RECORD)
        finally:
            stream.done.set()

    def _take(self, stream: LogStream, data: bytes) -> None:
        target = self.streams[-1] if "misfiled_records" in self.bugs else stream
        try:
            target.records.extend(self.bugs.kept(stream.decoder.feed(data)))
            limit = self.record_limit
            if limit is not None and len(target.records) > 2 * limit:
                del target.records[:-limit]
        except FrameError as exc:
            stream.error = str(exc)
            stream.reader.cancel()
        target.changed.set()
        target.changed = trio.Event()

    async def _stop(self, request: RecordedRequest) -> Reply:
        body = request.json() or {}
        file = str(body.get("File", ""))
        for stream in self.streams:
            if stream.file == file and stream.open:
                if "stop_waits_for_eof" in self.bugs:
                    with trio.move_on_after(EOF_WAIT):
                        await stream.done.wait()
                stream.reader.cancel()
                await stream.done.wait()
                if not {"never_reads", "stop_without_drain"} & self.bugs.bugs:
                    self._drain(stream)
                if "keep_fifo_open" in self.bugs and stream.fd is not None:
                    self.leaked.append(stream.fd)
                    stream.fd = None
                await _close(stream)
                return Reply(body={})
        return Reply(status=500, body={"Err": f"no logging stream for {file}"})

    def _drain(self, stream: LogStream) -> None:
        """Read what the pipe holds now, without waiting (the writer keeps its end open)."""
        if stream.fd is None:
            return
        while True:
            try:
                data = os.read(stream.fd.fileno(), _READ_CHUNK)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EBADF, errno.EINVAL):
                    return
                raise
            if not data:
                return
            self._take(stream, data)

    async def _read_logs(self, request: RecordedRequest) -> Reply:
        body = request.json() or {}
        info = body.get("Info") or {}
        config = body.get("Config") or {}
        try:
            since = _nanos(config.get("Since"))
            until = _nanos(config.get("Until"))
        except (TimeParseError, ValueError) as exc:
            return Reply(status=400, body=f"{exc}\n", content_type="text/plain; charset=utf-8")
        tail = int(config.get("Tail", -1))
        follow = bool(config.get("Follow", False))
        cid = str(info.get("ContainerID", ""))
        if "ignore_tail" in self.bugs:
            tail = -1
        if "ignore_since" in self.bugs:
            since = until = None
        if "ignore_follow" in self.bugs:
            follow = False
        records = self._records(cid, since, until, tail, follow)
        if "unframed_read_logs" in self.bugs:
            return Reply(stream=json_lines(records), content_type="application/x-json-stream")
        return Reply(stream=_framed(records), content_type=None)

    async def _records(
        self, cid: str, since: int | None, until: int | None, tail: int, follow: bool
    ) -> AsyncIterator[LogRecord]:
        """The records of container ``cid`` to send back, newline put back unless the
        ``no_newlines`` bug is on."""
        mark = _same if "no_newlines" in self.bugs else _with_newline
        mine = [s for s in self.streams if s.container_id == cid]
        records = [r for s in mine for r in s.records]
        if tail >= 0:
            records = records[len(records) - tail :] if tail else []
        for record in records:
            if until is not None and record.time_nano > until:
                return
            if since is None or record.time_nano >= since:
                yield mark(record)
        live = [s for s in mine if s.open]
        if not follow or not live:
            return
        stream = live[-1]
        seen = len(stream.records)
        while stream.open:
            await stream.changed.wait()
            fresh, seen = stream.records[seen:], len(stream.records)
            for record in fresh:
                if until is not None and record.time_nano > until:
                    return
                yield mark(record)


async def _framed(records: AsyncIterator[LogRecord]) -> AsyncIterator[bytes]:
    async for record in records:
        yield encode_frame(record)


async def _receive_exactly(fd: trio.lowlevel.FdStream, size: int) -> bytes:
    """``size`` bytes from ``fd`` (fewer only at EOF)."""
    data = b""
    while len(data) < size:
        more = await fd.receive_some(size - len(data))
        if not more:
            break
        data += more
    return data


def _same(record: LogRecord) -> LogRecord:
    return record


def _with_newline(record: LogRecord) -> LogRecord:
    if record.partial is not None and not record.partial.last:
        return record
    return attrs.evolve(record, line=record.line + b"\n")


def _nanos(text: object) -> int | None:
    """A Go time text as Unix nanoseconds; the zero time (or nothing) is None."""
    if not isinstance(text, str) or text.startswith("0001-01-01T00:00:00"):
        return None
    moment = parse_rfc3339(text.encode())
    seconds = int(moment.timestamp())
    fraction = text.split(".", 1)[1] if "." in text else ""
    digits = "".join(c for c in fraction if c.isdigit())[:9].ljust(9, "0")
    return seconds * 1_000_000_000 + int(digits)


async def _close(stream: LogStream) -> None:
    stream.open = False
    stream.changed.set()
    if stream.fd is not None:
        fd, stream.fd = stream.fd, None
        await fd.aclose()
