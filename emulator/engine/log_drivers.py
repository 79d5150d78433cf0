"""The loggers a container's copier writes to (moby/moby ``daemon/logger``, v28.5.2).

* :class:`PluginLogger` is ``pluginAdapter`` (``adapter.go``, ``plugin.go``,
  ``plugin_unix.go``): :func:`open_plugin_logger` asks the plugin ``Capabilities``
  (errors ignored), makes the FIFO (mode 0700, directory 0700) and holds it open
  read-write and non-blocking, then sends ``StartLogging``; each record is one framed
  ``LogEntry`` written under a lock; :meth:`PluginLogger.close` sends ``StopLogging``
  and only after its answer closes and removes the FIFO (a failed ``StopLogging``
  leaves both, as dockerd does).  Writes go through trio's wait for the FIFO to be
  writable: a plugin that stops reading blocks the writer (and so the container), never
  the event loop.
* :class:`RingLogger` is ``mode=non-blocking`` (``ring.go``): a queue of at most
  ``max-buffer-size`` bytes of lines; a line that does not fit is dropped unless the
  queue is empty; closing drains the queue into the driver.
* :class:`CachedLogger` is dual logging (``loggerutils/cache``): every record goes to
  the driver, then (if that worked) to the local cache, which ``docker logs`` reads.
* :class:`StoreLogger` is ``json-file``, ``local`` and the cache's own driver, over a
  :class:`~emulator.engine.log_store.LogStore`.

Faults on the FIFO match the call ``LogDriver.FIFO`` (one per record, the body being
``{"source", "line", "partial"}``): ``delay`` holds each matching record that long,
``fault: drip`` writes it at ``rate`` bytes per second, ``fault: hang`` never writes it
(the reader is stuck): the container blocks as it would behind a plugin that stopped
reading its FIFO.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import secrets
import stat
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol

import attrs
import trio

from emulator.clock import real_io
from emulator.engine.log_store import LogLine, LogStore, ReadOptions
from emulator.errors import EngineError
from emulator.faults import FIFO_CALL, Delay, FaultSet, Wire
from emulator.protocol.logdriver import wire
from emulator.protocol.logdriver.entry import (
    FrameDecoder,
    FrameError,
    LogRecord,
    encode_frame,
)
from emulator.transport.client import PluginClient

__all__ = [
    "FIFO_CALL",
    "CachedLogger",
    "LogReadError",
    "Logger",
    "PluginLogger",
    "RingLogger",
    "StoreLogger",
    "open_plugin_logger",
]

LOG = logging.getLogger("emulator.logs")


class LogReadError(EngineError):
    """Reading logs back failed; ``str()`` is what ``docker logs`` prints after
    ``Error grabbing logs: ``."""

    default_hint = "the plugin's ReadLogs answer or the log cache could not be read"


class Logger(Protocol):
    """``logger.Logger``, plus ``LogReader`` when :attr:`reads`."""

    name: str

    @property
    def reads(self) -> bool:
        """True when ``docker logs`` can read through it (``logger.LogReader``)."""
        ...

    async def log(self, record: LogRecord) -> None: ...

    async def close(self) -> None: ...

    def read(self, options: ReadOptions) -> AsyncIterator[LogLine]: ...


class StoreLogger:
    """A built-in file driver (``json-file``, ``local``) or the cache's ``local`` driver."""

    reads = True

    def __init__(self, name: str, store: LogStore) -> None:
        self.name = name
        self.store = store

    async def log(self, record: LogRecord) -> None:
        await self.store.log(record)

    async def close(self) -> None:
        await self.store.close()

    def read(self, options: ReadOptions) -> AsyncIterator[LogLine]:
        return self.store.read(options)


