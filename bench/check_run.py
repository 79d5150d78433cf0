"""How long ``plugin-emulator check`` takes against the correct built-in mock volume plugin,
as a ratio to the engine's bare activation of that plugin (open an engine, Plugin.Activate),
both measured in this run, on virtual time.  Run: ``python bench/check_run.py``."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import trio

from emulator import open_engine
from emulator.check import CheckOptions, Target, run_checks
from emulator.clock import VirtualClock
from emulator.mocks.volume import MockVolumePlugin


async def measure(rounds: int = 5) -> tuple[float, float]:
    root = Path(tempfile.mkdtemp(prefix="pe-bench-", dir="/dev/shm"))
    try:
        mock = MockVolumePlugin(root / "state", name="mockvol")
        async with trio.open_nursery() as nursery:
            await nursery.start(mock.serve, f"unix:{root}/run/docker/plugins/mockvol.sock")
            start = time.perf_counter()
            for index in range(rounds):
                async with open_engine(root=root, data_root=root / f"d{index}") as engine:
                    await engine.plugins.get("mockvol", "VolumeDriver")
            baseline = (time.perf_counter() - start) / rounds
            start = time.perf_counter()
            for _ in range(rounds):
                run = await run_checks(Target("name", "mockvol", root=root), CheckOptions(seed=1))
                assert run.exit_code == 0
            full = (time.perf_counter() - start) / rounds
            nursery.cancel_scope.cancel()
        return baseline, full
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    base, full = trio.run(measure, clock=VirtualClock(grace=30).clock)
    print(
        f"bare activation {base * 1000:.1f} ms; 21 volume checks {full * 1000:.0f} ms; "
        f"ratio {full / base:.0f}x"
    )
