"""``engine.logs``: dockerd's logging of container output, built-in drivers and plugins.

What dockerd v28.5.2 does, and so what a log plugin sees (tables in
:mod:`emulator.protocol.logdriver.sequences`):

* **create** (``daemon/logs.go`` ``mergeAndVerifyLogConfig``): the daemon's default
  driver and options fill what the container does not set, then ``ValidateLogOpts``;
  a plugin is only looked up (activated, for v1), never called.  An unknown driver is
  refused here: ``error looking up logging plugin NAME: plugin "NAME" not found``.
* **start** (``container/container.go`` ``startLogging``, ``StartLogger``): after the
  volumes are mounted, a logger is made (for a plugin: ``Capabilities``, the FIFO,
  ``StartLogging`` with ``Info``), wrapped in the non-blocking ring
  (``mode=non-blocking``) and, when it cannot be read back, the local cache (dual
  logging, unless ``cache-disabled``); then a copier per stream cuts the output into
  records.  A failure fails the start: ``failed to create task for container: failed
  to initialize logging driver: …``.
* **exit** (``container/monitor.go`` ``Reset``): the streams end, the copier gets at
  most 10 s to drain, then the logger is closed (``StopLogging``) — before the
  volumes are unmounted and before the ``die`` event.
* **docker logs** (``daemon/logs.go`` ``ContainerLogs``): a running container's logger
  is read; a stopped one gets a fresh logger (``Capabilities``, ``StartLogging`` on a
  new FIFO), read with ``follow`` off, then closed (``StopLogging``).

The container's output comes from :class:`~emulator.engine.output.ContainerOutput`,
whatever writes it (the fake command table today, a real process later).
``entries(container)`` lists the records the engine wrote to plugin FIFOs for a
container, for assertions.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, Final, Protocol

import attrs
import trio

from emulator.engine.log_drivers import (
    COUNTERS,
    CachedLogger,
    Fifo,
    Logger,
    RingLogger,
    StoreLogger,
    log_write_failed,
    open_plugin_logger,
)
from emulator.engine.log_store import LogLine, LogStore, ReadOptions, store_config
from emulator.engine.output import ContainerOutput, OutputStream
from emulator.engine.plugins import PluginRegistry
from emulator.engine.streams import OutputWriter
from emulator.errors import EngineError, PluginLookupError
from emulator.faults import FaultSet
from emulator.protocol.logdriver import options as opts
from emulator.protocol.logdriver import wire
from emulator.protocol.logdriver.copier import LineSplitter
from emulator.protocol.logdriver.entry import LogRecord

__all__ = ["COPIER_WAIT", "LogConfig", "LogReading", "LogService", "LoggingError"]

LOG = logging.getLogger("emulator.logs")

#: ``loggerCloseTimeout``: how long an exit waits for the copier to drain.
COPIER_WAIT: Final = 10.0
#: Image ``Env`` every fake image has (busybox's ``PATH``).
IMAGE_ENV: Final = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
#: Records kept per container for :meth:`LogService.entries` (the newest).
ENTRIES_KEPT: Final = 100_000
#: The image ID every fake container reports (as ``docker inspect`` shows it).
IMAGE_ID: Final = "sha256:" + "0" * 64


def _as_dict(value: Mapping[str, str]) -> dict[str, str]:
    return dict(value)


@attrs.frozen
class LogConfig:
    """``container.LogConfig``: a driver and its options (``HostConfig.LogConfig``)."""

    type: str = ""
    config: Mapping[str, str] = attrs.field(factory=dict, converter=_as_dict)

    def to_json(self) -> dict[str, Any]:
        """As the Engine API shows it: ``{"Type", "Config"}``."""
        return {"Type": self.type, "Config": dict(self.config)}


class LoggingError(EngineError):
    """A logging refusal or failure; ``str()`` is dockerd's text, ``http_status`` its class."""

    default_hint = "see docs/logging.md for what dockerd checks and does with log drivers"

    def __init__(self, text: str, *, http_status: int = 500, hint: str = "") -> None:
        super().__init__(text, hint=hint)
        self.http_status = http_status


class LoggedContainer(Protocol):
    """What the logging service reads from a container."""

    id: str
    name: str
    image: str
    command: list[str]
    labels: dict[str, str] | None
    created: float
    """Unix seconds."""
    log_config: dict[str, Any]
    """``HostConfig.LogConfig``: ``{"Type", "Config"}``."""

    @property
    def env(self) -> list[str]: ...


def config_of(container: LoggedContainer) -> LogConfig:
    """The container's ``HostConfig.LogConfig``."""
    data = container.log_config
    return LogConfig(str(data.get("Type") or ""), dict(data.get("Config") or {}))


