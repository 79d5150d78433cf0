"""Log driver checks of ``ReadLogs`` (framing, Follow, Tail, Since/Until) and of the
plugin over time (containers logging at once, answer times, a dockerd restart).

The ReadLogs checks send the request dockerd sends (``Info`` of the container's
StartLogging, ``Config`` with Go times) and decode the answer themselves
(:func:`~emulator.check.log_harness.read_raw`), so they see what the plugin sent before
dockerd's own filtering.  Sources: moby/moby v28.5.2.
"""

from __future__ import annotations

from typing import Final

import trio

from emulator.check.answers import describe
from emulator.check.catalogue import check
from emulator.check.context import CheckContext
from emulator.check.log import reads_logs
from emulator.check.log_harness import (
    REAL_BOUND,
    Logged,
    RawRead,
    read_back,
    read_raw,
    real_until,
    start_logged,
    wait_sent,
)
from emulator.check.model import Problem, Skipped, Verdict
from emulator.engine.log_store import ReadOptions
from emulator.errors import EngineError

#: Engine seconds a LogDriver call may take before it counts as slow.
SLOW: Final = 1.0
#: Engine seconds a hung call is waited for.
HANG: Final = 300.0


async def _require_read_logs(ctx: CheckContext) -> None:
    if not await reads_logs(ctx):
        raise Skipped("the plugin has no ReadLogs capability (dockerd never calls it)")


async def _three_seconds(ctx: CheckContext, label: str) -> tuple[Logged, list[int]]:
    """A container that logged ``one``, ``two``, ``three`` one engine second apart; the
    records' times."""
    logged = await start_logged(ctx, label)
    for number, word in enumerate((b"one", b"two", b"three"), start=1):
        await logged.write("stdout", word + b"\n")
        if not await wait_sent(logged, number):
            raise Skipped("the plugin does not read its FIFO (see log.fifo-drain)")
        await trio.sleep(1)
    return logged, [r.time_nano for r in logged.sent()]


def _words(read: RawRead) -> list[bytes]:
    return [r.line.rstrip(b"\n") for r in read.records]


@check(
    "log.read-logs-framing",
    title="ReadLogs answers framed records and ends",
    severity=Verdict.FAIL,
    rule="ReadLogs answers 200 with a stream of big-endian uint32 length-prefixed LogEntry "
    "messages, ended once the stored records are sent when Follow is false.",
    source="moby daemon/logger/adapter.go (pluginAdapterWithRead.ReadLogs), "
    "api/types/plugins/logdriver/io.go (LogEntryDecoder), daemon/logger/proxy.go (Stream)",
    dockerd="dockerd decodes the answer with moby's LogEntryDecoder until EOF: anything else "
    "ends docker logs with 'error decoding log message'; an answer that never ends hangs "
    "docker logs (no deadline).",
    hint="write each record with logdriver.NewLogEntryEncoder (4-byte big-endian size, "
    "then the protobuf) and end the answer when Follow is false.",
)
async def read_logs_framing(ctx: CheckContext) -> str:
    await _require_read_logs(ctx)
    logged = await start_logged(ctx, "framing")
    await logged.write("stdout", b"framed\n")
    await logged.write("stderr", b"also framed\n")
    if not await wait_sent(logged, 2):
        raise Skipped("the plugin does not read its FIFO (see log.fifo-drain)")
    await logged.stop()
    read = await read_raw(ctx, logged.info, ReadOptions())
    entry = ctx.last("ReadLogs")
    if read.error:
        raise Problem(
            f"the ReadLogs answer does not decode as LogEntry frames ({read.error}): docker "
            "logs prints 'error decoding log message'"
        )
    if not read.ended:
        raise Problem("ReadLogs with Follow false did not end: docker logs hangs")
    if sorted(_words(read)) != [b"also framed", b"framed"]:
        raise Problem(f"ReadLogs gave {_words(read)} for the records framed, also framed")
    return f"{len(read.records)} framed records, then the end ({describe(entry) if entry else ''})"


