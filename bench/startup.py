"""Whole-process start-up of ``plugin-emulator`` commands, as a ratio to ``python -c pass``
measured in the same run, alternating: each round runs the baseline, then every command once.
The bytecode cache must be warm, as an installed package has it: this benchmark drops
``PYTHONDONTWRITEBYTECODE`` from the children's environment and runs every command once
before timing.  Run: ``python bench/startup.py [--runs 9]``; the quickstart with ``containers:
fake`` is written to a temporary file from ``scenarios/quickstart.yaml``."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).with_name("plugin-emulator"))


def _commands(fake_scenario: Path) -> dict[str, list[str]]:
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "--help": [CLI, "--help"],
        "run quickstart (containers: fake)": [CLI, "run", str(fake_scenario)],
        "run quickstart (as shipped)": [CLI, "run", str(ROOT / "scenarios/quickstart.yaml")],
    }


def _wall(argv: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--skip-shipped", action="store_true", help="no real containers")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as work:
        fake = Path(work) / "qs-fake.yaml"
        text = (ROOT / "scenarios/quickstart.yaml").read_text()
        fake.write_text(text.replace("containers: auto", "containers: fake"))
        commands = _commands(fake)
        if args.skip_shipped:
            del commands["run quickstart (as shipped)"]
        for argv in commands.values():  # warm the bytecode cache
            _wall(argv, env, work)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                times[name].append(_wall(argv, env, work))
    base = statistics.median(times["python -c pass"])
    print(f"load average {os.getloadavg()[0]:.2f}, median of {args.runs} runs")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:38} {median:.3f} s  {median / base:5.1f}x  (min {min(values):.3f})")


if __name__ == "__main__":
    main()
