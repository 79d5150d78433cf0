"""``docker run --volumes-from C[:ro|:rw]`` (moby/moby v28.5.2 daemon/volumes.go
``registerMountPoints``, volume/mounts/linux_parser.go ``ParseVolumesFrom``).

The CLI tests replay moby's own: ``TestExternalVolumeDriverVolumesFrom``
(integration-cli/docker_cli_external_volume_driver_test.go: 1 activation, 1 create,
1 remove, 2 mounts, 2 unmounts), ``TestRunVolumesFromInReadWriteMode`` (``invalid mode:
bar``) and ``TestRunNamedVolumesFromNotRemoved`` (integration-cli/docker_cli_run_test.go).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from emulator import ContainerSpec, open_engine
from emulator.engine.containers import ContainerError
from emulator.mocks.volume import MockVolumePlugin
from tests.engine_api import DOCKER, served

cli = pytest.mark.skipif(DOCKER is None, reason="the docker CLI (v28) is not installed")


def counts(journal: object, *methods: str) -> list[int]:
    return [len(journal.calls(m)) for m in methods]  # type: ignore[attr-defined]


@cli
async def test_external_volume_driver_volumes_from(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        r = await s.docker(
            "run", "--name", "vol-test1", "-v", "/foo", "--volume-driver", "mv", "busybox:latest"
        )
        assert r.rc == 0, r.err
        r = await s.docker(
            "run",
            "--rm",
            "--volumes-from",
            "vol-test1",
            "--name",
            "vol-test2",
            "busybox",
            "ls",
            "/tmp",
        )
        assert r.rc == 0, r.err
        r = await s.docker("rm", "-fv", "vol-test1")
        assert r.rc == 0, r.err
        assert counts(
            s.engine.journal,
            "Plugin.Activate",
            "VolumeDriver.Create",
            "VolumeDriver.Remove",
            "VolumeDriver.Mount",
            "VolumeDriver.Unmount",
        ) == [1, 1, 1, 2, 2]
        mounts = s.engine.journal.calls("VolumeDriver.Mount")
        assert mounts[0].request["ID"] != mounts[1].request["ID"]  # one ID per container


@cli
async def test_volumes_from_modes_and_errors(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        r = await s.docker(
            "run", "--name", "parent", "-v", "/test", "--volume-driver", "mv", "busybox", "true"
        )
        assert r.rc == 0, r.err
        r = await s.docker("create", "--name", "ro", "--volumes-from", "parent:ro", "busybox")
        assert r.rc == 0, r.err
        mounts = json.loads((await s.docker("inspect", "-f", "{{json .Mounts}}", "ro")).out)
        parent = json.loads((await s.docker("inspect", "-f", "{{json .Mounts}}", "parent")).out)
        assert [(m["Name"], m["Destination"], m["Driver"], m["RW"]) for m in mounts] == [
            (parent[0]["Name"], "/test", "mv", False)
        ]
        volumes_from = await s.docker("inspect", "-f", "{{json .HostConfig.VolumesFrom}}", "ro")
        assert json.loads(volumes_from.out) == ["parent:ro"]
        r = await s.docker("run", "--volumes-from", "parent:bar", "busybox", "true")
        assert r.rc == 125
        assert r.err.startswith("docker: Error response from daemon: invalid mode: bar")
        r = await s.docker("run", "--volumes-from", "parent:shared", "busybox", "true")
        assert r.err.startswith("docker: Error response from daemon: invalid mode: shared")
        r = await s.docker("run", "--volumes-from", "nosuch", "busybox", "true")
        assert r.err.startswith("docker: Error response from daemon: No such container: nosuch")


@cli
async def test_named_volumes_from_not_removed(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        assert (await s.docker("volume", "create", "-d", "mv", "test")).rc == 0
        r = await s.docker(
            "run", "-d", "--name=parent", "--volume-driver", "mv",
            "-v", "test:/foo", "-v", "/bar", "busybox", "true",
        )  # fmt: skip
        assert r.rc == 0, r.err
        assert (
            await s.docker("run", "--name=child", "--volumes-from=parent", "busybox", "true")
        ).rc == 0
        mounts = json.loads((await s.docker("inspect", "-f", "{{json .Mounts}}", "parent")).out)
        anonymous = next(m["Name"] for m in mounts if m["Name"] != "test")
        assert (await s.docker("rm", "-f", "parent")).rc == 0
        assert (await s.docker("rm", "-fv", "child")).rc == 0
        assert (await s.docker("volume", "inspect", "test")).rc == 0
        listed = (await s.docker("volume", "ls", "-q")).out.split()
        assert "test" in listed
        assert anonymous not in listed


async def test_a_copied_volume_with_a_source_is_looked_up_at_start(short_tmp: Path) -> None:
    """A mount point with a source (the volume was mounted when its container was created)
    is copied without a volume: ``Get`` + reference at start (``lazyInitializeVolume``)."""
    plugin = MockVolumePlugin(short_tmp / "data", name="mv")
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.serve, f"unix:{short_tmp / 'run/docker/plugins/mv.sock'}")
        async with open_engine(root=short_tmp) as engine:
            journal = engine.journal
            await engine.containers.run(
                ContainerSpec(volumes=["v:/data"], volume_driver="mv", detach=True, name="up")
            )
            await engine.containers.create(ContainerSpec(volumes=["v:/data"], name="holder"))
            holder = engine.containers.get("holder")
            assert holder.mounts[0].source != ""  # v was mounted when holder was created
            before = counts(journal, "VolumeDriver.Get")
            await engine.containers.create(ContainerSpec(volumes_from=["holder"], name="child"))
            assert counts(journal, "VolumeDriver.Get") == before  # nothing looked up yet
            mark = len(journal)
            await engine.containers.start("child")
            methods = [e.method for e in journal.entries[mark:]]
            assert methods[:3] == ["VolumeDriver.Get", "VolumeDriver.Get", "VolumeDriver.Mount"]
            await engine.containers.stop("up")
            await engine.containers.stop("child")
            with pytest.raises(ContainerError):
                await engine.containers.create(
                    ContainerSpec(volumes_from=["holder:nocopy"], name="bad")
                )
        nursery.cancel_scope.cancel()
