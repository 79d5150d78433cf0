"""What the log checks drive: containers logging to the plugin through the emulated daemon,
their FIFOs watched from dockerd's side, and ``ReadLogs`` read raw.

A :class:`Logged` container runs ``sleep`` with ``--log-driver PLUGIN`` (so dockerd's
``Capabilities`` and ``StartLogging`` happen as at any start); the check writes its output
with :meth:`Logged.write` (dockerd's copier cuts it into records, 16 KiB pieces
included) and stops it with :meth:`Logged.stop` (the copier drains, ``StopLogging``).  A
:class:`~emulator.check.log_fifo.FifoProbe` on its FIFO is opened at the start.
:func:`read_raw` sends ``ReadLogs`` with the ``Info`` and ``Config`` dockerd sends and
decodes the answer itself, so a check sees what the plugin sent before dockerd filters it.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import trio

from emulator.check.context import CheckContext
from emulator.check.log_fifo import FifoProbe
from emulator.check.model import Problem, Skipped
from emulator.clock import real_io, real_sleep
from emulator.engine.container_model import ContainerSpec
from emulator.engine.containers import Container
from emulator.engine.log_drivers import Fifo, Logger, PluginLogger, read_config
from emulator.engine.log_store import LogLine, ReadOptions
from emulator.errors import EngineError
from emulator.protocol.logdriver import wire
from emulator.protocol.logdriver.entry import FrameDecoder, FrameError, LogRecord

__all__ = [
    "REAL_BOUND",
    "STOP_BUDGET",
    "Logged",
    "RawRead",
    "raw_fifo",
    "read_back",
    "read_raw",
    "real_until",
    "start_logged",
    "wait_sent",
]

#: Real seconds a check waits for a plugin to read its FIFO or let it go.
REAL_BOUND: Final = 5.0
#: Engine seconds a stop (copier drain + ``StopLogging``) may take before it counts as hung.
STOP_BUDGET: Final = 120.0
#: Engine seconds a ``ReadLogs`` answer may take to end (Follow false).
READ_BUDGET: Final = 60.0


def plugin_logger(logger: Logger | None) -> PluginLogger | None:
    """The plugin's adapter inside dockerd's wrappers (ring, cache)."""
    while logger is not None and not isinstance(logger, PluginLogger):
        logger = getattr(logger, "inner", None)
    return logger


class Logged:
    """A running container logging to the plugin; see the module docstring."""

    def __init__(self, ctx: CheckContext, container: Container, logger: PluginLogger) -> None:
        self.ctx = ctx
        self.container = container
        self.logger = logger
        self.probe = FifoProbe.open(logger.fifo.host_path)
        if self.probe is not None:
            ctx.defer(self._close_probe)

    async def _close_probe(self) -> None:
        if self.probe is not None:
            self.probe.close()

    @property
    def id(self) -> str:
        return self.container.id

    @property
    def info(self) -> wire.Info:
        """The ``Info`` dockerd sent with ``StartLogging`` (and sends with ``ReadLogs``)."""
        return self.logger.info

    def sent(self) -> list[LogRecord]:
        """The records dockerd wrote to the plugin's FIFOs for this container."""
        return self.ctx.engine.logs.entries(self.id)

    async def write(self, stream: str, data: bytes) -> None:
        """The container writes ``data`` on ``stream`` (``stdout`` / ``stderr``)."""
        output = self.ctx.engine.logs.output_of(self.id)
        if output is None:
            raise Problem("the container's logger is gone")
        await output.stream(stream).write(data)

    async def stop(self) -> float:
        """``docker stop``: the copier drains, ``StopLogging``; the engine seconds it took
        (:class:`Problem` when it did not end within :data:`STOP_BUDGET`)."""
        began = trio.current_time()
        with trio.move_on_after(STOP_BUDGET):
            await self.ctx.engine.containers.stop(self.id, timeout=0)
            return trio.current_time() - began
        raise Problem(
            f"stopping a container logging to the plugin did not end within {STOP_BUDGET:g} s "
            "(StopLogging unanswered?): dockerd waits for it without a deadline"
        )


async def start_logged(
    ctx: CheckContext, label: str = "log", opts: Mapping[str, str] | None = None
) -> Logged:
    """``docker run -d --log-driver PLUGIN [--log-opt ...] busybox sleep``; removed after."""
    name = ctx.unique(label)

    async def remove() -> None:
        with contextlib.suppress(EngineError):
            await ctx.engine.containers.remove(name, force=True)

    ctx.defer(remove)
    container = await ctx.engine.containers.run(
        ContainerSpec(
            "busybox",
            ["sleep", "86400"],
            name=name,
            detach=True,
            log_config={"Type": ctx.plugin, "Config": dict(opts or {})},
        )
    )
    logger = plugin_logger(ctx.engine.logs.running_logger(container.id))
    if logger is None:
        raise Skipped("the container started without the plugin's logger")
    return Logged(ctx, container, logger)


