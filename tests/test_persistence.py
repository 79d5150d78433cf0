"""The engine's state survives a killed process: nothing committed is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from emulator import open_engine

WRITER = textwrap.dedent(
    """
    import sys, trio
    from emulator import ContainerSpec, open_engine

    async def main(root):
        async with open_engine(root=root) as engine:
            for i in range(20):
                await engine.volumes.create(f"kept{i}", labels={"n": str(i)})
            await engine.containers.create(ContainerSpec(volumes=["kept0:/data"], name="holder"))
            print("committed", flush=True)
            await trio.sleep_forever()

    trio.run(main, sys.argv[1])
    """
)


def write_then_kill(root: Path) -> None:
    """Run WRITER in its own process group and SIGKILL it once it has committed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "committed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_sigkill_loses_nothing_committed(short_tmp: Path) -> None:
    write_then_kill(short_tmp)
    async with open_engine(root=short_tmp) as engine:
        volumes, _ = await engine.volumes.list()
        assert sorted(v.Name for v in volumes) == sorted(f"kept{i}" for i in range(20))
        info = await engine.volumes.inspect("kept7")
        assert info.Labels == {"n": "7"}
        holder = engine.containers.get("holder")
        assert holder.mounts[0].name == "kept0"
        assert engine.volumes.store.has_ref("kept0")
