"""The authorization chain with the real docker CLI and docker-py (v1 plugins, mock authz).

Every expectation is dockerd's, from moby/moby v28.5.2: pkg/authorization/middleware.go
(``WrapHandler``), authz.go (``AuthZRequest``, ``AuthZResponse``, ``sendBody``,
``headers``), response.go (the 64 KiB response modifier), plugin.go (``newPlugins``),
api/server/server.go (``makeHTTPHandler`` error answers, ``CreateMux`` 404s) and
integration/plugin/authz/authz_plugin_test.go (moby's own expectations, named per test).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from emulator.mocks.authz import AuthzRule, MockAuthzPlugin
from tests.engine_api import DOCKER, RawResponse, Served, raw_request_trio, request_bytes, served

pytestmark = pytest.mark.skipif(DOCKER is None, reason="the docker CLI (v28) is not installed")
docker = pytest.importorskip("docker")


@asynccontextmanager
async def chain(
    tmp: Path, plugins: Sequence[MockAuthzPlugin], **engine_options: Any
) -> AsyncIterator[Served]:
    """The engine's API with ``plugins`` (v1, served as their names) as its authz chain."""
    by_name = {p.plugin.name: p for p in plugins}
    engine_options.setdefault("authorization_plugins", list(by_name))
    async with served(tmp, plugins=by_name, **engine_options) as s:
        yield s


def mock(name: str = "authz", *rules: AuthzRule) -> MockAuthzPlugin:
    return MockAuthzPlugin(rules, name=name)


async def raw(s: Served, data: bytes) -> RawResponse:
    return await raw_request_trio(s.host.removeprefix("unix://"), data)


def asked(plugin: MockAuthzPlugin, path: str) -> list[tuple[str, str]]:
    """(phase, method) of the calls about ``path``."""
    return [(a.phase, a.method) for a in plugin.asked if a.path == path]


# -- allow, deny --------------------------------------------------------------------------


async def test_allowed_request_shows_dockerds_request_and_response(short_tmp: Path) -> None:
    authz = mock()
    async with chain(short_tmp, [authz]) as s:
        r = await s.docker("volume", "create", "--label", "team=a", "v1")
        assert (r.rc, r.out, r.err) == (0, "v1\n", "")
    req, res = [a for a in authz.asked if a.path == "/volumes/create"]
    # RequestUri is the raw request-target with its version prefix (authz.go, Ctx.requestURI).
    assert re.fullmatch(r"/v1\.5[01]/volumes/create", req.uri)
    assert req.wire["RequestMethod"] == "POST"
    # The JSON body, as sent, base64 on the wire (api.go RequestBody []byte).
    assert json.loads(req.body) == {"Driver": "local", "Labels": {"team": "a"}, "Name": "v1"}
    assert base64.b64decode(req.wire["RequestBody"]) == req.body
    # Headers: Go's canonical names, flattened; Host is not among them (Go moves it out).
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["User-Agent"].startswith("Docker-Client/")
    assert req.headers["Content-Length"] == str(len(req.body))
    assert "Host" not in req.headers
    # No TLS: no User, no UserAuthNMethod, no certificates (omitempty).
    assert not {"User", "UserAuthNMethod", "RequestPeerCertificates"} & set(req.wire)
    # AuthZReq never carries response fields.
    assert not {"ResponseStatusCode", "ResponseBody", "ResponseHeaders"} & set(req.wire)
    # AuthZRes: the same request object plus what the response modifier buffered.
    assert res.wire["RequestBody"] == req.wire["RequestBody"]
    assert res.status == 201
    assert json.loads(res.response_body)["Name"] == "v1"
    assert res.wire["ResponseHeaders"] == {
        "Api-Version": "1.51",
        "Content-Type": "application/json",
        "Docker-Experimental": "false",
        "Ostype": "linux",
        "Server": "Docker/28.5.2 (linux)",
    }


