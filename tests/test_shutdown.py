"""dockerd's shutdown (no live-restore): running containers are stopped, plugins see it all.

moby/moby v28.5.2 ``daemon.Shutdown`` stops every running container (``ApplyAll``,
``shutdownContainer`` → ``containerStop``); each exit runs ``handleContainerExit`` →
``Cleanup`` (``releaseNetwork``: Leave, DeleteEndpoint, ReleaseAddress; then
``UnmountVolumes``), the ``die`` event, ``autoRemove`` for ``--rm``; ``containerStop``
then logs ``stop``.  The whole shutdown is bounded by ``--shutdown-timeout`` (15 s).
See docs/engine-api.md ("Shutdown and restart").
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing

from emulator import ContainerSpec, NetworkSpec, open_engine
from emulator.engine.core import Engine
from emulator.mocks.network import MockIpamPlugin, MockNetworkPlugin
from emulator.mocks.volume import MockVolumePlugin

NET, IPAM, VOL = "mocknet", "mockipam", "mv"


@attrs.frozen
class Plugins:
    root: Path
    net: MockNetworkPlugin
    ipam: MockIpamPlugin
    vol: MockVolumePlugin


@pytest.fixture
async def plugins(short_tmp: Path) -> AsyncIterator[Plugins]:
    found = Plugins(
        short_tmp, MockNetworkPlugin(NET), MockIpamPlugin(IPAM), MockVolumePlugin(short_tmp / VOL)
    )
    sockets = short_tmp / "run/docker/plugins"
    async with trio.open_nursery() as nursery:
        await nursery.start(found.net.serve, f"unix:{sockets / NET}.sock")
        await nursery.start(found.ipam.serve, f"unix:{sockets / IPAM}.sock")
        await nursery.start(found.vol.serve, f"unix:{sockets / VOL}.sock")
        yield found
        nursery.cancel_scope.cancel()


async def _running_container(engine: Engine, name: str = "c") -> str:
    if not any(n.name == "n1" for n in engine.networks.list()):
        await engine.networks.create(NetworkSpec("n1", driver=NET, ipam_driver=IPAM))
        await engine.volumes.create("v1", driver=VOL)
    container = await engine.containers.run(
        ContainerSpec(
            command=["top"], name=name, volumes=["v1:/data"], networks=["n1"], detach=True
        )
    )
    assert container.running
    return container.id


def _calls_for(engine: Engine, since: int, volume: str) -> list[str]:
    """The network teardown calls and ``volume``'s Unmount/Remove, in order."""
    wanted = ("NetworkDriver.Leave", "NetworkDriver.DeleteEndpoint", "IpamDriver.ReleaseAddress")
    return [
        e.method
        for e in engine.journal.entries[since:]
        if e.method in wanted
        or (e.method.startswith("VolumeDriver.") and (e.request or {}).get("Name") == volume)
    ]


async def test_leaving_open_engine_stops_running_containers_as_dockerd(plugins: Plugins) -> None:
    async with open_engine(root=plugins.root) as engine:
        cid = await _running_container(engine)
        anonymous = await engine.containers.run(
            ContainerSpec(
                command=["top"],
                volumes=["/scratch"],
                volume_driver=VOL,
                auto_remove=True,
                detach=True,
            )
        )
        [scratch] = [mp.name for mp in anonymous.mounts]
        assert plugins.vol.mount_count("v1") == 1
        assert len(plugins.net.endpoints) == 1
        mark = len(engine.journal.entries)
    # dockerd's order per container: releaseNetwork, then UnmountVolumes; --rm: Remove.
    assert _calls_for(engine, mark, "v1") == [
        "NetworkDriver.Leave",
        "NetworkDriver.DeleteEndpoint",
        "IpamDriver.ReleaseAddress",
        "VolumeDriver.Get",
        "VolumeDriver.Unmount",
    ]
    scratch_calls = [c for c in _calls_for(engine, mark, scratch) if c.startswith("Volume")]
    assert scratch_calls[-1] == "VolumeDriver.Remove"
    assert "VolumeDriver.Unmount" in scratch_calls
    assert plugins.vol.mount_count("v1") == 0
    assert scratch not in plugins.vol.volumes()
    assert plugins.net.endpoints == {}
    [pool] = plugins.ipam.allocated().values()
    assert len(pool) == 1  # only the network's gateway: the network itself is kept
    assert plugins.net.violations == []
    assert plugins.ipam.violations == []
    actions = [
        (e.action, dict(e.attributes))
        for e in engine.events.of("container")
        if e.attributes["id"] == cid and e.action in ("kill", "die", "stop")
    ]
    assert [a for a, _ in actions] == ["kill", "die", "stop"]
    assert actions[0][1]["signal"] == "15"
    assert actions[1][1]["exitCode"] == "143"
    assert engine.containers.get(cid).state == "exited"


