"""Whole-process start-up of ``plugin-emulator`` commands, as a ratio to ``python -c pass``
measured in the same run, alternating: each round runs the baseline, then every command once.
The bytecode cache must be warm, as an installed package has it: this benchmark drops
``PYTHONDONTWRITEBYTECODE`` from the children's environment and runs every command once
before timing.  Run: ``python bench/startup.py [--runs 9]``; the quickstart with ``containers:
fake`` is written to a temporary file from ``scenarios/quickstart.yaml``."""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).with_name("plugin-emulator"))


def _commands(cli: str, fake_scenario: Path, shipped: bool, tag: str) -> dict[str, list[str]]:
    commands = {
        f"--help{tag}": [cli, "--help"],
        f"run quickstart (containers: fake){tag}": [cli, "run", str(fake_scenario)],
    }
    if shipped:
        commands[f"run quickstart (as shipped){tag}"] = [
            cli,
            "run",
            str(ROOT / "scenarios/quickstart.yaml"),
        ]
    return commands


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv``."""
    cpu, start = _cpu(), time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--skip-shipped", action="store_true", help="no real containers")
    parser.add_argument("--against", type=Path, help="another venv's bin directory")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as work:
        fake = Path(work) / "qs-fake.yaml"
        text = (ROOT / "scenarios/quickstart.yaml").read_text()
        fake.write_text(text.replace("containers: auto", "containers: fake"))
        commands = {"python -c pass": [sys.executable, "-c", "pass"]}
        commands.update(_commands(CLI, fake, not args.skip_shipped, ""))
        if args.against is not None:
            other = str(args.against / "plugin-emulator")
            commands.update(_commands(other, fake, not args.skip_shipped, " [against]"))
        for argv in commands.values():  # warm the bytecode cache
            _time(argv, env, work)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                wall, cpu = _time(argv, env, work)
                walls[name].append(wall)
                cpus[name].append(cpu)
    base = statistics.median(walls["python -c pass"])
    base_cpu = statistics.median(cpus["python -c pass"])
    print(f"load average {os.getloadavg()[0]:.2f}, median of {args.runs} runs")
    for name, values in walls.items():
        wall, cpu = statistics.median(values), statistics.median(cpus[name])
        print(
            f"{name:48} wall {wall:.3f} s {wall / base:5.1f}x (min {min(values):.3f})"
            f"  cpu {cpu:.3f} s {cpu / base_cpu:5.1f}x"
        )


if __name__ == "__main__":
    main()
