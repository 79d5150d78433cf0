"""Benchmark: a plugin call routed through the engine vs a bare h11 round trip.

Both clients talk to the same plugin on the same unix socket in the same run, so
the ratio is the engine's own cost (lookup, Go-JSON encoding, journal, retry
bookkeeping, decoding).  Two plugins are used: the project's mock host (its small
h11 server, what tests use) and a minimal h11 server, whose low cost makes the
client's share visible; it runs once in the benchmark's own trio run and once as a
process of its own, as real plugins run (the engine yields once before it reuses a
connection to a plugin of its own process, see ``ConnectionPool.acquire``).  Also
measured: activation latency (fresh engine → first activated plugin) against a bare
Activate round trip on a new connection.

Run: ``.venv/bin/python bench/plugin_call.py [--calls N]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import h11
import trio

from emulator import open_engine
from emulator.mocks import MockPlugin

sys.path.insert(0, str(Path(__file__).parent))
from h11_plugin import plugin_process, serve_h11_plugin

LIST_BODY = b"{}\n"
HEADERS = [
    (b"Host", b"plugin.moby.localhost"),
    (b"User-Agent", b"Go-http-client/1.1"),
    (b"Content-Length", str(len(LIST_BODY)).encode()),
    (b"Accept", b"application/vnd.docker.plugins.v1.2+json"),
]


class BareH11Client:
    """The baseline: one keep-alive connection, h11, nothing else."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    async def call(self, path: bytes, body: bytes) -> bytes:
        headers = [*HEADERS[:2], (b"Content-Length", str(len(body)).encode()), HEADERS[3]]
        data = self.conn.send(h11.Request(method=b"POST", target=path, headers=headers))
        if body:
            data += self.conn.send(h11.Data(data=body))
        data += self.conn.send(h11.EndOfMessage())
        await self.stream.send_all(data)
        chunks = []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.stream.receive_some(65536))
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self.conn.start_next_cycle()
                return b"".join(chunks)


def fixed_answer(target: bytes, body: bytes) -> bytes:
    """A volume plugin that activates and lists nothing."""
    if target == b"/Plugin.Activate":
        return b'{"Implements":["VolumeDriver"]}\n'
    return b'{"Volumes":[]}\n'


async def timed(n: int, fn: Callable[[], Awaitable[object]]) -> list[float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - t0)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_us": statistics.median(ordered) * 1e6,
        "p90_us": ordered[int(len(ordered) * 0.9)] * 1e6,
        "mean_us": statistics.fmean(ordered) * 1e6,
    }


async def measure_server(root: Path, name: str, calls: int) -> dict[str, object]:
    sock = root / "run/docker/plugins" / f"{name}.sock"
    async with open_engine(root=root, hang_guard=None) as engine:
        await engine.plugins.get(name, "VolumeDriver")
        stream = await trio.open_unix_socket(str(sock))
        bare = BareH11Client(stream)
        # Warm both paths, then interleave rounds so drift hits both alike.
        await timed(100, lambda: bare.call(b"/VolumeDriver.List", LIST_BODY))
        await timed(100, lambda: engine.plugins.call(name, "VolumeDriver.List", {}))
        raw: list[float] = []
        routed: list[float] = []
        rounds = 10
        for _ in range(rounds):
            raw += await timed(calls // rounds, lambda: bare.call(b"/VolumeDriver.List", LIST_BODY))
            engine.journal.clear()
            routed += await timed(
                calls // rounds, lambda: engine.plugins.call(name, "VolumeDriver.List", {})
            )
        await stream.aclose()
    raw_s, routed_s = summary(raw), summary(routed)
    return {
        "raw_h11": raw_s,
        "engine": routed_s,
        "ratio_median": routed_s["median_us"] / raw_s["median_us"],
        "engine_overhead_us": routed_s["median_us"] - raw_s["median_us"],
    }


async def measure_activation(root: Path, name: str, n: int) -> dict[str, object]:
    """Activation on a running engine (discovery, new client, Activate) vs a bare Activate
    on a new connection; and a cold engine start up to an activated plugin."""
    sock = root / "run/docker/plugins" / f"{name}.sock"

    async def bare_activate() -> None:
        stream = await trio.open_unix_socket(str(sock))
        client = BareH11Client(stream)
        await client.call(b"/Plugin.Activate", b"")
        await stream.aclose()

    async def cold_start() -> None:
        async with open_engine(root=root) as engine:
            await engine.plugins.get(name, "VolumeDriver")

    async with open_engine(root=root) as engine:

        async def engine_activate() -> None:
            await engine.plugins.forget()
            await engine.plugins.get(name, "VolumeDriver")

        await timed(20, bare_activate)
        await timed(20, engine_activate)
        bare = summary(await timed(n, bare_activate))
        eng = summary(await timed(n, engine_activate))
    cold = summary(await timed(n, cold_start))
    return {
        "raw_h11": bare,
        "engine": eng,
        "ratio_median": eng["median_us"] / bare["median_us"],
        "cold_engine_start_to_activated": cold,
        "cold_ratio_median": cold["median_us"] / bare["median_us"],
    }


async def main(calls: int) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="pe-bench-", dir="/tmp"))
    try:
        results: dict[str, object] = {}
        async with trio.open_nursery() as nursery:
            mock = MockPlugin(("VolumeDriver",), {"VolumeDriver.List": {"Volumes": []}})
            await nursery.start(mock.serve, f"unix:{root / 'run/docker/plugins/mock.sock'}")
            fast = root / "run/docker/plugins/fast.sock"
            await nursery.start(serve_h11_plugin, fast, fixed_answer)
            results["call_via_mock_host"] = await measure_server(root, "mock", calls)
            results["call_via_minimal_server"] = await measure_server(root, "fast", calls)
            with plugin_process(root / "run/docker/plugins/proc.sock", "plugin_call:fixed_answer"):
                results["call_via_minimal_server_process"] = await measure_server(
                    root, "proc", calls
                )
                results["activation_minimal_server_process"] = await measure_activation(
                    root, "proc", 200
                )
            results["activation_minimal_server"] = await measure_activation(root, "fast", 200)
            nursery.cancel_scope.cancel()
        return results
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = trio.run(main, args.calls)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
