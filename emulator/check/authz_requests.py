"""Authorization-plugin checks: the answers dockerd reads, and the requests a plugin meets.

The plugin is the check engine's whole authorization chain; each check sends real Engine
API requests (the docker CLI's, and some it never sends: a body at dockerd's 1 MiB limit,
a request with no header but ``Host``) and reads what dockerd answered and what the plugin
was asked (:mod:`emulator.check.authz_api`).  A plugin's policy is its own: a check never
requires a verdict, only an answer dockerd can read (a refusal is an answer).
"""

from __future__ import annotations

import contextlib
from typing import Any

import trio

from emulator.check.answers import describe
from emulator.check.api_client import ApiRequest
from emulator.check.authz_api import (
    CLI_AGENT,
    AuthzApi,
    Exchanged,
    authz_api,
    everyday,
    verdict_of,
)
from emulator.check.catalogue import check
from emulator.check.context import CheckContext
from emulator.check.model import Problem, Skipped, Verdict
from emulator.engine.container_model import ContainerSpec
from emulator.errors import EngineError
from emulator.journal import JournalEntry
from emulator.protocol import authz as proto

#: Engine seconds to wait for docker run's attach and wait to be authorized (a hung plugin
#: is cut by the engine's hang guard, 5 minutes by default).
_STREAM_WAIT = 600.0
_CHAIN = "moby pkg/authorization/authz.go (AuthZRequest, AuthZResponse), pkg/authorization/api.go"


def _failures(sent: list[Exchanged], method: str) -> list[str]:
    """``request → dockerd's answer (the call)`` for each request the plugin's answer to
    ``method`` failed; those whose answer has a body (dockerd's text) first."""
    out = []
    for x in sent:
        entry = x.failed_call
        if entry is not None and entry.method.endswith(method):
            shown = f"{x.describe()} ({describe(entry)})" if x.answer.body else x.describe()
        elif x.plugin_failed and entry is None and method == "AuthZReq":
            shown = x.describe()
        else:
            continue
        out.append((not x.answer.body, shown))
    return [shown for _, shown in sorted(out, key=lambda pair: pair[0])]


def _wire(entry: JournalEntry | None) -> dict[str, Any]:
    """The request object of an authz call as sent (empty when there is none)."""
    data = entry.request if entry is not None else None
    return data if isinstance(data, dict) else {}


def _tally(sent: list[Exchanged]) -> str:
    allowed = sum(1 for x in sent if x.authorized)
    return f"{allowed} allowed, {sum(1 for x in sent if x.denied)} denied"


@check(
    "authz.req-verdict",
    title="AuthZReq answers a verdict dockerd reads",
    severity=Verdict.FAIL,
    rule='AuthZReq is answered 200 with {"Allow": true|false, "Msg": "..."}: Allow a JSON '
    "boolean, Msg a string.",
    source=f'{_CHAIN} (Response: Allow bool); the plugin docs print "Allow": "true" '
    "(docker/cli docs/extend/plugins_authorization.md), which Go cannot decode",
    dockerd="dockerd decodes the answer with Go's encoding/json; an answer it cannot decode "
    '("Allow": "true", an HTML page) fails the API request with 500 \'plugin NAME failed '
    "with error: json: cannot unmarshal…' — every request, the CLI's ping included.",
    hint='answer {"Allow": true} or {"Allow": false, "Msg": "why"} with status 200.',
)
async def req_verdict(ctx: CheckContext) -> str:
    async with authz_api(ctx) as engine_api:
        sent = await everyday(engine_api)
    failed = _failures(sent, "AuthZReq")
    if failed:
        raise Problem(f"{len(failed)} of {len(sent)} requests failed at AuthZReq: {failed[0]}")
    return f"answered AuthZReq for all {len(sent)} requests ({_tally(sent)})"


@check(
    "authz.res-verdict",
    title="AuthZRes answers a verdict dockerd reads",
    severity=Verdict.FAIL,
    rule="AuthZRes, sent after the handler ran, is answered like AuthZReq.",
    source=f"{_CHAIN}, pkg/authorization/middleware.go (WrapHandler: AuthZResponse after the "
    "handler)",
    dockerd="dockerd asks AuthZRes for every request the plugin allowed, once the handler "
    "has run (the volume exists); a failed AuthZRes turns its answer into a 500 'plugin NAME "
    "failed with error'.",
    hint="implement /AuthZPlugin.AuthZRes too (allow it when the plugin only judges requests).",
)
async def res_verdict(ctx: CheckContext) -> str:
    async with authz_api(ctx) as engine_api:
        sent = await everyday(engine_api)
    asked = [x for x in sent if x.attempts("AuthZRes")]
    if not asked:
        raise Skipped("no request got past AuthZReq, so no AuthZRes was asked")
    failed = _failures(sent, "AuthZRes")
    if failed:
        raise Problem(f"{len(failed)} of {len(asked)} AuthZRes calls failed: {failed[0]}")
    return f"answered AuthZRes for all {len(asked)} requests that got past AuthZReq"


