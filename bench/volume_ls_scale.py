"""``docker volume ls`` with 100, 1,000 and 10,000 volumes: is the cost linear?

Two engines serve the Engine API in this process; local volumes are created through one
of them (not timed), then the real docker CLI lists them, medians of ``--runs`` runs at
each size.  Baseline, same run, alternating with those runs: ``docker volume ls`` on the
other engine, which has no volume at all (the CLI's own start-up and the round trips).
Reported per size: the median wall time, the time above
the baseline, and that time per volume — linear means the per-volume figure stays put
as the count grows a hundredfold.  With ``--driver mock`` the volumes belong to the
built-in mock volume plugin (its ``List`` answers them all).

    .venv/bin/python bench/volume_ls_scale.py [--runs 9] [--sizes 100,1000,10000]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import trio

from emulator.api.server import serve
from emulator.engine.core import open_engine
from emulator.mocks.volume import MockVolumePlugin


def _ls(host: str, config: Path) -> float:
    env = {**os.environ, "DOCKER_HOST": host, "DOCKER_CONFIG": str(config)}
    start = time.perf_counter()
    done = subprocess.run(["docker", "volume", "ls"], env=env, capture_output=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"docker volume ls failed: {done.stderr.decode()}")
    return took


async def main(runs: int, sizes: list[int], driver: str) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="pe-ls-", dir="/tmp"))
    config = tmp / "docker-config"
    config.mkdir()
    ls = functools.partial(_ls, config=config)
    try:
        async with trio.open_nursery() as nursery:
            name = "local"
            if driver == "mock":
                name = "mv"
                plugin = MockVolumePlugin(tmp / "mock", name="mv")
                await nursery.start(plugin.serve, f"unix:{tmp}/run/docker/plugins/mv.sock")
            async with (
                open_engine(root=tmp) as engine,
                open_engine(root=tmp / "empty") as bare,
            ):
                host = await nursery.start(serve, engine, f"unix:{tmp}/emu.sock")
                empty_host = await nursery.start(serve, bare, f"unix:{tmp}/empty.sock")
                await trio.to_thread.run_sync(ls, host)
                await trio.to_thread.run_sync(ls, empty_host)
                report: dict[str, object] = {"driver": driver}
                made = 0
                for size in sizes:
                    while made < size:
                        await engine.volumes.create(f"v{made:05d}", driver=name)
                        made += 1
                    full, empty = [], []
                    for _ in range(runs):
                        full.append(await trio.to_thread.run_sync(ls, host))
                        empty.append(await trio.to_thread.run_sync(ls, empty_host))
                    took, base = statistics.median(full), statistics.median(empty)
                    report[str(size)] = {
                        "ms": round(took * 1e3, 1),
                        "empty_ms": round(base * 1e3, 1),
                        "above_empty_ms": round((took - base) * 1e3, 1),
                        "us_per_volume": round((took - base) / size * 1e6, 2),
                    }
                nursery.cancel_scope.cancel()
        return report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--driver", choices=["local", "mock"], default="local")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    print(json.dumps(trio.run(main, options.runs, sizes, options.driver), indent=2))
