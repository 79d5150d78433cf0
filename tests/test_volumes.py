"""The volume choreography a plugin sees, counted at the plugin.

Each test reproduces an expectation of moby's own external volume driver tests
(``integration-cli/docker_cli_external_volume_driver_test.go``) or a rule of moby
v28.5.2's ``volume/service`` and ``volume/drivers``, against the built-in mock volume plugin over a
real unix socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing

from emulator import ContainerSpec, open_engine
from emulator.engine.containers import ContainerError
from emulator.engine.core import Engine
from emulator.engine.volume_store import VolumeError
from emulator.mocks import MockPlugin, Reply
from emulator.mocks.volume import MockVolumePlugin

DRIVER = "vd"


@attrs.frozen
class Env:
    engine: Engine
    plugin: MockVolumePlugin
    root: Path

    def calls(self, method: str) -> int:
        return self.plugin.plugin.count(f"VolumeDriver.{method}")

    def sequence(self) -> list[str]:
        return [
            r.method.removeprefix("VolumeDriver.")
            for r in self.plugin.plugin.requests
            if r.method != "Plugin.Activate"
        ]

    def bodies(self, method: str) -> list[object]:
        return [r.json() for r in self.plugin.plugin.calls(f"VolumeDriver.{method}")]


@pytest.fixture
async def env(short_tmp: Path) -> AsyncIterator[Env]:
    plugin = MockVolumePlugin(short_tmp / "plugin-state", name=DRIVER)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.serve, f"unix:{short_tmp / 'run/docker/plugins' / DRIVER}.sock")
        async with open_engine(root=short_tmp) as engine:
            yield Env(engine, plugin, short_tmp)
        nursery.cancel_scope.cancel()


# -- create / inspect / list / remove -----------------------------------------------------


async def test_create_asks_get_before_create_with_explicit_opts(env: Env) -> None:
    info = await env.engine.volumes.create("v1", driver=DRIVER, opts={"k": "v"})
    assert env.sequence() == ["Capabilities", "Get", "Create"]
    assert env.bodies("Create") == [{"Name": "v1", "Opts": {"k": "v"}}]
    assert env.bodies("Get") == [{"Name": "v1"}]
    assert (info.Name, info.Driver, info.Mountpoint) == ("v1", DRIVER, "")
    assert info.CreatedAt == "0001-01-01T00:00:00Z"
    assert info.Options == {"k": "v"}


async def test_create_without_opts_sends_an_empty_map(env: Env) -> None:
    await env.engine.volumes.create("v1", driver=DRIVER)
    assert env.bodies("Create") == [{"Name": "v1", "Opts": {}}]


async def test_labels_are_never_sent(env: Env) -> None:
    info = await env.engine.volumes.create("v1", driver=DRIVER, labels={"team": "a"})
    assert info.Labels == {"team": "a"}
    assert all("Labels" not in str(r.body) for r in env.plugin.plugin.requests)


async def test_existing_plugin_volume_is_adopted_without_create(env: Env) -> None:
    # The volume exists at the plugin already (made by another daemon, say).
    await env.engine.plugins.call(DRIVER, "VolumeDriver.Create", {"Name": "pre", "Opts": None})
    env.plugin.plugin.reset()
    await env.engine.volumes.create("pre", driver=DRIVER)
    # The first driver lookup asks Capabilities; then Get finds it: no Create.
    assert env.sequence() == ["Capabilities", "Get"]


async def test_repeated_create_is_one_get_and_options_are_ignored(env: Env) -> None:
    await env.engine.volumes.create("v1", driver=DRIVER, opts={"a": "1"})
    env.plugin.plugin.reset()
    info = await env.engine.volumes.create("v1", driver=DRIVER, opts={"b": "2"})
    assert env.sequence() == ["Get"]
    assert info.Options == {"a": "1"}


async def test_capabilities_once_for_three_creates_and_three_inspects(env: Env) -> None:
    # TestExternalVolumeDriverCapabilities
    for i in range(3):
        await env.engine.volumes.create(f"c{i}", driver=DRIVER)
        await env.engine.volumes.inspect(f"c{i}")
    assert env.calls("Capabilities") == 1


async def test_scope_is_lower_cased_and_unknown_scopes_become_local(short_tmp: Path) -> None:
    for answer, expected in (("GLOBAL", "global"), ("swarm", "local"), ("", "local")):
        plugin = MockPlugin(
            ("VolumeDriver",),
            {
                "VolumeDriver.Capabilities": {"Capabilities": {"Scope": answer}},
                "VolumeDriver.Get": Reply(status=500, body={"Err": "no"}),
                "VolumeDriver.Create": {},
            },
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(plugin.serve, f"unix:{short_tmp}/run/docker/plugins/s.sock")
            async with open_engine(root=short_tmp) as engine:
                info = await engine.volumes.create("v", driver="s")
            nursery.cancel_scope.cancel()
        assert info.Scope == expected


async def test_failing_capabilities_is_asked_again_and_counts_as_local(short_tmp: Path) -> None:
    volumes = {"Volumes": [{"Name": "a"}, {"Name": "b"}]}
    plugin = MockPlugin(("VolumeDriver",), {"VolumeDriver.List": volumes})
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.serve, f"unix:{short_tmp}/run/docker/plugins/nocap.sock")
        async with open_engine(root=short_tmp) as engine:
            listed, warnings = await engine.volumes.list()
            await engine.volumes.list()
        nursery.cancel_scope.cancel()
    assert [v.Scope for v in listed] == ["local", "local"]
    assert warnings == []
    # 404 from Capabilities is not cached: asked again for every listed volume, every time.
    assert plugin.count("VolumeDriver.Capabilities") == 4


async def test_inspect_of_a_known_volume_is_one_get(env: Env) -> None:
    await env.engine.volumes.create("v1", driver=DRIVER)
    env.plugin.plugin.reset()
    info = await env.engine.volumes.inspect("v1")
    assert env.sequence() == ["Get"]
    assert info.Status is not None
    assert info.CreatedAt != "0001-01-01T00:00:00Z"


async def test_inspect_of_an_unknown_name_asks_every_driver_and_persists_a_hit(env: Env) -> None:
    # TestExternalVolumeDriverGet: 1 Get for an unknown name.
    with pytest.raises(VolumeError) as info:
        await env.engine.volumes.inspect("dummy")
    assert str(info.value) == "get dummy: no such volume"
    assert info.value.http_status == 404
    assert env.calls("Get") == 1
    await env.engine.plugins.call(DRIVER, "VolumeDriver.Create", {"Name": "oob", "Opts": None})
    found = await env.engine.volumes.inspect("oob")
    assert found.Driver == DRIVER
    meta = env.engine.db.get_volume("oob")
    assert meta is not None
    assert meta.driver == DRIVER


async def test_get_answering_nothing_means_no_such_volume(short_tmp: Path) -> None:
    # TestExternalVolumeDriverGetEmptyResponse
    plugin = MockPlugin(("VolumeDriver",), {"VolumeDriver.Get": {}, "VolumeDriver.Create": {}})
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.serve, f"unix:{short_tmp}/run/docker/plugins/e.sock")
        async with open_engine(root=short_tmp) as engine:
            await engine.volumes.create("v", driver="e")
            with pytest.raises(VolumeError, match=r"^get v: no such volume$"):
                await engine.volumes.inspect("v")
        nursery.cancel_scope.cancel()


async def test_get_tri_state_network_error_keeps_other_failure_forgets(env: Env) -> None:
    await env.engine.volumes.create("keep", driver=DRIVER)
    await env.engine.volumes.create("lose", driver=DRIVER)
    env.plugin.plugin.on("VolumeDriver.Get", Reply(status=500, body={"Err": "gone"}))
    with pytest.raises(VolumeError, match="get lose: no such volume"):
        await env.engine.volumes.inspect("lose")
    assert env.engine.db.get_volume("lose") is None
    assert "lose" not in env.engine.volumes.store.names


async def test_list_is_one_list_call_per_driver_no_get_no_path(env: Env) -> None:
    # TestExternalVolumeDriverList + PathCalls
    await env.engine.volumes.create("abc3", driver=DRIVER)
    env.plugin.plugin.reset()
    listed, warnings = await env.engine.volumes.list()
    assert env.sequence() == ["List"]
    assert [(v.Name, v.Driver) for v in listed] == [("abc3", DRIVER)]
    assert warnings == []
    assert env.calls("Path") == 0


async def test_a_failing_driver_becomes_a_warning_and_known_volumes_are_kept(env: Env) -> None:
    await env.engine.volumes.create("k1", driver=DRIVER)
    env.plugin.plugin.on("VolumeDriver.List", Reply(status=500, body={"Err": "backend down"}))
    listed, warnings = await env.engine.volumes.list()
    assert warnings == [f"list {DRIVER}: VolumeDriver.List: backend down"]
    assert [v.Name for v in listed] == ["k1"]


async def test_list_activates_every_discoverable_plugin(env: Env) -> None:
    other = MockPlugin(("NetworkDriver",))
    async with trio.open_nursery() as nursery:
        await nursery.start(other.serve, f"unix:{env.root}/run/docker/plugins/net.sock")
        await env.engine.volumes.list()
        nursery.cancel_scope.cancel()
    assert other.count("Plugin.Activate") == 1
    assert other.count("VolumeDriver.List") == 0


async def test_remove_is_get_get_remove(env: Env) -> None:
    await env.engine.volumes.create("v1", driver=DRIVER)
    env.plugin.plugin.reset()
    await env.engine.volumes.remove("v1")
    assert env.sequence() == ["Get", "Get", "Remove"]
    assert env.bodies("Remove") == [{"Name": "v1"}]


async def test_remove_error_keeps_metadata_unless_forced(env: Env) -> None:
    await env.engine.volumes.create("v1", driver=DRIVER)
    env.plugin.plugin.on("VolumeDriver.Remove", Reply(status=500, body={"Err": "busy"}))
    with pytest.raises(VolumeError) as info:
        await env.engine.volumes.remove("v1")
    assert str(info.value) == "remove v1: VolumeDriver.Remove: busy"
    assert env.engine.db.get_volume("v1") is not None
    with pytest.raises(VolumeError):
        await env.engine.volumes.remove("v1", force=True)
    assert env.engine.db.get_volume("v1") is None


async def test_force_remove_of_a_missing_volume_succeeds(env: Env) -> None:
    await env.engine.volumes.remove("nothing", force=True)
    with pytest.raises(VolumeError, match="get nothing: no such volume"):
        await env.engine.volumes.remove("nothing")


async def test_name_conflict_across_drivers(env: Env) -> None:
    # TestExternalVolumeDriverOutOfBandDelete (first half)
    await env.engine.volumes.create("test", driver=DRIVER)
    with pytest.raises(VolumeError) as info:
        await env.engine.volumes.create("test", driver="local")
    assert str(info.value) == (
        f"create test: driver '{DRIVER}' already has volume 'test': volume name must be unique"
    )
    assert info.value.http_status == 409


async def test_out_of_band_delete_lets_another_driver_take_the_name(env: Env) -> None:
    await env.engine.volumes.create("test", driver=DRIVER)
    await env.engine.plugins.call(DRIVER, "VolumeDriver.Remove", {"Name": "test"})
    info = await env.engine.volumes.create("test", driver="local")
    assert info.Driver == "local"
    assert info.Options == {}


async def test_driver_errors_reach_the_caller_unchanged(env: Env) -> None:
    env.plugin.plugin.on("VolumeDriver.Create", Reply(status=500, body={"Err": "quota exceeded"}))
    with pytest.raises(VolumeError) as info:
        await env.engine.volumes.create("v1", driver=DRIVER)
    assert str(info.value) == "create v1: VolumeDriver.Create: quota exceeded"
    env.plugin.plugin.on("VolumeDriver.Create", {"Err": "plain err on 200"})
    with pytest.raises(VolumeError) as info:
        await env.engine.volumes.create("v2", driver=DRIVER)
    assert str(info.value) == "create v2: plain err on 200"


async def test_unknown_plugin_error_text(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_engine(root=short_tmp) as engine:
        with pytest.raises(VolumeError) as info:
            await engine.volumes.create("v", driver="nope")
    assert str(info.value) == (
        'create v: error looking up volume plugin nope: plugin "nope" not found'
    )
    assert info.value.http_status == 404


# -- containers -----------------------------------------------------------------------------


async def test_named_volume_run_mounts_and_unmounts_with_one_id(env: Env) -> None:
    # TestExternalVolumeDriverNamed + MountID
    await env.engine.containers.run(
        ContainerSpec(
            command=["cat", "/x"], volumes=["named:/tmp/x"], volume_driver=DRIVER, name="c1"
        )
    )
    assert env.sequence() == ["Capabilities", "Get", "Create", "Get", "Mount", "Get", "Unmount"]
    assert env.bodies("Create") == [{"Name": "named", "Opts": None}]
    (mount,) = env.bodies("Mount")
    (unmount,) = env.bodies("Unmount")
    assert isinstance(mount, dict)
    assert len(mount["ID"]) == 64
    assert int(mount["ID"], 16) >= 0
    assert unmount == mount
    await env.engine.containers.remove("c1")
    assert env.calls("Remove") == 0  # named volumes are kept


async def test_anonymous_volume_with_rm_is_removed(env: Env) -> None:
    # TestExternalVolumeDriverUnnamed
    await env.engine.containers.run(
        ContainerSpec(
            command=["true"], volumes=["/tmp/external"], volume_driver=DRIVER, auto_remove=True
        )
    )
    assert (env.calls("Create"), env.calls("Mount"), env.calls("Unmount")) == (1, 1, 1)
    assert env.calls("Remove") == 1
    assert env.sequence()[-3:] == ["Get", "Get", "Remove"]


async def test_rm_v_removes_anonymous_volumes(env: Env) -> None:
    # TestExternalVolumeDriverDeleteContainer
    await env.engine.containers.run(
        ContainerSpec(command=["true"], volumes=["/data"], volume_driver=DRIVER, name="test-data")
    )
    await env.engine.containers.remove("test-data", force=True, volumes=True)
    counts = [env.calls(m) for m in ("Create", "Mount", "Unmount", "Remove")]
    assert counts == [1, 1, 1, 1]


async def test_a_cancelled_create_releases_the_references_it_took(env: Env) -> None:
    """Cancelled while the second volume is created, the container's create still drops
    the first volume's reference (the container never existed; engine/rollback.py)."""
    env.engine.faults.add(match={"call": "VolumeDriver.Create", "body": {"Name": "b"}}, delay=30)
    spec = ContainerSpec(volumes=["a:/a", "b:/b"], volume_driver=DRIVER, name="c")
    with trio.move_on_after(0.5) as waited:
        await env.engine.containers.create(spec)
    assert waited.cancelled_caught
    assert not env.engine.volumes.store.has_ref("a")
    assert env.engine.containers.list(all=True) == []


