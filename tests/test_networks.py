"""Remote NetworkDriver + IpamDriver routing, asserted at strict mock plugins over unix sockets.

Every expected body below is what dockerd v28 sends (``libnetwork/drivers/remote``,
``libnetwork/ipams/remote``); the mocks reject any missing or extra key and any
out-of-order call (``violations``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from emulator import ContainerSpec, NetworkSpec, open_engine
from emulator.engine.containers import ContainerError
from emulator.engine.core import Engine
from emulator.engine.endpoint_settings import EndpointConfig
from emulator.engine.networks import IpamConfig, NetworkError
from emulator.errors import PluginLookupError, PluginStatusError
from emulator.mocks import RecordedRequest, Reply
from emulator.mocks.network import MockIpamPlugin, MockNetworkPlugin

NET = "mocknet"
IPAM = "mockipam"


@attrs.frozen
class Env:
    engine: Engine
    net: MockNetworkPlugin
    ipam: MockIpamPlugin
    root: Path

    def sequence(self) -> list[str]:
        """Every plugin call since the start, in order, ``Plugin.Activate`` left out."""
        return [e.method for e in self.engine.journal.entries if e.method != "Plugin.Activate"]

    def since(self, mark: int) -> list[str]:
        return [
            e.method for e in self.engine.journal.entries[mark:] if e.method != "Plugin.Activate"
        ]

    def mark(self) -> int:
        return len(self.engine.journal.entries)

    def bodies(self, method: str) -> list[Any]:
        return [e.request for e in self.engine.journal.calls(method)]

    def raw(self, method: str) -> list[bytes]:
        return [e.request_body for e in self.engine.journal.calls(method)]

    def clean(self) -> None:
        assert self.net.violations == []
        assert self.ipam.violations == []


async def _serve(
    nursery: trio.Nursery, root: Path, net: MockNetworkPlugin, ipam: MockIpamPlugin
) -> None:
    plugins = root / "run/docker/plugins"
    await nursery.start(net.serve, f"unix:{plugins / net.name}.sock")
    await nursery.start(ipam.serve, f"unix:{plugins / ipam.name}.sock")


@pytest.fixture
def net_plugin() -> MockNetworkPlugin:
    return MockNetworkPlugin(NET)


@pytest.fixture
def ipam_plugin() -> MockIpamPlugin:
    return MockIpamPlugin(IPAM)


@pytest.fixture
async def env(
    short_tmp: Path, net_plugin: MockNetworkPlugin, ipam_plugin: MockIpamPlugin
) -> AsyncIterator[Env]:
    async with trio.open_nursery() as nursery:
        await _serve(nursery, short_tmp, net_plugin, ipam_plugin)
        async with open_engine(root=short_tmp) as engine:
            yield Env(engine, net_plugin, ipam_plugin, short_tmp)
        nursery.cancel_scope.cancel()


GENERIC = {
    "com.docker.network.enable_ipv4": True,
    "com.docker.network.enable_ipv6": False,
    "com.docker.network.generic": {},
}
LABELS: dict[str, Any] = {
    "com.docker.network.endpoint.exposedports": [],
    "com.docker.network.portmap": [],
}


# -- registration --------------------------------------------------------------------------


async def test_registration_asks_capabilities_once_after_activation(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("n1", driver=NET))
    await env.engine.networks.create(NetworkSpec("n2", driver=NET))
    assert env.net.plugin.count("NetworkDriver.GetCapabilities") == 1
    assert env.raw("NetworkDriver.GetCapabilities") == [b""]
    assert env.engine.networks.drivers[NET].capability.ConnectivityScope == "local"


@pytest.mark.parametrize(
    ("scope", "connectivity", "text"),
    [
        ("Local", "", "invalid capability: expecting 'local' or 'global', got Local"),
        ("", "", "invalid capability: expecting 'local' or 'global', got "),
        # dockerd's bug: the bad ConnectivityScope is reported with the Scope value.
        ("local", "swarm", "invalid capability: expecting 'local' or 'global', got local"),
    ],
)
async def test_bad_scope_fails_registration_only_in_the_log(
    short_tmp: Path, scope: str, connectivity: str, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    net = MockNetworkPlugin(NET, scope=scope, connectivity_scope=connectivity)
    async with trio.open_nursery() as nursery:
        await _serve(nursery, short_tmp, net, MockIpamPlugin(IPAM))
        async with open_engine(root=short_tmp) as engine:
            with pytest.raises(NetworkError) as info:
                await engine.networks.create(NetworkSpec("n", driver=NET))
            assert str(info.value) == f"could not resolve driver {NET} in registry"
            assert text in caplog.text
        nursery.cancel_scope.cancel()


async def test_global_scope_and_connectivity_default(short_tmp: Path) -> None:
    net = MockNetworkPlugin(NET, scope="global")
    async with trio.open_nursery() as nursery:
        await _serve(nursery, short_tmp, net, MockIpamPlugin(IPAM))
        async with open_engine(root=short_tmp) as engine:
            network = await engine.networks.create(NetworkSpec("n", driver=NET))
            assert network.scope == "global"
            cap = engine.networks.drivers[NET].capability
            assert (cap.DataScope, cap.ConnectivityScope) == ("global", "global")
            # The built-in IPAM picks its global address space for a global network.
            created = engine.journal.calls("NetworkDriver.CreateNetwork")[0].request
            assert created["IPv4Data"][0]["AddressSpace"] == "GlobalDefault"
            assert created["IPv4Data"][0]["Pool"] == "10.0.0.0/24"
        nursery.cancel_scope.cancel()


async def test_unknown_driver_is_plugin_not_found(env: Env, autojump_clock: object) -> None:
    with pytest.raises(PluginLookupError) as info:
        await env.engine.networks.create(NetworkSpec("n", driver="nosuch"))
    assert str(info.value) == 'plugin "nosuch" not found'
    assert info.value.http_status == 404


async def test_ipam_capabilities_registered_and_failure_tolerated(env: Env) -> None:
    env.ipam.plugin.on("IpamDriver.GetCapabilities", Reply(status=404, body="404 page not found\n"))
    await env.engine.networks.create(NetworkSpec("n", driver=NET, ipam_driver=IPAM))
    assert env.engine.networks.ipams[IPAM].capabilities.RequiresMACAddress is False
    env.clean()


# -- network create ------------------------------------------------------------------------


async def test_create_with_builtin_ipam_exact_bodies(env: Env) -> None:
    network = await env.engine.networks.create(NetworkSpec("n", driver=NET, options={"foo": "bar"}))
    assert env.sequence() == ["NetworkDriver.GetCapabilities", "NetworkDriver.CreateNetwork"]
    # bridge (predefined) holds 172.17.0.0/16: the first user network gets 172.18.0.0/16.
    assert env.raw("NetworkDriver.CreateNetwork") == [
        (
            f'{{"NetworkID":"{network.id}","Options":{{"com.docker.network.enable_ipv4":true,'
            '"com.docker.network.enable_ipv6":false,"com.docker.network.generic":{"foo":"bar"}},'
            '"IPv4Data":[{"AddressSpace":"LocalDefault","Gateway":"172.18.0.1/16",'
            '"Pool":"172.18.0.0/16"}],"IPv6Data":[]}\n'
        ).encode()
    ]
    env.clean()


async def test_create_with_remote_ipam_in_dockerds_order(env: Env) -> None:
    env.net.gw_alloc_checker = True
    network = await env.engine.networks.create(
        NetworkSpec(
            "n",
            driver=NET,
            ipam_driver=IPAM,
            ipam_options={"o": "v"},
            ipam_config=[
                IpamConfig(subnet="10.9.0.0/24", aux_addresses={"b": "10.9.0.9", "a": "10.9.0.8"})
            ],
            internal=True,
        )
    )
    assert env.sequence() == [
        "NetworkDriver.GetCapabilities",
        "NetworkDriver.GwAllocCheck",
        "IpamDriver.GetCapabilities",
        "IpamDriver.GetDefaultAddressSpaces",
        "IpamDriver.GetDefaultAddressSpaces",
        "IpamDriver.RequestPool",
        "IpamDriver.RequestAddress",
        "IpamDriver.RequestAddress",
        "IpamDriver.RequestAddress",
        "NetworkDriver.CreateNetwork",
    ]
    generic = dict(GENERIC, **{"com.docker.network.internal": True})
    assert env.bodies("NetworkDriver.GwAllocCheck") == [{"Options": generic}]
    assert env.raw("IpamDriver.GetDefaultAddressSpaces") == [b"", b""]
    assert env.bodies("IpamDriver.RequestPool") == [
        {
            "AddressSpace": "MockLocal",
            "Pool": "10.9.0.0/24",
            "SubPool": "",
            "Options": {"o": "v"},
            "V6": False,
        }
    ]
    pool_id = f"{IPAM}-pool-1"
    assert env.bodies("IpamDriver.RequestAddress") == [
        {
            "PoolID": pool_id,
            "Address": "",
            "Options": {"RequestAddressType": "com.docker.network.gateway"},
        },
        {"PoolID": pool_id, "Address": "10.9.0.8", "Options": None},
        {"PoolID": pool_id, "Address": "10.9.0.9", "Options": None},
    ]
    assert env.bodies("NetworkDriver.CreateNetwork") == [
        {
            "NetworkID": network.id,
            "Options": generic,
            "IPv4Data": [
                {
                    "AddressSpace": "MockLocal",
                    "AuxAddresses": {"a": "10.9.0.8/24", "b": "10.9.0.9/24"},
                    "Gateway": "10.9.0.1/24",
                    "Pool": "10.9.0.0/24",
                }
            ],
            "IPv6Data": [],
        }
    ]
    env.clean()


async def test_gateway_from_pool_data_is_not_requested(env: Env) -> None:
    env.ipam.gateway_in_data = True
    await env.engine.networks.create(NetworkSpec("n", driver=NET, ipam_driver=IPAM))
    assert env.engine.journal.count("IpamDriver.RequestAddress") == 0
    created = env.bodies("NetworkDriver.CreateNetwork")[0]
    assert created["IPv4Data"][0]["Gateway"] == "10.200.0.1/24"
    await env.engine.networks.remove("n")
    # The gateway is released even though it came from the pool's Data.
    assert env.bodies("IpamDriver.ReleaseAddress") == [
        {"PoolID": f"{IPAM}-pool-1", "Address": "10.200.0.1"}
    ]
    assert env.ipam.pools == {}
    env.clean()


async def test_gw_alloc_check_skip_ipv4(env: Env) -> None:
    env.net.gw_alloc_checker = True
    env.net.skip_gateway = (True, False)
    await env.engine.networks.create(NetworkSpec("n", driver=NET, ipam_driver=IPAM))
    assert env.engine.journal.count("IpamDriver.RequestAddress") == 0
    assert "Gateway" not in env.bodies("NetworkDriver.CreateNetwork")[0]["IPv4Data"][0]
    # An explicit --gateway is still requested.
    await env.engine.networks.create(
        NetworkSpec(
            "m", driver=NET, ipam_driver=IPAM, ipam_config=[IpamConfig(gateway="10.200.1.254")]
        )
    )
    assert env.bodies("IpamDriver.RequestAddress")[-1]["Address"] == "10.200.1.254"
    env.clean()


async def test_ipv6_pool_after_ipv4(env: Env) -> None:
    await env.engine.networks.create(
        NetworkSpec(
            "n",
            driver=NET,
            ipam_driver=IPAM,
            enable_ipv6=True,
            ipam_config=[IpamConfig(subnet="fd00:1::/64")],
        )
    )
    assert env.sequence()[2:] == [
        "IpamDriver.GetDefaultAddressSpaces",
        "IpamDriver.GetDefaultAddressSpaces",
        "IpamDriver.RequestPool",
        "IpamDriver.RequestAddress",
        "IpamDriver.GetDefaultAddressSpaces",
        "IpamDriver.RequestPool",
        "IpamDriver.RequestAddress",
        "NetworkDriver.CreateNetwork",
    ]
    pools = env.bodies("IpamDriver.RequestPool")
    assert [p["V6"] for p in pools] == [False, True]
    created = env.bodies("NetworkDriver.CreateNetwork")[0]
    assert created["IPv6Data"] == [
        {"AddressSpace": "MockLocal", "Gateway": "fd00:1::1/64", "Pool": "fd00:1::/64"}
    ]
    assert created["Options"]["com.docker.network.enable_ipv6"] is True
    env.clean()


async def test_create_network_failure_releases_ipam(env: Env) -> None:
    env.net.plugin.on("NetworkDriver.CreateNetwork", Reply(status=500, body={"Err": "nope"}))
    with pytest.raises(PluginStatusError) as info:
        await env.engine.networks.create(NetworkSpec("n", driver=NET, ipam_driver=IPAM))
    assert str(info.value) == "NetworkDriver.CreateNetwork: nope"
    assert env.sequence()[-3:] == [
        "NetworkDriver.CreateNetwork",
        "IpamDriver.ReleaseAddress",
        "IpamDriver.ReleasePool",
    ]
    assert env.ipam.pools == {}
    assert [n.name for n in env.engine.networks.list()] == ["bridge", "host", "none"]
    env.clean()


async def test_a_cancelled_create_still_releases_ipam(env: Env) -> None:
    """Cancelled during CreateNetwork (a client gone, a daemon shutting down), the create's
    clean-up still gives back the gateway address and the pool, as dockerd's deferred
    clean-up does on the daemon's context (engine/rollback.py)."""
    env.engine.faults.add(call="NetworkDriver.CreateNetwork", delay=30)
    with trio.move_on_after(0.5) as waited:
        await env.engine.networks.create(NetworkSpec("n", driver=NET, ipam_driver=IPAM))
    assert waited.cancelled_caught
    assert env.sequence()[-2:] == ["IpamDriver.ReleaseAddress", "IpamDriver.ReleasePool"]
    assert env.ipam.pools == {}
    assert [n.name for n in env.engine.networks.list()] == ["bridge", "host", "none"]


