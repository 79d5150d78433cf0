"""IPAM invariants: the built-in allocator, and the engine under concurrency (hypothesis).

* No address is handed out twice while in use, never the network or broadcast
  address, always inside its pool; pools never overlap.
* Whatever the interleaving of container starts, stops, connects and
  disconnects, every address goes back: after everything stops only the
  gateways are out, and after ``network rm`` no pool is left.
"""

from __future__ import annotations

import ipaddress
import shutil
import tempfile
from pathlib import Path

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator import ContainerSpec, NetworkSpec, open_engine
from emulator.engine.core import Engine
from emulator.engine.ipam import DefaultIpam, IpamError, PoolRequest
from emulator.mocks.network import MockIpamPlugin, MockNetworkPlugin
from emulator.protocol.ipam import LOCAL_DEFAULT

# -- the built-in allocator ----------------------------------------------------------------

_op = st.one_of(
    st.tuples(st.just("request"), st.integers(0, 2), st.none()),
    st.tuples(st.just("request"), st.integers(0, 2), st.integers(0, 15)),
    st.tuples(st.just("release"), st.integers(0, 2), st.integers(0, 15)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_op, max_size=80))
def test_default_ipam_never_hands_out_an_address_twice(
    ops: list[tuple[str, int, int | None]],
) -> None:
    async def main() -> None:
        ipam = DefaultIpam()
        pools = [
            await ipam.request_pool(PoolRequest(LOCAL_DEFAULT, pool=f"10.{i}.0.0/28"))
            for i in range(3)
        ]
        out: dict[str, set[ipaddress.IPv4Address | ipaddress.IPv6Address]] = {
            p.pool_id: set() for p in pools
        }
        for kind, index, host in ops:
            pool = pools[index]
            wanted = "" if host is None else str(pool.pool.network_address + host)
            if kind == "request":
                try:
                    address, _ = await ipam.request_address(pool.pool_id, wanted, None)
                except IpamError as exc:
                    text = str(exc)
                    if host is None:
                        assert text == "no available addresses on this pool"
                        assert len(out[pool.pool_id]) == 14
                    else:
                        ip = ipaddress.ip_address(wanted)
                        assert ip in out[pool.pool_id] or ip in (
                            pool.pool.network_address,
                            pool.pool.broadcast_address,
                        )
                    continue
                assert address.network == pool.pool
                assert address.ip not in out[pool.pool_id]
                assert address.ip not in (pool.pool.network_address, pool.pool.broadcast_address)
                if host is None:  # the lowest free address
                    free = [ip for ip in pool.pool.hosts() if ip not in out[pool.pool_id]]
                    assert address.ip == free[0]
                out[pool.pool_id].add(address.ip)
            else:
                await ipam.release_address(pool.pool_id, wanted)
                out[pool.pool_id].discard(ipaddress.ip_address(wanted))
            assert ipam.allocated(pool.pool_id) == out[pool.pool_id]

    trio.run(main)


async def test_default_pools_in_dockerds_order_and_no_overlap() -> None:
    ipam = DefaultIpam()
    got = [str((await ipam.request_pool(PoolRequest(LOCAL_DEFAULT))).pool) for _ in range(8)]
    assert got == [
        "172.17.0.0/16",
        "172.18.0.0/16",
        "172.19.0.0/16",
        "172.20.0.0/16",
        "172.21.0.0/16",
        "172.22.0.0/16",
        "172.23.0.0/16",
        "172.24.0.0/16",
    ]
    with pytest.raises(IpamError, match="Pool overlaps with other one on this address space"):
        await ipam.request_pool(PoolRequest(LOCAL_DEFAULT, pool="172.18.5.0/24"))
    await ipam.release_pool(f"{LOCAL_DEFAULT}/172.18.0.0/16")
    again = await ipam.request_pool(PoolRequest(LOCAL_DEFAULT))
    assert (again.pool_id, str(again.pool)) == (f"{LOCAL_DEFAULT}/172.18.0.0/16", "172.18.0.0/16")


async def test_engine_networks_get_next_default_pool() -> None:
    async with trio.open_nursery():
        pass
    root = Path(tempfile.mkdtemp(prefix="pe-", dir="/tmp"))
    try:
        async with open_engine(root=root) as engine:
            a = await engine.networks.create(NetworkSpec("a"))
            b = await engine.networks.create(NetworkSpec("b"))
            assert [str(i.pool) for i in a.ipv4_info + b.ipv4_info] == [
                "172.18.0.0/16",
                "172.19.0.0/16",
            ]
            assert [str(i.gateway) for i in a.ipv4_info] == ["172.18.0.1/16"]
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- the engine under concurrency ------------------------------------------------------------