async def test_remove_of_a_volume_in_use_is_refused_with_the_container_ids(env: Env) -> None:
    c = await env.engine.containers.create(
        ContainerSpec(volumes=["v1:/data"], volume_driver=DRIVER, name="u")
    )
    env.plugin.plugin.reset()
    with pytest.raises(VolumeError) as info:
        await env.engine.volumes.remove("v1")
    assert str(info.value) == f"remove v1: volume is in use - [{c.id}]"
    assert info.value.http_status == 409
    assert env.sequence() == ["Get"]


async def test_failed_mount_is_never_unmounted(env: Env) -> None:
    # TestExternalVolumeDriverUnmountOnMountFail
    await env.engine.volumes.create("testumount", driver=DRIVER, opts={"fail": "mount"})
    for _ in range(2):
        with pytest.raises(ContainerError) as info:
            await env.engine.containers.run(
                ContainerSpec(command=["true"], volumes=["testumount:/foo"])
            )
        assert str(info.value).startswith("error while mounting volume '': VolumeDriver.Mount: ")
    assert env.calls("Unmount") == 0


async def test_other_mounts_of_a_failed_start_are_rolled_back(env: Env) -> None:
    await env.engine.volumes.create("good", driver=DRIVER)
    await env.engine.volumes.create("bad", driver=DRIVER, opts={"fail": "mount"})
    with pytest.raises(ContainerError):
        await env.engine.containers.run(
            ContainerSpec(command=["true"], volumes=["good:/a", "bad:/b"])
        )
    mounted = [b["Name"] for b in env.bodies("Mount")]  # type: ignore[index]
    unmounted = [b["Name"] for b in env.bodies("Unmount")]  # type: ignore[index]
    assert mounted == ["good", "bad"]
    assert unmounted == ["good"]


