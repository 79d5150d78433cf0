"""Test helpers: serve the Engine API for a fresh engine and run the real ``docker`` CLI on it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio

from emulator.api.server import serve
from emulator.engine.core import Engine, open_engine
from emulator.mocks.volume import MockVolumePlugin

DOCKER = shutil.which("docker")


@attrs.frozen
class Result:
    """What a ``docker`` command printed and its exit code."""

    rc: int
    out: str
    err: str


@attrs.define
class Served:
    """An engine served on ``host`` (``unix://…``), with a private ``DOCKER_CONFIG``."""

    engine: Engine
    host: str
    config_dir: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.config_dir)}

    async def docker(self, *args: str, stdin: bytes = b"") -> Result:
        """Run ``docker ARGS`` against the emulator (real clock; the CLI is another process)."""
        assert DOCKER is not None, "the docker CLI is not installed"
        proc = await trio.run_process(
            [DOCKER, *args],
            env=self.env(),
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


@asynccontextmanager
async def served(
    tmp: Path, *, mocks: Sequence[str] = ("mv",), started: Sequence[Path] = ()
) -> AsyncIterator[Served]:
    """Mock volume plugins ``mocks`` under ``tmp``, an engine, and its API on ``tmp/d.sock``."""
    async with trio.open_nursery() as nursery:
        for name in mocks:
            plugin = MockVolumePlugin(tmp / "mocks" / name, name=name)
            sock = tmp / "run/docker/plugins" / name / f"{name}.sock"
            await nursery.start(plugin.serve, f"unix:{sock}")
        async with open_engine(root=tmp, hang_guard=60.0) as engine:
            host = await nursery.start(serve, engine, f"unix:{tmp / 'd.sock'}")
            config = tmp / "docker-config"
            config.mkdir(exist_ok=True)
            yield Served(engine, host, config)
        nursery.cancel_scope.cancel()


def docker_version() -> str:
    """``docker --version`` (the client only)."""
    assert DOCKER is not None
    return subprocess.run([DOCKER, "--version"], capture_output=True, text=True).stdout.strip()
