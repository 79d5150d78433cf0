"""How long ``plugin-emulator check`` takes against the correct built-in mock volume and authz
plugins, as a ratio to the engine's bare activation of that plugin (open an engine,
Plugin.Activate), both measured in this run, on virtual time.  Run: ``python
bench/check_run.py [volume|authz ...]`` (both by default)."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from emulator import open_engine
from emulator.check import CATALOGUE, CheckOptions, Target, run_checks
from emulator.clock import VirtualClock
from emulator.mocks.authz import AuthzRule, MockAuthzPlugin
from emulator.mocks.volume import MockVolumePlugin

#: Per kind: the mock's name, the interface to activate, and how to make the mock.
MOCKS: dict[str, tuple[str, str, Callable[[Path], Any]]] = {
    "volume": ("mockvol", "VolumeDriver", lambda root: MockVolumePlugin(root / "state")),
    "authz": (
        "gate",
        "authz",
        lambda _root: MockAuthzPlugin([AuthzRule(allow=False, method="DELETE", msg="no")]),
    ),
}


async def measure(kind: str, rounds: int = 5) -> tuple[float, float]:
    """Seconds per round: (open an engine and activate the mock, run the kind's checks)."""
    name, interface, make = MOCKS[kind]
    root = Path(tempfile.mkdtemp(prefix="pe-bench-", dir="/dev/shm"))
    try:
        mock = make(root)
        async with trio.open_nursery() as nursery:
            await nursery.start(mock.serve, f"unix:{root}/run/docker/plugins/{name}.sock")
            start = time.perf_counter()
            for index in range(rounds):
                async with open_engine(root=root, data_root=root / f"d{index}") as engine:
                    await engine.plugins.get(name, interface)
            baseline = (time.perf_counter() - start) / rounds
            start = time.perf_counter()
            for _ in range(rounds):
                run = await run_checks(
                    Target("name", name, root=root), CheckOptions(kinds=(kind,), seed=1)
                )
                assert run.exit_code == 0, run
            full = (time.perf_counter() - start) / rounds
            nursery.cancel_scope.cancel()
        return baseline, full
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    for kind in sys.argv[1:] or list(MOCKS):
        base, full = trio.run(measure, kind, clock=VirtualClock(grace=30).clock)
        count = len(CATALOGUE.checks([kind]))
        print(
            f"{kind}: bare activation {base * 1000:.1f} ms; {count} checks {full * 1000:.0f} ms; "
            f"ratio {full / base:.0f}x"
        )
