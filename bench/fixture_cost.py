"""Benchmark: what the ``plugin_engine`` fixture costs a test, and a cold start.

Per-test cost: one pytest session (in-process) runs interleaved tests — an empty test,
a test that only requests ``plugin_engine`` (the session's engine, reset after each
test), and a test that also serves the built-in mock volume plugin and creates a volume
through it.  Each test's wall time covers setup, call and teardown (the engine reset
happens in teardown).  The fixture's cost is the median difference to the empty test.

Cold start: a new engine thread (thread, ``trio.run``, state database) up to an activated
plugin — a minimal h11 plugin already listening, and the built-in mock plugin started for
the occasion — in a root where the fixture makes them (``/dev/shm`` when it can).
Baseline, same run: a new thread running ``trio.run`` that opens a connection to the same
listening plugin and makes a bare ``/Plugin.Activate`` round trip.

Run: ``.venv/bin/python bench/fixture_cost.py [--tests N] [--starts N]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import h11
import pytest
import trio

from emulator.testing import EngineThread, PluginEngine

sys.path.insert(0, str(Path(__file__).parent))
from h11_plugin import serve_h11_plugin

ACTIVATE = b'{"Implements": ["VolumeDriver"]}'


class Timer:
    """A pytest plugin recording each test's wall time (setup + call + teardown)."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        start = time.perf_counter()
        yield
        kind = item.name.rsplit("_", 1)[0]
        self.times.setdefault(kind, []).append(time.perf_counter() - start)


def per_test_cost(n: int) -> dict[str, list[float]]:
    """Run the interleaved suite in-process and return wall times by kind."""
    work = Path(tempfile.mkdtemp(prefix="pe-bench-"))
    try:
        lines = []
        for i in range(n):
            lines.append(f"def test_empty_{i}():\n    pass\n")
            lines.append(f"def test_engine_{i}(plugin_engine):\n    pass\n")
            lines.append(
                f"def test_volume_{i}(plugin_engine, mock_volume_plugin):\n"
                f'    plugin_engine.volumes.create("v", driver="mockvol")\n'
            )
        (work / "test_cost.py").write_text("\n".join(lines))
        timer = Timer()
        code = pytest.main(
            [
                str(work),
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:randomly",
                "--rootdir",
                str(work),
            ],
            plugins=[timer],
        )
        if code != 0:
            raise SystemExit(f"the benchmark suite failed ({code})")
        return timer.times
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def _activate(engine: PluginEngine, name: str) -> None:
    await engine.engine.plugins.get(name, "VolumeDriver")


def _temp_base() -> str | None:
    """Where the pytest plugin puts its roots (``/dev/shm`` when writable)."""
    return "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else None


def bare_start(sock: Path) -> float:
    """Seconds for a new thread to run trio and make one bare Activate round trip."""

    async def activate() -> None:
        stream = await trio.open_unix_socket(str(sock))
        conn = h11.Connection(h11.CLIENT)
        head = [("Host", "plugin.moby.localhost"), ("Content-Length", "0")]
        data = conn.send(h11.Request(method="POST", target="/Plugin.Activate", headers=head))
        await stream.send_all(data + conn.send(h11.EndOfMessage()))
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.EndOfMessage):
                break
        await stream.aclose()

    start = time.perf_counter()
    thread = threading.Thread(target=trio.run, args=(activate,))
    thread.start()
    thread.join()
    return time.perf_counter() - start


def cold_start(mock: bool, *, baseline: list[float] | None = None) -> float:
    """Seconds from nothing to an activated plugin (minimal h11 plugin, or the mock);
    with ``baseline``, a bare start (:func:`bare_start`) is measured too, first."""
    root = Path(tempfile.mkdtemp(prefix="pe-", dir=_temp_base()))
    sock = root / "engine/run/docker/plugins/fast.sock"
    sock.parent.mkdir(parents=True)
    try:
        server = EngineThread(root / "server")  # a trio thread serving the h11 plugin
        server.start()
        try:
            if not mock:
                scope = server.open_scope()

                async def serve() -> None:
                    assert scope.nursery is not None
                    await scope.nursery.start(serve_h11_plugin, sock, lambda t, b: ACTIVATE)

                server.run(serve)
                if baseline is not None:
                    baseline.append(bare_start(sock))
            start = time.perf_counter()
            thread = EngineThread(root / "engine")
            thread.start()
            engine = PluginEngine(thread)
            if mock:
                engine.mock_volume_plugin("fast")
            thread.run(_activate, engine, "fast")
            took = time.perf_counter() - start
            engine.end_test()
            thread.close()
            if not mock:
                server.run(scope.aclose)
        finally:
            server.close()
        return took
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=300, help="tests of each kind")
    parser.add_argument("--starts", type=int, default=30, help="cold starts of each kind")
    args = parser.parse_args()
    times = per_test_cost(args.tests)
    empty = statistics.median(times["test_empty"])
    print(f"per test, median of {args.tests} (setup + call + teardown):")
    for kind in ("test_empty", "test_engine", "test_volume"):
        med = statistics.median(times[kind])
        print(
            f"  {kind:12} {med * 1e3:7.3f} ms  fixture cost {(med - empty) * 1e3:7.3f} ms"
            f"  ratio {med / empty:6.1f}x"
        )
    bare: list[float] = []
    for mock in (False, True):
        samples = [cold_start(mock, baseline=None if mock else bare) for _ in range(args.starts)]
        label = "built-in mock plugin" if mock else "minimal h11 plugin"
        print(
            f"cold engine start -> activated {label}: median "
            f"{statistics.median(samples) * 1e3:.2f} ms, max {max(samples) * 1e3:.2f} ms"
        )
    print(
        f"baseline: new thread, trio.run, bare Activate on a new connection: median "
        f"{statistics.median(bare) * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main()