class _Session:
    """A running container's logger and copier (``LogDriver`` + ``LogCopier``)."""

    def __init__(self, logger: Logger, scope: trio.CancelScope) -> None:
        self.logger = logger
        self.scope = scope
        self.output = ContainerOutput()
        """The copier's side of the container's stdout and stderr (bounded pipes)."""
        self.done = trio.Event()

    async def write(self, stream: str, data: bytes) -> None:
        """An :data:`~emulator.engine.streams.OutputWriter`: waits while the pipe is full."""
        await self.output.stream(stream).write(data)


class LogService:
    """dockerd's container logging; ``engine.logs``."""

    def __init__(
        self,
        registry: Callable[[], PluginRegistry],
        *,
        root: Path,
        containers_dir: Path,
        nursery: trio.Nursery,
        faults: Callable[[], FaultSet],
        acquire: Callable[[str], None] = lambda _name: None,
        release: Callable[[str], None] = lambda _name: None,
        hang_guard: float | None = 300.0,
    ) -> None:
        self._hang_guard = hang_guard
        self._registry = registry
        self._root = root
        self._containers_dir = containers_dir
        self._nursery = nursery
        self._faults = faults
        self._acquire = acquire
        self._release = release
        self.default = LogConfig(opts.DEFAULT_DRIVER)
        """The daemon's ``--log-driver``/``--log-opt`` (``serve --log-driver``)."""
        self._sessions: dict[str, _Session] = {}
        self._fifos: set[Fifo] = set()
        self._sent: dict[str, deque[LogRecord]] = {}
        self._wall_offset = time.time_ns() - int(trio.current_time() * 1e9)
        self.counters = COUNTERS

    # -- configuration ----------------------------------------------------------------

    def now_ns(self) -> int:
        """Wall-clock now in Unix nanoseconds, moving with the engine's (trio's) clock."""
        return self._wall_offset + int(trio.current_time() * 1e9)

    async def set_default(self, config: LogConfig) -> None:
        """``defaultLogConfig`` at daemon start: options are checked only when given."""
        if config.config:
            try:
                await self._validate(config)
            except LoggingError as exc:
                raise LoggingError(f"failed to set log opts: {exc}", http_status=400) from None
        self.default = LogConfig(config.type or opts.DEFAULT_DRIVER, config.config)

    async def prepare(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """``mergeAndVerifyLogConfig`` at create: the merged ``{"Type", "Config"}``, or
        LoggingError (400) with dockerd's text."""
        given = given or {}
        config = LogConfig(str(given.get("Type") or ""), dict(given.get("Config") or {}))
        driver = config.type or self.default.type
        merged = dict(config.config)
        if driver == self.default.type:
            for key, value in self.default.config.items():
                merged.setdefault(key, value)
        for key, value in self.default.config.items():
            if key in opts.BUILTIN_OPTS and key.startswith("cache-"):
                merged.setdefault(key, value)
        result = LogConfig(driver, merged)
        await self._validate(result)
        return result.to_json()

    async def _validate(self, config: LogConfig) -> None:
        """``ValidateLogOpts`` (texts from :mod:`emulator.protocol.logdriver.options`)."""
        name = config.type
        problem = opts.check_common(name, config.config)
        if problem is not None:
            raise LoggingError(problem, http_status=400)
        if name == "none":
            return
        if name in opts.BUILTIN_DRIVERS:
            if name not in opts.EMULATED_BUILTINS:
                return  # refused at start: the emulator does not run that driver
            problem = opts.check_builtin(name, config.config)
            if problem is not None:
                raise LoggingError(problem, http_status=400)
            return
        try:
            await self._registry().get(name, "LogDriver")
        except PluginLookupError as exc:
            raise LoggingError(
                opts.lookup_error(name, str(exc)), http_status=400, hint=exc.hint
            ) from None

    # -- start / stop -------------------------------------------------------------------

    async def start(self, container: LoggedContainer) -> OutputWriter | None:
        """``startLogging``: the logger, then a copier per stream; the writer the
        container's output goes to (None for ``none``).  Raises LoggingError with
        dockerd's start-failure text."""
        if config_of(container).type == "none":
            return None
        try:
            logger = await self._start_logger(container)
        except LoggingError as exc:
            raise LoggingError(
                f"failed to create task for container: failed to initialize logging driver: {exc}",
                http_status=404 if "not found" in str(exc) else 500,
                hint=exc.hint,
            ) from None
        scope = trio.CancelScope()
        session = _Session(logger, scope)
        self._sessions[container.id] = session
        self._nursery.start_soon(self._copy, session, session.output)
        return session.write

    async def stop(self, container: LoggedContainer) -> None:
        """``Reset``: the streams end, the copier drains (≤ 10 s), the logger closes."""
        session = self._sessions.pop(container.id, None)
        if session is None:
            return
        session.output.close()
        with trio.move_on_after(COPIER_WAIT) as waited:
            await session.done.wait()
        if waited.cancelled_caught:
            LOG.warning("Logger didn't exit in time: logs may be truncated")
        try:
            await session.logger.close()
        except (EngineError, OSError) as exc:
            LOG.error("%s: error closing logger: %s", container.id, exc)
        finally:
            session.scope.cancel()

    async def shutdown(self) -> None:
        """Stop every copier (the daemon going away without stopping containers) and close
        the FIFOs still open (those a failed ``StopLogging`` left, as dockerd leaves them)."""
        for session in self._sessions.values():
            session.scope.cancel()
        self._sessions.clear()
        fifos, self._fifos = self._fifos, set()
        for fifo in fifos:
            await fifo.close()

    def forget(self, container_id: str) -> None:
        """The container was removed: forget what was sent for it."""
        self._sent.pop(container_id, None)

    # -- tests ---------------------------------------------------------------------------

    def entries(self, container: str | LoggedContainer) -> list[LogRecord]:
        """The records written to log plugins' FIFOs for ``container`` (ID or object),
        in the order written, over every logger it had (the newest 100 000)."""
        cid = container if isinstance(container, str) else container.id
        return list(self._sent.get(cid, ()))

    def output_of(self, container_id: str) -> ContainerOutput | None:
        """The copier's side of a running container's stdout and stderr (its pipes)."""
        session = self._sessions.get(container_id)
        return session.output if session else None

    def running_logger(self, container_id: str) -> Logger | None:
        """The logger of a running container (None when it has none)."""
        session = self._sessions.get(container_id)
        return session.logger if session else None

    # -- docker logs ---------------------------------------------------------------------

    async def open(
        self, container: LoggedContainer, options: ReadOptions, *, running: bool
    ) -> LogReading:
        """``ContainerLogs`` up to the first line: dockerd's refusals are raised here as
        :class:`LoggingError`; read the lines from the result, then ``aclose()`` it (a
        fresh logger made for a stopped container is closed then: ``StopLogging``)."""
        if config_of(container).type == "none":
            raise _not_supported()
        session = self._sessions.get(container.id) if running else None
        if session is not None:
            logger, created = session.logger, False
        else:
            logger, created = await self._start_logger(container), True
            options = attrs.evolve(options, follow=False)
        reading = LogReading(logger, options, created)
        if not logger.reads:
            await reading.aclose()
            raise _not_supported()
        return reading

    # -- internals -----------------------------------------------------------------------

    async def _start_logger(self, container: LoggedContainer) -> Logger:
        """``StartLogger``: the driver, the ring for non-blocking, the cache if unreadable."""
        config = config_of(container)
        info = self._info(container)
        logger: Logger
        if config.type in opts.BUILTIN_DRIVERS and config.type not in opts.EMULATED_BUILTINS:
            raise LoggingError(
                f"the emulator does not emulate the {config.type} logging driver",
                hint="use json-file, local, none or a logging plugin (dockerd would send the "
                "lines to a service the emulator does not have)",
            )
        if config.type in opts.EMULATED_BUILTINS:
            logger = self._store_logger(container, config.type, config.config)
        else:
            logger = await self._plugin_logger(container, info)
        if config.config.get("mode") == opts.NON_BLOCKING:
            logger = RingLogger(logger, opts.buffer_size(config.config), self._nursery)
        if not logger.reads and opts.uses_cache(config.config):
            try:
                cache: Logger = self._store_logger(container, "cache", config.config)
            except LoggingError as exc:
                raise LoggingError(
                    f"error setting up local container log cache: error initializing local "
                    f"log cache driver: {exc}"
                ) from None
            if config.config.get("mode", "") in ("", opts.NON_BLOCKING):
                cache = RingLogger(cache, opts.buffer_size(config.config), self._nursery)
            logger = CachedLogger(logger, cache)
        return logger

    def _store_logger(
        self, container: LoggedContainer, kind: str, options: Mapping[str, str]
    ) -> Logger:
        directory = self._containers_dir / container.id
        path = {
            "json-file": directory / f"{container.id}-json.log",
            "local": directory / "local-logs/container.log",
            "cache": directory / "container-cached.log",
        }[kind]
        try:
            config = store_config("local" if kind == "cache" else kind, options)
        except ValueError as exc:
            raise LoggingError(str(exc), http_status=400) from None
        return StoreLogger(kind if kind != "cache" else "local", LogStore(path, config))

    async def _plugin_logger(self, container: LoggedContainer, info: wire.Info) -> Logger:
        name = config_of(container).type
        try:
            plugin = await self._registry().get(name, "LogDriver")
        except PluginLookupError as exc:
            raise LoggingError(
                f"failed to get logging factory: {opts.not_registered(name)}: "
                f"{opts.lookup_error(name, str(exc))}",
                hint=exc.hint,
            ) from None
        assert plugin.client is not None
        if plugin.runtime_dir is not None:
            fifo_dir = plugin.runtime_dir(wire.FIFO_DIR)
            self._acquire(name)
        else:
            host = self._root / wire.FIFO_DIR.lstrip("/")
            fifo_dir = (host, str(host))
        cid = container.id

        def sent(record: LogRecord) -> None:
            kept = self._sent.get(cid)
            if kept is None:
                kept = self._sent[cid] = deque(maxlen=ENTRIES_KEPT)
            kept.append(record)

        def release() -> None:
            if plugin.runtime_dir is not None:
                self._release(name)

        try:
            return await open_plugin_logger(
                name,
                plugin.client,
                info,
                fifo_dir=fifo_dir,
                faults=self._faults(),
                sent=sent,
                release=release,
                fifos=self._fifos,
                hang_guard=self._hang_guard,
            )
        except EngineError as exc:
            raise LoggingError(str(exc), hint=exc.hint) from None

    def _info(self, container: LoggedContainer) -> wire.Info:
        """``logger.Info`` as ``StartLogger`` fills it."""
        words = container.command or ["sh"]
        return wire.Info(
            Config=dict(config_of(container).config),
            ContainerID=container.id,
            ContainerName="/" + container.name,
            ContainerEntrypoint=words[0],
            ContainerArgs=list(words[1:]),
            ContainerImageID=IMAGE_ID,
            ContainerImageName=container.image,
            ContainerCreated=wire.go_time(round(container.created * 1e9)),
            ContainerEnv=_merged_env(container.env),
            ContainerLabels=container.labels,
        )

    async def _copy(self, session: _Session, output: ContainerOutput) -> None:
        """``Copier.Run``: one task per stream until both end (or the scope is cancelled)."""
        try:
            with session.scope:
                async with trio.open_nursery() as nursery:
                    for stream in output.streams:
                        nursery.start_soon(self._copy_stream, session.logger, stream)
        finally:
            session.done.set()

    async def _copy_stream(self, logger: Logger, stream: OutputStream) -> None:
        splitter = LineSplitter(stream.name, self.now_ns)
        while True:
            data = await stream.read(splitter.room)
            records = splitter.feed(data) if data else splitter.end()
            self.counters.partial_lines += splitter.partial_lines
            splitter.partial_lines = 0
            for record in records:
                try:
                    await logger.log(record)
                except (OSError, RuntimeError, EngineError) as exc:
                    log_write_failed(logger.name, record, exc)
            if not data:
                return


def _merged_env(env: list[str] | None) -> list[str]:
    """The image's ``Env`` with the container's on top (``ReplaceOrAppendEnvValues``:
    a variable the image has keeps its place)."""
    merged = list(IMAGE_ENV)
    for item in env or ():
        key = item.split("=", 1)[0]
        for index, existing in enumerate(merged):
            if existing.split("=", 1)[0] == key:
                merged[index] = item
                break
        else:
            merged.append(item)
    return merged


def _not_supported() -> LoggingError:
    return LoggingError(
        "configured logging driver does not support reading",
        http_status=501,
        hint="the plugin has no ReadLogs capability and the log cache is off (cache-disabled)",
    )


class LogReading:
    """One ``docker logs`` read: :meth:`lines`, then :meth:`aclose`."""

    def __init__(self, logger: Logger, options: ReadOptions, created: bool) -> None:
        self.logger = logger
        self.options = options
        self.created = created
        """True for a fresh logger made for this read (closed by :meth:`aclose`)."""
        self._closed = False

    def lines(self) -> AsyncIterator[LogLine]:
        """The messages, as the driver gives them back."""
        return self.logger.read(self.options)

    async def aclose(self) -> None:
        """Close a fresh logger (``StopLogging``); errors are logged, as dockerd does."""
        if self._closed or not self.created:
            return
        self._closed = True
        with trio.CancelScope(shield=True):
            try:
                await self.logger.close()
            except (EngineError, OSError) as exc:
                LOG.error("Error closing logger: %s", exc)