async def test_a_cancelled_connect_still_deletes_the_endpoint(env: Env) -> None:
    """Cancelled during Join, the endpoint is still deleted and its address released."""
    await env.engine.networks.create(NetworkSpec("n", driver=NET, ipam_driver=IPAM))
    await env.engine.containers.create(ContainerSpec(name="c"))
    env.engine.faults.add(call="NetworkDriver.Join", delay=30)
    mark = env.mark()
    with trio.move_on_after(0.5) as waited:
        await env.engine.networks.connect_endpoint("n", "cid", "c")
    assert waited.cancelled_caught
    assert env.since(mark)[-2:] == ["NetworkDriver.DeleteEndpoint", "IpamDriver.ReleaseAddress"]
    assert env.engine.networks.get("n").endpoints == {}


async def test_err_on_200_is_remote_prefixed(env: Env) -> None:
    env.net.plugin.on("NetworkDriver.CreateNetwork", {"Err": "bad options"})
    with pytest.raises(NetworkError, match=r"^remote: bad options$"):
        await env.engine.networks.create(NetworkSpec("n", driver=NET))


async def test_ipam_error_field_vs_err(env: Env) -> None:
    env.ipam.error_style = "error-field"
    with pytest.raises(NetworkError) as info:
        await env.engine.networks.create(
            NetworkSpec(
                "n",
                driver=NET,
                ipam_driver=IPAM,
                ipam_config=[IpamConfig(subnet="10.9.0.0/24", gateway="10.8.0.1")],
            )
        )
    assert str(info.value) == (
        "failed to allocate gateway (10.8.0.1): remote: 10.8.0.1 is not in 10.9.0.0/24"
    )
    # The pool was released after the failed gateway request.
    assert env.sequence()[-1] == "IpamDriver.ReleasePool"
    env.ipam.error_style = "sdk"
    with pytest.raises(NetworkError) as info:
        await env.engine.networks.create(
            NetworkSpec(
                "n",
                driver=NET,
                ipam_driver=IPAM,
                ipam_config=[IpamConfig(subnet="10.9.0.0/24", gateway="10.8.0.1")],
            )
        )
    assert str(info.value) == (
        "failed to allocate gateway (10.8.0.1): IpamDriver.RequestAddress: "
        "10.8.0.1 is not in 10.9.0.0/24"
    )
    assert env.ipam.pools == {}
    env.clean()