@check(
    "log.read-logs-tail",
    title="ReadLogs honours Tail",
    severity=Verdict.FAIL,
    rule="Config.Tail is the number of newest records to send (-1: all).",
    source="moby daemon/logger/logger.go (ReadConfig), daemon/logs.go (ContainerLogs: "
    "Tail from --tail, -1 for all)",
    dockerd="dockerd passes --tail to the plugin and does not cut the answer itself: a "
    "plugin that ignores Tail makes docker logs --tail N print everything.",
    hint="send only the last Tail records when Tail >= 0.",
)
async def read_logs_tail(ctx: CheckContext) -> str:
    await _require_read_logs(ctx)
    logged, _times = await _three_seconds(ctx, "tail")
    await logged.stop()
    read = await read_raw(ctx, logged.info, ReadOptions(tail=2))
    if _words(read) != [b"two", b"three"]:
        raise Problem(f"Tail 2 of one, two, three gave {_words(read)}")
    zero = await read_raw(ctx, logged.info, ReadOptions(tail=0))
    if zero.records:
        raise Problem(f"Tail 0 gave {_words(zero)} (docker logs --tail 0 prints nothing)")
    return "Tail 2 gave the last two records, Tail 0 none"


@check(
    "log.read-logs-since",
    title="ReadLogs honours Since and Until",
    severity=Verdict.WARN,
    rule="Config.Since and Config.Until (Go times, zero when unset) bound the records sent.",
    source="moby daemon/logger/adapter.go (ReadLogs: 'plugin should handle this, but check "
    "just in case'), daemon/logs.go (ContainerLogs)",
    dockerd="dockerd drops records before Since and stops at the first after Until itself, "
    "so docker logs stays right; a plugin that ignores them sends (and reads) everything, "
    "and Tail then counts the wrong records.",
    hint="skip records before Since and stop after Until (both when not the zero time).",
)
async def read_logs_since(ctx: CheckContext) -> str:
    await _require_read_logs(ctx)
    logged, times = await _three_seconds(ctx, "since")
    await logged.stop()
    read = await read_raw(ctx, logged.info, ReadOptions(since=times[1], until=times[1]))
    if _words(read) != [b"two"]:
        raise Problem(f"Since and Until at two's time gave {_words(read)}")
    return "Since and Until at one record's time gave that record"