class Fifo:
    """The FIFO dockerd writes a plugin's records to, held open read-write."""

    def __init__(self, host_path: Path) -> None:
        self.host_path = host_path
        self._stream: trio.lowlevel.FdStream | None = None

    def open(self) -> None:
        """``fifo.OpenFifo(path, O_RDWR|O_CREAT|O_NONBLOCK, 0700)``; the directory is 0700."""
        self.host_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):
            os.mkfifo(self.host_path, 0o700)
        fd = os.open(self.host_path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, f"{self.host_path} exists and is not a FIFO")
        self._stream = trio.lowlevel.FdStream(fd)

    async def write(self, data: bytes) -> None:
        """All of ``data``; waits (on trio, marked real I/O) while the pipe is full."""
        if self._stream is None:
            raise OSError(errno.EBADF, "write to a closed FIFO")
        try:
            with real_io():
                await self._stream.send_all(data)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise OSError(errno.EBADF, "file already closed") from None

    async def close(self) -> None:
        """Close the engine's end (idempotent)."""
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.aclose()

    def remove(self) -> None:
        try:
            self.host_path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            LOG.error("error cleaning up plugin fifo: %s", exc)


class PluginLogger:
    """``pluginAdapter`` (``pluginAdapterWithRead`` when the plugin can read logs)."""

    def __init__(
        self,
        name: str,
        client: PluginClient,
        fifo: Fifo,
        file: str,
        info: wire.Info,
        *,
        reads: bool,
        faults: FaultSet | None,
        sent: Callable[[LogRecord], None],
        release: Callable[[], None],
        hang_guard: float | None = None,
    ) -> None:
        self.name = name
        self._hang_guard = hang_guard
        self.client = client
        self.fifo = fifo
        self.file = file
        """The path sent as ``File`` (what the plugin opens)."""
        self.info = info
        self.reads = reads
        self._faults = faults
        self._sent = sent
        self._release = release
        self._lock = trio.Lock()
        self.closed = False

    async def log(self, record: LogRecord) -> None:
        """``pluginAdapter.Log``: one framed entry, written whole under the adapter's lock."""
        frame = encode_frame(record)
        async with self._lock:
            if await self._faulted(record, frame):
                return
            await self.fifo.write(frame)
        self._sent(record)

    async def _faulted(self, record: LogRecord, frame: bytes) -> bool:
        """Apply a FIFO fault; True when the record must not be written."""
        if self._faults is None or not self._faults.faults:
            return False
        body = json.dumps(
            {"source": record.source, "line": record.text, "partial": record.partial is not None}
        ).encode()
        decision = self._faults.decide(self.name, FIFO_CALL, body)
        if decision is None:
            return False
        action = decision.action
        if isinstance(action, Delay):
            await trio.sleep(decision.delay)
        elif isinstance(action, Wire) and action.kind == "drip":
            await trio.sleep(len(frame) / action.rate)
        elif isinstance(action, Wire) and action.kind == "hang":
            await trio.sleep_forever()
        return False

    async def close(self) -> None:
        """``pluginAdapter.Close``: ``StopLogging``, then the FIFO closed and removed.

        It takes the adapter's lock, which a write blocked on a full FIFO holds: dockerd
        then waits forever (the container never finishes exiting); the emulator waits
        for its hang guard, logs that, and goes on.  A failed ``StopLogging`` raises and
        leaves the FIFO open and in place.
        """
        locked = False
        with trio.move_on_after(self._hang_guard if self._hang_guard is not None else math.inf):
            await self._lock.acquire()
            locked = True
        if not locked:
            LOG.error(
                "log driver %s: a write to %s is still blocked (the plugin does not read its "
                "FIFO); dockerd would wait for it forever before StopLogging, the emulator's "
                "hang guard stopped waiting after %ss",
                self.name,
                self.fifo.host_path,
                self._hang_guard,
            )
        try:
            await _call_err(self.client, wire.STOP_LOGGING, wire.StopLoggingRequest(self.file))
            await self.fifo.close()
            self.fifo.remove()
            self.closed = True
            self._release()
        finally:
            if locked:
                self._lock.release()

    async def read(self, options: ReadOptions) -> AsyncIterator[LogLine]:
        """``pluginAdapterWithRead.ReadLogs``: the framed answer, filtered by dockerd too."""
        request = wire.ReadLogsRequest(self.info, read_config(options))
        decoder = FrameDecoder()
        try:
            async with self.client.stream(wire.READ_LOGS, request) as body:
                async for chunk in body:
                    for record in _decoded(decoder, chunk):
                        if options.since is not None and record.time_nano < options.since:
                            continue
                        if options.until is not None and record.time_nano > options.until:
                            return
                        yield LogLine(record.source, record.time_nano, record.line, local=True)
            _decoded_end(decoder)
        except EngineError as exc:
            if isinstance(exc, LogReadError):
                raise
            raise LogReadError(f"error getting log reader: {exc}") from None


