"""Log driver checks: Capabilities, StartLogging, the FIFO (drained, records intact),
StopLogging (answered at once, nothing left unread, the FIFO let go) and a container
logging again.

Every check runs containers with ``--log-driver PLUGIN`` through the emulated daemon
(:mod:`emulator.check.log_harness`): the plugin sees dockerd's calls, FIFO and frames.
What the plugin did with the FIFO is seen from dockerd's side of it
(:class:`~emulator.check.log_fifo.FifoProbe`); what it kept is read back with
``ReadLogs`` when it has that capability.  Sources: moby/moby v28.5.2.
"""

from __future__ import annotations

from typing import Final

import trio

from emulator.check.answers import snippet
from emulator.check.catalogue import check
from emulator.check.context import CheckContext
from emulator.check.log_harness import (
    REAL_BOUND,
    Logged,
    read_back,
    start_logged,
    wait_sent,
)
from emulator.check.model import Problem, Skipped, Verdict
from emulator.engine.log_store import ReadOptions
from emulator.errors import EngineError

#: What the records check writes: (stream, bytes).  A 40 KiB line becomes three
#: partial records (dockerd's copier buffer is 16 KiB), the last line has no newline.
SAMPLE: Final = (
    ("stdout", b"first line\n"),
    ("stderr", b"an error line\n"),
    ("stdout", b"caf\xc3\xa9\ttabs and UTF-8\n"),
    ("stdout", b"\n"),
    ("stdout", b"x" * 40960 + b"\n"),
    ("stderr", b"no newline at the end"),
)
#: How many records dockerd makes of :data:`SAMPLE` before the container ends (the
#: line without a newline is sent at the end).
SAMPLE_RECORDS: Final = 7


async def capabilities_answer(ctx: CheckContext) -> bool:
    """``Cap.ReadLogs`` as dockerd reads it (Problem for a top-level ``ReadLogs``)."""
    answer = await ctx.raw("Capabilities")
    if not answer.ok:
        raise Problem(f"Capabilities failed: {answer.error} (dockerd takes it as no ReadLogs)")
    body = answer.body if isinstance(answer.body, dict) else {}
    cap = body.get("Cap")
    if not isinstance(cap, dict):
        if "ReadLogs" in body:
            shown = snippet(answer.entry.response_body if answer.entry else None)
            raise Problem(
                f"Capabilities answered {shown}"
                ': a top-level "ReadLogs" (as the plugin docs print it) is ignored; dockerd '
                "reads only Cap.ReadLogs, so it never calls ReadLogs"
            )
        return False
    return cap.get("ReadLogs") is True


async def reads_logs(ctx: CheckContext) -> bool:
    """Whether dockerd will call the plugin's ReadLogs."""
    try:
        return await capabilities_answer(ctx)
    except Problem:
        return False


async def write_sample(logged: Logged) -> None:
    for stream, data in SAMPLE:
        await logged.write(stream, data)
    if not await wait_sent(logged, SAMPLE_RECORDS):
        raise Problem(f"the plugin did not read its FIFO within {REAL_BOUND:g} s")


@check(
    "log.capabilities",
    title="Capabilities answer and ReadLogs",
    severity=Verdict.FAIL,
    rule='Capabilities (empty body) answers {"Cap": {"ReadLogs": bool}}; with ReadLogs true '
    "the ReadLogs endpoint works.",
    source="moby daemon/logger/proxy.go (logPluginProxyCapabilitiesResponse), "
    "daemon/logger/plugin.go (makePluginCreator), daemon/logs.go (ContainerLogs)",
    dockerd="dockerd asks Capabilities before every StartLogging, reads only Cap.ReadLogs "
    "(an error or any other shape is no ReadLogs: docker logs reads its local cache), and "
    "with ReadLogs true sends every docker logs to the plugin.",
    hint='answer {"Cap": {"ReadLogs": true}} only when ReadLogs is served; the plugin docs\' '
    'top-level {"ReadLogs": true} is not what dockerd reads.',
)
async def capabilities(ctx: CheckContext) -> str:
    reads = await capabilities_answer(ctx)
    if not reads:
        return "ReadLogs false: docker logs reads dockerd's local cache"
    logged = await start_logged(ctx, "cap")
    await logged.write("stdout", b"capabilities\n")
    await wait_sent(logged, 1)
    await logged.stop()
    try:
        await read_back(ctx, logged, ReadOptions())
    except EngineError as exc:
        raise Problem(f"ReadLogs true, but docker logs failed: {exc}") from None
    return "ReadLogs true, and ReadLogs answers"


