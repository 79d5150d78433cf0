"""Benchmark: volume create+mount+unmount+remove cycles, and memory for 10,000 volumes.

Cycle = ``engine.volumes.create`` → ``mount`` → ``unmount`` → ``remove``: the plugin
sees Get, Create, Get, Mount, Get, Unmount, Get, Get, Remove (9 requests).  Measured
against a minimal h11 volume plugin running as a process of its own (as real plugins
run), the same plugin in the benchmark's own trio run, and the built-in mock volume
plugin; the baseline is a bare h11 client sending the same 9 requests to the same
minimal plugin, in rounds alternating with the engine's so both see the same machine.
The engine's speed is reported as a share of the bare client's.  Memory:
``tracemalloc`` growth of the engine for 10,000 plugin volumes, against a baseline dict
holding the same names and metadata in the same run.

Run: ``.venv/bin/python bench/volume_cycle.py [--cycles N] [--volumes N]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import h11
import trio

from emulator import open_engine
from emulator.engine.core import Engine
from emulator.mocks.volume import MockVolumePlugin

sys.path.insert(0, str(Path(__file__).parent))
from h11_plugin import plugin_process, serve_h11_plugin

CYCLE_REQUESTS = [
    ("Get", False),
    ("Create", False),
    ("Get", True),
    ("Mount", True),
    ("Get", True),
    ("Unmount", True),
    ("Get", True),
    ("Get", True),
    ("Remove", True),
]


class MinimalVolumePlugin:
    """A correct but minimal volume plugin: names in a set, fixed answers."""

    def __init__(self, mountpoint: Path) -> None:
        self.mountpoint = mountpoint
        self.volumes: set[str] = set()

    def __call__(self, target: bytes, body: bytes) -> bytes:
        return self.answer(target.decode().removeprefix("/"), body) + b"\n"

    def answer(self, method: str, body: bytes) -> bytes:
        if method == "Plugin.Activate":
            return b'{"Implements":["VolumeDriver"]}'
        name = (json.loads(body) if body.strip() else {}).get("Name", "")
        if method == "VolumeDriver.Capabilities":
            return b'{"Capabilities":{"Scope":"local"}}'
        if method == "VolumeDriver.Get":
            if name in self.volumes:
                return json.dumps({"Volume": {"Name": name}}).encode()
            return b'{"Err":"no such volume"}'
        if method == "VolumeDriver.Create":
            self.volumes.add(name)
        elif method == "VolumeDriver.Remove":
            self.volumes.discard(name)
        elif method == "VolumeDriver.Mount":
            return json.dumps({"Mountpoint": str(self.mountpoint)}).encode()
        elif method == "VolumeDriver.List":
            return json.dumps({"Volumes": [{"Name": n} for n in sorted(self.volumes)]}).encode()
        return b"{}"


async def bare_cycles(sock: Path, n: int) -> float:
    """Seconds for ``n`` cycles of the same 9 requests over one bare h11 connection."""
    stream = await trio.open_unix_socket(str(sock))
    conn = h11.Connection(h11.CLIENT)

    async def call(method: str, body: bytes) -> None:
        nonlocal conn
        headers = [
            ("Host", "plugin.moby.localhost"),
            ("User-Agent", "Go-http-client/1.1"),
            ("Content-Length", str(len(body))),
            ("Accept", "application/vnd.docker.plugins.v1.2+json"),
        ]
        data = conn.send(
            h11.Request(method="POST", target=f"/VolumeDriver.{method}", headers=headers)
        )
        data += conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
        await stream.send_all(data)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.EndOfMessage):
                conn.start_next_cycle()
                return

    t0 = time.perf_counter()
    for i in range(n):
        name = f"b{i}"
        for method, _ in CYCLE_REQUESTS:
            body = {"Name": name}
            if method == "Create":
                body["Opts"] = {}
            if method in ("Mount", "Unmount"):
                body["ID"] = "0" * 64
            await call(method, (json.dumps(body, separators=(",", ":")) + "\n").encode())
    elapsed = time.perf_counter() - t0
    await stream.aclose()
    return elapsed


async def engine_cycles(engine: Engine, driver: str, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        name = f"e{i}"
        await engine.volumes.create(name, driver=driver)
        await engine.volumes.mount(name, driver, "0" * 64)
        await engine.volumes.unmount(name, driver, "0" * 64)
        await engine.volumes.remove(name)
    return time.perf_counter() - t0


async def memory_for(engine: Engine, driver: str, count: int) -> dict[str, float]:
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(count):
        await engine.volumes.create(f"m{i}", driver=driver, labels={"i": str(i)})
    after = tracemalloc.take_snapshot()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    tracemalloc.stop()
    tracemalloc.start()
    base_before = tracemalloc.take_snapshot()
    baseline = {
        f"m{i}": {"driver": driver, "labels": {"i": str(i)}, "refs": set()} for i in range(count)
    }
    base_after = tracemalloc.take_snapshot()
    base = sum(s.size_diff for s in base_after.compare_to(base_before, "filename"))
    tracemalloc.stop()
    del baseline
    return {
        "volumes": count,
        "engine_bytes_per_volume": grown / count,
        "baseline_dict_bytes_per_volume": base / count,
        "ratio": grown / base,
    }


async def compare(engine: Engine, driver: str, sock: Path, cycles: int) -> dict[str, float]:
    """Bare and engine cycles on one plugin, in ten alternating rounds."""
    await engine_cycles(engine, driver, 20)
    await bare_cycles(sock, 20)
    bare = via_engine = 0.0
    for _ in range(10):
        bare += await bare_cycles(sock, cycles // 10)
        via_engine += await engine_cycles(engine, driver, cycles // 10)
    return {
        "bare_h11_per_s": round(cycles / bare, 1),
        "engine_per_s": round(cycles / via_engine, 1),
        "engine_speed_vs_bare": round(bare / via_engine, 3),
    }


async def main(cycles: int, volumes: int) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="pe-vb-", dir="/tmp"))
    plugins = root / "run/docker/plugins"
    try:
        results: dict[str, object] = {"cycles": cycles}
        async with trio.open_nursery() as nursery:
            fast = plugins / "fast.sock"
            await nursery.start(serve_h11_plugin, fast, MinimalVolumePlugin(root))
            mock = MockVolumePlugin(root / "mockstate", name="mock")
            await nursery.start(mock.serve, f"unix:{plugins / 'mock.sock'}")
            with plugin_process(
                plugins / "proc.sock", "volume_cycle:MinimalVolumePlugin", str(root)
            ):
                async with open_engine(root=root) as engine:
                    results["minimal_plugin_process"] = await compare(
                        engine, "proc", plugins / "proc.sock", cycles
                    )
                    results["minimal_plugin_in_process"] = await compare(
                        engine, "fast", fast, cycles
                    )
                    await engine_cycles(engine, "mock", 20)
                    via_mock = await engine_cycles(engine, "mock", cycles)
                    results["engine_mock_plugin_per_s"] = round(cycles / via_mock, 1)
                    results["memory"] = await memory_for(engine, "fast", volumes)
            nursery.cancel_scope.cancel()
        return results
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--volumes", type=int, default=10_000)
    args = parser.parse_args()
    print(json.dumps(trio.run(main, args.cycles, args.volumes), indent=2))
