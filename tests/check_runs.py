"""Test helper: the check catalogue of one kind against a mock plugin served in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from emulator.check import CheckOptions, CheckRun, Target, Verdict, run_checks
from emulator.clock import VirtualClock


def run_against_mock(
    root: Path, mock: Any, name: str, kind: str, *, select: str = "", seed: int = 7
) -> CheckRun:
    """Serve ``mock`` as the v1 plugin ``name`` under ``root`` and run the ``kind`` checks
    (``select`` as ``-k``) on virtual time."""

    async def main() -> CheckRun:
        async with trio.open_nursery() as nursery:
            await nursery.start(mock.serve, f"unix:{root}/run/docker/plugins/{name}.sock")
            run = await run_checks(
                Target("name", name, root=root),
                CheckOptions(kinds=(kind,), select=select, seed=seed),
            )
            nursery.cancel_scope.cancel()
        return run

    return trio.run(main, clock=VirtualClock(grace=30).clock)


def verdicts_of(run: CheckRun) -> dict[str, Verdict]:
    """Each check's verdict, by id."""
    return {r.check.id: r.verdict for r in run.results}