async def test_denied_request_never_reaches_the_handler(short_tmp: Path) -> None:
    """TestAuthZPluginDenyRequest: the message, AuthZReq once, AuthZRes never."""
    authz = mock("authz", AuthzRule(allow=False, path="^/volumes/create$", msg="no volumes"))
    async with chain(short_tmp, [authz]) as s:
        r = await s.docker("volume", "create", "v1")
        assert (r.rc, r.err) == (
            1,
            "Error response from daemon: authorization denied by plugin authz: no volumes\n",
        )
        assert s.engine.db.volumes() == []
        assert asked(authz, "/volumes/create") == [("request", "POST")]
        # makeHTTPHandler writes the 403 on the connection's writer: the version
        # middleware never ran, so none of its headers are there.
        answer = await raw(s, request_bytes("POST", "/v1.51/volumes/create", b"{}", _JSON))
        assert answer.status == 403
        assert answer.json() == {"message": "authorization denied by plugin authz: no volumes"}
        assert "api-version" not in answer.headers
        assert answer.headers["content-type"] == "application/json"


async def test_denied_response_after_the_handler_ran(short_tmp: Path) -> None:
    """TestAuthZPluginDenyResponse: AuthZReq and AuthZRes once each; the handler did run."""
    authz = mock("authz", AuthzRule(allow=False, phase="response", path="^/volumes/create$"))
    async with chain(short_tmp, [authz]) as s:
        r = await s.docker("volume", "create", "v1")
        # Msg is empty: "...plugin authz: " (the client trims the trailing space).
        assert (r.rc, r.err) == (
            1,
            "Error response from daemon: authorization denied by plugin authz:\n",
        )
        assert asked(authz, "/volumes/create") == [("request", "POST"), ("response", "POST")]
        assert [v.name for v in s.engine.db.volumes()] == ["v1"]


async def test_two_plugins_run_in_configured_order(short_tmp: Path) -> None:
    first, second = mock("first"), mock("second")
    async with chain(short_tmp, [second, first], authorization_plugins=["first", "second"]) as s:
        assert (await s.docker("volume", "ls")).rc == 0
        order = [e.plugin + " " + e.method for e in s.engine.journal if "AuthZ" in e.method]
        assert order[-4:] == [
            "first AuthZPlugin.AuthZReq",
            "second AuthZPlugin.AuthZReq",
            "first AuthZPlugin.AuthZRes",
            "second AuthZPlugin.AuthZRes",
        ]
        # The first refusal ends the chain: the second plugin is not asked.
        first.rules.append(AuthzRule(allow=False, path="^/volumes$", msg="first says no"))
        before = len(second.asked)
        r = await s.docker("volume", "ls")
        assert (
            r.err
            == "Error response from daemon: authorization denied by plugin first: first says no\n"
        )
        assert [(a.phase, a.path) for a in second.asked[before:]] == [
            ("request", "/_ping"),
            ("response", "/_ping"),
        ]
        first.rules.clear()
        second.rules.append(AuthzRule(allow=False, path="^/volumes$", msg="second says no"))
        r = await s.docker("volume", "ls")
        assert "denied by plugin second: second says no" in r.err


async def test_duplicate_names_are_asked_once(short_tmp: Path) -> None:
    """TestAuthZPluginEnsureNoDuplicatePluginRegistration."""
    authz = mock()
    async with chain(short_tmp, [authz], authorization_plugins=["authz", "authz"]) as s:
        assert (await s.docker("version")).rc == 0
        assert len(asked(authz, "/version")) == 2  # one AuthZReq, one AuthZRes
        # docker info shows the configured list as given (daemon/info.go).
        r = await s.docker("info", "--format", "{{json .Plugins.Authorization}}")
        assert r.out == '["authz","authz"]\n'