async def test_default_address_spaces_failure_is_404(env: Env) -> None:
    env.ipam.plugin.on("IpamDriver.GetDefaultAddressSpaces", {"Error": "down"})
    with pytest.raises(NetworkError) as info:
        await env.engine.networks.create(NetworkSpec("n", driver=NET, ipam_driver=IPAM))
    assert str(info.value) == "failed to get default address space: remote: down"
    assert info.value.http_status == 404
    assert env.engine.journal.count("NetworkDriver.CreateNetwork") == 0


async def test_ipam_cidr_and_empty_address_rules(env: Env) -> None:
    env.ipam.plugin.on("IpamDriver.RequestAddress", {"Address": "10.200.0.1"})
    with pytest.raises(NetworkError, match=r"invalid CIDR address: 10.200.0.1"):
        await env.engine.networks.create(NetworkSpec("n", driver=NET, ipam_driver=IPAM))
    env.ipam.plugin.on("IpamDriver.RequestAddress", {})
    with pytest.raises(NetworkError, match=r"failed to allocate gateway \(\): no address returned"):
        await env.engine.networks.create(NetworkSpec("n", driver=NET, ipam_driver=IPAM))


async def test_create_name_rules(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("n", driver=NET))
    with pytest.raises(NetworkError, match="network with name n already exists"):
        await env.engine.networks.create(NetworkSpec("n", driver=NET))
    with pytest.raises(NetworkError) as info:
        await env.engine.networks.create(NetworkSpec("bridge", driver=NET))
    assert str(info.value) == "operation is not permitted on predefined bridge network "
    assert info.value.http_status == 403
    with pytest.raises(NetworkError, match="invalid name: name is empty"):
        await env.engine.networks.create(NetworkSpec("", driver=NET))


# -- network rm ----------------------------------------------------------------------------