def _decoded(decoder: FrameDecoder, chunk: bytes) -> list[LogRecord]:
    try:
        return decoder.feed(chunk)
    except FrameError as exc:
        raise LogReadError(f"error decoding log message: {exc}") from None


def _decoded_end(decoder: FrameDecoder) -> None:
    try:
        decoder.end()
    except FrameError as exc:
        raise LogReadError(f"error decoding log message: {exc}") from None


async def _call_err(client: PluginClient, method: str, request: object) -> None:
    """A call whose answer is ``{"Err": …}``: a non-empty ``Err`` is the error."""
    answer = await client.call(method, request, wire.ErrResponse)
    if answer.Err:
        raise PluginErrError(answer.Err, method=method)


class PluginErrError(EngineError):
    """A plugin answered 200 with a non-empty ``Err``; ``str()`` is that text."""

    default_hint = "the logging plugin refused the call: see its Err and its own log"

    def __init__(self, text: str, *, method: str) -> None:
        super().__init__(text, hint=f"the plugin's {method} answered Err: {text}")
        self.method = method


def read_config(options: ReadOptions) -> wire.ReadConfig:
    """The ``Config`` of a ``ReadLogs`` request (times as ``time.Unix`` gives them: local)."""
    return wire.ReadConfig(
        Since=wire.go_time(options.since, local=True),
        Until=wire.go_time(options.until, local=True),
        Tail=options.tail,
        Follow=options.follow,
    )


async def open_plugin_logger(
    name: str,
    client: PluginClient,
    info: wire.Info,
    *,
    fifo_dir: tuple[Path, str],
    faults: FaultSet | None,
    sent: Callable[[LogRecord], None],
    release: Callable[[], None],
    fifos: set[Fifo] | None = None,
    hang_guard: float | None = None,
) -> PluginLogger:
    """``makePluginCreator``'s creator: Capabilities, FIFO, StartLogging.

    ``fifo_dir`` is the FIFO directory on the host and as the plugin names it; ``fifos``
    collects the FIFOs opened (the engine closes those a failed ``StopLogging`` left
    open when it shuts down).  Raises
    :class:`EngineError` with dockerd's text (``error creating logger: …``); the plugin
    reference is released then.  As in dockerd, a failed ``StartLogging`` leaves its FIFO
    file behind.
    """
    host_dir, plugin_dir = fifo_dir
    fid = secrets.token_hex(32)
    try:
        reads = await _capabilities(client)
        fifo = Fifo(host_dir / fid)
        if fifos is not None:
            fifos.add(fifo)
        try:
            fifo.open()
        except OSError as exc:
            raise EngineError(
                f"error creating i/o pipe for log plugin: {name}: error creating fifo "
                f"{fifo.host_path}: {os.strerror(exc.errno or errno.EIO).lower()}"
            ) from None
        file = f"{plugin_dir}/{fid}"
        try:
            await _call_err(client, wire.START_LOGGING, wire.StartLoggingRequest(file, info))
        except EngineError as exc:
            await fifo.close()
            raise EngineError(f"error creating logger: {exc}", hint=exc.hint) from None
    except BaseException:
        release()
        raise
    return PluginLogger(
        name,
        client,
        fifo,
        file,
        info,
        reads=reads,
        faults=faults,
        sent=sent,
        release=release,
        hang_guard=hang_guard,
    )