async def test_unknown_routes_and_the_control_api_skip_the_chain(short_tmp: Path) -> None:
    authz = mock("authz", AuthzRule(allow=False))
    async with chain(short_tmp, [authz]) as s:
        answer = await raw(s, request_bytes("GET", "/v1.51/nothing/here"))
        assert (answer.status, answer.json()) == (404, {"message": "page not found"})
        answer = await raw(s, request_bytes("DELETE", "/version"))  # wrong method: 404
        assert answer.status == 404
        answer = await raw(s, request_bytes("GET", "/emulator/journal"))
        assert answer.status == 200
        assert authz.asked == []
        # A routed path with an unsupported version is authorized before the version check.
        answer = await raw(s, request_bytes("GET", "/v9.99/version"))
        assert answer.status == 403
        assert len(authz.asked) == 1


_JSON = {"Content-Type": "application/json"}


# -- plugin failures: fail closed ---------------------------------------------------------


@pytest.mark.parametrize(
    ("respond", "error"),
    [
        # TestAuthZPluginErrorRequest: go-plugins-helpers answers an error with 500 + Err.
        (
            {"status": 500, "body": '{"Allow":false,"Err":"backend down"}'},
            "plugin authz failed with error: AuthZPlugin.AuthZReq: backend down",
        ),
        # Not JSON with a 200: the decoder's error, bare (pkg/plugins/client.go).
        (
            {"status": 200, "body": "not json"},
            "plugin authz failed with error: invalid character 'o' in literal null (expecting 'u')",
        ),
        # An empty 200: EOF.
        ({"status": 200, "body": ""}, "plugin authz failed with error: EOF"),
        # A non-200 without JSON: the raw body, verbatim.
        (
            {"status": 403, "body": "go away", "content_type": "text/plain"},
            "plugin authz failed with error: AuthZPlugin.AuthZReq: go away",
        ),
    ],
)
async def test_plugin_errors_are_500s(short_tmp: Path, respond: dict[str, Any], error: str) -> None:
    authz = mock()
    async with chain(short_tmp, [authz]) as s:
        s.engine.faults.add(
            call="AuthZPlugin.AuthZReq", body={"RequestMethod": "GET"}, respond=respond
        )
        r = await s.docker("volume", "ls")
        assert (r.rc, r.err.strip()) == (1, f"Error response from daemon: {error}")
        answer = await raw(s, request_bytes("GET", "/v1.51/volumes"))
        assert (answer.status, answer.json()) == (500, {"message": error})


async def test_err_in_a_200_answer_is_ignored(short_tmp: Path) -> None:
    """Only Allow and Msg are read (authz.go); a plugin signals errors with a status."""
    authz = mock()
    async with chain(short_tmp, [authz]) as s:
        s.engine.faults.add(
            call="AuthZPlugin.AuthZReq", respond={"body": {"Allow": True, "Err": "ignored"}}
        )
        assert (await s.docker("volume", "ls")).rc == 0
        s.engine.faults.clear()
        s.engine.faults.add(
            call="AuthZPlugin.AuthZRes",
            respond={"body": {"Allow": False, "Msg": "said no", "Err": "not an error"}},
        )
        r = await s.docker("volume", "ls")
        assert (
            r.err == "Error response from daemon: authorization denied by plugin authz: said no\n"
        )


async def test_error_on_response_after_a_failed_handler_is_not_shown(short_tmp: Path) -> None:
    """WrapHandler: when the handler failed, its error wins over AuthZRes' verdict."""
    authz = mock("authz", AuthzRule(allow=False, phase="response"))
    async with chain(short_tmp, [authz]) as s:
        r = await s.docker("volume", "inspect", "nope")
        assert r.err == "Error response from daemon: get nope: no such volume\n"
        res = [a for a in authz.responses() if a.path == "/volumes/nope"]
        # The handler returned an error: AuthZRes sees no status, no body, and only the
        # headers the middlewares set before the handler.
        assert res[0].status == 0
        assert "ResponseBody" not in res[0].wire
        assert set(res[0].wire["ResponseHeaders"]) == {
            "Api-Version",
            "Docker-Experimental",
            "Ostype",
            "Server",
        }


