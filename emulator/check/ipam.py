"""IpamDriver checks: address spaces, pool and address accounting, gateway and aux
addresses, releases of what was never handed out, restart.

The plugin is driven as ``docker network create --ipam-driver PLUGIN`` (with the built-in
``bridge`` driver), ``docker run --network`` and ``docker network rm`` drive it; the
addresses it handed out are read from the journal.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Sequence
from typing import Any

import trio

from emulator.check.answers import crash_problem, describe
from emulator.check.catalogue import check
from emulator.check.common import raw_pool
from emulator.check.context import CheckContext
from emulator.check.model import Problem, Verdict
from emulator.engine.network_model import NetworkSpec
from emulator.engine.networks import IpamConfig
from emulator.errors import EngineError
from emulator.protocol import ipam as ipam_api


async def _network(ctx: CheckContext, label: str, config: Sequence[IpamConfig] = ()) -> str:
    """``docker network create --ipam-driver PLUGIN NAME``; removed after the check."""
    name = ctx.unique(label)

    async def remove() -> None:
        with contextlib.suppress(EngineError):
            await ctx.engine.networks.remove(name)

    ctx.defer(remove)
    try:
        await ctx.engine.networks.create(
            NetworkSpec(name, ipam_driver=ctx.plugin, ipam_config=config)
        )
    except EngineError as exc:
        raise Problem(f"docker network create --ipam-driver {ctx.plugin} failed: {exc}") from None
    return name


def _handed_out(ctx: CheckContext, *, gateway: bool) -> list[str]:
    """Addresses (without prefix) the plugin handed out since the check started."""
    found = []
    for entry in ctx.calls("RequestAddress"):
        request, answer = entry.request or {}, entry.response
        options = request.get("Options") or {}
        is_gateway = options.get(ipam_api.REQUEST_ADDRESS_TYPE) == ipam_api.GATEWAY_LABEL
        if entry.ok and isinstance(answer, dict) and is_gateway == gateway:
            found.append(str(answer.get("Address", "")).partition("/")[0])
    return found


def _pools(ctx: CheckContext) -> list[tuple[str, str]]:
    return [
        (str(e.response.get("PoolID")), str(e.response.get("Pool")))
        for e in ctx.calls("RequestPool")
        if e.ok and isinstance(e.response, dict)
    ]


async def _run_and_stop(ctx: CheckContext, network: str, count: int) -> None:
    started = []
    for _ in range(count):
        try:
            started.append(await ctx.run_container(networks=[network]))
        except EngineError as exc:
            raise Problem(f"docker run --network {network} failed: {exc}") from None
    for container in started:
        await ctx.engine.containers.stop(container.id)


def _duplicates(values: Sequence[str]) -> list[str]:
    return sorted({v for v in values if values.count(v) > 1})


@check(
    "ipam.capabilities",
    title="GetCapabilities decodes",
    severity=Verdict.WARN,
    rule='GetCapabilities is optional; when answered it is {"RequiresMACAddress": bool, '
    '"RequiresRequestReplay": bool}.',
    source="moby libnetwork/ipams/remote/remote.go (Register: failure means no capabilities)",
    dockerd="dockerd asks GetCapabilities at registration; a failure is logged and the "
    "driver is registered without capabilities.",
    hint="answer the two booleans, or 404 if you need neither.",
)
async def capabilities(ctx: CheckContext) -> str:
    answer = await ctx.raw("GetCapabilities")
    if answer.ok:
        return f"answered {answer.value!r}"
    if answer.entry is not None and answer.entry.status == 200:
        raise Problem(f"GetCapabilities answered 200 but does not decode: {answer.error}")
    return f"not implemented ({answer.error}); dockerd goes on without capabilities"


@check(
    "ipam.address-spaces",
    title="GetDefaultAddressSpaces",
    severity=Verdict.FAIL,
    rule="GetDefaultAddressSpaces answers LocalDefaultAddressSpace and GlobalDefaultAddressSpace.",
    source="moby libnetwork/ipams/remote/remote.go (GetDefaultAddressSpaces), "
    "libnetwork/network.go (deriveAddressSpace)",
    dockerd="dockerd asks it at every docker network create with this IPAM and passes the "
    "local one to RequestPool.",
    hint='answer {"LocalDefaultAddressSpace": "...", "GlobalDefaultAddressSpace": "..."}.',
)
async def address_spaces(ctx: CheckContext) -> str:
    answer = await ctx.raw("GetDefaultAddressSpaces")
    if not answer.ok:
        raise Problem(f"GetDefaultAddressSpaces failed: {answer.error}")
    value = answer.value if isinstance(answer.value, dict) else {}
    local, world = value.get("LocalDefaultAddressSpace"), value.get("GlobalDefaultAddressSpace")
    if not local or not world:
        raise Problem(f"address spaces missing or empty: {value!r}")
    return f"local {local!r}, global {world!r}"


async def _released(ctx: CheckContext, pool: str, address: str) -> str | None:
    """Why the plugin still holds ``pool`` / ``address`` after their release, or None."""
    spaces = await ctx.raw("GetDefaultAddressSpaces")
    space = (spaces.value or {}).get("LocalDefaultAddressSpace", "") if spaces.ok else ""
    again = await ctx.raw(
        "RequestPool",
        {"AddressSpace": space, "Pool": pool, "SubPool": "", "Options": {}, "V6": False},
    )
    if not again.ok:
        return f"the released pool {pool} cannot be requested again: {again.error}"
    pool_id = (again.value or {}).get("PoolID")
    ctx.defer(lambda: ctx.raw("ReleasePool", {"PoolID": pool_id}))
    taken = await ctx.raw("RequestAddress", {"PoolID": pool_id, "Address": address, "Options": {}})
    if not taken.ok:
        return f"the released address {address} cannot be requested again: {taken.error}"
    await ctx.raw("ReleaseAddress", {"PoolID": pool_id, "Address": address})
    return None


@check(
    "ipam.pool-accounting",
    title="Pools and addresses: never twice, all released",
    severity=Verdict.FAIL,
    rule="Pools handed out do not overlap; no address is handed out twice; what dockerd "
    "releases can be requested again.",
    source="moby libnetwork/network.go (ipamAllocate, ipamRelease), libnetwork/endpoint.go "
    "(assignAddress, releaseAddress)",
    dockerd="dockerd asks RequestPool per network, RequestAddress for the gateway and each "
    "endpoint, and releases them all (ReleaseAddress, ReleasePool) when they go; it keeps no "
    "accounting of its own.",
    hint="track pools and addresses per pool; free them on release.",
)
async def pool_accounting(ctx: CheckContext) -> str:
    networks = [await _network(ctx, "pool") for _ in range(3)]
    pools = _pools(ctx)
    prefixes = [ipaddress.ip_network(p, strict=False) for _, p in pools]
    for index, first in enumerate(prefixes):
        for second in prefixes[index + 1 :]:
            if first.overlaps(second):
                raise Problem(f"handed out overlapping pools {first} and {second}")
    await _run_and_stop(ctx, networks[0], 3)
    gateways = _handed_out(ctx, gateway=True)
    addresses = _handed_out(ctx, gateway=False)
    twice = _duplicates(addresses + gateways[:1])
    if twice:
        raise Problem(f"handed out {', '.join(twice)} twice on one network")
    outside = [a for a in addresses if prefixes and ipaddress.ip_address(a) not in prefixes[0]]
    if outside:
        raise Problem(f"handed out {', '.join(outside)}, outside the pool {prefixes[0]}")
    for network in networks:
        await ctx.engine.networks.remove(network)
    failed = [describe(e) for e in ctx.calls() if e.method.endswith("ReleaseAddress") and not e.ok]
    if failed:
        raise Problem("releases refused: " + "; ".join(failed[:3]))
    if addresses and pools:
        problem = await _released(ctx, pools[0][1], addresses[0])
        if problem:
            raise Problem(problem)
    return f"{len(pools)} pools apart, {len(addresses)} endpoint addresses distinct, all released"


@check(
    "ipam.gateway-aux",
    title="Requested gateway and aux addresses",
    severity=Verdict.FAIL,
    rule="RequestAddress with an Address answers exactly that address; addresses given as "
    "gateway or aux are never handed to an endpoint.",
    source="moby libnetwork/network.go (ipamAllocateVersion: gateway with "
    "RequestAddressType, aux addresses), libnetwork/ipams/remote/api/api.go",
    dockerd="docker network create --subnet S --gateway G --aux-address a=A asks RequestPool "
    "S, RequestAddress G (with com.docker.network.gateway) and RequestAddress A.",
    hint="honour a requested Address (or refuse it); mark it taken.",
)
async def gateway_aux(ctx: CheckContext) -> str:
    subnet, gateway, aux = "10.213.40.0/24", "10.213.40.254", "10.213.40.200"
    config = IpamConfig(subnet=subnet, gateway=gateway, aux_addresses={"host": aux})
    network = await _network(ctx, "gw", [config])
    given: dict[str, str] = {}
    for entry in ctx.calls("RequestAddress"):
        wanted = str((entry.request or {}).get("Address", ""))
        if wanted and entry.ok and isinstance(entry.response, dict):
            given[wanted] = str(entry.response.get("Address", "")).partition("/")[0]
    for wanted in (gateway, aux):
        if given.get(wanted) != wanted:
            raise Problem(f"asked for {wanted}, the plugin answered {given.get(wanted)!r}")
    await _run_and_stop(ctx, network, 2)
    endpoints = [a for a in _handed_out(ctx, gateway=False) if a not in (aux,)][-2:]
    clash = [a for a in endpoints if a in (gateway, aux)]
    if clash:
        raise Problem(f"handed {', '.join(clash)} (the gateway or an aux address) to a container")
    return f"gateway {gateway} and aux {aux} as asked; containers got {', '.join(endpoints)}"


@check(
    "ipam.release-unknown",
    title="Releasing what was never handed out",
    severity=Verdict.WARN,
    rule="ReleaseAddress of an address never handed out, and ReleasePool of an unknown pool, "
    "are answered (success or an error) and change nothing else.",
    source="moby libnetwork/endpoint.go (releaseAddress: errors only logged), "
    "libnetwork/network.go (ipamReleaseVersion)",
    dockerd="dockerd releases after failures and rollbacks, and logs release errors; a "
    "plugin that crashes or hangs on them takes the next network operations down with it.",
    hint="answer such releases (an error is fine) and keep serving.",
)
async def release_unknown(ctx: CheckContext) -> str:
    pool_id, pool = await raw_pool(ctx)
    network = ipaddress.ip_network(pool or "10.213.41.0/24", strict=False)
    never = str(network.network_address + min(network.num_addresses - 2, 77))
    address = await ctx.raw("ReleaseAddress", {"PoolID": pool_id, "Address": never})
    unknown = await ctx.raw("ReleasePool", {"PoolID": ctx.unique("never-requested")})
    for answer in (address, unknown):
        crashed = crash_problem(answer.entry)
        if crashed:
            assert answer.entry is not None
            raise Problem(f"{answer.entry.method} of what was never handed out: {crashed}")
    after = await ctx.raw("RequestAddress", {"PoolID": pool_id, "Address": "", "Options": {}})
    if not after.ok:
        raise Problem(f"RequestAddress failed after those releases: {after.error}")
    got = str((after.value or {}).get("Address", "")).partition("/")[0]
    await ctx.raw("ReleaseAddress", {"PoolID": pool_id, "Address": got})
    return "answered both releases and kept serving"


@check(
    "ipam.concurrency",
    title="Addresses at once",
    severity=Verdict.FAIL,
    rule="RequestAddress calls on one pool may arrive at the same time; each gets its own address.",
    source="moby libnetwork/network.go (createEndpoint runs per container, unlocked across "
    "containers)",
    dockerd="containers starting together ask RequestAddress on the same pool at once.",
    hint="hold one lock across finding a free address and marking it taken.",
)
async def concurrency(ctx: CheckContext) -> str:
    pool_id, _ = await raw_pool(ctx)
    answers: list[Any] = []

    async def take() -> None:
        answers.append(
            await ctx.raw("RequestAddress", {"PoolID": pool_id, "Address": "", "Options": {}})
        )

    async with trio.open_nursery() as nursery:
        for _ in range(ctx.settings.parallel):
            nursery.start_soon(take)
    got = [str((a.value or {}).get("Address", "")).partition("/")[0] for a in answers if a.ok]
    async with trio.open_nursery() as nursery:
        for address in got:
            nursery.start_soon(ctx.raw, "ReleaseAddress", {"PoolID": pool_id, "Address": address})
    failed = [str(a.error) for a in answers if not a.ok]
    if failed:
        raise Problem(f"{len(failed)} of {len(answers)} RequestAddress at once failed: {failed[0]}")
    twice = _duplicates(got)
    if twice:
        raise Problem(f"handed out {', '.join(twice)} twice to requests made at once")
    return f"{len(got)} distinct addresses for {len(got)} requests at once"


@check(
    "ipam.restart",
    title="Pools survive a dockerd restart",
    severity=Verdict.FAIL,
    rule="After dockerd restarts, the plugin is activated again and keeps serving the pools "
    "it handed out.",
    source="moby libnetwork/controller.go (reservePools), pkg/plugins/plugins.go",
    dockerd="a restarted dockerd activates the plugin on first use and asks RequestAddress "
    "in pools it was given before the restart.",
    hint="keep pools across dockerd restarts; answer Plugin.Activate at any time.",
)
async def restart(ctx: CheckContext) -> str:
    network = await _network(ctx, "restart")
    await ctx.engine.restart()
    await _run_and_stop(ctx, network, 1)
    return "activated again; an address handed out and released in the old pool"
