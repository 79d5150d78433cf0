"""The real docker CLI through the emulator to a real third-party plugin, ``rclone serve docker``.

What a plugin author would type, with dockerd's output and exit codes, and real FUSE mounts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.engine_api import DOCKER, served
from tests.rclone import rclone_available, serve_rclone

pytestmark = [
    pytest.mark.skipif(rclone_available() is not None, reason=str(rclone_available())),
    pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed"),
]


async def test_docker_cli_with_rclone(short_tmp: Path) -> None:
    backend = short_tmp / "backend"
    backend.mkdir()
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_rclone, short_tmp)
        async with served(short_tmp, mocks=()) as s:
            r = await s.docker(
                "volume", "create", "-d", "rclone", "-o", f"remote=:local:{backend}", "rv"
            )
            assert (r.rc, r.out, r.err) == (0, "rv\n", "")
            r = await s.docker("volume", "ls")
            assert r.out == "DRIVER    VOLUME NAME\nrclone    rv\n"
            r = await s.docker("volume", "create", "-d", "rclone", "nobackend")
            assert r.rc == 1
            assert r.err == (
                "Error response from daemon: create nobackend: VolumeDriver.Create: "
                "volume must have either remote or backend type\n"
            )
            r = await s.docker("run", "--rm", "-v", "rv:/data", "busybox", "true")
            assert (r.rc, r.out, r.err) == (0, "", "")
            r = await s.docker("run", "-d", "--name", "c1", "-v", "rv:/data", "busybox", "top")
            assert r.rc == 0
            (short_tmp / "f.txt").write_text("through FUSE\n")
            # Into a running container: dockerd mounts again with the container's mount ID,
            # which rclone refuses ("volume is already mounted by this id"); the stat call
            # fails and the v28 CLI reports the destination as missing, as against dockerd.
            r = await s.docker("cp", str(short_tmp / "f.txt"), "c1:/data/")
            assert (r.rc, r.err.splitlines()[-1]) == (1, "no such directory")
            mounts = s.engine.journal.calls("VolumeDriver.Mount")
            assert mounts[-1].request["ID"] == mounts[-2].request["ID"]
            assert "already mounted by this id" in str(mounts[-1].response)
            r = await s.docker("stop", "c1")
            assert r.rc == 0
            # Stopped: each archive call mounts with a fresh ID and unmounts at its end.
            r = await s.docker("cp", str(short_tmp / "f.txt"), "c1:/data/")
            assert (r.rc, r.err) == (0, "")
            assert (backend / "f.txt").read_text() == "through FUSE\n"
            r = await s.docker("cp", "c1:/data/f.txt", str(short_tmp / "back.txt"))
            assert (r.rc, r.err) == (0, "")
            assert (short_tmp / "back.txt").read_text() == "through FUSE\n"
            r = await s.docker("volume", "rm", "rv")
            assert r.rc == 1
            assert r.err.startswith("Error response from daemon: remove rv: volume is in use - [")
            r = await s.docker("rm", "-f", "c1")
            assert (r.rc, r.out) == (0, "c1\n")
            r = await s.docker("volume", "rm", "rv")
            assert (r.rc, r.out, r.err) == (0, "rv\n", "")
            r = await s.docker("volume", "inspect", "rv")
            assert (r.rc, r.err) == (1, "Error response from daemon: get rv: no such volume\n")
        nursery.cancel_scope.cancel()


async def test_a_container_reads_and_writes_an_rclone_volume(short_tmp: Path) -> None:
    # The FUSE mount rclone makes at Mount is bound into the container's namespace.
    from emulator.runtime.support import static_support

    support = static_support()
    if not support.available:
        pytest.skip(support.reason)
    backend = short_tmp / "backend"
    backend.mkdir()
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_rclone, short_tmp)
        async with served(short_tmp, mocks=(), containers="processes") as s:
            r = await s.docker(
                "volume", "create", "-d", "rclone", "-o", f"remote=:local:{backend}", "rv"
            )
            assert r.rc == 0
            r = await s.docker(
                "run",
                "--rm",
                "-v",
                "rv:/data",
                "busybox",
                "sh",
                "-c",
                "echo hi > /data/f && cat /data/f",
            )
            assert (r.rc, r.out, r.err) == (0, "hi\n", "")
            assert (backend / "f").read_text() == "hi\n"
        nursery.cancel_scope.cancel()