async def test_cp_reuses_the_mount_id_of_a_running_container(env: Env) -> None:
    # TestExternalVolumeDriverUnmountOnCp (clarified: copy out of a running container)
    await env.engine.volumes.create("test", driver=DRIVER)
    c = await env.engine.containers.run(
        ContainerSpec(
            command=["/bin/sh", "-c", "touch /test && top"],
            volumes=["test:/foo"],
            name="test",
            detach=True,
        )
    )
    assert env.calls("Mount") == 1
    (env.engine.containers.rootfs(c) / "test").write_text("x")
    await env.engine.containers.copy("test", "/test", env.root / "out")
    assert (env.calls("Mount"), env.calls("Unmount")) == (2, 1)
    await env.engine.containers.kill("test")
    assert env.calls("Unmount") == 2
    ids = {b["ID"] for b in env.bodies("Mount") + env.bodies("Unmount")}  # type: ignore[index]
    assert len(ids) == 1
    assert (env.root / "out").read_text() == "x"


async def test_cp_into_a_volume_writes_through_the_plugins_mountpoint(env: Env) -> None:
    await env.engine.volumes.create("data", driver=DRIVER)
    await env.engine.containers.run(ContainerSpec(volumes=["data:/data"], name="c", detach=True))
    src = env.root / "in.txt"
    src.write_text("hello")
    await env.engine.containers.copy("c", "/data/in.txt", src, into=True)
    # v28 CLI: a stat call, then the upload: two more mount/unmount pairs, same ID.
    assert (env.calls("Mount"), env.calls("Unmount")) == (3, 2)
    assert (env.plugin.volumes()["data"].path / "in.txt").read_text() == "hello"


