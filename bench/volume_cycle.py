"""Benchmark: volume create+mount+unmount+remove cycles, and memory for 10,000 volumes.

Cycle = ``engine.volumes.create`` → ``mount`` → ``unmount`` → ``remove``: the plugin
sees Get, Create, Get, Mount, Get, Unmount, Get, Get, Remove (9 requests).  Measured
against the built-in mock volume plugin (Quart on hypercorn) and against a minimal
h11 volume plugin; the baseline of each run is a bare h11 client sending the same 9
requests to the same minimal plugin.  Memory: ``tracemalloc`` growth of the engine
for 10,000 plugin volumes, against a baseline dict holding the same names and
metadata in the same run.

Run: ``.venv/bin/python bench/volume_cycle.py [--cycles N] [--volumes N]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import h11
import trio

from emulator import open_engine
from emulator.engine.core import Engine
from emulator.mocks.volume import MockVolumePlugin

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


async def minimal_volume_plugin(
    path: Path, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """A correct but minimal volume plugin: names in a set, fixed answers."""
    volumes: set[str] = set()

    def answer(target: bytes, body: bytes) -> bytes:
        method = target.decode().removeprefix("/")
        if method == "Plugin.Activate":
            return b'{"Implements":["VolumeDriver"]}'
        request = json.loads(body) if body.strip() else {}
        name = request.get("Name", "")
        if method == "VolumeDriver.Capabilities":
            return b'{"Capabilities":{"Scope":"local"}}'
        if method == "VolumeDriver.Get":
            if name in volumes:
                return json.dumps({"Volume": {"Name": name}}).encode()
            return b'{"Err":"no such volume"}'
        if method == "VolumeDriver.Create":
            volumes.add(name)
        elif method == "VolumeDriver.Remove":
            volumes.discard(name)
        elif method == "VolumeDriver.Mount":
            return json.dumps({"Mountpoint": str(path.parent)}).encode()
        elif method == "VolumeDriver.List":
            return json.dumps({"Volumes": [{"Name": n} for n in sorted(volumes)]}).encode()
        return b"{}"

    async def handle(stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        target, body = b"", b""
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(event, h11.Request):
                    target, body = event.target, b""
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    reply = answer(target, body) + b"\n"
                    head = h11.Response(
                        status_code=200, headers=[("Content-Length", str(len(reply)))]
                    )
                    await stream.send_all(
                        conn.send(head)
                        + conn.send(h11.Data(data=reply))
                        + conn.send(h11.EndOfMessage())
                    )
                    conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    return
        except trio.BrokenResourceError:
            return

    path.parent.mkdir(parents=True, exist_ok=True)
    sock = trio.socket.socket(trio.socket.AF_UNIX)
    await sock.bind(str(path))
    sock.listen(64)
    try:
        await trio.serve_listeners(
            handle,
            [trio.SocketListener(sock)],
            task_status=task_status,  # type: ignore[arg-type]
        )
    finally:
        path.unlink(missing_ok=True)


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


async def main(cycles: int, volumes: int) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="pe-vb-", dir="/tmp"))
    try:
        results: dict[str, object] = {}
        async with trio.open_nursery() as nursery:
            fast = root / "run/docker/plugins/fast.sock"
            await nursery.start(minimal_volume_plugin, fast)
            mock = MockVolumePlugin(root / "mockstate", name="mock")
            await nursery.start(mock.serve, f"unix:{root / 'run/docker/plugins/mock.sock'}")
            async with open_engine(root=root) as engine:
                await engine_cycles(engine, "fast", 20)
                await engine_cycles(engine, "mock", 20)
                bare = await bare_cycles(fast, cycles)
                via_fast = await engine_cycles(engine, "fast", cycles)
                via_mock = await engine_cycles(engine, "mock", cycles)
                results["cycles"] = {
                    "cycles": cycles,
                    "bare_h11_per_s": cycles / bare,
                    "engine_minimal_plugin_per_s": cycles / via_fast,
                    "engine_mock_plugin_per_s": cycles / via_mock,
                    "ratio_engine_vs_bare_same_plugin": via_fast / bare,
                    "ratio_mock_vs_minimal_plugin": via_mock / via_fast,
                }
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