@check(
    "authz.deny-message",
    title="Refusals say why",
    severity=Verdict.WARN,
    rule="A refusal (Allow false) carries a Msg.",
    source="moby pkg/authorization/authz.go (newAuthorizationError: 'authorization denied by "
    "plugin %s: %s')",
    dockerd="dockerd answers 403 'authorization denied by plugin NAME: MSG'; without Msg the "
    "user reads 'authorization denied by plugin NAME:' and nothing more.",
    hint='say why in Msg: {"Allow": false, "Msg": "volumes are kept: ask an admin"}.',
)
async def deny_message(ctx: CheckContext) -> str:
    async with authz_api(ctx) as engine_api:
        sent = await everyday(engine_api)
    denials = [
        (x, entry)
        for x in sent
        for entry in x.calls
        if (verdict := verdict_of(entry)) is not None and not verdict.Allow
    ]
    if not denials:
        raise Skipped(
            f"the plugin refused none of the {len(sent)} requests the check made "
            f"({', '.join(x.request.describe() for x in sent[:3])}, …)"
        )
    for x, entry in denials:
        verdict = verdict_of(entry)
        if verdict is not None and not verdict.Msg.strip():
            raise Problem(
                f"refused {x.request.describe()} without a Msg: the client reads "
                f"'{x.answer.message}'"
            )
    first = verdict_of(denials[0][1])
    return f"{len(denials)} refusal(s), each with a Msg ({first.Msg if first else ''!r})"


def _json_of_size(name: str, size: int) -> bytes:
    """A ``docker volume create`` body of exactly ``size`` bytes (a padded label)."""
    head = b'{"Driver":"local","Labels":{"pad":"'
    tail = b'"},"Name":"' + name.encode() + b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def _body_cases(engine_api: AuthzApi, names: list[str]) -> list[tuple[str, ApiRequest]]:
    small = {"Driver": "local", "DriverOpts": {}, "Labels": {}, "Name": names[0]}
    limit = proto.MAX_BODY_SIZE
    json_type = [("User-Agent", CLI_AGENT), ("Content-Type", "application/json")]
    text_type = [("User-Agent", CLI_AGENT), ("Content-Type", "text/plain")]
    create = "/volumes/create"
    return [
        ("no body: no RequestBody", engine_api.request("GET", "/version")),
        ("a JSON body", engine_api.request("POST", create, json_body=small)),
        (
            "a chunked JSON body",
            engine_api.request("POST", create, json_body={**small, "Name": names[1]}, chunked=True),
        ),
        (
            f"a JSON body of {limit - 1} bytes (forwarded: ~1.4 MB of base64)",
            engine_api.request(
                "POST", create, body=_json_of_size(names[2], limit - 1), headers=json_type
            ),
        ),
        (
            f"a JSON body of {limit} bytes (not forwarded)",
            engine_api.request(
                "POST", create, body=_json_of_size(names[3], limit), headers=json_type
            ),
        ),
        (
            "a body that is not JSON (not forwarded)",
            engine_api.request("POST", create, body=names[4].encode(), headers=text_type),
        ),
    ]