async def test_remove_releases_ipam_before_delete_network(env: Env) -> None:
    network = await env.engine.networks.create(
        NetworkSpec(
            "n",
            driver=NET,
            ipam_driver=IPAM,
            ipam_config=[IpamConfig(aux_addresses={"x": "10.200.0.7"})],
        )
    )
    mark = env.mark()
    await env.engine.networks.remove("n")
    assert env.since(mark) == [
        "IpamDriver.ReleaseAddress",
        "IpamDriver.ReleaseAddress",
        "IpamDriver.ReleasePool",
        "NetworkDriver.DeleteNetwork",
    ]
    assert env.bodies("IpamDriver.ReleaseAddress") == [
        {"PoolID": f"{IPAM}-pool-1", "Address": "10.200.0.1"},
        {"PoolID": f"{IPAM}-pool-1", "Address": "10.200.0.7"},
    ]
    assert env.bodies("IpamDriver.ReleasePool") == [{"PoolID": f"{IPAM}-pool-1"}]
    assert env.bodies("NetworkDriver.DeleteNetwork") == [{"NetworkID": network.id}]
    assert env.net.networks == {}
    assert env.ipam.pools == {}
    env.clean()


async def test_delete_network_error_only_logged(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("n", driver=NET))
    env.net.plugin.on("NetworkDriver.DeleteNetwork", Reply(status=500, body={"Err": "busy"}))
    await env.engine.networks.remove("n")
    with pytest.raises(NetworkError, match="network n not found"):
        env.engine.networks.get("n")


async def test_predefined_cannot_be_removed(env: Env) -> None:
    with pytest.raises(NetworkError) as info:
        await env.engine.networks.remove("bridge")
    assert str(info.value) == "bridge is a pre-defined network and cannot be removed"
    assert info.value.http_status == 403


async def test_prune_removes_unused_user_networks(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("a", driver=NET))
    await env.engine.networks.create(NetworkSpec("b", driver=NET))
    await env.engine.containers.run(ContainerSpec(networks=["b"], detach=True, name="c"))
    assert await env.engine.networks.prune() == ["a"]
    assert sorted(n.name for n in env.engine.networks.list()) == ["b", "bridge", "host", "none"]


# -- endpoints -----------------------------------------------------------------------------


async def test_run_network_then_stop_exact_bodies(env: Env) -> None:
    network = await env.engine.networks.create(NetworkSpec("n", driver=NET, ipam_driver=IPAM))
    mark = env.mark()
    container = await env.engine.containers.run(
        ContainerSpec(networks=["n"], detach=True, name="c")
    )
    assert env.since(mark) == [
        "IpamDriver.RequestAddress",
        "NetworkDriver.CreateEndpoint",
        "NetworkDriver.Join",
        "NetworkDriver.ProgramExternalConnectivity",
        "NetworkDriver.EndpointOperInfo",
    ]
    endpoint = env.engine.networks.endpoint_of("n", container.id)
    assert endpoint is not None
    eid, nid = endpoint.id, network.id
    pool_id = f"{IPAM}-pool-1"
    assert env.bodies("IpamDriver.RequestAddress")[-1] == {
        "PoolID": pool_id,
        "Address": "",
        "Options": None,
    }
    assert env.raw("NetworkDriver.CreateEndpoint") == [
        (
            f'{{"NetworkID":"{nid}","EndpointID":"{eid}","Interface":{{"Address":"10.200.0.2/24",'
            '"AddressIPv6":"","MacAddress":""},"Options":{"com.docker.network.endpoint.'
            'exposedports":[],"com.docker.network.portmap":[]}}\n'
        ).encode()
    ]
    join = env.bodies("NetworkDriver.Join")[0]
    assert join["SandboxKey"].startswith("/var/run/docker/netns/")
    assert len(join["SandboxKey"].rsplit("/", 1)[1]) == 12
    assert join == {
        "NetworkID": nid,
        "EndpointID": eid,
        "SandboxKey": join["SandboxKey"],
        "Options": LABELS,
    }
    assert env.bodies("NetworkDriver.ProgramExternalConnectivity") == [
        {
            "NetworkID": nid,
            "EndpointID": eid,
            "Options": dict(LABELS, **{"com.docker.network.driver.private.no_proxy_6to4": False}),
        }
    ]
    assert env.bodies("NetworkDriver.EndpointOperInfo") == [{"NetworkID": nid, "EndpointID": eid}]

    mark = env.mark()
    await env.engine.containers.stop("c")
    assert env.since(mark) == [
        "NetworkDriver.RevokeExternalConnectivity",
        "NetworkDriver.Leave",
        "NetworkDriver.DeleteEndpoint",
        "IpamDriver.ReleaseAddress",
    ]
    for method in ("RevokeExternalConnectivity", "Leave", "DeleteEndpoint"):
        assert env.bodies(f"NetworkDriver.{method}") == [{"NetworkID": nid, "EndpointID": eid}]
    assert env.bodies("IpamDriver.ReleaseAddress") == [{"PoolID": pool_id, "Address": "10.200.0.2"}]
    assert env.ipam.allocated() == {pool_id: {"10.200.0.1"}}
    assert env.net.endpoints == {}
    env.clean()


async def test_requires_mac_address_sends_mac_to_ipam_and_driver(env: Env) -> None:
    env.ipam.requires_mac = True
    await env.engine.networks.create(NetworkSpec("n", driver=NET, ipam_driver=IPAM))
    await env.engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))
    mac = env.bodies("IpamDriver.RequestAddress")[-1]["Options"][
        "com.docker.network.endpoint.macaddress"
    ]
    assert env.bodies("NetworkDriver.CreateEndpoint")[0]["Interface"]["MacAddress"] == mac
    first = int(mac.split(":")[0], 16)
    assert first & 0x02
    assert not first & 0x01
    env.clean()


async def test_driver_supplied_mac_is_accepted(env: Env) -> None:
    env.net.mac = "02:42:ac:11:00:99"
    await env.engine.networks.create(NetworkSpec("n", driver=NET))
    container = await env.engine.containers.run(
        ContainerSpec(networks=["n"], detach=True, name="c")
    )
    endpoint = env.engine.networks.endpoint_of("n", container.id)
    assert endpoint is not None
    assert endpoint.iface.mac == "02:42:ac:11:00:99"
    env.clean()


