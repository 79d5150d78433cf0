"""Authz checks every plugin type has: activation, dockerd's headers, unknown keys, error
answers and dockerd's empty-body re-send, as they apply to an authorization plugin.

The plugin is the whole authorization chain of the check's engine and is driven by real
Engine API requests (:mod:`emulator.check.authz_api`); only ``unknown-keys`` calls it
directly, since no dockerd of today sends the key it adds.
"""

from __future__ import annotations

from emulator.check.answers import crash_problem, describe, short, snippet
from emulator.check.authz_api import (
    CLI_AGENT,
    AuthzApi,
    Exchanged,
    authz_api,
    everyday,
    verdict_of,
)
from emulator.check.catalogue import check, register
from emulator.check.common import activate
from emulator.check.context import CheckContext
from emulator.check.model import Check, Problem, Skipped, Verdict
from emulator.journal import JournalEntry
from emulator.protocol import authz as proto
from emulator.protocol import engine_api as api

register(
    Check(
        id="authz.activate",
        kind="authz",
        title="Plugin.Activate and Implements",
        severity=Verdict.FAIL,
        rule='Plugin.Activate (empty body) answers 200 with Implements listing "authz" exactly.',
        source="moby pkg/plugins/plugins.go (activateWithLock, Manifest), "
        "pkg/authorization/api.go (AuthZApiImplements), cmd/dockerd/daemon.go "
        "(validateAuthzPlugins)",
        dockerd="dockerd looks every --authorization-plugin up when it starts and refuses to "
        "start ('failed to validate authorization plugin') when one does not implement authz.",
        hint='answer {"Implements": ["authz"]} (lower case).',
        body=activate,
    )
)


def _failure(sent: Exchanged) -> str:
    entry = sent.failed_call
    call = f" ({describe(entry)})" if entry is not None else ""
    return f"{sent.request.describe()}: dockerd answered {sent.answer.describe()}{call}"


@check(
    "authz.headers",
    title="Calls without Content-Type",
    severity=Verdict.FAIL,
    rule="AuthZReq and AuthZRes come without Content-Type, with Accept: "
    "application/vnd.docker.plugins.v1.2+json and a JSON body with a trailing newline.",
    source="moby pkg/plugins/transport/http.go (NewRequest), pkg/plugins/client.go "
    "(CallWithOptions), pkg/authorization/plugin.go (AuthZRequest)",
    dockerd="dockerd never sets Content-Type on a plugin call; a plugin that insists answers "
    "every call with an error, and dockerd answers every API request 500.",
    hint="parse the body as JSON whatever the Content-Type (Flask: get_json(force=True)).",
)
async def headers(ctx: CheckContext) -> str:
    async with authz_api(ctx) as engine_api:
        sent = await engine_api.send(engine_api.request("GET", "/version", label="docker version"))
    failed = sent.failed_call
    if failed is not None and (failed.method == proto.AUTHZ_REQ or failed.status == 415):
        raise Problem(_failure(sent))
    asked = sent.last("AuthZReq")
    return (
        f"AuthZReq without Content-Type answered {snippet(asked.response_body if asked else None)}"
    )


@check(
    "authz.unknown-keys",
    title="Unknown request keys are ignored",
    severity=Verdict.WARN,
    rule="A call may carry keys a plugin does not know; dockerd's own decoder ignores unknown "
    "keys.",
    source="moby pkg/authorization/api.go (Request grows: RequestPeerCertificates came "
    "later), pkg/plugins/client.go (Go encoding/json ignores unknown keys)",
    dockerd="newer dockerd versions add fields to the request object; every field is "
    "omitempty, so which keys come also depends on the request.",
    hint="ignore keys you do not know (no DisallowUnknownFields, no extra='forbid').",
)
async def unknown_keys(ctx: CheckContext) -> str:
    body = {
        "RequestMethod": "GET",
        "RequestUri": f"/v{api.API_VERSION}/version",
        "RequestHeaders": {"User-Agent": CLI_AGENT},
        "PluginEmulatorFutureField": {"added": "later"},
    }
    usual = {k: v for k, v in body.items() if k != "PluginEmulatorFutureField"}
    baseline = await ctx.raw("AuthZReq", usual)
    if baseline.entry is None or verdict_of(baseline.entry) is None:
        shown = describe(baseline.entry) if baseline.entry else baseline.error
        raise Skipped(f"an ordinary AuthZReq gets no readable verdict either ({shown})")
    answer = await ctx.raw("AuthZReq", body)
    if answer.entry is None:
        raise Skipped(f"no AuthZReq reached the plugin: {answer.error}")
    if verdict_of(answer.entry) is None:
        raise Problem(
            f"AuthZReq with one key more than today's dockerd sends: {describe(answer.entry)}"
        )
    return "AuthZReq with an unknown key answered with a verdict"