@check(
    "authz.request-body",
    title="Requests with and without bodies",
    severity=Verdict.FAIL,
    rule="RequestBody (base64) is there only for a JSON body of less than 1 MiB (chunked "
    "included, since the CVE-2024-41110 fix); otherwise it is absent, whatever "
    "Content-Type and Content-Length say.",
    source="moby pkg/authorization/authz.go (AuthZRequest: sendBody, isChunked, maxBodySize, "
    "drainBody), pkg/authorization/api.go (RequestBody []byte, omitempty)",
    dockerd="GET requests and uploads (tar, text) carry no RequestBody; a JSON body just "
    "under 1 MiB arrives as ~1.4 MB of base64.  dockerd waits for the answer without a "
    "deadline: a plugin that stalls on a big body stalls the request for good.",
    hint="treat RequestBody as optional, decode it as base64, and accept calls of a few MB.",
)
async def request_body(ctx: CheckContext) -> str:
    names = [ctx.unique("body") for _ in range(5)]

    async def remove() -> None:
        for name in names:
            with contextlib.suppress(EngineError):
                await ctx.engine.volumes.remove(name, force=True)

    ctx.defer(remove)
    problems, seen = [], []
    async with authz_api(ctx) as engine_api:
        for label, request in _body_cases(engine_api, names):
            sent = await engine_api.send(request)
            forwarded = "RequestBody" in _wire(sent.last("AuthZReq"))
            seen.append(f"{label}: RequestBody {'present' if forwarded else 'absent'}")
            if sent.plugin_failed:
                problems.append(f"{label}: {sent.answer.describe()}")
    if problems:
        raise Problem(f"{len(problems)} of {len(seen)} failed — {problems[0]}")
    return "answered every one: " + "; ".join(seen)


@check(
    "authz.request-headers",
    title="Requests with few, repeated or odd headers",
    severity=Verdict.WARN,
    rule="RequestHeaders maps each header name (Go's canonical form) to its last value; "
    "Authorization, X-Registry-Auth and X-Registry-Config are left out; a request with no "
    "header but Host has no RequestHeaders at all.",
    source="moby pkg/authorization/authz.go (headers), pkg/authorization/api.go "
    "(RequestHeaders map[string]string, omitempty); Go net/http (Host is not a header)",
    dockerd="dockerd serves any HTTP client: health probes and scripts send few headers, "
    "proxies repeat some; the plugin sees a flat map, or none.",
    hint="treat RequestHeaders as optional and its values as single strings.",
)
async def request_headers(ctx: CheckContext) -> str:
    cases = (
        ("no header but Host (no RequestHeaders)", ()),
        (
            "repeated and credentials headers",
            (
                ("User-Agent", CLI_AGENT),
                ("X-Pechk-Repeated", "first"),
                ("X-Pechk-Repeated", "second"),
                ("Authorization", "Bearer pechk-not-a-secret"),
                ("X-Registry-Auth", "e30K"),
            ),
        ),
        ("lower-case and odd names", (("user-agent", "curl/8.5.0"), ("x-pechk_odd.name", "1"))),
    )
    problems, seen = [], []
    async with authz_api(ctx) as engine_api:
        for label, headers in cases:
            sent = await engine_api.send(
                engine_api.request("GET", "/version", headers=headers, label=label)
            )
            shown = _wire(sent.last("AuthZReq")).get("RequestHeaders")
            seen.append(f"{label}: {sorted(shown) if isinstance(shown, dict) else 'absent'}")
            if sent.plugin_failed:
                problems.append(f"{label}: {sent.answer.describe()}")
    if problems:
        raise Problem(f"{len(problems)} of {len(cases)} failed — {problems[0]}")
    return "answered every one; RequestHeaders " + "; ".join(seen)


async def _docker_run_streams(engine_api: AuthzApi, cid: str) -> list[Exchanged]:
    """``docker run``'s attach (hijacked) and wait (flushed at once), sent before the
    container starts, as the CLI sends them."""
    ctx = engine_api.ctx
    base = f"/containers/{cid}"
    upgrade = (
        ("User-Agent", CLI_AGENT),
        ("Content-Type", "text/plain"),
        ("Connection", "Upgrade"),
        ("Upgrade", "tcp"),
    )
    requests = [
        engine_api.request(
            "POST",
            f"{base}/attach?stderr=1&stdout=1&stream=1",
            headers=upgrade,
            label="docker run's attach (hijacked)",
        ),
        engine_api.request(
            "POST", f"{base}/wait?condition=next-exit", label="docker run's wait (flushed)"
        ),
    ]
    results: dict[int, Exchanged] = {}

    async def one(index: int) -> None:
        results[index] = await engine_api.send(requests[index])

    async with trio.open_nursery() as nursery:
        for index in range(len(requests)):
            nursery.start_soon(one, index)
        with trio.move_on_after(_STREAM_WAIT):
            # Until both are authorized (or refused): the journal has no event to wait on.
            while sum(1 for e in ctx.calls(proto.AUTHZ_REQ) if base in str(e.request)) < 2:  # noqa: ASYNC110
                await trio.sleep(0.01)
        await trio.sleep(0.1)  # the handlers are waiting for the container
        with contextlib.suppress(EngineError):
            await ctx.engine.containers.start(cid)
    return [results[i] for i in range(len(requests))]