async def real_until(predicate: Callable[[], bool], bound: float = REAL_BOUND) -> bool:
    """Wait (real time, marked real I/O) until ``predicate()`` holds: True, or False
    after ``bound`` real seconds.  For waits on a plugin's own work (reading a FIFO,
    sending a followed record), which no engine time can hurry."""
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began >= bound:
            return False
        with real_io():
            await real_sleep(0.005)
    return True


async def wait_sent(logged: Logged, count: int, bound: float = REAL_BOUND) -> bool:
    """Wait until dockerd wrote ``count`` records to the FIFO: True, or False when the
    writes are still blocked after ``bound`` real seconds (the plugin does not read)."""
    return await real_until(lambda: len(logged.sent()) >= count, bound)


async def read_back(ctx: CheckContext, logged: Logged, options: ReadOptions) -> list[LogLine]:
    """``docker logs`` of a stopped container (dockerd's fresh logger, ``ReadLogs``)."""
    container = ctx.engine.containers.get(logged.id)
    with trio.move_on_after(READ_BUDGET):
        reading = await ctx.engine.logs.open(container, options, running=False)
        try:
            return [line async for line in reading.lines()]
        finally:
            await reading.aclose()
    raise Problem(
        f"ReadLogs with Follow false did not end within {READ_BUDGET:g} s: docker logs of a "
        "stopped container hangs"
    )


class RawRead:
    """What one raw ``ReadLogs`` answer held."""

    def __init__(self) -> None:
        self.records: list[LogRecord] = []
        self.error = ""
        """Why the stream could not be decoded (empty: it decoded)."""
        self.ended = False
        """True when the plugin ended the answer."""
        self.content_type: str | None = None


async def read_raw(
    ctx: CheckContext,
    info: wire.Info,
    options: ReadOptions,
    *,
    budget: float = READ_BUDGET,
    until_count: int | None = None,
    into: RawRead | None = None,
) -> RawRead:
    """``ReadLogs`` as dockerd sends it; the answer decoded frame by frame (into ``into``
    as it comes, when given), for at most ``budget`` engine seconds (or until
    ``until_count`` records came)."""
    plugin = await ctx.engine.plugins.get(ctx.plugin, ctx.kind.interface)
    assert plugin.client is not None
    request = wire.ReadLogsRequest(info, read_config(options))
    result = into if into is not None else RawRead()
    decoder = FrameDecoder()
    with trio.move_on_after(budget):
        async with plugin.client.stream(wire.READ_LOGS, request) as body:
            async for chunk in body:
                try:
                    result.records.extend(decoder.feed(chunk))
                except FrameError as exc:
                    result.error = str(exc)
                    return result
                if until_count is not None and len(result.records) >= until_count:
                    return result
        try:
            decoder.end()
        except FrameError as exc:
            result.error = str(exc)
        result.ended = True
    return result


def lines_of(records: list[LogRecord]) -> list[Any]:
    """``(source, line)`` pairs, for messages."""
    return [(r.source, r.line) for r in records]


async def raw_fifo(ctx: CheckContext) -> tuple[str, dict[str, Any]]:
    """A FIFO made and held as dockerd makes it (``/run/docker/logging/<64 hex>``) and a
    ``StartLogging`` body for it; ``StopLogging`` is sent and the FIFO removed after."""
    plugin = await ctx.engine.plugins.get(ctx.plugin, ctx.kind.interface)
    if plugin.runtime_dir is not None:
        host_dir, plugin_dir = plugin.runtime_dir(wire.FIFO_DIR)
    else:
        host_dir = ctx.engine.paths.root / wire.FIFO_DIR.lstrip("/")
        plugin_dir = str(host_dir)
    fid = secrets.token_hex(32)
    fifo = Fifo(host_dir / fid)
    fifo.open()
    file = f"{plugin_dir}/{fid}"

    async def release() -> None:
        with contextlib.suppress(EngineError):
            await ctx.raw("StopLogging", {"File": file})
        await fifo.close()
        fifo.remove()

    ctx.defer(release)
    info = {
        "Config": {},
        "ContainerID": secrets.token_hex(32),
        "ContainerName": "/" + ctx.unique("raw"),
        "ContainerEntrypoint": "sleep",
        "ContainerArgs": ["86400"],
        "ContainerImageID": "sha256:" + "0" * 64,
        "ContainerImageName": "busybox",
        "ContainerCreated": "2025-01-01T00:00:00Z",
        "ContainerEnv": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "ContainerLabels": {},
        "LogPath": "",
        "DaemonName": "docker",
    }
    return file, {"File": file, "Info": info}
