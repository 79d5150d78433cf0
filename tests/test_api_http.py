"""Raw HTTP against the Engine API: dockerd's headers, versions, errors; malformed input fuzzed.

Texts and statuses are moby v28.5.2's (``api/server/middleware/version.go``,
``api/server/httputils/httputils.go``, ``api/server/server.go``).
"""

from __future__ import annotations

import json
from pathlib import Path

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.api.logging import LogrusJSONFormatter, LogrusTextFormatter
from tests.engine_api import RawResponse, Served, raw_request, request_bytes, served


async def _req(s: Served, method: str, path: str, body: bytes = b"", **headers: str) -> RawResponse:
    sock = s.host.removeprefix("unix://")
    data = request_bytes(method, path, body, {k.replace("_", "-"): v for k, v in headers.items()})
    return await trio.to_thread.run_sync(raw_request, sock, data)


def _is_docker_error(r: RawResponse, status: int, message: str) -> bool:
    return (
        r.status == status
        and r.headers["content-type"] == "application/json"
        and r.json() == {"message": message}
        and r.body.endswith(b"\n")
    )


async def test_ping_headers(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        head = await _req(s, "HEAD", "/_ping")
        assert head.status == 200
        assert head.body == b""
        for name, value in {
            "api-version": "1.51",
            "ostype": "linux",
            "docker-experimental": "false",
            "server": "Docker/28.5.2 (linux)",
            "cache-control": "no-cache, no-store, must-revalidate",
            "pragma": "no-cache",
            "swarm": "inactive",
            "content-type": "text/plain; charset=utf-8",
            "content-length": "0",
        }.items():
            assert head.headers[name] == value, name
        get = await _req(s, "GET", "/_ping")
        assert (get.status, get.body) == (200, b"OK")


async def test_versions(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        assert (await _req(s, "GET", "/v1.24/volumes")).status == 200
        assert (await _req(s, "GET", "/volumes")).status == 200
        too_new = await _req(s, "GET", "/v1.52/version")
        assert _is_docker_error(
            too_new, 400, "client version 1.52 is too new. Maximum supported API version is 1.51"
        )
        too_old = await _req(s, "GET", "/v1.23/version")
        assert _is_docker_error(
            too_old,
            400,
            "client version 1.23 is too old. Minimum supported API version is 1.24, "
            "please upgrade your client to a newer version",
        )
        version = (await _req(s, "GET", "/v1.51/version")).json()
        assert isinstance(version, dict)
        assert version["ApiVersion"] == "1.51"
        assert version["MinAPIVersion"] == "1.24"


async def test_unknown_paths_and_methods(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        for method, path in [("GET", "/nope"), ("DELETE", "/_ping"), ("PUT", "/v1.51/volumes")]:
            assert _is_docker_error(await _req(s, method, path), 404, "page not found"), path


async def test_options_answers_every_path(short_tmp: Path) -> None:
    # api/server/router/system/system.go: OPTIONS /{anyroute:.*} -> optionsHandler, 200,
    # nothing else (no Allow, no body, no Content-Type), for routes and non-routes alike.
    async with served(short_tmp) as s:
        for path in ("/containers/json", "/v1.51/volumes/x", "/nope/at/all", "/"):
            r = await _req(s, "OPTIONS", path)
            assert (r.status, r.body) == (200, b""), path
            assert "allow" not in r.headers, r.headers
            assert "content-type" not in r.headers, r.headers
            assert r.headers["api-version"] == "1.51"


async def test_bad_json(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        ct = "application/json"
        cases = [
            (b"{", "invalid JSON: unexpected EOF"),
            (b"{} {}", "unexpected content after JSON"),
            (b" ", "invalid JSON: got EOF while reading request body"),
        ]
        for body, message in cases:
            r = await _req(s, "POST", "/volumes/create", body, content_type=ct)
            assert _is_docker_error(r, 400, message), body
        r = await _req(s, "POST", "/volumes/create", b'{"Name": 5}', content_type=ct)
        assert r.status == 400
        assert r.json() == {
            "message": "invalid JSON: json: cannot unmarshal number into Go struct field "
            "CreateOptions.Name of type string"
        }
        r = await _req(s, "POST", "/volumes/create", b"[]", content_type=ct)
        assert r.status == 400
        r = await _req(s, "POST", "/volumes/create", b"{}", content_type="text/plain")
        assert _is_docker_error(
            r, 400, "unsupported Content-Type header (text/plain): must be 'application/json'"
        )
        # An empty body is accepted: an anonymous local volume.
        r = await _req(s, "POST", "/volumes/create")
        assert r.status == 201
        assert r.headers["content-type"] == "application/json"


async def test_huge_body_refused_and_server_keeps_serving(short_tmp: Path) -> None:
    async with served(short_tmp, max_body=1 << 16) as s:
        big = b'{"Name": "' + b"a" * (1 << 17) + b'"}'
        r = await _req(s, "POST", "/volumes/create", big, content_type="application/json")
        assert r.status == 413
        assert r.headers["content-type"] == "application/json"
        assert "message" in json.loads(r.body)
        assert (await _req(s, "GET", "/_ping")).body == b"OK"


async def test_control_api(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        fault = b'{"match": {"call": "VolumeDriver.Create"}, "respond": {"err": "disk full"}}'
        r = await _req(s, "POST", "/emulator/faults", fault)
        assert r.status == 201, r.body
        r = await _req(
            s,
            "POST",
            "/v1.51/volumes/create",
            b'{"Name": "fv", "Driver": "mv"}',
            content_type="application/json",
        )
        assert r.status == 500
        assert r.json() == {"message": "create fv: disk full"}
        faults = (await _req(s, "GET", "/emulator/faults")).json()
        assert isinstance(faults, dict)
        assert len(faults["fired"]) == 1
        journal = (await _req(s, "GET", "/emulator/journal?method=VolumeDriver.Create")).json()
        assert isinstance(journal, list)
        assert journal[-1]["request"]["Name"] == "fv"
        assert journal[-1]["fault"]
        bad = await _req(s, "POST", "/emulator/faults", b'{"match": {"call": 3}}')
        assert bad.status == 400
        assert "invalid fault" in str(bad.json())
        assert (await _req(s, "POST", "/emulator/reset")).status == 204
        assert (await _req(s, "GET", "/emulator/journal")).json() == []
        plugins = (await _req(s, "GET", "/emulator/plugins")).json()
        assert isinstance(plugins, list)
        assert [p["name"] for p in plugins] == ["mv"]
        assert (await _req(s, "GET", "/v1.51/plugins")).json() == []


_PATHS = st.sampled_from(
    [
        "/volumes/create",
        "/volumes",
        "/volumes/prune",
        "/containers/create",
        "/containers/json",
        "/plugins",
        "/events?until=1",
        "/info",
        "/x/../volumes",
        "/v1.51/volumes/%00",
        "/v9/volumes",
        "/v1.51/containers/nosuch/start",
        "/v1.51/containers/nosuch/wait",
    ]
)
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
_KEYS = st.sampled_from(["Name", "Labels", "DriverOpts", "Image", "Cmd", "HostConfig", "x"])
_BODIES = (
    st.binary(max_size=64)
    | _JSONISH.map(lambda v: json.dumps(v).encode())
    | st.dictionaries(_KEYS, _JSONISH, max_size=3).map(lambda v: json.dumps(v).encode())
)
_QUERIES = st.sampled_from(["", "?filters=%7B", "?filters=%5B%5D", "?all=yes", "?force=1"])


async def test_fuzz_malformed_requests(short_tmp: Path) -> None:
    """Whatever arrives: a dockerd-shaped JSON error (or success), and the server keeps going."""
    async with served(short_tmp, mocks=()) as s:
        sock = s.host.removeprefix("unix://")

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(
            method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "HEAD"]),
            path=_PATHS,
            query=_QUERIES,
            body=_BODIES,
            content_type=st.sampled_from(["application/json", "text/plain", "", "a/b; x"]),
        )
        def check(method: str, path: str, query: str, body: bytes, content_type: str) -> None:
            headers = {"Content-Type": content_type} if content_type else {}
            full = path + (query if "?" not in path else "")
            r = raw_request(sock, request_bytes(method, full, body, headers))
            if r.status >= 400 and method != "HEAD":
                assert r.headers["content-type"] == "application/json", (r.status, r.body)
                message = json.loads(r.body)["message"]
                assert isinstance(message, str)
                assert message
            assert r.status != 500 or "Traceback" not in r.body.decode("utf-8", "replace")
            ping = raw_request(sock, request_bytes("GET", "/_ping"))
            assert ping.body == b"OK"

        await trio.to_thread.run_sync(check)


def test_log_formats() -> None:
    import logging

    record = logging.LogRecord("emulator", logging.INFO, __file__, 1, 'said "hi"', None, None)
    record.fields = {"plugin": "abc123"}
    line = LogrusTextFormatter().format(record)
    assert line.startswith('time="')
    assert line.endswith(' level=info msg="said \\"hi\\"" plugin=abc123')
    data = json.loads(LogrusJSONFormatter().format(record))
    assert (data["level"], data["msg"], data["plugin"]) == ("info", 'said "hi"', "abc123")


async def test_routes_dockerd_has_and_the_emulator_does_not_are_refused_by_name(
    short_tmp: Path,
) -> None:
    # Not dockerd's "page not found" (which reads like a version mismatch): 501 with the
    # command named, for each route of the table.
    from emulator.protocol.engine_api import NOT_EMULATED

    async with served(short_tmp) as s:
        for method, rule, command in NOT_EMULATED:
            path = rule.replace("<ref>", "c1").replace("<path:name>", "busybox")
            answer = await _req(s, method, "/v1.51" + path)
            assert answer.status == 501, (path, answer.status)
            shown = rule.replace("<ref>", "{id}").replace("<path:name>", "{name}")
            message = json.loads(answer.body)["message"]
            assert message.startswith(
                f"plugin-emulator does not emulate {command} ({method} {shown})"
            ), message
        paused = await s.docker("pause", "c1")
        assert paused.err.startswith("Error response from daemon: plugin-emulator does not")
        # docker inspect without --type still goes past images to volumes
        await s.docker("volume", "create", "vv")
        inspected = await s.docker("inspect", "-f", "{{.Name}}", "vv")
        assert (inspected.rc, inspected.out) == (0, "vv\n")