@check(
    "log.start-logging",
    title="StartLogging with dockerd's own log options",
    severity=Verdict.FAIL,
    rule='StartLogging answers {"Err": ""} for a FIFO dockerd made, whatever log options '
    "dockerd itself uses are in Info.Config (mode, max-buffer-size, cache-*).",
    source="moby daemon/logger/proxy.go (StartLogging), daemon/logger/plugin.go "
    "(makePluginCreator), daemon/logs.go (mergeAndVerifyLogConfig), "
    "daemon/logger/factory.go (ValidateLogOpts)",
    dockerd="dockerd passes every --log-opt in Info.Config, its own included; an Err (or a "
    "failed call) fails the container's start: failed to initialize logging driver.",
    hint="ignore log options you do not know (dockerd's own ones reach you too).",
)
async def start_logging(ctx: CheckContext) -> str:
    options = {"mode": "non-blocking", "max-buffer-size": "4m", "cache-disabled": "false"}
    try:
        logged = await start_logged(ctx, "start", options)
    except EngineError as exc:
        raise Problem(f"a container with --log-opt {options} did not start: {exc}") from None
    await logged.write("stdout", b"started\n")
    entry = ctx.last("StartLogging")
    return f"StartLogging answered {snippet(entry.response_body if entry else None)}"


@check(
    "log.fifo-drain",
    title="The FIFO is read as the container writes",
    severity=Verdict.FAIL,
    rule="The plugin reads its FIFO continuously from StartLogging on.",
    source="moby daemon/logger/plugin_unix.go (openPluginStream: O_RDWR|O_NONBLOCK), "
    "daemon/logger/adapter.go (Log), daemon/logger/copier.go",
    dockerd="dockerd holds the FIFO open read-write and writes each record whole; once the "
    "pipe (64 KiB) is full its write blocks, and so does the container writing its output.",
    hint="start reading the FIFO in StartLogging (a goroutine per FIFO) and never stop "
    "before StopLogging.",
)
async def fifo_drain(ctx: CheckContext) -> str:
    logged = await start_logged(ctx, "drain")
    if logged.probe is None:
        raise Skipped("the FIFO could not be watched (it is gone)")
    capacity = logged.probe.capacity()
    line = b"d" * 1023 + b"\n"
    count = 4 * capacity // len(line)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_write_lines, logged, line, count)
        if await wait_sent(logged, count):
            return f"read {count} records ({4 * capacity} bytes, 4 pipes full) as they came"
        unread = logged.probe.unread()
        written = len(logged.sent())
        if not await _unblock(logged, count):
            nursery.cancel_scope.cancel()
    raise Problem(
        f"after {written} of {count} records the writes blocked for {REAL_BOUND:g} s with "
        f"{unread} of {capacity} bytes unread in the pipe: the container is blocked on its "
        "output"
    )


async def _write_lines(logged: Logged, line: bytes, count: int) -> None:
    for _ in range(count):
        await logged.write("stdout", line)


async def _unblock(logged: Logged, count: int) -> bool:
    """Read the pipe ourselves so the blocked writes end (after the verdict)."""
    assert logged.probe is not None
    for _ in range(200):
        logged.probe.take()
        if await wait_sent(logged, count, bound=0.05):
            return True
    return False


