"""The volume choreography end to end against a real third-party plugin: ``rclone serve docker``.

The same expectations as ``test_volumes.py`` (moby's external volume driver tests),
counted in the engine's journal — every request the engine sent, which is what
rclone received — with real FUSE mounts.  rclone needs a backend option on Create,
so volumes are created explicitly with ``remote=:local:DIR``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
import trio

from emulator import ContainerSpec, open_engine
from emulator.engine.containers import ContainerError
from emulator.engine.core import Engine
from emulator.engine.volume_store import VolumeError
from tests.rclone import mounts_under, rclone_available, serve_rclone

pytestmark = pytest.mark.skipif(rclone_available() is not None, reason=str(rclone_available()))

RC = "rclone"


@attrs.frozen
class Env:
    engine: Engine
    root: Path
    backend: Path

    def sequence(self) -> list[str]:
        return [
            e.method.removeprefix("VolumeDriver.")
            for e in self.engine.journal
            if e.plugin == RC and e.method != "Plugin.Activate"
        ]

    def calls(self, method: str) -> int:
        return self.sequence().count(method)

    def bodies(self, method: str) -> list[object]:
        return [e.request for e in self.engine.journal.calls(f"VolumeDriver.{method}", plugin=RC)]

    async def create(self, name: str) -> None:
        folder = self.backend / name
        folder.mkdir(parents=True, exist_ok=True)
        await self.engine.volumes.create(name, driver=RC, opts={"remote": f":local:{folder}"})


@pytest.fixture
async def env(short_tmp: Path) -> AsyncIterator[Env]:
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_rclone, short_tmp)
        async with open_engine(root=short_tmp) as engine:
            yield Env(engine, short_tmp, short_tmp / "backend")
            await engine.containers.shutdown()
        nursery.cancel_scope.cancel()


async def test_create_is_get_then_create_and_capabilities_once(env: Env) -> None:
    for name in ("a1", "a2", "a3"):
        await env.create(name)
        await env.engine.volumes.inspect(name)
    assert env.calls("Capabilities") == 1
    assert env.sequence()[:3] == ["Capabilities", "Get", "Create"]
    assert env.bodies("Create")[0] == {"Name": "a1", "Opts": {"remote": f":local:{env.backend}/a1"}}


async def test_inspect_unknown_and_list(env: Env) -> None:
    with pytest.raises(VolumeError, match=r"^get dummy: no such volume$"):
        await env.engine.volumes.inspect("dummy")
    await env.create("listed")
    env.engine.journal.clear()
    listed, warnings = await env.engine.volumes.list()
    assert ("listed", RC) in [(v.Name, v.Driver) for v in listed]
    assert env.sequence() == ["List"]
    assert warnings == []


async def test_rclone_error_text_reaches_the_caller_unchanged(env: Env) -> None:
    with pytest.raises(VolumeError) as info:
        await env.engine.volumes.create("nobackend", driver=RC)
    assert str(info.value) == (
        "create nobackend: VolumeDriver.Create: volume must have either remote or backend type"
    )


async def test_run_mounts_through_fuse_and_unmounts_with_the_same_id(env: Env) -> None:
    await env.create("data")
    c = await env.engine.containers.run(
        ContainerSpec(volumes=["data:/data"], name="c", detach=True)
    )
    mount = c.mounts[0]
    assert [p for p, kind in mounts_under(env.root) if kind.startswith("fuse")]
    (Path(mount.path) / "hello.txt").write_text("through fuse")
    await env.engine.containers.stop("c")
    assert (env.backend / "data" / "hello.txt").read_text() == "through fuse"
    (mounted,) = env.bodies("Mount")
    (unmounted,) = env.bodies("Unmount")
    assert mounted == unmounted
    assert isinstance(mounted, dict)
    assert len(mounted["ID"]) == 64
    assert mount.id == ""


async def test_cp_from_a_stopped_container_mounts_with_a_fresh_id(env: Env) -> None:
    await env.create("st")
    c = await env.engine.containers.run(ContainerSpec(volumes=["st:/st"], name="s", detach=True))
    (Path(c.mounts[0].path) / "f").write_text("kept")
    await env.engine.containers.stop("s")
    try:
        await env.engine.containers.copy("s", "/st/f", env.root / "f-out")
    except OSError as exc:
        pytest.fail(f"reading through rclone's fresh FUSE mount: {exc!r}")
    assert (env.root / "f-out").read_text() == "kept"
    ids = [b["ID"] for b in env.bodies("Mount")]  # type: ignore[index]
    assert len(ids) == 2
    assert ids[0] != ids[1]


async def test_cp_from_a_running_container_meets_rclones_same_id_refusal(env: Env) -> None:
    # dockerd re-sends the running container's mount ID for docker cp (moby's
    # TestExternalVolumeDriverUnmountOnCp expects Mount x2 with one ID); rclone 1.60
    # refuses a second Mount with the same ID, so docker cp fails against rclone.
    await env.create("test")
    await env.engine.containers.run(ContainerSpec(volumes=["test:/foo"], name="test", detach=True))
    with pytest.raises(ContainerError) as info:
        await env.engine.containers.copy("test", "/foo", env.root / "out")
    assert str(info.value) == (
        "error while mounting volume '': VolumeDriver.Mount: volume is already mounted by this id"
    )
    assert len({b["ID"] for b in env.bodies("Mount")}) == 1  # type: ignore[index]
    assert (env.calls("Mount"), env.calls("Unmount")) == (2, 0)
    await env.engine.containers.kill("test")
    assert env.calls("Unmount") == 1


async def test_failed_mount_is_not_unmounted_and_its_text_is_rclones(env: Env) -> None:
    await env.create("broken")
    # rclone mounts at BASE/NAME; without that directory its FUSE mount fails.
    base = next(env.root.glob("rclone-*/base"))
    (base / "broken").rmdir()
    with pytest.raises(ContainerError) as info:
        await env.engine.containers.run(ContainerSpec(volumes=["broken:/b"]))
    assert str(info.value).startswith("error while mounting volume '': VolumeDriver.Mount: ")
    assert env.calls("Unmount") == 0


async def test_remove_is_get_get_remove_and_refused_in_use(env: Env) -> None:
    await env.create("gone")
    c = await env.engine.containers.create(ContainerSpec(volumes=["gone:/g"], name="holder"))
    with pytest.raises(VolumeError, match=rf"volume is in use - \[{c.id}\]"):
        await env.engine.volumes.remove("gone")
    await env.engine.containers.remove("holder")
    env.engine.journal.clear()
    await env.engine.volumes.remove("gone")
    assert env.sequence() == ["Get", "Get", "Remove"]


async def test_restart_gets_each_volume_no_list(env: Env) -> None:
    await env.create("r1")
    await env.create("r2")
    env.engine.journal.clear()
    await env.engine.restart()
    # Re-activated, Capabilities again (validation), then one Get per stored volume.
    assert env.sequence() == ["Capabilities", "Get", "Get"]
    assert env.calls("List") == 0
    assert env.calls("Get") == 2
    assert env.engine.journal.count("Plugin.Activate", plugin=RC) == 1
