"""Checks every plugin type gets: activation, dockerd's headers, JSON tolerance, error
answers, dockerd's empty-body re-send.  What differs per type (which call to make) is a
small table, :data:`SITUATIONS`; the checks are registered once per type.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Final

import attrs

from emulator.check.answers import crash_problem, describe, error_problem, snippet
from emulator.check.catalogue import KINDS, register
from emulator.check.context import CheckContext, Exchange, random_mount_id
from emulator.check.log_harness import raw_fifo
from emulator.check.model import Check, Problem, Skipped, Verdict

#: A request as dockerd would send it: the method (without its interface) and the body.
Request = tuple[str, Any]


async def _volume_harmless(ctx: CheckContext) -> Request:
    return ("List", {})


async def _network_harmless(ctx: CheckContext) -> Request:
    return ("GetCapabilities", None)


async def _ipam_harmless(ctx: CheckContext) -> Request:
    return ("GetDefaultAddressSpaces", None)


def _network_create_body(network_id: str, subnet: str, gateway: str) -> dict[str, Any]:
    return {
        "NetworkID": network_id,
        "Options": {
            "com.docker.network.enable_ipv4": True,
            "com.docker.network.enable_ipv6": False,
            "com.docker.network.generic": {},
        },
        "IPv4Data": [{"AddressSpace": "LocalDefault", "Pool": subnet, "Gateway": gateway}],
        "IPv6Data": [],
    }


async def _raw_network(ctx: CheckContext) -> str:
    """A network created with a raw CreateNetwork (deleted after the check)."""
    network_id = secrets.token_hex(32)
    created = await ctx.raw(
        "CreateNetwork", _network_create_body(network_id, "10.213.7.0/24", "10.213.7.1/24")
    )
    if not created.ok:
        raise Skipped(f"the plugin refused CreateNetwork: {created.error}")
    ctx.defer(lambda: ctx.raw("DeleteNetwork", {"NetworkID": network_id}))
    return network_id


async def raw_pool(ctx: CheckContext) -> tuple[str, str]:
    """A pool from a raw RequestPool in the plugin's local address space (released after):
    its ``PoolID`` and ``Pool``."""
    spaces = await ctx.raw("GetDefaultAddressSpaces")
    space = (spaces.value or {}).get("LocalDefaultAddressSpace", "") if spaces.ok else ""
    pool = await ctx.raw(
        "RequestPool",
        {"AddressSpace": space, "Pool": "", "SubPool": "", "Options": {}, "V6": False},
    )
    pool_id = (pool.value or {}).get("PoolID") if pool.ok else None
    if not pool_id:
        raise Skipped(
            "the plugin handed out no pool: "
            f"{pool.error or snippet(pool.entry.response_body if pool.entry else None)}"
        )
    ctx.defer(lambda: ctx.raw("ReleasePool", {"PoolID": pool_id}))
    return str(pool_id), str((pool.value or {}).get("Pool", ""))


async def _volume_extra(ctx: CheckContext) -> Request:
    volume = await ctx.new_volume("keys")
    return ("Get", {"Name": volume, "PluginEmulatorFutureField": {"added": "later"}})


async def _network_extra(ctx: CheckContext) -> Request:
    network_id = secrets.token_hex(32)
    body = _network_create_body(network_id, "10.213.8.0/24", "10.213.8.1/24")
    ctx.defer(lambda: ctx.raw("DeleteNetwork", {"NetworkID": network_id}))
    return ("CreateNetwork", {**body, "PluginEmulatorFutureField": {"added": "later"}})


async def _ipam_extra(ctx: CheckContext) -> Request:
    spaces = await ctx.raw("GetDefaultAddressSpaces")
    space = (spaces.value or {}).get("LocalDefaultAddressSpace", "") if spaces.ok else ""
    return (
        "RequestPool",
        {
            "AddressSpace": space,
            "Pool": "",
            "SubPool": "",
            "Options": {},
            "V6": False,
            "PluginEmulatorFutureField": {"added": "later"},
        },
    )


async def _volume_refused(ctx: CheckContext) -> Request:
    return ("Mount", {"Name": ctx.unique("absent"), "ID": random_mount_id()})


async def _network_refused(ctx: CheckContext) -> Request:
    body = {
        "NetworkID": secrets.token_hex(32),
        "EndpointID": secrets.token_hex(32),
        "Interface": {"Address": "10.213.9.2/24", "AddressIPv6": "", "MacAddress": ""},
        "Options": {},
    }
    return ("CreateEndpoint", body)


async def _ipam_refused(ctx: CheckContext) -> Request:
    return ("RequestAddress", {"PoolID": ctx.unique("absent-pool"), "Address": "", "Options": {}})


async def _volume_resent(ctx: CheckContext) -> Request:
    volume = await ctx.new_volume("resend")
    return ("Remove", {"Name": volume})


async def _network_resent(ctx: CheckContext) -> Request:
    return ("DeleteNetwork", {"NetworkID": await _raw_network(ctx)})


async def _ipam_resent(ctx: CheckContext) -> Request:
    pool_id, _ = await raw_pool(ctx)
    return ("ReleasePool", {"PoolID": pool_id})


async def _log_harmless(ctx: CheckContext) -> Request:
    return ("Capabilities", None)


async def _log_extra(ctx: CheckContext) -> Request:
    _file, body = await raw_fifo(ctx)
    return ("StartLogging", {**body, "PluginEmulatorFutureField": {"added": "later"}})


async def _log_refused(ctx: CheckContext) -> Request:
    _file, body = await raw_fifo(ctx)
    missing = body["File"].rsplit("/", 1)[0] + "/" + secrets.token_hex(32)
    return ("StartLogging", {**body, "File": missing})


async def _log_resent(ctx: CheckContext) -> Request:
    _file, body = await raw_fifo(ctx)
    return ("StartLogging", body)


@attrs.frozen
class Situation:
    """The requests one plugin type gets for the shared checks."""

    harmless: Callable[[CheckContext], Awaitable[Request]]
    """A call every plugin of the type answers with success."""
    extra_key: Callable[[CheckContext], Awaitable[Request]]
    """A call that must succeed, with a key dockerd does not send (yet)."""
    refused: Callable[[CheckContext], Awaitable[Request]]
    """A call the plugin must refuse (it names something that does not exist)."""
    resent: Callable[[CheckContext], Awaitable[Request]]
    """A call whose body matters, for the empty-body re-send."""


SITUATIONS: Final[dict[str, Situation]] = {
    "volume": Situation(_volume_harmless, _volume_extra, _volume_refused, _volume_resent),
    "network": Situation(_network_harmless, _network_extra, _network_refused, _network_resent),
    "ipam": Situation(_ipam_harmless, _ipam_extra, _ipam_refused, _ipam_resent),
    "log": Situation(_log_harmless, _log_extra, _log_refused, _log_resent),
}


async def activate(ctx: CheckContext) -> str:
    if ctx.settings.managed:
        raise Skipped("managed plugins get no Plugin.Activate: dockerd reads config.json")
    held = [p for p in ctx.engine.plugins.cached() if p.name == ctx.plugin]
    if not held or not held[0].activated:
        error = held[0].activation_error if held else None
        raise Problem(f"Plugin.Activate failed: {error or 'the plugin was never activated'}")
    implements = list(held[0].implements)
    if ctx.kind.interface not in implements:
        raise Problem(
            f"Implements is {implements}: dockerd matches {ctx.kind.interface!r} exactly "
            "(case included) and refuses the plugin for this type"
        )
    return f"Implements {implements}"


async def headers(ctx: CheckContext) -> str:
    method, body = await SITUATIONS[ctx.kind.name].harmless(ctx)
    answer = await ctx.raw(method, body)
    if not answer.ok:
        raise Problem(f"{method} as dockerd sends it failed: {answer.error}")
    body = answer.entry.response_body if answer.entry else None
    return f"{method} without Content-Type answered {snippet(body)}"


async def unknown_keys(ctx: CheckContext) -> str:
    method, body = await SITUATIONS[ctx.kind.name].extra_key(ctx)
    answer = await ctx.raw(method, body)
    if not answer.ok:
        raise Problem(
            f"{method} with one key more than today's dockerd sends failed: {answer.error}"
        )
    if method == "RequestPool":
        pool_id = (answer.value or {}).get("PoolID")
        if pool_id:
            ctx.defer(lambda: ctx.raw("ReleasePool", {"PoolID": pool_id}))
    return f"{method} with an unknown key succeeded"


async def _refused(ctx: CheckContext) -> Exchange:
    method, body = await SITUATIONS[ctx.kind.name].refused(ctx)
    answer = await ctx.raw(method, body)
    if answer.entry is None:
        raise Skipped(f"no {method} reached the plugin")
    return answer


async def error_key(ctx: CheckContext) -> str:
    answer = await _refused(ctx)
    assert answer.entry is not None
    if answer.entry.status != 200:
        return f"refused with {answer.entry.status} (dockerd reads Err there)"
    problem = error_problem(answer.entry, ctx.kind.error_key)
    if problem:
        raise Problem(f"{answer.entry.method} of something that does not exist {problem}")
    return f'refused with 200 and "{ctx.kind.error_key}"'


async def error_body(ctx: CheckContext) -> str:
    answer = await _refused(ctx)
    assert answer.entry is not None
    if answer.entry.status == 200:
        return "refused with a 200 answer (see the error-key check)"
    problem = error_problem(answer.entry, ctx.kind.error_key)
    if problem:
        raise Problem(f"{answer.entry.method} {problem}")
    return f"refused with {answer.entry.status} {snippet(answer.entry.response_body)}"


async def empty_resend(ctx: CheckContext) -> str:
    method, body = await SITUATIONS[ctx.kind.name].resent(ctx)
    full = ctx.method(method)
    ctx.engine.faults.add(plugin=ctx.plugin, call=full, nth=1, fault="reset")
    await ctx.raw(method, body)
    resent = [e for e in ctx.calls(full) if e.attempt > 1 and not e.request_body]
    if not resent:
        raise Skipped("dockerd's empty-body re-send did not happen")
    entry = resent[-1]
    crashed = crash_problem(entry)
    if crashed:
        raise Problem(f"{method} re-sent with an empty body: the plugin {crashed}")
    if entry.status == 200:
        raise Problem(
            f"{method} re-sent with an empty body was answered 200 {snippet(entry.response_body)}"
            ": the plugin acted on a request it could not read"
        )
    harmless, args = await SITUATIONS[ctx.kind.name].harmless(ctx)
    after = await ctx.raw(harmless, args)
    if not after.ok:
        raise Problem(f"after the empty-body re-send the plugin stopped answering: {after.error}")
    return f"answered the empty re-send with {describe(entry).partition('→ ')[2]}"


_COMMON: Final = (
    (
        "activate",
        "Plugin.Activate and Implements",
        Verdict.FAIL,
        activate,
        "Plugin.Activate (empty body) answers 200 with Implements naming the type exactly.",
        "moby pkg/plugins/plugins.go (activateWithLock, Manifest, implements)",
        "dockerd activates a v1 plugin once, caches the answer until it restarts, and refuses "
        "it for any type its Implements does not list exactly (case included).",
        'answer {"Implements": ["<Type>"]} with the exact interface name.',
    ),
    (
        "headers",
        "Requests without Content-Type",
        Verdict.FAIL,
        headers,
        "Requests come without Content-Type, with Accept: application/vnd.docker.plugins."
        "v1.2+json, and a body that is JSON with a trailing newline (or empty).",
        "moby pkg/plugins/transport/http.go (NewRequest), pkg/plugins/client.go (CallWithOptions)",
        "dockerd never sets Content-Type on a plugin request.",
        "parse the body as JSON whatever the Content-Type (Flask: get_json(force=True)).",
    ),
    (
        "unknown-keys",
        "Unknown request keys are ignored",
        Verdict.WARN,
        unknown_keys,
        "A request may carry keys a plugin does not know; dockerd's own decoder ignores "
        "unknown keys.",
        "moby pkg/plugins/client.go (Go encoding/json: unknown keys ignored); docs: "
        "docs/api/version-history.md (fields are added between versions)",
        "newer dockerd versions add request fields (GwAllocCheck's options in v28, for one).",
        "ignore keys you do not know (no DisallowUnknownFields, no extra='forbid').",
    ),
    (
        "error-key",
        "Errors on 200 under the right key",
        Verdict.FAIL,
        error_key,
        "A refusal answered with status 200 carries its text under Err (IpamDriver: Error).",
        "moby volume/drivers/proxy.go, libnetwork/drivers/remote/api/api.go (Response.Err), "
        "libnetwork/ipams/remote/api/api.go (Response.Error)",
        "on a 200 answer dockerd reads only that key; an error anywhere else is taken as success.",
        'answer errors with status 500 and {"Err": "..."}, which every type understands.',
    ),
    (
        "error-body",
        "Error answers are JSON",
        Verdict.WARN,
        error_body,
        'A refusal answered with another status carries {"Err": "..."}.',
        "moby pkg/plugins/client.go (callWithRetry), pkg/plugins/errors.go (statusError)",
        "dockerd reads Err from a non-200 answer and otherwise shows the raw body (an HTML "
        "error page, a traceback) to the user.",
        'answer errors as JSON {"Err": "..."}; never let the framework answer its HTML page.',
    ),
    (
        "empty-resend",
        "dockerd's empty-body re-send",
        Verdict.WARN,
        empty_resend,
        "After a connection drop dockerd re-sends the request with an empty body.",
        "moby pkg/plugins/client.go (callWithRetry reuses the drained body buffer)",
        "a retry after the plugin read the request and dropped the connection carries "
        "Content-Length: 0; the plugin must refuse it and keep serving.",
        "refuse an empty body with an error answer (the Go SDK answers 400 EOF); never crash.",
    ),
)


def _register_common() -> None:
    for kind in ("volume", "network", "ipam", "log"):
        for name, title, severity, body, rule, source, dockerd, hint in _COMMON:
            register(
                Check(
                    id=f"{kind}.{name}",
                    kind=kind,
                    title=title,
                    severity=severity,
                    rule=rule.replace("<Type>", KINDS[kind].interface),
                    source=source,
                    dockerd=dockerd,
                    hint=hint.replace("<Type>", KINDS[kind].interface),
                    body=body,
                )
            )


_register_common()