@check(
    "log.records-intact",
    title="Records decoded intact (read back)",
    severity=Verdict.FAIL,
    rule="Each FIFO record is a big-endian uint32 length and a LogEntry (source, time_nano, "
    "line without its newline, partial with PartialLogMetadata); ReadLogs gives them back "
    "with the newline put back on every complete line.",
    source="moby api/types/plugins/logdriver/entry.proto, io.go, daemon/logger/adapter.go "
    "(Log, ReadLogs), daemon/logger/copier.go (16 KiB pieces)",
    dockerd="dockerd cuts lines over 16 KiB into partial records (one id, ordinals, last on "
    "the piece that ended the line) and writes what ReadLogs returns as it is.",
    hint="keep source, time_nano and line; join or keep partial pieces; put the newline "
    "back on lines that ended with one (not on a partial piece that did not).",
)
async def records_intact(ctx: CheckContext) -> str:
    if not await reads_logs(ctx):
        raise Skipped("the plugin has no ReadLogs: what it kept cannot be read back")
    logged = await start_logged(ctx, "records")
    await write_sample(logged)
    await logged.stop()
    sent = logged.sent()
    lines = await read_back(ctx, logged, ReadOptions())
    expected = [
        (r.source, r.time_nano, r.line + (b"" if r.partial and not r.partial.last else b"\n"))
        for r in sent
    ]
    got = [(line.source, line.time_nano, line.line) for line in lines]
    if got != expected:
        raise Problem(_difference(expected, got))
    return f"{len(sent)} records (3 partial pieces of one 40 KiB line) came back intact"


def _difference(expected: list[tuple[str, int, bytes]], got: list[tuple[str, int, bytes]]) -> str:
    if len(got) != len(expected):
        return (
            f"ReadLogs gave {len(got)} messages for the {len(expected)} records dockerd wrote "
            f"(got lines {[snippet(g[2], 30) for g in got]})"
        )
    for index, (want, have) in enumerate(zip(expected, got, strict=True)):
        if want != have:
            return (
                f"message {index + 1}: dockerd wrote {want[0]} {_show(want[2])} at "
                f"{want[1]}, ReadLogs gave {have[0]} {_show(have[2])} at {have[1]}"
            )
    return "the messages differ"


def _show(line: bytes) -> str:
    """A line as Python shows bytes (its newline visible), long ones cut in the middle."""
    if len(line) > 40:
        return f"{line[:20]!r}…{line[-12:]!r} ({len(line)} bytes)"
    return repr(line)


@check(
    "log.stop-answer",
    title="StopLogging answered without waiting for EOF",
    severity=Verdict.FAIL,
    rule="StopLogging is answered once the plugin has read what is in the FIFO, without "
    "waiting for an end of file.",
    source="moby daemon/logger/adapter.go (Close: StopLogging, then the FIFO closed), "
    "container/monitor.go (Reset)",
    dockerd="dockerd sends StopLogging while it still holds the FIFO open and closes it only "
    "after the answer, so a plugin waiting for EOF waits for itself; meanwhile the "
    "container's exit is held (no deadline).",
    hint="at StopLogging read what is readable (non-blocking), then answer; do not wait for EOF.",
)
async def stop_answer(ctx: CheckContext) -> str:
    logged = await start_logged(ctx, "stop")
    await write_sample(logged)
    took = await logged.stop()
    entry = ctx.last("StopLogging")
    if entry is None:
        raise Problem("no StopLogging reached the plugin")
    if entry.status != 200 or (isinstance(entry.response, dict) and entry.response.get("Err")):
        raise Problem(
            f"StopLogging answered {entry.status} {snippet(entry.response_body)}: dockerd "
            "keeps the FIFO open and in place"
        )
    if entry.duration > 10.0:
        raise Problem(
            f"StopLogging took {entry.duration:.1f} s (the container's exit waited for it); "
            "dockerd's own copier gets 10 s"
        )
    return f"StopLogging answered in {entry.duration:.3f} s; the stop took {took:.3f} s"


