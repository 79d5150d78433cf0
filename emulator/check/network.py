"""NetworkDriver checks: registration, the endpoint life cycle, interfaces, restart.

The plugin is driven as ``docker network create -d PLUGIN``, ``docker run --network``,
container exit and ``docker network rm`` drive it (``engine.networks``,
``engine.containers``), with the built-in IPAM.
"""

from __future__ import annotations

import contextlib

import trio

from emulator.check.answers import describe
from emulator.check.catalogue import check
from emulator.check.context import CheckContext
from emulator.check.model import Problem, Verdict
from emulator.engine.containers import Container
from emulator.engine.network_model import NetworkSpec
from emulator.errors import EngineError

#: Teardown calls whose errors dockerd only logs.
_LOGGED_ONLY = ("Leave", "DeleteEndpoint", "DeleteNetwork", "RevokeExternalConnectivity")


async def _network(ctx: CheckContext, label: str) -> str:
    """``docker network create -d PLUGIN NAME``; removed after the check."""
    name = ctx.unique(label)

    async def remove() -> None:
        with contextlib.suppress(EngineError):
            await ctx.engine.networks.remove(name)

    ctx.defer(remove)
    try:
        await ctx.engine.networks.create(NetworkSpec(name, driver=ctx.plugin))
    except EngineError as exc:
        raise Problem(f"docker network create -d {ctx.plugin} failed: {exc}") from None
    return name


def _failed(ctx: CheckContext, methods: tuple[str, ...]) -> list[str]:
    return [describe(e) for e in ctx.calls() if e.method.endswith(methods) and not e.ok]


@check(
    "network.capabilities",
    title="GetCapabilities registers the driver",
    severity=Verdict.FAIL,
    rule='GetCapabilities answers Scope "local" or "global" (exactly) and ConnectivityScope '
    '"", "local" or "global".',
    source="moby libnetwork/drivers/remote/driver.go (getCapabilities, Register)",
    dockerd="dockerd asks GetCapabilities right after activation; any other answer is only "
    "logged and the driver is never registered: every docker network create -d fails with "
    "'could not resolve driver'.",
    hint='answer {"Scope": "local"} (lower case), or "global" for multi-host drivers.',
)
async def capabilities(ctx: CheckContext) -> str:
    answer = await ctx.raw("GetCapabilities")
    if not answer.ok:
        raise Problem(f"GetCapabilities failed: {answer.error}")
    reply = answer.value if isinstance(answer.value, dict) else {}
    scope, connectivity = reply.get("Scope"), reply.get("ConnectivityScope", "")
    if scope not in ("local", "global"):
        raise Problem(f"Scope is {scope!r}: dockerd accepts exactly 'local' or 'global'")
    if connectivity not in ("", "local", "global", None):
        raise Problem(f"ConnectivityScope is {connectivity!r}: dockerd refuses the driver")
    return f"Scope {scope!r}, ConnectivityScope {connectivity!r}"


@check(
    "network.lifecycle",
    title="Network and endpoint life cycle",
    severity=Verdict.FAIL,
    rule="CreateNetwork, CreateEndpoint, Join, Leave, DeleteEndpoint and DeleteNetwork all "
    "succeed in dockerd's order.",
    source="moby libnetwork/network.go (createEndpoint, delete), libnetwork/endpoint.go "
    "(sbJoin, sbLeave, deleteEndpoint), libnetwork/sandbox.go (delete)",
    dockerd="docker run --network asks CreateEndpoint and Join; container exit asks Leave "
    "and DeleteEndpoint; docker network rm asks DeleteNetwork.  dockerd only logs errors of "
    "Leave, DeleteEndpoint and DeleteNetwork: what the plugin failed to remove stays.",
    hint="make teardown calls succeed for everything the plugin created (and be idempotent).",
)
async def lifecycle(ctx: CheckContext) -> str:
    network = await _network(ctx, "net")
    try:
        container = await ctx.run_container(networks=[network])
    except EngineError as exc:
        raise Problem(f"docker run --network {network} failed: {exc}") from None
    await ctx.engine.containers.stop(container.id)
    await ctx.engine.networks.remove(network)
    failed = _failed(ctx, _LOGGED_ONLY)
    if failed:
        raise Problem("teardown errors dockerd only logs: " + "; ".join(failed[:3]))
    return "created, joined, left, deleted; the network removed"