async def _resent(engine_api: AuthzApi, ctx: CheckContext) -> tuple[Exchanged, JournalEntry]:
    """GET /version while the first AuthZReq's connection is reset after sending: dockerd's
    retry re-sends it with an empty body.  The request and the re-sent attempt."""
    ctx.engine.faults.add(plugin=ctx.plugin, call=proto.AUTHZ_REQ, nth=1, fault="reset")
    sent = await engine_api.send(engine_api.request("GET", "/version", label="docker version"))
    resent = [e for e in sent.attempts("AuthZReq") if e.attempt > 1 and not e.request_body]
    if not resent:
        raise Skipped("dockerd's empty-body re-send did not happen")
    return sent, resent[-1]


@check(
    "authz.err-on-200",
    title="Err is not read from a 200 answer",
    severity=Verdict.FAIL,
    rule="A plugin reports its own failure with a status other than 200; on a 200 answer "
    "dockerd reads Allow and Msg only.",
    source="moby pkg/authorization/authz.go (AuthZRequest, AuthZResponse: only Allow and "
    "Msg), pkg/plugins/client.go (Err is read from non-200 answers); the plugin docs "
    "(docker/cli docs/extend/plugins_authorization.md) list Err in the 200 answer",
    dockerd="on 200 dockerd ignores Err: with Allow true the request goes through, else it "
    "is refused as 'authorization denied by plugin NAME: MSG' and the error text is lost.",
    hint='answer a failure with status 500 and {"Err": "..."}, as go-plugins-helpers does.',
)
async def err_on_200(ctx: CheckContext) -> str:
    async with authz_api(ctx) as engine_api:
        usual = await everyday(engine_api)
        sent, entry = await _resent(engine_api, ctx)
    answers = [e for x in (*usual, sent) for e in x.calls if e.status == 200]
    for answer in answers:
        verdict = verdict_of(answer)
        if verdict is not None and verdict.Err:
            took = "let the request through" if verdict.Allow else "refused it without the error"
            raise Problem(
                f"answered 200 with Err {verdict.Err!r} ({describe(answer)}): dockerd read "
                f"Allow={str(verdict.Allow).lower()} and {took}"
            )
    refused = f"; the empty re-send was refused with {entry.status}" if entry.status != 200 else ""
    return f"none of {len(answers)} answers with 200 carried Err{refused}"


@check(
    "authz.error-body",
    title="Failure answers are JSON",
    severity=Verdict.WARN,
    rule='A failure answered with a status other than 200 carries {"Err": "..."}.',
    source="moby pkg/plugins/client.go (callWithRetry: Err, else the raw body), "
    "pkg/authorization/authz.go (AuthZRequest: 'plugin %s failed with error: %s')",
    dockerd="dockerd answers the API request 500 'plugin NAME failed with error: "
    "AuthZPlugin.AuthZReq: <Err>', or with the raw body (an HTML page, a traceback) when "
    "there is no Err.",
    hint='answer failures as JSON {"Err": "..."}; never let the framework answer its HTML page.',
)
async def error_body(ctx: CheckContext) -> str:
    async with authz_api(ctx) as engine_api:
        sent, entry = await _resent(engine_api, ctx)
    if entry.status is None:
        raise Skipped(f"the plugin gave no answer to the empty re-send ({entry.error})")
    if entry.status == 200:
        return "answered the empty re-send with 200 (see err-on-200 and empty-resend)"
    crashed = crash_problem(entry)
    if crashed:
        shown = short(sent.answer.message)
        raise Problem(f"the empty re-send: the plugin {crashed}; the client reads '{shown}'")
    return f"refused with {entry.status} {snippet(entry.response_body)}"


@check(
    "authz.empty-resend",
    title="dockerd's empty-body re-send",
    severity=Verdict.WARN,
    rule="After a connection drop dockerd re-sends the call with an empty body; the plugin "
    "refuses it (no verdict) and keeps serving.",
    source="moby pkg/plugins/client.go (callWithRetry reuses the drained body buffer)",
    dockerd="a retry after the plugin read the call and dropped the connection carries "
    "Content-Length: 0; dockerd then answers the API request with the plugin's error, or "
    "with its verdict on a request it never saw.",
    hint="refuse an empty or undecodable call with an error answer (the Go SDK answers 400 "
    "EOF); never allow it, never crash.",
)
async def empty_resend(ctx: CheckContext) -> str:
    async with authz_api(ctx) as engine_api:
        before = await engine_api.send(engine_api.request("GET", "/version"))
        sent, entry = await _resent(engine_api, ctx)
        crashed = crash_problem(entry)
        if crashed:
            raise Problem(f"AuthZReq re-sent with an empty body: the plugin {crashed}")
        verdict = verdict_of(entry)
        if verdict is not None and verdict.Allow:
            raise Problem(
                "answered the empty AuthZReq with Allow true: dockerd let "
                f"{sent.request.describe()} through without the plugin having seen it "
                f"({sent.answer.describe()})"
            )
        after = await engine_api.send(engine_api.request("GET", "/version"))
    if after.plugin_failed and not before.plugin_failed:
        raise Problem(f"after the empty re-send the plugin stopped answering: {_failure(after)}")
    return f"answered the empty re-send with {describe(entry).partition('→ ')[2]}"