@check(
    "log.stop-drains",
    title="Nothing left unread at StopLogging",
    severity=Verdict.FAIL,
    rule="Every record dockerd wrote before StopLogging is read by the plugin.",
    source="moby daemon/logger/adapter.go (Close), container/monitor.go (Reset: the copier "
    "drains, then StopLogging)",
    dockerd="dockerd writes the container's last records, then sends StopLogging and closes "
    "its end; what the plugin leaves in the pipe is lost.",
    hint="at StopLogging (or at EOF after it) read the FIFO to the end before closing it.",
)
async def stop_drains(ctx: CheckContext) -> str:
    logged = await start_logged(ctx, "drains")
    if logged.probe is None:
        raise Skipped("the FIFO could not be watched (it is gone)")
    for number in range(200):
        await logged.write("stdout", f"record {number}\n".encode())
    if not await wait_sent(logged, 200):
        raise Skipped("the plugin does not read its FIFO (see log.fifo-drain)")
    await logged.stop()
    settled = await logged.probe.settle(REAL_BOUND)
    if settled.holders:
        raise Skipped(
            f"the plugin still holds the FIFO after {REAL_BOUND:g} s (see log.fifo-closed)"
        )
    if settled.unread:
        records, note = logged.probe.take()
        raise Problem(
            f"{len(records) or settled.unread} of 200 records ({settled.unread} bytes) were "
            f"left unread when the plugin closed its FIFO: lost{note and '; ' + note}"
        )
    return "read every record before letting the FIFO go"


@check(
    "log.fifo-closed",
    title="The FIFO is let go after StopLogging",
    severity=Verdict.WARN,
    rule="After StopLogging the plugin closes its end of the FIFO.",
    source="moby daemon/logger/adapter.go (Close: the FIFO closed and removed)",
    dockerd="dockerd closes and removes the FIFO after the answer; a descriptor the plugin "
    "keeps holds the pipe (up to 64 KiB) and counts against its open-file limit, one per "
    "container start and docker logs.",
    hint="close the FIFO when StopLogging is answered or at its EOF.",
)
async def fifo_closed(ctx: CheckContext) -> str:
    logged = await start_logged(ctx, "closed")
    if logged.probe is None:
        raise Skipped("the FIFO could not be watched (it is gone)")
    await logged.write("stdout", b"closing\n")
    await wait_sent(logged, 1)
    await logged.stop()
    settled = await logged.probe.settle(REAL_BOUND)
    if settled.holders:
        held = "; ".join(h.describe() for h in settled.holders)
        raise Problem(f"{settled.waited:.1f} s after StopLogging the FIFO is still open: {held}")
    partial = "" if settled.complete else " (some processes could not be inspected)"
    return f"closed within {settled.waited:.3f} s{partial}"


@check(
    "log.start-again",
    title="A container logs again after a restart and docker logs",
    severity=Verdict.FAIL,
    rule="StartLogging may come again for a container already logged (a restart; docker "
    "logs of a stopped container makes a fresh logger).",
    source="moby container/container.go (StartLogger), daemon/logs.go (ContainerLogs, "
    "getLogger), daemon/start.go",
    dockerd="each start of a container, and each docker logs of a stopped one, sends "
    "Capabilities and StartLogging with a new FIFO and the same Info.ContainerID.",
    hint="key streams by File, not by ContainerID; accept a ContainerID seen before.",
)
async def start_again(ctx: CheckContext) -> str:
    logged = await start_logged(ctx, "again")
    await logged.write("stdout", b"first run\n")
    await wait_sent(logged, 1)
    await logged.stop()
    try:
        await ctx.engine.containers.start(logged.id)
    except EngineError as exc:
        raise Problem(f"the container's second start failed: {exc}") from None
    await ctx.engine.containers.stop(logged.id, timeout=0)
    if await reads_logs(ctx):
        try:
            await read_back(ctx, logged, ReadOptions())
        except EngineError as exc:
            raise Problem(f"docker logs of the stopped container failed: {exc}") from None
        return "started logging the same container again, twice"
    return "started logging the same container again"