@check(
    "log.read-logs-follow",
    title="ReadLogs with Follow streams new records",
    severity=Verdict.FAIL,
    rule="With Follow true (docker logs -f of a running container) the answer goes on with "
    "the records written after it began.",
    source="moby daemon/logs.go (ContainerLogs: Follow for a running container), "
    "daemon/logger/adapter.go (ReadLogs)",
    dockerd="dockerd sends Follow true for docker logs -f on a running container and "
    "relays the answer until the plugin ends it or the client goes away.",
    hint="when Follow is true, keep the answer open and send new records as they come.",
)
async def read_logs_follow(ctx: CheckContext) -> str:
    await _require_read_logs(ctx)
    logged = await start_logged(ctx, "follow")
    await logged.write("stdout", b"before\n")
    if not await wait_sent(logged, 1):
        raise Skipped("the plugin does not read its FIFO (see log.fifo-drain)")
    read = RawRead()

    async def follow() -> None:
        await read_raw(
            ctx, logged.info, ReadOptions(follow=True), budget=30, until_count=2, into=read
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(follow)
        # The answer is real I/O in flight: engine time stands still meanwhile, so these
        # waits are on the plugin's own (real) time.
        await real_until(lambda: bool(read.records) or read.ended)
        await logged.write("stdout", b"after\n")
        await wait_sent(logged, 2)
        await real_until(lambda: len(read.records) >= 2 or read.ended)
        nursery.cancel_scope.cancel()
    words = _words(read)
    if words[:2] == [b"before", b"after"]:
        return "the followed answer gave the record written after it began"
    ended = " and ended before it" if read.ended else ""
    raise Problem(
        f"a followed ReadLogs gave {words} for a record written after it began{ended}: "
        "docker logs -f misses new lines"
    )


@check(
    "log.concurrency",
    title="Several containers logging at once",
    severity=Verdict.FAIL,
    rule="Each FIFO is its own stream: records stay with the container whose FIFO they came "
    "from, however many log at once.",
    source="moby daemon/logger/plugin.go (one FIFO per logger), daemon/logger/adapter.go",
    dockerd="dockerd starts a logger (and a FIFO) per container start and writes them all "
    "at once; docker logs sends the container's Info to ReadLogs.",
    hint="key what you store by File (and Info.ContainerID), read each FIFO on its own.",
)
async def concurrency(ctx: CheckContext) -> str:
    count = ctx.settings.parallel
    logged: list[Logged] = []
    for _ in range(count):
        logged.append(await start_logged(ctx, "many"))
    async with trio.open_nursery() as nursery:
        for number, each in enumerate(logged):
            nursery.start_soon(_write_marks, each, number)
    for each in logged:
        if not await wait_sent(each, 20):
            raise Problem("with several containers logging at once a FIFO stopped being read")
    async with trio.open_nursery() as nursery:
        for each in logged:
            nursery.start_soon(each.stop)
    if not await reads_logs(ctx):
        return f"{count} containers logged at once (no ReadLogs to compare)"
    for number, each in enumerate(logged):
        lines = await read_back(ctx, each, ReadOptions())
        mine = sorted(line.line for line in lines)
        expected = sorted(f"container {number} record {n}\n".encode() for n in range(20))
        if mine != expected:
            raise Problem(
                f"container {number} of {count}: ReadLogs gave {len(mine)} records "
                f"({[m.decode(errors='replace').strip() for m in mine[:3]]}...) for its 20"
            )
    return f"{count} containers, 20 records each, came back to the right container"


async def _write_marks(logged: Logged, number: int) -> None:
    for n in range(20):
        await logged.write("stdout", f"container {number} record {n}\n".encode())
        await trio.lowlevel.checkpoint()


@check(
    "log.slow",
    title="LogDriver calls answered quickly",
    severity=Verdict.WARN,
    rule=f"Capabilities, StartLogging and StopLogging are answered within {SLOW:g} s.",
    source="moby pkg/plugins/client.go (no deadline for logging calls), "
    "daemon/logger/plugin.go, container/monitor.go (Reset)",
    dockerd="dockerd waits for each call without a deadline: a container's start waits for "
    "Capabilities and StartLogging, its exit (and docker stop) for StopLogging; a hung "
    "call holds the container forever.",
    hint="answer at once; do slow work (connecting to a backend) outside the handler.",
)
async def slow(ctx: CheckContext) -> str:
    with trio.move_on_after(HANG) as waited:
        logged = await start_logged(ctx, "slow")
        await logged.stop()
    if waited.cancelled_caught:
        raise Problem(f"a container start and stop did not end within {HANG:g} s: a call hung")
    timed = [e for e in ctx.calls() if e.method.startswith("LogDriver.")]
    slowest = max(timed, key=lambda e: e.duration, default=None)
    if slowest is None:
        raise Problem("no LogDriver call reached the plugin")
    if slowest.duration > SLOW:
        raise Problem(
            f"{slowest.method} took {slowest.duration:.2f} s (the container's "
            f"{'exit' if 'Stop' in slowest.method else 'start'} waited for it)"
        )
    return f"slowest call {slowest.method}: {slowest.duration:.3f} s"


@check(
    "log.restart",
    title="dockerd restarts with the plugin",
    severity=Verdict.FAIL,
    rule="A restarted dockerd activates the plugin again at the first container using it.",
    source="moby pkg/plugins/plugins.go (activation cached per daemon), "
    "daemon/logger/plugin.go (getPlugin)",
    dockerd="dockerd forgets activations when it restarts and sends Plugin.Activate again "
    "before the next Capabilities and StartLogging.",
    hint="answer Plugin.Activate every time it comes.",
)
async def restart(ctx: CheckContext) -> str:
    if ctx.settings.managed:
        raise Skipped("managed plugins get no Plugin.Activate: dockerd reads config.json")
    await ctx.engine.restart()
    try:
        logged = await start_logged(ctx, "restart")
    except EngineError as exc:
        raise Problem(f"after a dockerd restart a container could not log: {exc}") from None
    await logged.write("stdout", b"after restart\n")
    if not await wait_sent(logged, 1):
        raise Problem(f"after a dockerd restart the FIFO was not read within {REAL_BOUND:g} s")
    return "activated again; a container logged after the restart"
