"""Authz checks of the plugin over time: calls at once, answer times, a dockerd restart,
and the plugin's own crash and restart (what dockerd does meanwhile: it fails closed).
"""

from __future__ import annotations

from emulator.check.answers import describe
from emulator.check.api_client import ApiRequest
from emulator.check.authz_api import AuthzApi, authz_api
from emulator.check.catalogue import check
from emulator.check.context import CheckContext
from emulator.check.model import Problem, Skipped, Verdict
from emulator.engine.authz import AuthorizationStartError
from emulator.engine.processes import PluginStartError

#: The docker CLI's budget for its first request, the ping (docker/cli cli/command/cli.go
#: ``defaultInitTimeout``): HEAD /_ping costs the plugin two calls.
CLI_PING_BUDGET = 2.0


def _version(engine_api: AuthzApi, label: str = "docker version") -> ApiRequest:
    return engine_api.request("GET", "/version", label=label)


@check(
    "authz.concurrency",
    title="Calls at once",
    severity=Verdict.FAIL,
    rule="Calls made at once get the answers they get one at a time.",
    source="moby pkg/authorization/middleware.go (WrapHandler runs per request, "
    "concurrently), api/server/server.go (one goroutine per connection); docker/cli "
    "cli/command/container/run.go (attach and wait in flight together)",
    dockerd="dockerd serves API requests at once and asks the plugin for each as it comes: "
    "docker run alone has its attach and wait in flight together; compose sends dozens.",
    hint="keep no per-call state in globals; let your storage take concurrent readers.",
)
async def concurrency(ctx: CheckContext) -> str:
    async with authz_api(ctx) as engine_api:
        requests = []
        for index in range(ctx.settings.parallel):
            requests.append(engine_api.request("GET", f"/version?pechk={index}"))
            gone = ctx.unique("absent")
            requests.append(engine_api.request("DELETE", f"/volumes/{gone}", label="rm"))
        alone = [await engine_api.send(r) for r in requests]
        together = await engine_api.send_all(requests)
    differ = [
        (one, many)
        for one, many in zip(alone, together, strict=True)
        if (one.answer.status, one.answer.message) != (many.answer.status, many.answer.message)
    ]
    if differ:
        one, many = differ[0]
        raise Problem(
            f"{len(differ)} of {len(requests)} requests sent at once were answered otherwise "
            f"than one at a time: {many.describe()} (alone: {one.answer.describe()})"
        )
    return f"{len(requests)} requests at once, answered as one at a time"


@check(
    "authz.slow",
    title="Answers in time for the CLI",
    severity=Verdict.WARN,
    rule="A request's AuthZReq and AuthZRes answer within 2 s together (the CLI's ping budget).",
    source="moby pkg/authorization/plugin.go (Call: no deadline), pkg/plugins/client.go; "
    "docker/cli cli/command/cli.go (defaultInitTimeout = 2 s)",
    dockerd="dockerd sets no deadline on authz calls: every API request waits for the plugin "
    "twice, and a plugin that never answers hangs every request for good (the emulator's "
    "hang guard cuts it after 5 minutes of engine time).  The CLI gives its ping 2 s.",
    hint="answer from memory; fetch policies in the background, never per call.",
)
async def slow(ctx: CheckContext) -> str:
    async with authz_api(ctx) as engine_api:
        sent = [
            await engine_api.send(engine_api.request("HEAD", "/_ping", versioned=False)),
            await engine_api.send(engine_api.request("GET", "/_ping", versioned=False)),
            await engine_api.send(engine_api.request("GET", "/version")),
        ]
    hung = [e for x in sent for e in x.calls if e.status is None]
    if hung:
        raise Problem(f"no answer: {describe(hung[0])}; dockerd would wait forever")
    costs = [(max(x.engine_seconds, x.wall_seconds), x) for x in sent]
    worst, slowest = max(costs, key=lambda pair: pair[0])
    if worst > CLI_PING_BUDGET:
        calls = ", ".join(
            f"{e.method.rpartition('.')[2]} {e.duration:.3g} s" for e in slowest.calls
        )
        raise Problem(
            f"{slowest.request.describe()} took {worst:.3g} s ({calls or 'real time'}): the "
            f"CLI gives up its ping after {CLI_PING_BUDGET:g} s, and every request waits"
        )
    return f"slowest: {slowest.request.describe()} in {worst * 1000:.3g} ms"