async def test_an_exit_under_way_is_finished_before_the_daemon_ends(
    plugins: Plugins, autojump_clock: trio.testing.MockClock
) -> None:
    # A container that ended by itself an instant before the shutdown is no longer
    # running, but its handleContainerExit (releaseNetwork, UnmountVolumes) is under
    # way: the shutdown waits for it instead of cancelling it half-way.
    async with open_engine(root=plugins.root) as engine:
        await engine.networks.create(NetworkSpec("n1", driver=NET, ipam_driver=IPAM))
        await engine.volumes.create("v1", driver=VOL)
        engine.faults.add(call="VolumeDriver.Unmount", delay=5)
        await engine.containers.run(
            ContainerSpec(
                command=["top"],
                name="c",
                volumes=["v1:/data"],
                networks=["n1"],
                detach=True,
                runs_for=1,
            )
        )
        await trio.sleep(2)  # it exited at 1 s; its Unmount answers at 6 s
        assert not engine.containers.get("c").running
    assert plugins.vol.mount_count("v1") == 0
    assert plugins.net.endpoints == {}
    assert engine.containers.get("c").state == "exited"


async def test_reset_leaves_plugins_as_dockerds_shutdown_would(plugins: Plugins) -> None:
    async with open_engine(root=plugins.root) as engine:
        await _running_container(engine)
        await engine.reset()
        assert plugins.vol.mount_count("v1") == 0
        assert plugins.net.endpoints == {}
        assert [len(p) for p in plugins.ipam.allocated().values()] == [1]
        assert engine.containers.list(all=True) == []
        assert [n.name for n in engine.networks.list()] == ["bridge", "host", "none"]


async def test_a_hung_plugin_cannot_hold_the_shutdown_past_its_timeout(
    plugins: Plugins, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    async with open_engine(root=plugins.root, shutdown_timeout=15) as engine:
        await _running_container(engine)
        engine.faults.add(call="VolumeDriver.Unmount", fault="hang")
        engine.faults.add(call="NetworkDriver.Leave", fault="hang")
        started = trio.current_time()
    assert trio.current_time() - started == pytest.approx(15)
    assert "Force shutdown daemon" in caplog.text


async def test_restart_is_shutdown_then_start(plugins: Plugins) -> None:
    async with open_engine(root=plugins.root) as engine:
        cid = await _running_container(engine)
        await engine.restart()
        assert plugins.vol.mount_count("v1") == 0
        assert plugins.net.endpoints == {}
        container = engine.containers.get(cid)
        assert (container.state, container.exit_code) == ("exited", 143)
        # Started again, it gets a new endpoint and mount from the restored network.
        await engine.containers.start(cid)
        assert plugins.vol.mount_count("v1") == 1
        assert len(plugins.net.endpoints) == 1


async def test_an_rm_container_that_died_with_the_daemon_is_removed_at_start(
    plugins: Plugins,
) -> None:
    """dockerd's restore removes stopped ``--rm`` containers (force, with their volumes)."""
    async with open_engine(root=plugins.root) as engine:
        await engine.volumes.create("v1", driver=VOL)
        doomed = await engine.containers.run(
            ContainerSpec(
                command=["top"],
                volumes=["v1:/data", "/scratch"],
                volume_driver=VOL,
                auto_remove=True,
                detach=True,
            )
        )
        [_, scratch] = [mp.name for mp in doomed.mounts]
        mark = len(engine.journal.entries)
        await engine.restart(crash=True)
        assert engine.containers.list(all=True) == []
        removed = [
            e.request["Name"]
            for e in engine.journal.entries[mark:]
            if e.method == "VolumeDriver.Remove"
        ]
        # The anonymous one only; the plugin refuses it: the dead container's Mount was
        # never given back (dockerd cannot either: mount counts are not persisted).
        assert removed == [scratch]
        assert "v1" in plugins.vol.volumes()
        assert not engine.volumes.store.has_ref("v1")  # no reference is left behind