async def test_failed_unmount_keeps_the_id_for_the_next_mount(env: Env) -> None:
    await env.engine.volumes.create("v", driver=DRIVER)
    c = await env.engine.containers.run(ContainerSpec(volumes=["v:/v"], name="c", detach=True))
    original = env.plugin.plugin.handler("VolumeDriver.Unmount")
    assert original is not None
    env.plugin.plugin.on("VolumeDriver.Unmount", Reply(status=500, body={"Err": "stuck"}))
    await env.engine.containers.stop("c")
    assert c.mounts[0].id != ""
    env.plugin.plugin.on("VolumeDriver.Unmount", original)
    await env.engine.containers.start("c")
    ids = [b["ID"] for b in env.bodies("Mount")]  # type: ignore[index]
    assert ids[0] == ids[1]


async def test_mounts_are_counted_per_container(env: Env) -> None:
    await env.engine.volumes.create("shared", driver=DRIVER)
    for name in ("a", "b"):
        await env.engine.containers.run(
            ContainerSpec(volumes=["shared:/s"], name=name, detach=True)
        )
    assert env.plugin.mount_count("shared") == 2
    ids = {b["ID"] for b in env.bodies("Mount")}  # type: ignore[index]
    assert len(ids) == 2
    await env.engine.containers.stop("a")
    assert env.plugin.mount_count("shared") == 1
    with pytest.raises(VolumeError, match="volume is in use"):
        await env.engine.volumes.remove("shared")