async def _capabilities(client: PluginClient) -> bool:
    """``Capabilities``, empty body; any failure means no ReadLogs (dockerd ignores it)."""
    try:
        answer = await client.call(wire.CAPABILITIES, None, wire.CapabilitiesResponse)
    except EngineError as exc:
        LOG.debug("LogDriver.Capabilities failed (ignored, as dockerd does): %s", exc)
        return False
    return bool(answer.Cap.ReadLogs) and not answer.Err


class RingLogger:
    """``ringLogger``: non-blocking writes into a bounded queue drained by one task."""

    def __init__(self, inner: Logger, max_bytes: int, nursery: trio.Nursery) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_bytes = max_bytes
        self.reads = inner.reads
        self._queue: deque[LogRecord] = deque()
        self._size = 0
        self._closed = False
        self._ready = trio.Event()
        self._done = trio.Event()
        self.dropped = 0
        """Lines dropped because the buffer was full."""
        nursery.start_soon(self._run)

    async def log(self, record: LogRecord) -> None:
        """``messageRing.Enqueue``: drop a line that does not fit unless the queue is empty."""
        await trio.lowlevel.checkpoint()
        if self._closed:
            raise RuntimeError("closed")
        size = len(record.line)
        if size + self._size > self.max_bytes and self._queue:
            self.dropped += 1
            return
        self._queue.append(record)
        self._size += size
        self._ready.set()

    async def _run(self) -> None:
        try:
            while not self._closed:
                if not self._queue:
                    self._ready = trio.Event()
                    await self._ready.wait()
                    continue
                record = self._queue.popleft()
                self._size -= len(record.line)
                await _forward(self.inner, record)
        finally:
            self._done.set()

    async def close(self) -> None:
        """Stop the task (after the write it is in), drain the queue, close the driver."""
        self._closed = True
        self._ready.set()
        await self._done.wait()
        while self._queue:
            if not await _forward(self.inner, self._queue.popleft()):
                self._queue.clear()
        self._size = 0
        await self.inner.close()

    def read(self, options: ReadOptions) -> AsyncIterator[LogLine]:
        return self.inner.read(options)


async def _forward(logger: Logger, record: LogRecord) -> bool:
    try:
        await logger.log(record)
    except (OSError, RuntimeError, EngineError) as exc:
        log_write_failed(logger.name, record, exc)
        return False
    return True


@attrs.define
class LogCounters:
    """dockerd's ``logger`` metrics (``daemon/logger/metrics.go``)."""

    write_failures: int = 0
    """``logger_log_write_operations_failed_total``."""
    read_failures: int = 0
    """``logger_log_read_operations_failed_total``."""
    partial_lines: int = 0
    """``logger_log_entries_size_greater_than_buffer_total``."""


#: The engine's counters (one engine per process is the usual case; tests may share).
COUNTERS = LogCounters()


def log_write_failed(driver: str, record: LogRecord, exc: BaseException) -> None:
    """``logDriverError``: counted, and logged as dockerd logs it."""
    COUNTERS.write_failures += 1
    LOG.error(
        'Error writing log message driver=%s error="%s" message="%s"',
        driver,
        exc,
        record.text,
    )


class CachedLogger:
    """``loggerWithCache``: the driver first, then the cache; reads come from the cache."""

    reads = True

    def __init__(self, inner: Logger, cache: Logger) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name

    async def log(self, record: LogRecord) -> None:
        await self.inner.log(record)
        await self.cache.log(record)

    async def close(self) -> None:
        try:
            await self.inner.close()
        finally:
            try:
                await self.cache.close()
            except (OSError, RuntimeError) as exc:
                LOG.warning("error while shutting cache logger: %s", exc)

    def read(self, options: ReadOptions) -> AsyncIterator[LogLine]:
        return self.cache.read(options)
