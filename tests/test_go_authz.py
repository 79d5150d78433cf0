"""An independent implementation: an authz plugin in Go, decoding with moby's own types.

tests/go/authz/main.go decodes every ``AuthZReq``/``AuthZRes`` with ``encoding/json``
into ``github.com/docker/docker/pkg/authorization.Request`` (Debian's
golang-github-docker-docker-dev; the struct and ``PeerCertificate`` are the same as in
moby v28.5.2 ``pkg/authorization/api.go``) and logs what Go understood.  Driven by the
real docker CLI through the chain, the emulator's bytes are checked against Go's own
reading of them: base64 bodies, key names, header maps, status codes; the TLS test
checks the peer certificates.  Built here (a session fixture); CI installs the packages.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from emulator.engine.processes import PluginProcess, ProcessSpec
from tests.engine_api import DOCKER, Served, raw_request_trio, request_bytes, served

GOPATH = Path("/usr/share/gocode")
SOURCE = Path(__file__).parent / "go/authz"


def _missing() -> str | None:
    if DOCKER is None:
        return "the docker CLI (v28) is not installed"
    if shutil.which("go") is None:
        return "golang-go is not installed"
    if not (GOPATH / "src/github.com/docker/docker/pkg/authorization/api.go").exists():
        return "golang-github-docker-docker-dev is not installed"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


@pytest.fixture(scope="session")
def go_authz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The Go plugin, built in GOPATH mode against Debian's moby packages (Go's own build
    cache is used: a second build takes a fraction of a second)."""
    work = tmp_path_factory.mktemp("goauthz")
    binary = work / "goauthz"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH)}
    built = subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=SOURCE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    yield binary
    binary.unlink()


@asynccontextmanager
async def go_chain(tmp: Path, binary: Path, *extra: str) -> AsyncIterator[tuple[Served, Path]]:
    """The Go plugin as v1 plugin ``goauthz`` and an engine with it as its chain."""
    log = tmp / "goauthz.jsonl"
    sock = tmp / "run/docker/plugins/goauthz.sock"
    spec = ProcessSpec(
        "goauthz",
        [str(binary), "-socket", str(sock), "-log", str(log), *extra],
        socket=sock,
        private_run=False,
    )
    process = PluginProcess(spec, root=tmp)
    async with trio.open_nursery() as nursery:
        await nursery.start(process.run)
        async with served(tmp, authorization_plugins=["goauthz"]) as s:
            yield s, log
        nursery.cancel_scope.cancel()