async def test_a_plugin_that_is_gone_fails_closed_after_the_retries(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    authz = mock()
    async with trio.open_nursery() as plugins:
        scope = trio.CancelScope()

        async def run(task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
            with scope:
                await authz.serve(f"unix:{sock}", task_status=task_status)

        sock = short_tmp / "run/docker/plugins/authz.sock"
        await plugins.start(run)
        async with served(short_tmp, authorization_plugins=["authz"]) as s:
            scope.cancel()  # the plugin dies after the daemon started (and activated it)
            await trio.sleep(0.1)
            start = trio.current_time()
            answer = await raw(s, request_bytes("GET", "/v1.51/volumes"))
            took = trio.current_time() - start
        plugins.cancel_scope.cancel()
    assert answer.status == 500
    assert answer.json() == {
        "message": "plugin authz failed with error: Post "
        '"http://plugin.moby.localhost/AuthZPlugin.AuthZReq": dial unix '
        f"{sock}: connect: no such file or directory"
    }
    # pkg/plugins/client.go: attempts at 0, 1, 3, 7 and 15 s, then the error.
    assert 15 <= took < 16
    attempts = [e.attempt for e in s.engine.journal.calls("AuthZPlugin.AuthZReq")]
    assert attempts == [1, 2, 3, 4, 5]


async def test_a_hung_plugin_hangs_the_request_until_the_hang_guard(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    authz = mock()
    async with chain(short_tmp, [authz], hang_guard=300.0) as s:
        s.engine.faults.add(call="AuthZPlugin.AuthZReq", fault="hang")
        start = trio.current_time()
        answer = await raw(s, request_bytes("GET", "/v1.51/volumes"))
        assert trio.current_time() - start == pytest.approx(300, abs=1)
        assert answer.status == 500
        assert answer.json() == {
            "message": "plugin authz failed with error: AuthZPlugin.AuthZReq: no answer from "
            "plugin authz within 5m0s"
        }


# -- bodies: when dockerd forwards them ----------------------------------------------------


def _forwarded(plugin: MockAuthzPlugin, path: str) -> bytes | None:
    """The RequestBody of the last AuthZReq about ``path`` (None when not forwarded)."""
    last = [a for a in plugin.requests() if a.path == path][-1]
    return last.body if "RequestBody" in last.wire else None


@pytest.mark.parametrize(
    ("content_type", "forwarded"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("APPLICATION/JSON", True),  # media types are compared lower-cased
        ("application/json;", True),  # Go ignores a trailing semicolon
        ("application/json; charset", False),  # a broken parameter: ParseMediaType fails
        ("text/plain", False),
        ("", False),
    ],
)
async def test_body_forwarded_only_for_json(
    short_tmp: Path, content_type: str, forwarded: bool
) -> None:
    """sendBody: mime.ParseMediaType(Content-Type) == application/json."""
    authz = mock()
    async with chain(short_tmp, [authz]) as s:
        body = b'{"Name":"v1"}'
        headers = {"Content-Type": content_type} if content_type else {}
        await raw(s, request_bytes("POST", "/v1.51/volumes/create", body, headers))
        assert _forwarded(authz, "/volumes/create") == (body if forwarded else None)


async def test_body_of_auth_endpoints_is_never_forwarded(short_tmp: Path) -> None:
    """isAuthEndpoint: ``^[^/]*/(v\\d[\\d.]*/)?auth.*`` on the path."""
    authz = mock()
    async with chain(short_tmp, [authz]) as s:
        body = b'{"username":"u","password":"secret"}'
        for path in ("/v1.51/auth", "/auth"):
            answer = await raw(s, request_bytes("POST", path, body, _JSON))
            assert answer.status == 501  # no registry login in the emulator; still authorized
        assert [(a.phase, a.uri) for a in authz.asked] == [
            ("request", "/v1.51/auth"),
            ("response", "/v1.51/auth"),
            ("request", "/auth"),
            ("response", "/auth"),
        ]
        assert not any("RequestBody" in a.wire for a in authz.asked)


async def test_bodies_of_a_megabyte_or_more_are_not_forwarded(
    short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """maxBodySize: Content-Length must be below 1048576; a chunked body is peeked up to
    1 MiB and skipped (with dockerd's warning) when it reaches it."""
    authz = mock()
    async with chain(short_tmp, [authz], max_body=4 << 20) as s:
        for size, forwarded in ((1048575, True), (1048576, False)):
            body = _json_of_size(size)
            await raw(s, request_bytes("POST", "/v1.51/volumes/create", body, _JSON))
            assert _forwarded(authz, "/volumes/create") == (body if forwarded else None)
        assert proto_warning() not in caplog.text  # Content-Length bodies: no warning
        for size, forwarded in ((1048575, True), (1048576, False), (3 << 20, False)):
            body = _json_of_size(size)
            await raw(s, _chunked("POST", "/v1.51/volumes/create", body))
            assert _forwarded(authz, "/volumes/create") == (body if forwarded else None)
        assert caplog.text.count(proto_warning()) == 2
        # The handler still got every body whole (the 3 MiB one included).
        volumes = {v.name: v for v in s.engine.db.volumes()}
        assert sorted(volumes) == ["v1048575", "v1048576", "v3145728"]
        assert len((volumes["v3145728"].labels or {})["pad"]) > 3_000_000


@pytest.mark.parametrize(("profile", "forwarded"), [("24", False), ("26", False), ("27", True)])
async def test_chunked_bodies_per_profile(short_tmp: Path, profile: str, forwarded: bool) -> None:
    """CVE-2024-41110: chunked bodies are forwarded since v23.0.15/v25.0.6/v26.1.5/v27.1.1
    (isChunked); v24.0.9, v25.0.5 and v26.1.4 show the plugin no body at all."""
    authz = mock()
    async with chain(short_tmp, [authz], profile=profile) as s:
        body = b'{"Name":"v1"}'
        answer = await raw(s, _chunked("POST", "/v1.51/volumes/create", body))
        assert answer.status == 201
        assert _forwarded(authz, "/volumes/create") == (body if forwarded else None)
        req = authz.requests()[-1]
        # Go's server takes Transfer-Encoding (and Content-Length) out of r.Header.
        assert "Transfer-Encoding" not in req.headers


async def test_request_headers_as_go_sees_them(short_tmp: Path) -> None:
    """headers(): canonical names, the last value wins, credentials are left out."""
    authz = mock()
    async with chain(short_tmp, [authz]) as s:
        headers = {
            "x-custom-thing": "one",
            "X-CUSTOM-THING": "two",
            "Authorization": "Bearer secret",
            "X-Registry-Auth": "e30=",
            "x-registry-config": "e30=",
            "Pragma": "no-cache",
        }
        await raw(s, request_bytes("GET", "/v1.51/volumes?filters=%7B%7D", b"", headers))
        req = authz.requests()[-1]
        assert req.uri == "/v1.51/volumes?filters=%7B%7D"
        assert req.headers == {
            "Cache-Control": "no-cache",  # net/http fixPragmaCacheControl
            "Connection": "close",
            "Content-Length": "0",
            "Pragma": "no-cache",
            "X-Custom-Thing": "two",
        }


async def test_response_body_buffer_of_64_kib(short_tmp: Path) -> None:
    """response.go: a write that would overflow 64 KiB flushes what is buffered first;
    AuthZRes then sees no status, no headers and so no body; a refusal can only append
    its error to an answer whose head is gone."""
    authz = mock()
    async with chain(short_tmp, [authz]) as s:
        label = "x" * 70_000
        r = await s.docker("volume", "create", "--label", f"big={label}", "big")
        assert r.rc == 0
        # The create answer (> 64 KiB, one write): nothing but the request is shown.
        res = [a for a in authz.responses() if a.path == "/volumes/create"][-1]
        assert not {"ResponseStatusCode", "ResponseHeaders", "ResponseBody"} & set(res.wire)
        authz.rules.append(AuthzRule(allow=False, phase="response", msg="too late"))
        answer = await raw(s, request_bytes("GET", "/v1.51/volumes/big"))
        assert answer.status == 200
        assert answer.headers["api-version"] == "1.51"
        assert answer.json() == {"message": "authorization denied by plugin authz: too late"}
        # A small answer is held back whole: the refusal replaces it.
        answer = await raw(s, request_bytes("GET", "/v1.51/version"))
        assert answer.status == 403


def proto_warning() -> str:
    return "Request body is larger than: '1048576' skipping body"


def _json_of_size(size: int) -> bytes:
    head = b'{"Name":"v%d","Labels":{"pad":"' % size
    tail = b'"}}'
    return head + b"p" * (size - len(head) - len(tail)) + tail


def _chunked(method: str, path: str, body: bytes) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: api.moby.localhost",
        "Connection: close",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked",
    ]
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 65536]), body[i : i + 65536])
        for i in range(0, len(body), 65536)
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + chunks + b"0\r\n\r\n"


