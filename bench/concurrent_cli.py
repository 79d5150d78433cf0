"""200 docker CLI clients at once on ``plugin-emulator serve``: errors and latency.

``serve`` runs as its own process with the built-in mock volume plugin (``--mock
mv=volume``).  Each client is one real ``docker`` command from a mixed list (volume
create on the mock plugin and on ``local``, volume inspect and ls, ``run --rm -v``,
network inspect and ls, ``ps -a``), on names of its own.  Baseline, same run: the same
commands one at a time.  Reported: failures (any non-zero exit), the p50 and p99 of
the commands' wall times against the sequential p50, and the CPU the round cost — the
CLI processes' own and ``serve``'s with its containers' processes (from /proc).  All of
it on the machine's cores sets a floor for the last command to finish, ``(CLI CPU + serve
CPU) / cores``, printed beside p99: a p99 near that floor means the machine, not a queue,
made it wait.  ``--containers`` is passed to ``serve`` (``fake``: the command table, as
before containers ran their commands).

    .venv/bin/python bench/concurrent_cli.py [--clients 200] [--rounds 3] [--containers fake]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIX = [
    ["volume", "create", "-d", "mv", "cv{i}"],
    ["volume", "inspect", "shared"],
    ["volume", "ls"],
    ["run", "--rm", "-v", "rv{i}:/data", "busybox", "true"],
    ["network", "inspect", "bridge"],
    ["network", "ls"],
    ["ps", "-a"],
    ["volume", "create", "lv{i}"],
]


def _command(index: int) -> list[str]:
    return [part.format(i=index) for part in MIX[index % len(MIX)]]


def _start_serve(tmp: Path, containers: str) -> tuple[subprocess.Popen[str], str]:
    socket = tmp / "engine.sock"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "serve",
            "--engine-socket",
            str(socket),
            "--root",
            str(tmp / "root"),
            "--mock",
            "mv=volume",
            "--log-level",
            "error",
            "--containers",
            containers,
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("export DOCKER_HOST="):
        proc.kill()
        raise RuntimeError(f"serve did not start: {line!r}")
    return proc, line.strip().split("=", 1)[1]


def _env(host: str, tmp: Path) -> dict[str, str]:
    return {**os.environ, "DOCKER_HOST": host, "DOCKER_CONFIG": str(tmp / "docker-config")}


def _run_one(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    start = time.perf_counter()
    done = subprocess.run(["docker", *args], env=env, capture_output=True, text=True)
    return time.perf_counter() - start, done.returncode, done.stderr.strip()


def _run_together(
    commands: list[list[str]], env: dict[str, str]
) -> tuple[list[float], list[str], float]:
    """Start every command at once; their wall times, failures, and the CPU they used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    starts: list[float] = []
    procs = []
    for args in commands:
        starts.append(time.perf_counter())
        procs.append(
            subprocess.Popen(
                ["docker", *args],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    times: list[float] = [0.0] * len(procs)
    failures: list[str] = []
    pending = dict(enumerate(procs))
    while pending:
        for index, proc in list(pending.items()):
            if proc.poll() is not None:
                times[index] = time.perf_counter() - starts[index]
                assert proc.stderr is not None
                error = proc.stderr.read().strip()
                if proc.returncode != 0:
                    failures.append(f"{' '.join(commands[index])}: {error}")
                del pending[index]
        time.sleep(0.001)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return times, failures, cpu


def _cpu_seconds(pid: int) -> float:
    """A running process's user + system CPU so far, with that of the children it has
    reaped — its containers' processes (/proc/PID/stat: utime, stime, cutime, cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(field) for field in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main(clients: int, rounds: int, containers: str = "auto") -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="pe-conc-", dir="/tmp"))
    (tmp / "docker-config").mkdir()
    proc, host = _start_serve(tmp, containers)
    env = _env(host, tmp)
    try:
        _run_one(["volume", "create", "shared"], env)
        sequential: list[float] = []
        for index in range(len(MIX) * 3):
            took, code, error = _run_one(_command(10_000 + index), env)
            if code != 0:
                raise RuntimeError(f"{_command(10_000 + index)} failed alone: {error}")
            sequential.append(took)
        single_p50 = statistics.median(sequential)
        cpu_each = resource.getrusage(resource.RUSAGE_CHILDREN)
        per_command_cpu = (cpu_each.ru_utime + cpu_each.ru_stime) / (len(sequential) + 1)
        report: dict[str, object] = {
            "clients": clients,
            "containers": containers,
            "single_client_p50_ms": round(single_p50 * 1e3, 1),
        }
        for round_ in range(rounds):
            commands = [_command(round_ * clients + i) for i in range(clients)]
            serve_before = _cpu_seconds(proc.pid)
            times, failures, cpu = _run_together(commands, env)
            serve_cpu = _cpu_seconds(proc.pid) - serve_before
            cores = os.cpu_count() or 1
            floor = (cpu + serve_cpu) / cores
            report[f"round {round_ + 1}"] = {
                "failures": len(failures),
                "first_failures": failures[:3],
                "p50_ms": round(statistics.median(times) * 1e3, 1),
                "p99_ms": round(_percentile(times, 0.99) * 1e3, 1),
                "p99_vs_single_p50": round(_percentile(times, 0.99) / single_p50, 2),
                "cli_cpu_s": round(cpu, 2),
                "serve_cpu_s": round(serve_cpu, 2),
                "cpu_floor_for_the_last_ms": round(floor * 1e3, 1),
                "p99_vs_cpu_floor": round(_percentile(times, 0.99) / floor, 2),
            }
        report["cli_cpu_per_command_alone_ms"] = round(per_command_cpu * 1e3, 1)
        return report
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--containers", choices=["auto", "processes", "fake"], default="auto")
    options = parser.parse_args()
    print(json.dumps(main(options.clients, options.rounds, options.containers), indent=2))