async def test_create_endpoint_modifying_address_is_rolled_back(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("n", driver=NET, ipam_driver=IPAM))
    _patch_reply(
        env.net,
        "NetworkDriver.CreateEndpoint",
        {"Interface": {"Address": "10.200.0.50/24"}},
    )
    mark = env.mark()
    with pytest.raises(ContainerError) as info:
        await env.engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))
    assert str(info.value).startswith(
        "failed to set up container networking: failed to create endpoint c on network n: "
        "driver modified interface address: endpoint interface IP present (10.200.0.2/24). "
        "Cannot be modified with (10.200.0.50/24).; rolled back"
    )
    assert env.since(mark) == [
        "IpamDriver.RequestAddress",
        "NetworkDriver.CreateEndpoint",
        "NetworkDriver.DeleteEndpoint",
        "IpamDriver.ReleaseAddress",
    ]
    assert env.ipam.allocated() == {f"{IPAM}-pool-1": {"10.200.0.1"}}
    assert env.engine.containers.get("c").state == "created"


async def test_create_endpoint_bad_mac_is_rolled_back(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("n", driver=NET))
    _patch_reply(env.net, "NetworkDriver.CreateEndpoint", {"Interface": {"MacAddress": "zz"}})
    with pytest.raises(ContainerError, match=r"address zz: invalid MAC address; rolled back"):
        await env.engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))
    assert env.engine.journal.count("NetworkDriver.DeleteEndpoint") == 1


async def test_create_endpoint_error_has_no_rollback_call(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("n", driver=NET, ipam_driver=IPAM))
    env.net.plugin.on("NetworkDriver.CreateEndpoint", Reply(status=500, body={"Err": "no"}))
    mark = env.mark()
    with pytest.raises(ContainerError) as info:
        await env.engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))
    assert str(info.value) == (
        "failed to set up container networking: failed to create endpoint c on network n: "
        "NetworkDriver.CreateEndpoint: no"
    )
    assert env.since(mark) == [
        "IpamDriver.RequestAddress",
        "NetworkDriver.CreateEndpoint",
        "IpamDriver.ReleaseAddress",
    ]


async def test_join_with_cidr_gateway_is_left(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("n", driver=NET, ipam_driver=IPAM))
    _patch_reply(env.net, "NetworkDriver.Join", {"Gateway": "10.200.0.1/24"})
    mark = env.mark()
    with pytest.raises(ContainerError) as info:
        await env.engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))
    assert str(info.value) == (
        "failed to set up container networking: "
        'unable to parse Gateway "10.200.0.1/24"; rolled back'
    )
    assert env.since(mark) == [
        "IpamDriver.RequestAddress",
        "NetworkDriver.CreateEndpoint",
        "NetworkDriver.Join",
        "NetworkDriver.Leave",
        "NetworkDriver.DeleteEndpoint",
        "IpamDriver.ReleaseAddress",
    ]


async def test_join_error_is_not_left(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("n", driver=NET))
    env.net.plugin.on("NetworkDriver.Join", {"Err": "no sandbox"})
    mark = env.mark()
    with pytest.raises(ContainerError, match=r"remote: no sandbox$"):
        await env.engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))
    assert env.since(mark) == [
        "NetworkDriver.CreateEndpoint",
        "NetworkDriver.Join",
        "NetworkDriver.DeleteEndpoint",
    ]


async def test_program_404_tolerated_and_revoke_404_tolerated(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("n", driver=NET))
    env.net.plugin.on(
        "NetworkDriver.ProgramExternalConnectivity", Reply(status=404, body="404 page not found\n")
    )
    env.net.plugin.on(
        "NetworkDriver.RevokeExternalConnectivity", Reply(status=404, body="404 page not found\n")
    )
    container = await env.engine.containers.run(
        ContainerSpec(networks=["n"], detach=True, name="c")
    )
    assert container.state == "running"
    await env.engine.containers.stop("c")
    assert env.engine.journal.count("NetworkDriver.Leave") == 1


async def test_program_error_fails_start_and_rolls_back(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("n", driver=NET))
    env.net.plugin.on(
        "NetworkDriver.ProgramExternalConnectivity", Reply(status=500, body={"Err": "iptables"})
    )
    mark = env.mark()
    with pytest.raises(ContainerError) as info:
        await env.engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))
    assert "driver failed programming external connectivity on endpoint c (" in str(info.value)
    assert str(info.value).endswith("): NetworkDriver.ProgramExternalConnectivity: iptables")
    assert env.since(mark) == [
        "NetworkDriver.CreateEndpoint",
        "NetworkDriver.Join",
        "NetworkDriver.ProgramExternalConnectivity",
        "NetworkDriver.Leave",
        "NetworkDriver.DeleteEndpoint",
    ]


@pytest.mark.parametrize(
    "method", ["CreateEndpoint", "Join", "EndpointOperInfo", "Leave", "DeleteEndpoint"]
)
async def test_404_not_tolerated_elsewhere(env: Env, method: str) -> None:
    await env.engine.networks.create(NetworkSpec("n", driver=NET))
    env.net.plugin.on(f"NetworkDriver.{method}", Reply(status=404, body="404 page not found\n"))
    if method in ("CreateEndpoint", "Join"):
        with pytest.raises(ContainerError, match=f"NetworkDriver.{method}: 404 page not found"):
            await env.engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))
    else:  # errors only logged by dockerd: the operation succeeds
        await env.engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))
        await env.engine.containers.stop("c")


async def test_teardown_errors_only_logged(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("n", driver=NET, ipam_driver=IPAM))
    await env.engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))
    for method in ("RevokeExternalConnectivity", "Leave", "DeleteEndpoint"):
        env.net.plugin.on(f"NetworkDriver.{method}", {"Err": "broken"})
    await env.engine.containers.stop("c")
    assert env.engine.containers.get("c").state == "exited"
    # IPAM is released even though the driver failed.
    assert env.ipam.allocated() == {f"{IPAM}-pool-1": {"10.200.0.1"}}