# -- streams and hijacked connections ----------------------------------------------------


_MIDDLEWARE_HEADERS = {
    "Api-Version": "1.51",
    "Docker-Experimental": "false",
    "Ostype": "linux",
    "Server": "Docker/28.5.2 (linux)",
}


async def test_attach_and_wait_through_the_chain(short_tmp: Path) -> None:
    """TestAuthZPluginAllowRequest (docker run): every call authorized; the hijacked attach
    shows AuthZRes only the headers copied at Hijack, the flushed wait nothing at all."""
    authz = mock()
    async with chain(short_tmp, [authz]) as s:
        r = await s.docker("run", "--name", "c1", "busybox", "true")
        assert (r.rc, r.err) == (0, "")
    cid = s.engine.containers.get("c1").id
    paths = {a.path for a in authz.asked}
    assert {"/containers/create", f"/containers/{cid}/attach", f"/containers/{cid}/start"} <= paths
    attach = [a for a in authz.responses() if a.path == f"/containers/{cid}/attach"]
    assert len(attach) == 1
    assert attach[0].wire["ResponseHeaders"] == _MIDDLEWARE_HEADERS
    assert not {"ResponseStatusCode", "ResponseBody"} & set(attach[0].wire)
    wait = [a for a in authz.responses() if a.path == f"/containers/{cid}/wait"]
    assert len(wait) == 1
    assert not {"ResponseStatusCode", "ResponseHeaders", "ResponseBody"} & set(wait[0].wire)