@check(
    "authz.streams",
    title="Streams and hijacked connections",
    severity=Verdict.WARN,
    rule="AuthZRes of a streamed answer (events, logs, wait) comes when the stream ends, "
    "without ResponseStatusCode, ResponseHeaders or ResponseBody; of a hijacked one "
    "(attach, exec) with the middlewares' headers only.",
    source="moby pkg/authorization/response.go (Flush, Hijack, FlushAll), "
    "pkg/authorization/middleware.go (WrapHandler), api/server/router/container/"
    "container_routes.go (postContainersAttach, postContainersWait), "
    "api/server/router/system/system_routes.go (getEvents)",
    dockerd="docker run attaches (the connection is hijacked) and waits before it starts the "
    "container; docker events streams.  A failed AuthZRes is then only logged, or appended "
    "to a stream already sent.",
    hint="read ResponseStatusCode, ResponseHeaders and ResponseBody as optional in AuthZRes.",
)
async def streams(ctx: CheckContext) -> str:
    spec = ContainerSpec("busybox", ["true"], name=ctx.unique("run"))
    container = await ctx.engine.containers.create(spec)

    async def remove() -> None:
        with contextlib.suppress(EngineError):
            await ctx.engine.containers.remove(container.id, force=True)

    ctx.defer(remove)
    async with authz_api(ctx) as engine_api:
        now = int(ctx.engine.wall_now())
        events = engine_api.request(
            "GET", f"/events?since={now - 1}&until={now + 1}", label="docker events (streamed)"
        )
        sent = [await engine_api.send(events), *await _docker_run_streams(engine_api, container.id)]
    problems = []
    for x in sent:
        failed = x.failed_call
        if failed is not None and failed.method == proto.AUTHZ_REQ:
            problems.append(f"AuthZReq of {x.request.describe()}: {x.answer.describe()}")
        for entry in x.attempts("AuthZRes"):
            if verdict_of(entry) is None:
                problems.append(f"AuthZRes of {x.request.describe()}: {describe(entry)}")
    if problems:
        raise Problem("; ".join(problems[:2]))
    ended = sum(1 for x in sent if x.attempts("AuthZRes"))
    return f"answered AuthZReq of all 3 and AuthZRes of the {ended} allowed ({_tally(sent)})"


@check(
    "authz.ping",
    title="The CLI's ping is allowed",
    severity=Verdict.WARN,
    rule="HEAD /_ping and GET /_ping are allowed.",
    source="docker/cli cli/command/cli.go (initializeFromClient: Ping before every command); "
    "moby client/client.go (checkVersion returns the ping's error), client/container_create.go, "
    "container_exec.go, container_wait.go, image_list.go, network_create.go, "
    "container_stop.go (with a signal)",
    dockerd="dockerd authorizes /_ping like any request.  Refused, the CLI goes on without "
    "version negotiation for most commands, but docker run, create, exec, wait, images and "
    "network create fail with 'authorization denied by plugin NAME: …' (stop and restart "
    "too, with --signal), and probes that watch /_ping see the daemon as down.",
    hint="allow GET and HEAD /_ping for everyone (it reveals only the API version).",
)
async def ping(ctx: CheckContext) -> str:
    async with authz_api(ctx) as engine_api:
        sent = [
            await engine_api.send(engine_api.request(method, "/_ping", versioned=False))
            for method in ("HEAD", "GET")
        ]
    for x in sent:
        if not x.authorized:
            raise Problem(f"{x.describe()}")
    return "allowed HEAD and GET /_ping"


@check(
    "authz.no-tls-user",
    title="Requests without a TLS user",
    severity=Verdict.WARN,
    rule="User and UserAuthNMethod are absent unless the client sent a TLS certificate; on "
    "the unix socket they always are.",
    source="moby pkg/authorization/middleware.go (WrapHandler: User from the first peer "
    "certificate's CommonName), pkg/authorization/api.go (User omitempty)",
    dockerd="dockerd authenticates nobody on /var/run/docker.sock: every local request "
    "reaches the plugin without User.",
    hint="decide what local (unauthenticated) users may do; treat User as optional.",
)
async def no_tls_user(ctx: CheckContext) -> str:
    async with authz_api(ctx) as engine_api:
        sent = await everyday(engine_api)
    if not any(x.authorized for x in sent):
        first = sent[0]
        raise Problem(
            f"let none of {len(sent)} requests without User through (the socket's users are "
            f"locked out): {first.describe()}"
        )
    return f"{_tally(sent)} of {len(sent)} requests without User"