@check(
    "authz.restart",
    title="dockerd restarts with the plugin",
    severity=Verdict.FAIL,
    rule="A restarted dockerd looks the plugin up and activates it again before it serves "
    "anything.",
    source="moby cmd/dockerd/daemon.go (validateAuthzPlugins at start), "
    "pkg/plugins/plugins.go (the activation cache is the daemon's), "
    "pkg/authorization/plugin.go (initPlugin at first use)",
    dockerd="dockerd --authorization-plugin PLUGIN activates the plugin at every start; if "
    "that fails it prints 'failed to validate authorization plugin' and exits: no daemon.",
    hint="answer Plugin.Activate every time it is asked, with the same Implements.",
)
async def restart(ctx: CheckContext) -> str:
    async with authz_api(ctx) as engine_api:
        before = await engine_api.send(_version(engine_api))
        if before.plugin_failed:
            raise Skipped(f"before any restart: {before.describe()} (see authz.req-verdict)")
        ctx.defer(lambda: ctx.engine.restart(authorization_plugins=()))
        try:
            await ctx.engine.restart(authorization_plugins=[ctx.plugin])
        except AuthorizationStartError as exc:
            activations = [describe(e) for e in ctx.calls("Plugin.Activate")]
            raise Problem(
                f"dockerd did not start again: {exc} ({activations[-1] if activations else ''})"
            ) from None
        sent = await engine_api.send(_version(engine_api))
    if sent.plugin_failed:
        raise Problem(f"after the restart: {sent.describe()}")
    return f"activated again at start; then {sent.describe()}"


@check(
    "authz.plugin-restart",
    title="The plugin comes back after a crash",
    severity=Verdict.WARN,
    rule="Restarted after a crash (its socket file left behind), the plugin serves again on "
    "the same socket; dockerd needs no restart.",
    source="moby pkg/plugins/client.go (callWithRetry: connection errors retried for 15 s "
    "of backoff), pkg/authorization/authz.go (AuthZRequest: the failure is the answer), "
    "pkg/authorization/plugin.go (the plugin is looked up once; each call dials anew)",
    dockerd="while the plugin is down dockerd fails closed: each API request is retried for "
    "about 15 s, then answered 500 'plugin NAME failed with error: … connection refused' — "
    "docker ps included.  Once the socket answers again, requests pass, with no new "
    "Plugin.Activate.",
    hint="remove a stale socket file before listening; serve calls without waiting for "
    "Plugin.Activate.",
)
async def plugin_restart(ctx: CheckContext) -> str:
    process = ctx.settings.process
    if process is None:
        raise Skipped(
            "the check did not start this plugin: give PLUGIN as a command so that it can "
            "crash and restart it"
        )
    async with authz_api(ctx) as engine_api:
        # The chain looks the plugin up at its first use, while it runs (as in dockerd,
        # where that follows the start-up validation).
        up = await engine_api.send(_version(engine_api, "before the crash"))
        if up.plugin_failed:
            raise Skipped(f"before any crash: {up.describe()} (see authz.req-verdict)")
        await process.kill()
        down = await engine_api.send(_version(engine_api, "while the plugin is down"))
        try:
            await process.restart(keep_socket=True)
        except PluginStartError as exc:
            raise Problem(
                f"after a crash (SIGKILL) the plugin did not start again: {exc}"
            ) from None
        back = await engine_api.send(_version(engine_api, "after its restart"))
    closed = f"{down.answer.describe()} after {down.engine_seconds:.3g} s"
    if back.plugin_failed:
        raise Problem(f"restarted, the plugin does not answer: {back.describe()}")
    return f"while down, dockerd answered {closed} (fail closed); restarted, {back.describe()}"