async def test_no_gateway_takes_gwbridge_path(env: Env) -> None:
    env.net.gateway = False
    await env.engine.networks.create(NetworkSpec("n", driver=NET))
    mark = env.mark()
    await env.engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))
    assert env.since(mark) == [
        "NetworkDriver.CreateEndpoint",
        "NetworkDriver.Join",
        "NetworkDriver.EndpointOperInfo",
    ]
    gwbridge = env.engine.networks.get("docker_gwbridge")
    assert len(gwbridge.endpoints) == 1
    mark = env.mark()
    await env.engine.containers.stop("c")
    assert env.since(mark) == ["NetworkDriver.Leave", "NetworkDriver.DeleteEndpoint"]
    assert gwbridge.endpoints == {}
    env.clean()


async def test_internal_network_no_gwbridge_no_program(env: Env) -> None:
    env.net.gateway = False
    await env.engine.networks.create(NetworkSpec("n", driver=NET, internal=True))
    await env.engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))
    assert env.engine.journal.count("NetworkDriver.ProgramExternalConnectivity") == 0
    assert env.bodies("NetworkDriver.CreateEndpoint")[0]["Options"] == {}
    with pytest.raises(NetworkError):
        env.engine.networks.get("docker_gwbridge")


async def test_connect_and_disconnect_running_container(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("a", driver=NET))
    await env.engine.networks.create(NetworkSpec("b", driver=NET))
    await env.engine.containers.run(ContainerSpec(networks=["a"], detach=True, name="c"))
    mark = env.mark()
    await env.engine.networks.connect("b", "c", driver_opts={"k": "v"})
    # Not the gateway (a already is): no ProgramExternalConnectivity; OperInfo for both.
    assert env.since(mark) == [
        "NetworkDriver.CreateEndpoint",
        "NetworkDriver.Join",
        "NetworkDriver.EndpointOperInfo",
        "NetworkDriver.EndpointOperInfo",
    ]
    assert env.bodies("NetworkDriver.CreateEndpoint")[-1]["Options"] == dict(LABELS, k="v")
    mark = env.mark()
    await env.engine.networks.disconnect("b", "c")
    assert env.since(mark) == [
        "NetworkDriver.Leave",
        "NetworkDriver.EndpointOperInfo",
        "NetworkDriver.DeleteEndpoint",
    ]
    env.clean()


async def test_connect_stopped_container_makes_no_calls(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("n", driver=NET))
    await env.engine.containers.create(ContainerSpec(name="c"))
    mark = env.mark()
    await env.engine.networks.connect("n", "c")
    assert env.since(mark) == []
    await env.engine.containers.start("c")
    assert "NetworkDriver.Join" in env.since(mark)


async def test_remove_with_active_endpoints_refused(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("n", driver=NET))
    container = await env.engine.containers.run(
        ContainerSpec(networks=["n"], detach=True, name="c")
    )
    endpoint = env.engine.networks.endpoint_of("n", container.id)
    assert endpoint is not None
    with pytest.raises(NetworkError) as info:
        await env.engine.networks.remove("n")
    assert str(info.value) == (
        "error while removing network: network n has active endpoints "
        f'(name:"c" id:"{endpoint.id[:12]}")'
    )
    assert info.value.http_status == 403


async def test_static_ip_and_run_on_missing_network(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("dyn", driver=NET, ipam_driver=IPAM))
    await env.engine.containers.create(ContainerSpec(name="c"))
    # validateEndpointSettings: a static address needs a user-configured subnet.
    with pytest.raises(NetworkError) as info:
        await env.engine.networks.connect("dyn", "c", ipv4_address="10.200.0.77")
    assert str(info.value) == (
        "invalid endpoint settings:\nuser specified IP address is supported only when "
        "connecting to networks with user configured subnets"
    )
    assert info.value.http_status == 400
    await env.engine.networks.create(
        NetworkSpec(
            "n", driver=NET, ipam_driver=IPAM, ipam_config=[IpamConfig(subnet="10.201.0.0/24")]
        )
    )
    await env.engine.networks.connect("n", "c", ipv4_address="10.201.0.77")
    await env.engine.containers.start("c")
    assert env.bodies("IpamDriver.RequestAddress")[-1]["Address"] == "10.201.0.77"
    # As dockerd: create accepts an unknown network; the start fails.
    created = await env.engine.containers.create(ContainerSpec(networks=["nope"], name="late"))
    assert created.state == "created"
    with pytest.raises(
        ContainerError, match=r"^failed to set up container networking: network nope not found$"
    ):
        await env.engine.containers.start("late")


def _patch_reply(plugin: MockNetworkPlugin, method: str, changes: dict[str, Any]) -> None:
    """Let the mock handle ``method`` (keeping its state right), then change its answer."""
    original = plugin.plugin.handler(method)
    assert callable(original)

    def handler(recorded: RecordedRequest) -> Reply:
        reply = original(recorded)
        assert isinstance(reply, Reply)
        body = json.loads(reply.encoded_body())
        body.update(changes)
        return Reply(body=body, content_type=reply.content_type)

    plugin.plugin.on(method, handler)


async def test_gwbridge_cleared_when_a_gateway_network_joins(env: Env) -> None:
    env.net.gateway = False
    await env.engine.networks.create(NetworkSpec("nogw", driver=NET))
    await env.engine.containers.run(ContainerSpec(networks=["nogw"], detach=True, name="c"))
    gwbridge = env.engine.networks.get("docker_gwbridge")
    assert len(gwbridge.endpoints) == 1
    env.net.gateway = True
    await env.engine.networks.create(NetworkSpec("gw", driver=NET))
    mark = env.mark()
    await env.engine.networks.connect("gw", "c")
    assert env.since(mark) == [
        "NetworkDriver.CreateEndpoint",
        "NetworkDriver.Join",
        "NetworkDriver.ProgramExternalConnectivity",
        "NetworkDriver.EndpointOperInfo",
        "NetworkDriver.EndpointOperInfo",
    ]
    assert gwbridge.endpoints == {}
    env.clean()