@check(
    "network.interfaces",
    title="DeleteEndpoint removes what CreateEndpoint made",
    severity=Verdict.FAIL,
    rule="Interfaces the driver creates for an endpoint are gone after DeleteEndpoint.",
    source="moby libnetwork/drivers/remote/driver.go (DeleteEndpoint), "
    "libnetwork/osl/interface_linux.go (the interface moves back to the host at Leave); "
    "docs: moby libnetwork/docs/remote.md (Delete endpoint)",
    dockerd="dockerd moves Join's SrcName into the container and back at Leave; deleting it "
    "is the driver's job at DeleteEndpoint.  A leaked veth per container start piles up on "
    "the host.",
    hint="delete the endpoint's interfaces (both veth ends) in DeleteEndpoint.",
)
async def interfaces(ctx: CheckContext) -> str:
    namespace = ctx.require_netns()
    before = await namespace.links()
    network = await _network(ctx, "veth")
    container = await ctx.run_container(networks=[network])
    during = await namespace.links()
    made = sorted(set(during) - set(before))
    await ctx.engine.containers.stop(container.id)
    after = await namespace.links()
    left = sorted(set(after) - set(before))
    if left:
        raise Problem(f"interfaces left after DeleteEndpoint: {', '.join(left)}")
    if not made:
        return "created no interface in its namespace"
    return f"created {', '.join(made)}; all gone after DeleteEndpoint"


@check(
    "network.concurrency",
    title="Endpoints at once",
    severity=Verdict.FAIL,
    rule="CreateEndpoint, Join, Leave and DeleteEndpoint for different endpoints may arrive "
    "at the same time.",
    source="moby libnetwork/endpoint.go (no driver-wide lock), daemon/start.go",
    dockerd="containers starting and stopping together reach the driver at the same time.",
    hint="guard shared state (endpoint tables, the host's interfaces) with a lock.",
)
async def concurrency(ctx: CheckContext) -> str:
    network = await _network(ctx, "par")
    count = ctx.settings.parallel
    started: list[Container] = []
    errors: list[str] = []

    async def start() -> None:
        try:
            started.append(await ctx.run_container(networks=[network]))
        except EngineError as exc:
            errors.append(str(exc))

    async def stop(container: Container) -> None:
        await ctx.engine.containers.stop(container.id)

    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(start)
    async with trio.open_nursery() as nursery:
        for container in started:
            nursery.start_soon(stop, container)
    failed = errors + _failed(ctx, ("CreateEndpoint", "Join", *_LOGGED_ONLY))
    if failed:
        raise Problem(f"with {count} containers at once: " + "; ".join(failed[:3]))
    return f"{count} endpoints created, joined, left and deleted at once"


@check(
    "network.restart",
    title="Networks survive a dockerd restart",
    severity=Verdict.FAIL,
    rule="After dockerd restarts, the plugin is activated and registered again and serves "
    "the networks it had.",
    source="moby libnetwork/controller.go (New: networks restored from the store), "
    "pkg/plugins/plugins.go (activation cache is per daemon)",
    dockerd="a restarted dockerd activates the plugin again (Plugin.Activate, "
    "GetCapabilities) on first use and creates endpoints on networks it created before.",
    hint="keep networks across dockerd restarts; answer Plugin.Activate at any time.",
)
async def restart(ctx: CheckContext) -> str:
    network = await _network(ctx, "restart")
    await ctx.engine.restart()
    try:
        container = await ctx.run_container(networks=[network])
    except EngineError as exc:
        raise Problem(f"after the restart, docker run --network failed: {exc}") from None
    await ctx.engine.containers.stop(container.id)
    failed = _failed(ctx, ("CreateEndpoint", "Join", *_LOGGED_ONLY))
    if failed:
        raise Problem("after the restart: " + "; ".join(failed[:3]))
    return "activated again; endpoints created and deleted on the old network"
