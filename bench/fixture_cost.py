"""Benchmark: what the ``plugin_engine`` fixture costs a test, and a cold start.

Per-test cost: one pytest session (in-process) runs interleaved tests — an empty test,
a test that only requests ``plugin_engine`` (the session's engine, reset after each
test), and a test that also serves the built-in mock volume plugin and creates a volume
through it.  Each test's wall time covers setup, call and teardown (the engine reset
happens in teardown).  The fixture's cost is the median difference to the empty test.

Cold start: a new engine thread (thread, ``trio.run``, state database) up to an activated
plugin — a minimal h11 plugin already listening, and the built-in mock plugin started for
the occasion.

Run: ``.venv/bin/python bench/fixture_cost.py [--tests N] [--starts N]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def cold_start(mock: bool) -> float:
    """Seconds from nothing to an activated plugin (minimal h11 plugin, or the mock)."""
    root = Path(tempfile.mkdtemp(prefix="pe-"))
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
    for mock in (False, True):
        samples = [cold_start(mock) for _ in range(args.starts)]
        label = "built-in mock plugin" if mock else "minimal h11 plugin"
        print(
            f"cold engine start -> activated {label}: median "
            f"{statistics.median(samples) * 1e3:.2f} ms, max {max(samples) * 1e3:.2f} ms"
        )


if __name__ == "__main__":
    main()