async def test_implicit_create_without_driver_probes_every_driver(env: Env) -> None:
    await env.engine.containers.run(ContainerSpec(volumes=["fresh:/x"]))
    # Nobody has "fresh": every driver is asked, then local creates it.
    assert env.bodies("Get")[0] == {"Name": "fresh"}
    assert env.calls("Create") == 0
    info = await env.engine.volumes.inspect("fresh")
    assert info.Driver == "local"


async def test_local_driver_volumes_and_prune(env: Env) -> None:
    info = await env.engine.volumes.create("loc")
    assert info.Driver == "local"
    assert Path(info.Mountpoint).is_dir()
    await env.engine.containers.run(ContainerSpec(volumes=["/anon"], name="anon"))
    report = await env.engine.volumes.prune()
    assert report.VolumesDeleted == []  # the anonymous volume is still referenced
    await env.engine.containers.remove("anon")
    report = await env.engine.volumes.prune()
    assert len(report.VolumesDeleted) == 1
    report = await env.engine.volumes.prune(all=True)
    assert report.VolumesDeleted == ["loc"]


async def test_path_is_never_called(env: Env) -> None:
    await env.engine.volumes.create("p", driver=DRIVER)
    await env.engine.volumes.inspect("p")
    await env.engine.volumes.list()
    await env.engine.containers.run(ContainerSpec(volumes=["p:/p"], auto_remove=True))
    await env.engine.volumes.remove("p")
    assert env.calls("Path") == 0


