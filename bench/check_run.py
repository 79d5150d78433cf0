"""How long ``plugin-emulator check`` takes against the correct built-in mock volume, authz
and log plugins, as a ratio to the engine's bare activation of that plugin (open an engine,
Plugin.Activate), both measured in this run, on virtual time.  Run: ``python
bench/check_run.py [volume|authz|log ...]`` (all by default); ``--go-log BINARY`` measures
the Go log driver of the tests (tests/go/logdriver, built) started as a process instead."""

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
from emulator.engine.processes import PluginProcess, ProcessSpec
from emulator.mocks.authz import AuthzRule, MockAuthzPlugin
from emulator.mocks.log import MockLogDriver
from emulator.mocks.volume import MockVolumePlugin

#: Per kind: the mock's name, the interface to activate, and how to make the mock.
MOCKS: dict[str, tuple[str, str, Callable[[Path], Any]]] = {
    "volume": ("mockvol", "VolumeDriver", lambda root: MockVolumePlugin(root / "state")),
    "authz": (
        "gate",
        "authz",
        lambda _root: MockAuthzPlugin([AuthzRule(allow=False, method="DELETE", msg="no")]),
    ),
    "log": ("mocklog", "LogDriver", lambda _root: MockLogDriver("mocklog")),
}


class _GoLog:
    """The Go log driver as a process, served like a mock (``serve(task_status, address)``)."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root

    async def serve(self, address: str, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        socket = Path(address.removeprefix("unix:"))
        argv = [self.binary, "-socket", str(socket), "-log", str(self.root / "golog.jsonl")]
        process = PluginProcess(
            ProcessSpec("golog", argv, socket=socket, private_run=False), root=self.root
        )
        await process.run(task_status=task_status)


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
    words = sys.argv[1:]
    if "--go-log" in words:
        binary = words[words.index("--go-log") + 1]
        MOCKS["log"] = ("golog", "LogDriver", lambda root: _GoLog(binary, root))
        words = ["log"]
    for kind in words or list(MOCKS):
        base, full = trio.run(measure, kind, clock=VirtualClock(grace=30).clock)
        count = len(CATALOGUE.checks([kind]))
        print(
            f"{kind}: bare activation {base * 1000:.1f} ms; {count} checks {full * 1000:.0f} ms; "
            f"ratio {full / base:.0f}x"
        )
