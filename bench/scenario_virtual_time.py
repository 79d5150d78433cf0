"""Benchmark: a scenario with 30+ minutes of injected delays and deadlines, on the virtual clock.

Fifteen container runs meet a 150 s Mount delay (dockerd's 2-minute deadline fires each
time), forty inspections wait 10-50 s each, and every List is reset (dockerd's ~15 s of
retries).

Baseline: the same scenario without its faults, in the same run.  The ratio of wall
times shows what the injected engine time costs (goal: the faulty run under 1 s).

Run: ``.venv/bin/python bench/scenario_virtual_time.py``
"""

from __future__ import annotations

import json
import logging
import time

from emulator.scenario.loader import load_scenario_text
from emulator.scenario.runner import run_scenario_sync

SCENARIO = """
version: 1
name: thirty minutes of trouble
engine: {clock: virtual, seed: 5}
plugins:
  - {name: slow, builtin: volume}
faults:
  - match: {call: VolumeDriver.Mount, first: 15}
    delay: 150s
  - match: {call: VolumeDriver.Get, after: 30, first: 40}
    delay: {distribution: uniform, low: 10s, high: 50s}
  - match: {call: VolumeDriver.List}
    fault: reset
steps:
  - volume.create: {name: v, driver: slow}
%s
  - volume.ls: {}
"""

RUNS = (
    "\n".join(
        f'  - container.run: {{name: c{i}, volumes: ["v:/d"], rm: true}}\n'
        '    expect: {error: "deadline exceeded"}'
        for i in range(15)
    )
    + "\n"
    + "\n".join("  - volume.inspect: {name: v}" for _ in range(20))
)


def main() -> dict[str, object]:
    faulty = load_scenario_text(SCENARIO % RUNS, filename="bench")
    clean_text = (
        (SCENARIO % RUNS).split("faults:")[0] + "steps:" + (SCENARIO % RUNS).split("steps:")[1]
    )
    clean_text = clean_text.replace('expect: {error: "deadline exceeded"}', "expect: {}")
    clean = load_scenario_text(clean_text, filename="bench-clean")
    t0 = time.perf_counter()
    baseline = run_scenario_sync(clean)
    base_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = run_scenario_sync(faulty)
    wall = time.perf_counter() - t0
    return {
        "passed": result.passed and baseline.passed,
        "engine_seconds": result.engine_seconds,
        "engine_minutes": result.engine_seconds / 60,
        "wall_seconds": wall,
        "baseline_engine_seconds": baseline.engine_seconds,
        "baseline_wall_seconds": base_wall,
        "wall_ratio_to_baseline": wall / base_wall,
        "faults_fired": len(result.faults_fired),
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(main(), indent=2))
