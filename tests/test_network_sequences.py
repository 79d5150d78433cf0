"""Every row of ``NETWORK_SEQUENCES`` is what the mock network and IPAM plugins see."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from emulator import ContainerSpec, NetworkSpec, open_engine
from emulator.engine.containers import ContainerError
from emulator.engine.core import Engine
from emulator.mocks import RecordedRequest, Reply
from emulator.mocks.network import MockIpamPlugin, MockNetworkPlugin
from emulator.protocol.network_sequences import NETWORK_SEQUENCES

N, I = "seqnet", "seqipam"  # noqa: E741 -- network driver, IPAM driver


async def _register(engine: Engine, net: MockNetworkPlugin, ipam: MockIpamPlugin) -> None:
    await engine.plugins.get(N, "NetworkDriver")
    await engine.plugins.get(I, "IpamDriver")


async def _nothing(engine: Engine, net: MockNetworkPlugin, ipam: MockIpamPlugin) -> None:
    return None


async def _network(engine: Engine, net: MockNetworkPlugin, ipam: MockIpamPlugin) -> None:
    await _register(engine, net, ipam)
    await engine.networks.create(NetworkSpec("n", driver=N, ipam_driver=I))


async def _running(engine: Engine, net: MockNetworkPlugin, ipam: MockIpamPlugin) -> None:
    await _network(engine, net, ipam)
    await engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))


async def _running_two(engine: Engine, net: MockNetworkPlugin, ipam: MockIpamPlugin) -> None:
    await _running(engine, net, ipam)
    await engine.networks.create(NetworkSpec("o", driver=N, ipam_driver=I))


async def _connected_two(engine: Engine, net: MockNetworkPlugin, ipam: MockIpamPlugin) -> None:
    await _running_two(engine, net, ipam)
    await engine.networks.connect("o", "c")


def _patched(method: str, changes: dict[str, Any]) -> Callable[..., Awaitable[None]]:
    async def prepare(engine: Engine, net: MockNetworkPlugin, ipam: MockIpamPlugin) -> None:
        await _network(engine, net, ipam)
        original = net.plugin.handler(method)
        assert callable(original)

        def handler(recorded: RecordedRequest) -> Reply:
            reply = original(recorded)
            assert isinstance(reply, Reply)
            return Reply(body={**json.loads(reply.encoded_body()), **changes})

        net.plugin.on(method, handler)

    return prepare


async def _failing(engine: Engine, net: MockNetworkPlugin, ipam: MockIpamPlugin) -> None:
    await _register(engine, net, ipam)
    net.plugin.on("NetworkDriver.CreateNetwork", {"Err": "no"})


async def _program_fails(engine: Engine, net: MockNetworkPlugin, ipam: MockIpamPlugin) -> None:
    await _network(engine, net, ipam)
    net.plugin.on("NetworkDriver.ProgramExternalConnectivity", {"Err": "no"})


async def _no_gateway(engine: Engine, net: MockNetworkPlugin, ipam: MockIpamPlugin) -> None:
    net.gateway = False
    await _network(engine, net, ipam)


async def _gw_checker(engine: Engine, net: MockNetworkPlugin, ipam: MockIpamPlugin) -> None:
    net.gw_alloc_checker = True
    await _register(engine, net, ipam)


async def _gw_in_data(engine: Engine, net: MockNetworkPlugin, ipam: MockIpamPlugin) -> None:
    ipam.gateway_in_data = True
    await _register(engine, net, ipam)


async def _create(engine: Engine) -> None:
    await engine.networks.create(NetworkSpec("n", driver=N, ipam_driver=I))


async def _create_fails(engine: Engine) -> None:
    with pytest.raises(Exception, match="remote: no"):
        await _create(engine)


async def _run(engine: Engine) -> None:
    await engine.containers.run(ContainerSpec(networks=["n"], detach=True, name="c"))


async def _run_fails(engine: Engine) -> None:
    with pytest.raises(ContainerError):
        await _run(engine)


Prepare = Callable[[Engine, MockNetworkPlugin, MockIpamPlugin], Awaitable[None]]
Act = Callable[[Engine], Awaitable[object]]

CASES: dict[str, tuple[Prepare, Act]] = {
    "plugin registration (first lookup)": (_nothing, lambda e: e.plugins.get(N, "NetworkDriver")),
    "network create -d D --ipam-driver I": (_register, _create),
    "network create (GwAllocChecker)": (_gw_checker, _create),
    "network create (gateway in pool Data)": (_gw_in_data, _create),
    "network create with a failing CreateNetwork": (_failing, _create_fails),
    "network rm": (_network, lambda e: e.networks.remove("n")),
    "run --network N (gateway from Join)": (_network, _run),
    "run --network N (Join without gateway: docker_gwbridge)": (_no_gateway, _run),
    "container stop (gateway endpoint)": (_running, lambda e: e.containers.stop("c")),
    "daemon shutdown (running container, gateway endpoint)": (_running, lambda e: e.shutdown()),
    "daemon restart after a clean shutdown (one network)": (_network, lambda e: e.restart()),
    "daemon restart after a crash (running container)": (
        _running,
        lambda e: e.restart(crash=True),
    ),
    "network connect (second network, not the gateway)": (
        _running_two,
        lambda e: e.networks.connect("o", "c"),
    ),
    "network disconnect (not the gateway)": (
        _connected_two,
        lambda e: e.networks.disconnect("o", "c"),
    ),
    "run with CreateEndpoint answer changing the address": (
        _patched("NetworkDriver.CreateEndpoint", {"Interface": {"Address": "10.200.0.9/24"}}),
        _run_fails,
    ),
    "run with an unparsable Join answer": (
        _patched("NetworkDriver.Join", {"Gateway": "10.200.0.1/24"}),
        _run_fails,
    ),
    "run with a failing ProgramExternalConnectivity": (_program_fails, _run_fails),
}


def test_every_table_row_has_a_case() -> None:
    assert set(CASES) == set(NETWORK_SEQUENCES)


@pytest.mark.parametrize("operation", sorted(NETWORK_SEQUENCES))
async def test_sequence(short_tmp: Path, operation: str) -> None:
    net, ipam = MockNetworkPlugin(N), MockIpamPlugin(I)
    prepare, act = CASES[operation]
    async with trio.open_nursery() as nursery:
        await nursery.start(net.serve, f"unix:{short_tmp}/run/docker/plugins/{N}.sock")
        await nursery.start(ipam.serve, f"unix:{short_tmp}/run/docker/plugins/{I}.sock")
        async with open_engine(root=short_tmp) as engine:
            await prepare(engine, net, ipam)
            mark = len(engine.journal.entries)
            await act(engine)
            seen = tuple(
                e.method for e in engine.journal.entries[mark:] if e.method != "Plugin.Activate"
            )
        nursery.cancel_scope.cancel()
    assert seen == NETWORK_SEQUENCES[operation].calls
    assert net.violations == []
    assert ipam.violations == []