def go_view(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def sent(s: Served) -> list[dict[str, Any]]:
    """What the emulator sent, as JSON on the wire, AuthZReq and AuthZRes in order."""
    return [
        {"call": e.method.rsplit(".", 1)[1], **e.request}
        for e in s.engine.journal
        if e.method.startswith("AuthZPlugin.") and e.request is not None
    ]


def _key(call: dict[str, Any]) -> str:
    return json.dumps(call, sort_keys=True)


def _as_go_reads_it(wire: dict[str, Any]) -> dict[str, Any]:
    """The decoded struct Go should end up with, from the emulator's JSON."""

    def text(key: str) -> str | None:
        value = wire.get(key)
        return None if value is None else base64.b64decode(value).decode("utf-8", "replace")

    return {
        "call": wire["call"],
        "user": wire.get("User", ""),
        "user_authn_method": wire.get("UserAuthNMethod", ""),
        "request_method": wire.get("RequestMethod", ""),
        "request_uri": wire.get("RequestUri", ""),
        "request_body": text("RequestBody"),
        "request_headers": wire.get("RequestHeaders"),
        "peer_common_names": None,
        "peer_sha256": None,
        "response_status_code": wire.get("ResponseStatusCode", 0),
        "response_body": text("ResponseBody"),
        "response_headers": wire.get("ResponseHeaders"),
    }


async def test_go_reads_what_the_emulator_sends(short_tmp: Path, go_authz: Path) -> None:
    async with go_chain(short_tmp, go_authz) as (s, log):
        r = await s.docker("volume", "create", "--label", "owner=<me & you>", "gov")
        assert (r.rc, r.out) == (0, "gov\n")
        r = await s.docker("volume", "rm", "gov")
        assert r.err == (
            "Error response from daemon: authorization denied by plugin goauthz: "
            "go says no to DELETE\n"
        )
        r = await s.docker("run", "--rm", "-v", "gov:/data", "busybox", "true")
        assert (r.rc, r.err) == (0, "")
        host = s.host.removeprefix("unix://")
        chunked = (
            b"POST /v1.51/volumes/create HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            b"X-Bytes: caf\xc3\xa9\r\n\r\n"
            b'e\r\n{"Name":"chk"}\r\n0\r\n\r\n'
        )
        assert (await raw_request_trio(host, chunked)).status == 201
        header = {"Authorization": "Bearer x", "X-Registry-Auth": "e30="}
        await raw_request_trio(host, request_bytes("GET", "/v1.51/volumes?x=%2F", b"", header))
    go = go_view(log)
    wire = sent(s)
    assert len(go) == len(wire) > 20
    # Calls of requests made at once (docker run's attach and wait) reach the plugin in
    # either order: compare what Go read as a multiset; sequential ones stay in order.
    expected = [_as_go_reads_it(w) for w in wire]
    assert sorted(map(_key, go)) == sorted(map(_key, expected))
    assert go[-4:] == expected[-4:]
    # A few of those, spelled out.
    create = next(
        g for g in go if g["call"] == "AuthZReq" and g["request_uri"].endswith("/volumes/create")
    )
    assert json.loads(create["request_body"]) == {
        "Driver": "local",
        "Labels": {"owner": "<me & you>"},
        "Name": "gov",
    }
    created = next(
        g for g in go if g["call"] == "AuthZRes" and g["request_uri"].endswith("/volumes/create")
    )
    assert created["response_status_code"] == 201
    assert json.loads(created["response_body"])["Name"] == "gov"
    assert created["response_headers"]["Api-Version"] == "1.51"
    chunk = next(g for g in go if g["request_body"] == '{"Name":"chk"}')
    assert chunk["request_headers"]["X-Bytes"] == "café"
    assert "Transfer-Encoding" not in chunk["request_headers"]
    last = go[-2]
    assert last["request_uri"] == "/v1.51/volumes?x=%2F"
    assert "Authorization" not in last["request_headers"]
    assert "X-Registry-Auth" not in last["request_headers"]


async def test_a_failing_go_plugin_is_a_500(short_tmp: Path, go_authz: Path) -> None:
    async with go_chain(short_tmp, go_authz, "-fail-uri", "/info") as (s, _log):
        r = await s.docker("info")
        assert r.rc == 1
        assert (
            "plugin goauthz failed with error: AuthZPlugin.AuthZReq: go plugin failed on purpose"
            in r.err
        )


async def test_go_plugin_as_a_managed_plugin(short_tmp: Path, go_authz: Path) -> None:
    """The same binary as a managed (v2) plugin: docker.authz/1.0, its socket in the
    plugin's directory; the chain names it goauthz:latest once looked up."""
    log = short_tmp / "managed.jsonl"
    package = short_tmp / "pkg"
    (package / "rootfs/bin").mkdir(parents=True)
    shutil.copy(go_authz, package / "rootfs/bin/goauthz")
    config = {
        "description": "authz plugin in Go (moby's pkg/authorization types)",
        "documentation": "https://example.invalid/",
        "entrypoint": ["/bin/goauthz"],
        "env": [{"name": "AUTHZ_LOG", "settable": ["value"], "value": str(log)}],
        "interface": {"socket": "goauthz.sock", "types": ["docker.authz/1.0"]},
        "network": {"type": "host"},
    }
    (package / "config.json").write_text(json.dumps(config))
    async with served(short_tmp, max_body=256 << 20) as s:  # the binary is uploaded
        assert (await s.docker("plugin", "create", "goauthz", str(package))).rc == 0
        assert (await s.docker("plugin", "enable", "goauthz")).rc == 0
        await s.engine.restart(authorization_plugins=["goauthz"])
        assert (await s.docker("volume", "create", "m1")).rc == 0
        r = await s.docker("volume", "rm", "m1")
        assert r.err == (
            "Error response from daemon: authorization denied by plugin goauthz:latest: "
            "go says no to DELETE\n"
        )
        go = go_view(log)
        assert go == [_as_go_reads_it(w) for w in sent(s)]
        assert (await s.docker("plugin", "disable", "goauthz")).rc == 0
        assert (await s.docker("volume", "rm", "m1")).rc == 0
