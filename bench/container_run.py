"""What a real container process costs: ``docker run --rm busybox true`` and memory.

Two engines are served in this process, one with ``containers="processes"`` and one with
``containers="fake"`` (the command table), and the real docker CLI runs ``docker run
--rm busybox true`` against each, alternately, so both see the same machine state; the
ratio of the medians is the price of a real process.  Then ``--detached`` containers
``sleep`` in the processes engine and the resident memory (``VmRSS``) of every process
they consist of (the busybox ``unshare`` shim, PID 1) is summed, per container, with the
engine process's own growth over the same containers.

    .venv/bin/python bench/container_run.py [--runs 30] [--detached 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import trio

from emulator.api.server import serve
from emulator.engine.container_model import ContainerSpec
from emulator.engine.core import open_engine

DOCKER = shutil.which("docker")


def memory_kib(pid: int, field: str = "Rss:") -> int:
    """``Rss`` or ``Pss`` (shared pages divided among their users) of ``pid``, in KiB."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(root: int) -> list[int]:
    """Every live process under ``root``."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
    found = []
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor is not None and ancestor != root:
            ancestor = parents.get(ancestor)
        if ancestor == root:
            found.append(pid)
    return found


async def docker(host: str, *args: str) -> float:
    """Run ``docker ARGS`` against ``host``; its wall time (seconds)."""
    assert DOCKER is not None, "the docker CLI is not installed"
    started = time.perf_counter()
    result = await trio.run_process(
        [DOCKER, *args], env={**os.environ, "DOCKER_HOST": host}, capture_stdout=True
    )
    assert result.returncode == 0
    return time.perf_counter() - started


async def main(runs: int, detached: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="pe-bench-", dir="/dev/shm"))
    try:
        async with trio.open_nursery() as nursery:
            hosts = {}
            engines = {}
            for mode in ("processes", "fake"):
                root = base / mode
                engine = await nursery.start(_engine, root, mode)
                engines[mode] = engine
                hosts[mode] = await nursery.start(serve, engine, f"unix:{root}/d.sock")
            times: dict[str, list[float]] = {"processes": [], "fake": []}
            for mode in hosts:  # warm up: the CLI's config, the first root
                await docker(hosts[mode], "run", "--rm", "busybox", "true")
            for _ in range(runs):
                for mode in hosts:
                    times[mode].append(await docker(hosts[mode], "run", "--rm", "busybox", "true"))
            real, fake = (statistics.median(times[m]) for m in ("processes", "fake"))
            print(f"docker run --rm busybox true, median of {runs}:")
            print(f"  real process  {real * 1000:7.1f} ms")
            print(f"  command table {fake * 1000:7.1f} ms")
            print(f"  ratio         {real / fake:7.2f}")
            await _memory(engines["processes"], detached)
            nursery.cancel_scope.cancel()
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def _engine(root: Path, mode: str, *, task_status: trio.TaskStatus[object]) -> None:
    async with open_engine(root=root, containers=mode) as engine:
        task_status.started(engine)
        await trio.sleep_forever()


async def _memory(engine: object, count: int) -> None:
    from emulator.engine.core import Engine

    assert isinstance(engine, Engine)
    before_self = memory_kib(os.getpid())
    before = set(descendants(os.getpid()))
    for index in range(count):
        spec = ContainerSpec("busybox", ["sleep", "3600"], name=f"m{index}", detach=True)
        await engine.containers.run(spec)
    await trio.sleep(0.5)
    pids = [p for p in descendants(os.getpid()) if p not in before]
    rss = sum(memory_kib(p) for p in pids)
    pss = sum(memory_kib(p, "Pss:") for p in pids)
    grown = memory_kib(os.getpid()) - before_self
    print(f"{count} detached `sleep 3600` containers: {len(pids)} processes (shim + PID 1)")
    print(f"  RSS of their processes {rss / count:7.0f} KiB per container")
    print(f"  PSS of their processes {pss / count:7.0f} KiB per container")
    print(f"  the engine's growth    {grown / count:7.0f} KiB per container (RSS)")
    for index in range(count):
        await engine.containers.remove(f"m{index}", force=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--detached", type=int, default=20)
    options = parser.parse_args()
    trio.run(main, options.runs, options.detached)