async def test_plugin_implementing_both_interfaces_registers_both(short_tmp: Path) -> None:
    both = MockNetworkPlugin("both")
    ipam = MockIpamPlugin("both-ipam")
    both.plugin.implements = ("NetworkDriver", "IpamDriver")
    both.plugin.on("Plugin.Activate", {"Implements": ["NetworkDriver", "IpamDriver"]})
    for method in (
        "IpamDriver.GetCapabilities",
        "IpamDriver.GetDefaultAddressSpaces",
        "IpamDriver.RequestPool",
        "IpamDriver.RequestAddress",
        "IpamDriver.ReleaseAddress",
        "IpamDriver.ReleasePool",
    ):
        handler = ipam.plugin.handler(method)
        assert handler is not None
        both.plugin.on(method, handler)
    async with trio.open_nursery() as nursery:
        await nursery.start(both.serve, f"unix:{short_tmp}/run/docker/plugins/both.sock")
        async with open_engine(root=short_tmp) as engine:
            await engine.networks.create(NetworkSpec("n", driver="both", ipam_driver="both"))
            methods = [e.method for e in engine.journal.entries]
            assert methods[:3] == [
                "Plugin.Activate",
                "NetworkDriver.GetCapabilities",
                "IpamDriver.GetCapabilities",
            ]
            assert methods.count("Plugin.Activate") == 1
            assert "both" in engine.networks.ipams
        nursery.cancel_scope.cancel()
    assert both.violations == []
    assert ipam.violations == []


async def test_restart_forgets_registrations(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("n", driver=NET))
    await env.engine.restart()
    mark = env.mark()
    await env.engine.networks.create(NetworkSpec("m", driver=NET))
    assert [e.method for e in env.engine.journal.entries[mark:]] == [
        "Plugin.Activate",
        "NetworkDriver.GetCapabilities",
        "NetworkDriver.CreateNetwork",
    ]


async def test_unknown_ipam_plugin_not_found(env: Env, autojump_clock: object) -> None:
    with pytest.raises(PluginLookupError, match='plugin "nosuch" not found'):
        await env.engine.networks.create(NetworkSpec("n", driver=NET, ipam_driver="nosuch"))
    assert env.engine.journal.count("NetworkDriver.CreateNetwork") == 0


async def test_concurrent_creates_of_one_name(env: Env) -> None:
    results: list[str] = []

    async def create() -> None:
        try:
            await env.engine.networks.create(NetworkSpec("same", driver=NET, ipam_driver=IPAM))
            results.append("ok")
        except NetworkError as exc:
            results.append(str(exc))

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(create)
    assert sorted(results) == ["network with name same already exists"] * 2 + ["ok"]
    assert env.engine.journal.count("NetworkDriver.CreateNetwork") == 1
    assert len(env.ipam.pools) == 1


async def test_gw_priority_chooses_the_gateway_endpoint(env: Env) -> None:
    """``Endpoint.Less`` (libnetwork/sandbox.go): a higher ``GwPriority`` sorts first, before
    the network name; so "b" gets ``ProgramExternalConnectivity``, not "a"."""
    await env.engine.networks.create(NetworkSpec("a", driver=NET))
    await env.engine.networks.create(NetworkSpec("b", driver=NET))
    container = await env.engine.containers.run(
        ContainerSpec(
            networks={"a": EndpointConfig(), "b": EndpointConfig(gw_priority=10)},
            detach=True,
            name="c",
        )
    )
    a = env.engine.networks.endpoint_of("a", container.id)
    b = env.engine.networks.endpoint_of("b", container.id)
    assert a is not None
    assert b is not None
    # Joined in order: "a" is the gateway until "b" comes, then "b" takes over.
    programmed = env.bodies("NetworkDriver.ProgramExternalConnectivity")
    assert [body["EndpointID"] for body in programmed] == [a.id, b.id]
    revoked = env.bodies("NetworkDriver.RevokeExternalConnectivity")
    assert [body["EndpointID"] for body in revoked] == [a.id]
    assert container.network_mode == "a"
    env.clean()


async def test_connect_settings_reach_the_plugin(env: Env) -> None:
    await env.engine.networks.create(
        NetworkSpec(
            "n", driver=NET, ipam_driver=IPAM, ipam_config=[IpamConfig(subnet="10.203.0.0/24")]
        )
    )
    await env.engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))
    await env.engine.networks.create(
        NetworkSpec(
            "m", driver=NET, ipam_driver=IPAM, ipam_config=[IpamConfig(subnet="10.204.0.0/24")]
        )
    )
    config = EndpointConfig(
        ipv4_address="10.204.0.40",
        ipam_config=True,
        mac_address="02-42-AC-CC-00-28",
        aliases=("m-alias",),
        driver_opts={"k": "v"},
    )
    endpoint = await env.engine.networks.connect("m", "c", config=config)
    assert endpoint is not None
    assert endpoint.aliases == ["m-alias"]
    created = env.bodies("NetworkDriver.CreateEndpoint")[-1]
    assert created["Interface"] == {
        "Address": "10.204.0.40/24",
        "AddressIPv6": "",
        "MacAddress": "02:42:ac:cc:00:28",  # as Go prints a net.HardwareAddr
    }
    assert created["Options"]["k"] == "v"
    # The address is taken: IPAM's error at d's start, not the next address.
    await env.engine.containers.create(ContainerSpec(name="d", networks=["n"]))
    await env.engine.networks.connect("m", "d", ipv4_address="10.204.0.40")
    with pytest.raises(ContainerError, match="failed to set up container networking: "):
        await env.engine.containers.start("d")
    env.clean()