# -- restart --------------------------------------------------------------------------------


async def test_restart_gets_each_volume_and_never_lists(env: Env) -> None:
    # TestExternalVolumeDriverWithDaemonRestart
    await env.engine.volumes.create("abc1", driver=DRIVER)
    await env.engine.volumes.create("abc2", driver=DRIVER)
    env.plugin.plugin.reset()
    await env.engine.restart()
    assert sorted(env.bodies("Get"), key=str) == [{"Name": "abc1"}, {"Name": "abc2"}]
    assert env.calls("List") == 0
    assert env.plugin.plugin.count("Plugin.Activate") == 1  # activated again after restart
    c = await env.engine.containers.run(ContainerSpec(name="test", volumes=["abc1:/foo"]))
    assert c.mounts[0].driver == DRIVER


async def test_restart_forgets_volumes_the_driver_lost(env: Env) -> None:
    await env.engine.volumes.create("gone", driver=DRIVER)
    await env.engine.plugins.call(DRIVER, "VolumeDriver.Remove", {"Name": "gone"})
    await env.engine.restart()
    assert env.engine.db.get_volume("gone") is None


async def test_restart_keeps_volumes_it_could_not_check(
    env: Env, autojump_clock: trio.testing.MockClock
) -> None:
    await env.engine.volumes.create("kept", driver=DRIVER)
    sock = env.root / "run/docker/plugins" / f"{DRIVER}.sock"
    sock.rename(env.root / "hidden.sock")  # the plugin is gone when the daemon comes back
    await env.engine.restart()
    assert env.engine.db.get_volume("kept") is not None


async def test_restart_stops_running_containers_and_restores_references(env: Env) -> None:
    await env.engine.volumes.create("r", driver=DRIVER)
    c = await env.engine.containers.run(ContainerSpec(volumes=["r:/r"], name="c", detach=True))
    await env.engine.restart()
    assert env.calls("Unmount") == 1
    with pytest.raises(VolumeError, match=rf"remove r: volume is in use - \[{c.id}\]"):
        await env.engine.volumes.remove("r")


async def test_crash_sends_no_unmount(env: Env) -> None:
    await env.engine.volumes.create("r", driver=DRIVER)
    await env.engine.containers.run(ContainerSpec(volumes=["r:/r"], name="c", detach=True))
    await env.engine.restart(crash=True)
    assert env.calls("Unmount") == 0
    assert env.engine.containers.get("c").state == "exited"


async def test_state_survives_a_new_engine_on_the_same_data_root(env: Env) -> None:
    await env.engine.volumes.create("persist", driver=DRIVER, labels={"a": "b"})
    await env.engine.containers.create(ContainerSpec(volumes=["persist:/p"], name="holder"))
    async with open_engine(root=env.root) as second:  # restores from the data-root
        info = await second.volumes.inspect("persist")
        assert info.Labels == {"a": "b"}
        assert second.containers.get("holder").mounts[0].name == "persist"
