"""Networks and endpoints are kept in the data-root and restored as libnetwork restores them.

What remote plugins see at a restart (moby/moby ``libnetwork/controller.go`` ``New``,
v28.5.2): an IPAM of a stored network is loaded (activated); one that says
``RequiresRequestReplay`` is asked again for its pools, gateways and addresses; stale
endpoints (a crash left them) are deleted by force; a network driver is never asked to
create a network again.  See docs/networks.md ("Restart").
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
import trio

from emulator import ContainerSpec, NetworkSpec, open_engine
from emulator.engine.core import Engine
from emulator.engine.networks import IpamConfig
from emulator.mocks.network import MockIpamPlugin, MockNetworkPlugin

NET, IPAM = "mocknet", "mockipam"


@attrs.define
class Env:
    root: Path
    net: MockNetworkPlugin
    ipam: MockIpamPlugin
    nursery: trio.Nursery
    ipam_scope: trio.CancelScope | None = None
    ipam_done: trio.Event | None = None

    def since(self, engine: Engine, mark: int) -> list[tuple[str, object]]:
        return [(e.method, e.request) for e in engine.journal.entries[mark:]]

    async def replace_ipam(self, ipam: MockIpamPlugin) -> None:
        """The IPAM plugin restarted and lost its state."""
        assert self.ipam_scope is not None
        assert self.ipam_done is not None
        self.ipam_scope.cancel()
        await self.ipam_done.wait()  # its socket is gone
        self.ipam = ipam
        await self.serve_ipam()

    async def serve_ipam(self) -> None:
        sock = self.root / f"run/docker/plugins/{IPAM}.sock"
        scope, done = trio.CancelScope(), trio.Event()

        async def run(task_status: trio.TaskStatus[str]) -> None:
            try:
                with scope:
                    await self.ipam.serve(f"unix:{sock}", task_status=task_status)
            finally:
                done.set()

        await self.nursery.start(run)
        self.ipam_scope, self.ipam_done = scope, done


@pytest.fixture
async def env(short_tmp: Path) -> AsyncIterator[Env]:
    async with trio.open_nursery() as nursery:
        found = Env(short_tmp, MockNetworkPlugin(NET), MockIpamPlugin(IPAM), nursery)
        await nursery.start(found.net.serve, f"unix:{short_tmp}/run/docker/plugins/{NET}.sock")
        await found.serve_ipam()
        yield found
        nursery.cancel_scope.cancel()


async def test_a_network_survives_restarts_with_every_field(env: Env) -> None:
    async with open_engine(root=env.root) as engine:
        created = await engine.networks.create(
            NetworkSpec(
                "n1",
                driver=NET,
                ipam_driver=IPAM,
                ipam_config=[IpamConfig(subnet="10.9.0.0/24", aux_addresses={"h": "10.9.0.9"})],
                labels={"k": "v"},
                options={"o": "1"},
            )
        )
        before = created.inspect()
        host_id = engine.networks.get("host").id
        mark = len(engine.journal.entries)
        await engine.restart()
        restored = engine.networks.get("n1")
        assert restored.inspect() == before
        assert engine.networks.get("host").id == host_id
        # The IPAM of a stored network is loaded at start; it asked for no replay.
        assert [m for m, _ in env.since(engine, mark)] == [
            "Plugin.Activate",
            "IpamDriver.GetCapabilities",
        ]
        # The name is still taken, the subnet still belongs to it: nothing leaked.
        with pytest.raises(Exception, match="network with name n1 already exists"):
            await engine.networks.create(NetworkSpec("n1", driver=NET, ipam_driver=IPAM))
    async with open_engine(root=env.root) as engine:  # a new process on the data-root
        assert engine.networks.get("n1").inspect() == before
        await engine.networks.remove("n1")
    assert env.net.networks == {}
    assert env.ipam.pools == {}
    async with open_engine(root=env.root) as engine:
        assert [n.name for n in engine.networks.list()] == ["bridge", "host", "none"]
    assert env.net.violations == []
    assert env.ipam.violations == []


async def test_a_replaying_ipam_is_asked_again_for_pools_and_gateways(env: Env) -> None:
    await env.replace_ipam(MockIpamPlugin(IPAM, requires_replay=True))
    async with open_engine(root=env.root) as engine:
        await engine.networks.create(NetworkSpec("auto", driver=NET, ipam_driver=IPAM))
        await engine.networks.create(
            NetworkSpec(
                "given",
                driver=NET,
                ipam_driver=IPAM,
                ipam_config=[IpamConfig(subnet="10.7.0.0/24", gateway="10.7.0.254")],
            )
        )
        auto = engine.networks.get("auto").ipv4_info[0]
    await env.replace_ipam(MockIpamPlugin(IPAM, requires_replay=True))  # it lost its state
    async with open_engine(root=env.root) as engine:
        calls = [(m, r) for m, r in env.since(engine, 0) if m.startswith("IpamDriver.Request")]
        assert calls == [
            (
                "IpamDriver.RequestPool",
                {
                    "AddressSpace": "MockLocal",
                    "Pool": str(auto.pool),
                    "SubPool": "",
                    "Options": {},
                    "V6": False,
                },
            ),
            (
                "IpamDriver.RequestAddress",
                {
                    "PoolID": auto.pool_id,
                    "Address": str(auto.gateway.ip) if auto.gateway else "",
                    "Options": {"RequestAddressType": "com.docker.network.gateway"},
                },
            ),
            (
                "IpamDriver.RequestPool",
                {
                    "AddressSpace": "MockLocal",
                    "Pool": "10.7.0.0/24",
                    "SubPool": "",
                    "Options": {},
                    "V6": False,
                },
            ),
            (
                "IpamDriver.RequestAddress",
                {
                    "PoolID": "mockipam-pool-2",
                    "Address": "10.7.0.254",
                    "Options": {"RequestAddressType": "com.docker.network.gateway"},
                },
            ),
        ]
        assert not [m for m, _ in env.since(engine, 0) if m.startswith("NetworkDriver.Create")]
        # The plugin's state is whole again: a container gets the next address.
        await engine.containers.run(ContainerSpec(command=["top"], networks=["auto"], detach=True))
        [endpoint] = engine.networks.get("auto").endpoints.values()
        assert endpoint.iface.address is not None
        assert str(endpoint.iface.address.ip) != str(auto.gateway.ip if auto.gateway else "")
    assert env.ipam.violations == []


async def test_after_a_crash_stale_endpoints_are_deleted_by_force(env: Env) -> None:
    async with open_engine(root=env.root) as engine:
        await engine.networks.create(NetworkSpec("n1", driver=NET, ipam_driver=IPAM))
        container = await engine.containers.run(
            ContainerSpec(command=["top"], networks=["n1"], detach=True)
        )
        [endpoint] = engine.networks.get("n1").endpoints.values()
        assert endpoint.iface.address is not None
        address = str(endpoint.iface.address.ip)
        mark = len(engine.journal.entries)
        await engine.restart(crash=True)
        calls = [(m, r) for m, r in env.since(engine, mark) if m not in ("Plugin.Activate",)]
        # The v1 network driver is not registered yet (nothing loaded it): no Leave, no
        # DeleteEndpoint; the IPAM is loaded, and the address is given back.
        assert calls == [
            ("IpamDriver.GetCapabilities", None),
            (
                "IpamDriver.ReleaseAddress",
                {"PoolID": endpoint.network.ipv4_info[0].pool_id, "Address": address},
            ),
        ]
        assert engine.networks.get("n1").endpoints == {}
        restored = engine.containers.get(container.id)
        assert (restored.state, restored.exit_code) == ("exited", 255)
        # Started again, it is connected again (the plugin still had the old endpoint).
        await engine.containers.start(container.id)
        assert len(engine.networks.get("n1").endpoints) == 1


async def test_a_removal_cut_short_is_finished_at_the_next_start(env: Env) -> None:
    async with open_engine(root=env.root) as engine:
        network = await engine.networks.create(NetworkSpec("n1", driver=NET, ipam_driver=IPAM))
        engine.networks.save_network(network, in_delete=True)  # as a killed `network rm` left it
        mark = len(engine.journal.entries)
        await engine.restart(crash=True)
        assert "n1" not in [n.name for n in engine.networks.list()]
        assert [m for m, _ in env.since(engine, mark)] == [
            "Plugin.Activate",
            "IpamDriver.GetCapabilities",
            "IpamDriver.ReleaseAddress",  # the gateway
            "IpamDriver.ReleasePool",
            "Plugin.Activate",  # DeleteNetwork loads the driver
            "NetworkDriver.GetCapabilities",
            "NetworkDriver.DeleteNetwork",
        ]
    assert env.net.networks == {}
    assert env.ipam.pools == {}