async def test_gateway_moves_to_a_network_sorting_first(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("b", driver=NET))
    await env.engine.networks.create(NetworkSpec("a", driver=NET))
    container = await env.engine.containers.run(
        ContainerSpec(networks=["b"], detach=True, name="c")
    )
    first = env.engine.networks.endpoint_of("b", container.id)
    mark = env.mark()
    await env.engine.networks.connect("a", "c")
    # Endpoint.Less: same gateway count, so network name decides: "a" is the gateway now.
    assert env.since(mark) == [
        "NetworkDriver.CreateEndpoint",
        "NetworkDriver.Join",
        "NetworkDriver.RevokeExternalConnectivity",
        "NetworkDriver.ProgramExternalConnectivity",
        "NetworkDriver.EndpointOperInfo",
        "NetworkDriver.EndpointOperInfo",
    ]
    second = env.engine.networks.endpoint_of("a", container.id)
    assert first is not None
    assert second is not None
    revoked = env.bodies("NetworkDriver.RevokeExternalConnectivity")[-1]
    programmed = env.bodies("NetworkDriver.ProgramExternalConnectivity")[-1]
    assert revoked["EndpointID"] == first.id
    assert programmed["EndpointID"] == second.id
    # Stop: the gateway leaves first and the gateway role is handed over before its
    # DeleteEndpoint (sbLeave programs the next gateway even during a sandbox delete).
    mark = env.mark()
    await env.engine.containers.stop("c")
    assert env.since(mark) == [
        "NetworkDriver.RevokeExternalConnectivity",
        "NetworkDriver.Leave",
        "NetworkDriver.ProgramExternalConnectivity",
        "NetworkDriver.DeleteEndpoint",
        "NetworkDriver.RevokeExternalConnectivity",
        "NetworkDriver.Leave",
        "NetworkDriver.DeleteEndpoint",
    ]
    env.clean()


async def test_disconnecting_the_gateway_programs_the_next(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("a", driver=NET))
    await env.engine.networks.create(NetworkSpec("b", driver=NET))
    await env.engine.containers.run(ContainerSpec(networks=["a", "b"], detach=True, name="c"))
    mark = env.mark()
    await env.engine.networks.disconnect("a", "c")
    assert env.since(mark) == [
        "NetworkDriver.RevokeExternalConnectivity",
        "NetworkDriver.Leave",
        "NetworkDriver.ProgramExternalConnectivity",
        "NetworkDriver.EndpointOperInfo",
        "NetworkDriver.DeleteEndpoint",
    ]
    env.clean()


async def test_internal_gateway_endpoint_is_revoked_not_programmed(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("n", driver=NET, internal=True))
    await env.engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))
    assert env.engine.journal.count("NetworkDriver.ProgramExternalConnectivity") == 0
    await env.engine.containers.stop("c")
    assert env.engine.journal.count("NetworkDriver.RevokeExternalConnectivity") == 1
    env.clean()


async def test_inspect_json_shape(env: Env) -> None:
    network = await env.engine.networks.create(
        NetworkSpec(
            "n",
            driver=NET,
            ipam_driver=IPAM,
            options={"o": "1"},
            labels={"l": "2"},
            ipam_config=[IpamConfig(subnet="10.9.0.0/24", ip_range="10.9.0.128/25")],
        )
    )
    container = await env.engine.containers.run(
        ContainerSpec(networks=["n"], detach=True, name="c")
    )
    endpoint = env.engine.networks.endpoint_of("n", container.id)
    assert endpoint is not None
    data = network.inspect()
    assert list(data) == [
        "Name",
        "Id",
        "Created",
        "Scope",
        "Driver",
        "EnableIPv4",
        "EnableIPv6",
        "IPAM",
        "Internal",
        "Attachable",
        "Ingress",
        "ConfigFrom",
        "ConfigOnly",
        "Containers",
        "Options",
        "Labels",
    ]
    assert data["IPAM"] == {
        "Driver": IPAM,
        "Options": {},
        "Config": [{"Subnet": "10.9.0.0/24", "IPRange": "10.9.0.128/25"}],
    }
    assert data["Containers"] == {
        container.id: {
            "Name": "c",
            "EndpointID": endpoint.id,
            "MacAddress": "",
            "IPv4Address": "10.9.0.129/24",  # the gateway took .128, the first of the range
            "IPv6Address": "",
        }
    }
    assert network.inspect(containers=False)["Containers"] == {}
    # Without --subnet, IPAM.Config shows what IPAM allocated, gateway without prefix.
    other = await env.engine.networks.create(NetworkSpec("m", driver=NET))
    assert other.inspect()["IPAM"]["Config"] == [
        {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}
    ]
    env.clean()


async def test_dual_stack_endpoint_addresses_and_release_order(env: Env) -> None:
    await env.engine.networks.create(
        NetworkSpec(
            "n",
            driver=NET,
            ipam_driver=IPAM,
            enable_ipv6=True,
            ipam_config=[IpamConfig(subnet="fd00:7::/64")],
        )
    )
    mark = env.mark()
    await env.engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))
    assert env.since(mark)[:3] == [
        "IpamDriver.RequestAddress",
        "IpamDriver.RequestAddress",
        "NetworkDriver.CreateEndpoint",
    ]
    v4_pool, v6_pool = f"{IPAM}-pool-1", f"{IPAM}-pool-2"
    assert env.bodies("IpamDriver.RequestAddress")[-2:] == [
        {"PoolID": v4_pool, "Address": "", "Options": None},
        {"PoolID": v6_pool, "Address": "", "Options": None},
    ]
    assert env.bodies("NetworkDriver.CreateEndpoint")[0]["Interface"] == {
        "Address": "10.200.0.2/24",
        "AddressIPv6": "fd00:7::2/64",
        "MacAddress": "",
    }
    await env.engine.containers.stop("c")
    assert env.bodies("IpamDriver.ReleaseAddress") == [
        {"PoolID": v4_pool, "Address": "10.200.0.2"},
        {"PoolID": v6_pool, "Address": "fd00:7::2"},
    ]
    env.clean()


async def test_ipv6_gateway_from_join_dropped_without_ipv6_address(env: Env) -> None:
    await env.engine.networks.create(NetworkSpec("n", driver=NET))
    _patch_reply(env.net, "NetworkDriver.Join", {"GatewayIPv6": "fd00::1"})
    container = await env.engine.containers.run(
        ContainerSpec(networks=["n"], detach=True, name="c")
    )
    endpoint = env.engine.networks.endpoint_of("n", container.id)
    assert endpoint is not None
    assert endpoint.join is not None
    assert endpoint.join.gateway == "172.18.0.1"
    assert endpoint.join.gateway_v6 == ""