_plan = st.lists(
    st.tuples(
        st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True),  # networks at run
        st.integers(0, 2),  # a network to connect later
        st.booleans(),  # disconnect it again
        st.integers(0, 3),  # checkpoints before stopping
    ),
    min_size=1,
    max_size=8,
)


async def _exercise(
    engine: Engine, plan: list[tuple[list[int], int, bool, int]], driver: str, ipam: str
) -> None:
    names = ["n0", "n1", "n2"]
    for name in names:
        await engine.networks.create(NetworkSpec(name, driver=driver, ipam_driver=ipam))

    def check_unique() -> None:
        for name in names:
            network = engine.networks.get(name)
            taken = [ep.iface.address.ip for ep in network.endpoints.values() if ep.iface.address]
            gateways = [i.gateway.ip for i in network.ipv4_info if i.gateway is not None]
            assert len(set(taken)) == len(taken), f"address handed out twice on {name}"
            assert not set(taken) & set(gateways)

    async def one(index: int, nets: list[int], extra: int, drop: bool, waits: int) -> None:
        cname = f"c{index}"
        await engine.containers.run(
            ContainerSpec(networks=[names[n] for n in nets], detach=True, name=cname)
        )
        check_unique()
        if names[extra] not in engine.containers.get(cname).networks:
            await engine.networks.connect(names[extra], cname)
            check_unique()
            if drop:
                await engine.networks.disconnect(names[extra], cname)
        for _ in range(waits):
            await trio.lowlevel.checkpoint()
            check_unique()
        await engine.containers.stop(cname)

    async with trio.open_nursery() as nursery:
        for index, (nets, extra, drop, waits) in enumerate(plan):
            nursery.start_soon(one, index, nets, extra, drop, waits)
    check_unique()
    for name in names:
        network = engine.networks.get(name)
        assert network.endpoints == {}
    for name in names:
        await engine.networks.remove(name)


@settings(max_examples=60, deadline=None)
@given(_plan)
def test_builtin_ipam_under_concurrency(plan: list[tuple[list[int], int, bool, int]]) -> None:
    async def main() -> None:
        root = Path(tempfile.mkdtemp(prefix="pe-", dir="/tmp"))
        try:
            async with open_engine(root=root) as engine:
                await _exercise(engine, plan, "bridge", "default")
                # Only the predefined bridge network's pool is left.
                assert list(engine.networks.default_ipam.pools) == [
                    f"{LOCAL_DEFAULT}/172.17.0.0/16"
                ]
        finally:
            shutil.rmtree(root, ignore_errors=True)

    trio.run(main)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(_plan)
def test_remote_ipam_under_concurrency(plan: list[tuple[list[int], int, bool, int]]) -> None:
    async def main() -> None:
        root = Path(tempfile.mkdtemp(prefix="pe-", dir="/tmp"))
        net, ipam = MockNetworkPlugin("pnet"), MockIpamPlugin("pipam")
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(net.serve, f"unix:{root}/run/docker/plugins/pnet.sock")
                await nursery.start(ipam.serve, f"unix:{root}/run/docker/plugins/pipam.sock")
                async with open_engine(root=root) as engine:
                    await _exercise(engine, plan, "pnet", "pipam")
                nursery.cancel_scope.cancel()
        finally:
            shutil.rmtree(root, ignore_errors=True)
        assert net.violations == []
        assert ipam.violations == []
        assert ipam.pools == {}
        assert net.networks == {}
        assert net.endpoints == {}

    trio.run(main)


async def test_ip_range_is_where_addresses_come_from() -> None:
    ipam = DefaultIpam()
    pool = await ipam.request_pool(
        PoolRequest(LOCAL_DEFAULT, pool="10.50.0.0/24", sub_pool="10.50.0.64/26")
    )
    assert pool.pool_id == f"{LOCAL_DEFAULT}/10.50.0.0/24/10.50.0.64/26"
    first, _ = await ipam.request_address(pool.pool_id, "", None)
    assert str(first) == "10.50.0.64/24"
    outside, _ = await ipam.request_address(pool.pool_id, "10.50.0.5", None)
    assert str(outside) == "10.50.0.5/24"
    with pytest.raises(IpamError, match="invalid address subpool"):
        await ipam.request_pool(
            PoolRequest(LOCAL_DEFAULT, pool="10.51.0.0/24", sub_pool="10.52.0.0/26")
        )