async def test_event_streams_through_the_chain(short_tmp: Path) -> None:
    """TestAuthZPluginAllowEventStream: /events is authorized and streams; AuthZRes comes
    when the stream ends (until reached, or the client gone) and sees none of it."""
    authz = mock()
    async with chain(short_tmp, [authz]) as s:
        assert (await s.docker("volume", "create", "e1")).rc == 0
        since = str(int(time.time()) - 5)
        until = str(int(time.time()) + 1)
        r = await s.docker("events", "--since", since, "--until", until, "--format", "{{.Action}}")
        assert (r.rc, r.out) == (0, "create\n")
        ended = [a for a in authz.responses() if a.path == "/events"]
        assert len(ended) == 1
        assert not {"ResponseStatusCode", "ResponseHeaders", "ResponseBody"} & set(ended[0].wire)

        def follow() -> str:
            client = docker.DockerClient(base_url=s.host, version="1.51")
            try:
                stream = client.events(decode=True, since=int(since))
                first = next(stream)
                stream.close()
                return str(first["Action"])
            finally:
                client.close()

        assert await trio.to_thread.run_sync(follow) == "create"
        with trio.fail_after(5):
            while len([a for a in authz.responses() if a.path == "/events"]) < 2:  # noqa: ASYNC110 (another server's answer)
                await trio.sleep(0.01)


