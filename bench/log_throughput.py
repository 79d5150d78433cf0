"""Benchmark: container output through the engine to a log plugin's FIFO, against a bare
FIFO writer/reader pair in the same run.

Emulator path: a container on the command table writes N lines (``yes LINE | head -n N``)
to its streams; the copier cuts them, the plugin logger frames each as a ``LogEntry`` and writes
it to the FIFO; the built-in mock log driver (in the same process, as a plugin would be
in its own) reads and decodes the records.  Baseline: the same records, framed in
advance, written one ``write`` each to a FIFO by one trio task and read and decoded by
another, with no engine in between.  The ratio is what the engine's logging costs on top
of moving the bytes.

Run: ``.venv/bin/python bench/log_throughput.py [--lines N] [--length L] [--rounds R]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import trio

from emulator import open_engine
from emulator.engine.container_model import ContainerSpec
from emulator.mocks.log import MockLogDriver
from emulator.protocol.logdriver.entry import FrameDecoder, LogRecord, encode_frame


async def bare_pair(directory: Path, frames: list[bytes]) -> float:
    """Seconds to move ``frames`` through a FIFO (writer task → reader task, decoded)."""
    path = directory / "bare.fifo"
    os.mkfifo(path, 0o700)
    reader = trio.lowlevel.FdStream(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    writer = trio.lowlevel.FdStream(os.open(path, os.O_RDWR | os.O_NONBLOCK))
    expected = len(frames)
    started = time.perf_counter()

    async def write() -> None:
        for frame in frames:
            await writer.send_all(frame)

    async def read() -> None:
        decoder, seen = FrameDecoder(), 0
        while seen < expected:
            seen += len(decoder.feed(await reader.receive_some(65536)))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(write)
        nursery.start_soon(read)
    took = time.perf_counter() - started
    await writer.aclose()
    await reader.aclose()
    path.unlink()
    return took


async def through_engine(directory: Path, lines: int, line: str) -> float:
    """Seconds from ``docker run`` to the plugin holding every record."""
    driver = MockLogDriver("bench")
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.serve, f"unix:{directory / 'run/docker/plugins/bench.sock'}")
        async with open_engine(root=directory, containers="fake") as engine:
            started = time.perf_counter()
            await engine.containers.run(
                ContainerSpec(
                    command=["sh", "-c", f"yes {line} | head -n {lines}"],
                    log_config={"Type": "bench", "Config": {}},
                )
            )
            took = time.perf_counter() - started
            assert len(driver.entries()) == lines, len(driver.entries())
        nursery.cancel_scope.cancel()
    return took


async def main(args: argparse.Namespace) -> None:
    line = "x" * (args.length - 1)  # plus the newline
    record = LogRecord("stdout", time.time_ns(), line.encode())
    frames = [encode_frame(record)] * args.lines
    megabytes = args.lines * args.length / 1e6
    bare, ours = [], []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="bench-log-", dir="/tmp") as tmp:
            bare.append(await bare_pair(Path(tmp), frames))
            ours.append(await through_engine(Path(tmp), args.lines, line))
    b, o = statistics.median(bare), statistics.median(ours)
    print(
        f"{args.lines} lines of {args.length} bytes ({megabytes:.1f} MB), median of {args.rounds}"
    )
    print(f"bare FIFO pair : {args.lines / b:10.0f} lines/s {megabytes / b:7.1f} MB/s")
    print(f"engine → plugin: {args.lines / o:10.0f} lines/s {megabytes / o:7.1f} MB/s")
    print(f"ratio          : {o / b:.2f}x the bare pair's time")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    trio.run(main, parser.parse_args())