# -- docker-py ------------------------------------------------------------------------------


async def test_docker_py_through_the_chain(short_tmp: Path) -> None:
    """TestAuthZPluginAPIDenyResponse: the status of a refusal is 403 (errdefs.Forbidden)."""
    first = mock("first", AuthzRule(allow=False, method="DELETE", msg="keep it"))
    second = mock("second", AuthzRule(allow=False, phase="response", path="^/info$", msg="hush"))
    async with chain(short_tmp, [first, second]) as s:

        def work() -> tuple[Any, ...]:
            client = docker.DockerClient(base_url=s.host, version="auto")
            try:
                volume = client.volumes.create("pyvol", labels={"by": "docker-py"})
                with pytest.raises(docker.errors.APIError) as removing:
                    volume.remove()
                with pytest.raises(docker.errors.APIError) as info:
                    client.info()
                return volume.name, removing.value, info.value
            finally:
                client.close()

        name, removing, info = await trio.to_thread.run_sync(work)
    assert name == "pyvol"
    assert (removing.status_code, removing.explanation) == (
        403,
        "authorization denied by plugin first: keep it",
    )
    assert (info.status_code, info.explanation) == (
        403,
        "authorization denied by plugin second: hush",
    )
    created = next(a for a in first.requests() if a.path == "/volumes/create")
    assert json.loads(created.body) == {"Name": "pyvol", "Labels": {"by": "docker-py"}}
    assert created.headers["User-Agent"].startswith("docker-sdk-python/")


async def test_journal_shows_authz_bodies_decoded(short_tmp: Path) -> None:
    authz = mock()
    async with chain(short_tmp, [authz]) as s:
        await s.docker("volume", "create", "v1")
        entry = [e for e in s.engine.journal.calls("AuthZPlugin.AuthZRes")][-1]
        assert (
            entry.request["RequestBody"]
            == base64.b64encode(b'{"Driver":"local","Name":"v1"}\n').decode()
        )
        assert entry.shown_request["RequestBody"] == {"Driver": "local", "Name": "v1"}
        assert entry.shown_request["ResponseBody"]["Name"] == "v1"
        answer = await raw(s, request_bytes("GET", "/emulator/journal?method=AuthZPlugin.AuthZRes"))
        shown = answer.json()
        assert isinstance(shown, list)
        assert shown[-1]["request"]["RequestBody"] == {"Driver": "local", "Name": "v1"}
        assert '"RequestBody":{"Driver":"local","Name":"v1"}' in entry.request_text


async def test_a_reset_after_sending_is_retried_with_an_empty_body(short_tmp: Path) -> None:
    """pkg/plugins/client.go reuses the drained request buffer: the retry carries nothing,
    and the plugin (go-plugins-helpers) answers 400 with the decoder's EOF."""
    authz = mock()
    async with chain(short_tmp, [authz]) as s:
        s.engine.faults.add(
            call="AuthZPlugin.AuthZReq", body={"RequestMethod": "GET"}, fault="reset", times=1
        )
        answer = await raw(s, request_bytes("GET", "/v1.51/volumes"))
        assert (answer.status, answer.json()) == (
            500,
            {"message": "plugin authz failed with error: AuthZPlugin.AuthZReq: EOF\n"},
        )
        attempts = s.engine.journal.calls("AuthZPlugin.AuthZReq")[-2:]
        assert [a.attempt for a in attempts] == [1, 2]
        assert attempts[1].request_body == b""
