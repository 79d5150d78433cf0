"""TLS clients through the authorization chain: ``User``, ``UserAuthNMethod``, certificates.

moby/moby v28.5.2 pkg/authorization/middleware.go (``User`` is the first peer
certificate's ``Subject.CommonName``, ``UserAuthNMethod`` "TLS"), authz.go
(``RequestPeerCertificates`` from ``r.TLS.PeerCertificates``), api.go
(``PeerCertificate.MarshalJSON``: the PEM text as a ``[]byte``), and
integration/plugin/authz/authz_plugin_test.go ``TestAuthZPluginTLS`` (the daemon with
``--tlsverify``, ``User`` == the client certificate's CN).  Certificates from trustme.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trustme

from emulator.api.clients import DockerResult, api_request, run_docker
from emulator.api.server import serve
from emulator.api.tls import ServerTLS
from emulator.engine.core import Engine, open_engine
from emulator.engine.processes import PluginProcess, ProcessSpec
from emulator.mocks.authz import AuthzRule, MockAuthzPlugin
from tests.engine_api import DOCKER

pytestmark = pytest.mark.skipif(DOCKER is None, reason="the docker CLI (v28) is not installed")


class Certs:
    """A CA, the server's certificate and one client certificate per user, as PEM files."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.ca = trustme.CA()
        server = self.ca.issue_cert("localhost", "127.0.0.1")
        self.ca.cert_pem.write_to_path(str(base / "ca.pem"))
        server.cert_chain_pems[0].write_to_path(str(base / "server-cert.pem"))
        server.private_key_pem.write_to_path(str(base / "server-key.pem"))

    @property
    def server(self) -> ServerTLS:
        return ServerTLS(
            cert_file=self.base / "server-cert.pem",
            key_file=self.base / "server-key.pem",
            ca_file=self.base / "ca.pem",
        )

    def client(self, user: str) -> Path:
        """``DOCKER_CERT_PATH`` for ``user``: ca.pem, cert.pem, key.pem."""
        directory = self.base / user
        directory.mkdir(exist_ok=True)
        cert = self.ca.issue_cert(f"{user}.example.org", common_name=user)
        self.ca.cert_pem.write_to_path(str(directory / "ca.pem"))
        cert.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
        cert.private_key_pem.write_to_path(str(directory / "key.pem"))
        return directory


@pytest.fixture
def certs(short_tmp: Path) -> Certs:
    directory = short_tmp / "certs"
    directory.mkdir()
    return Certs(directory)


async def docker_as(host: str, cert_dir: Path | None, config: Path, *args: str) -> DockerResult:
    env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(cert_dir)} if cert_dir else {}
    return await run_docker(host, config, args, env=env)


@asynccontextmanager
async def tls_engine(
    tmp: Path, certs: Certs, plugins: dict[str, object], names: list[str]
) -> AsyncIterator[tuple[Engine, str, str]]:
    """An engine with ``names`` as its chain, served on a unix socket and on TLS TCP."""
    async with trio.open_nursery() as nursery:
        for name, plugin in plugins.items():
            await nursery.start(plugin.serve, f"unix:{tmp}/run/docker/plugins/{name}.sock")  # type: ignore[attr-defined]
        async with open_engine(root=tmp, authorization_plugins=names) as engine:
            unix = await nursery.start(serve, engine, f"unix:{tmp}/d.sock")
            tcp = await nursery.start(
                functools.partial(serve, tls=certs.server), engine, "tcp:127.0.0.1:0"
            )
            yield engine, unix, tcp
        nursery.cancel_scope.cancel()


async def test_the_tls_user_is_in_every_authz_call(short_tmp: Path, certs: Certs) -> None:
    authz = MockAuthzPlugin(
        [
            AuthzRule(allow=True, user="admin"),
            AuthzRule(allow=False, method="DELETE", msg="admins only"),
        ]
    )
    config = short_tmp / "docker-config"
    async with tls_engine(short_tmp, certs, {"authz": authz}, ["authz"]) as (_engine, unix, tcp):
        alice, admin = certs.client("alice"), certs.client("admin")
        assert (await docker_as(tcp, alice, config, "volume", "create", "v1")).ok
        refused = await docker_as(tcp, alice, config, "volume", "rm", "v1")
        assert refused.stderr == (
            "Error response from daemon: authorization denied by plugin authz: admins only\n"
        )
        assert (await docker_as(tcp, admin, config, "volume", "rm", "v1")).ok
        # The same daemon on its unix socket: no certificate, no User.
        assert (await docker_as(unix, None, config, "volume", "ls")).ok
        # A client without a certificate does not get past the TLS handshake.
        bare = await run_docker(
            tcp, config, ["--tls", "--tlscacert", str(alice / "ca.pem"), "version"]
        )
        assert bare.exit_code == 1
    by_user: dict[str, list[object]] = {}
    for asked in authz.asked:
        by_user.setdefault(asked.user, []).append(asked)
    assert set(by_user) == {"alice", "admin", ""}
    for asked in authz.asked:
        if asked.user:
            assert asked.wire["UserAuthNMethod"] == "TLS"
            pem = (certs.base / asked.user / "cert.pem").read_text()
            assert asked.certificates == [pem]
        else:
            assert not {"UserAuthNMethod", "RequestPeerCertificates"} & set(asked.wire)


async def test_go_reads_the_peer_certificates(short_tmp: Path, certs: Certs) -> None:
    """PeerCertificate.UnmarshalJSON: Go decodes the base64 PEM and parses the DER."""
    from tests.test_go_authz import _missing, go_view

    if _missing() is not None:
        pytest.skip(str(_missing()))
    binary = _build_go(short_tmp)
    log = short_tmp / "go.jsonl"
    sock = short_tmp / "run/docker/plugins/goauthz.sock"
    spec = ProcessSpec(
        "goauthz",
        [str(binary), "-socket", str(sock), "-log", str(log)],
        socket=sock,
        private_run=False,
    )
    process = PluginProcess(spec, root=short_tmp)
    config = short_tmp / "docker-config"
    async with trio.open_nursery() as nursery:
        await nursery.start(process.run)
        async with tls_engine(short_tmp, certs, {}, ["goauthz"]) as (_engine, _unix, tcp):
            alice = certs.client("alice")
            assert (await docker_as(tcp, alice, config, "volume", "ls")).ok
        nursery.cancel_scope.cancel()
    der = ssl.PEM_cert_to_DER_cert((alice / "cert.pem").read_text())
    go = go_view(log)
    assert len(go) == 4  # HEAD /_ping and GET /volumes, AuthZReq and AuthZRes each
    for call in go:
        assert (call["user"], call["user_authn_method"]) == ("alice", "TLS")
        assert call["peer_common_names"] == ["alice"]
        assert call["peer_sha256"] == [hashlib.sha256(der).hexdigest()]


def _build_go(work: Path) -> Path:
    from tests.test_go_authz import GOPATH, SOURCE

    binary = work / "goauthz"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH)}
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=SOURCE, env=env, check=True)
    return binary


async def test_raw_requests_over_tls_carry_the_user(short_tmp: Path, certs: Certs) -> None:
    """Without the CLI: one TLS request, and the User the chain passed on."""
    authz = MockAuthzPlugin()
    async with tls_engine(short_tmp, certs, {"authz": authz}, ["authz"]) as (_e, unix, tcp):
        bob = certs.client("bob")
        context = ssl.create_default_context(cafile=str(bob / "ca.pem"))
        context.load_cert_chain(str(bob / "cert.pem"), str(bob / "key.pem"))
        port = int(tcp.rsplit(":", 1)[1])
        stream = await trio.open_ssl_over_tcp_stream(
            "127.0.0.1", port, ssl_context=context, https_compatible=True
        )
        async with stream:
            await stream.send_all(
                b"GET /v1.51/_ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            )
            answer = b""
            while chunk := await stream.receive_some(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")
        assert (await api_request(unix, "GET", "/v1.51/_ping")).status == 200
    assert [a.user for a in authz.asked] == ["bob", "bob", "", ""]


def test_serve_with_tlsverify_and_an_authz_mock(short_tmp: Path, certs: Certs) -> None:
    """``plugin-emulator serve`` as a user runs it: dockerd's flags."""
    sock = short_tmp / "e.sock"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "serve",
            "--engine-socket",
            str(sock),
            "--tcp",
            "127.0.0.1:0",
            "--tlsverify",
            "--tlscacert",
            str(certs.base / "ca.pem"),
            "--tlscert",
            str(certs.base / "server-cert.pem"),
            "--tlskey",
            str(certs.base / "server-key.pem"),
            "--mock",
            "policy=authz",
            "--authorization-plugin",
            "policy",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == f"export DOCKER_HOST=unix://{sock}\n"
        tcp = proc.stdout.readline().removeprefix("# also listening on ").strip()
        env = {
            **os.environ,
            "DOCKER_HOST": tcp,
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(certs.client("carol")),
            "DOCKER_CONFIG": str(short_tmp),
        }
        done = subprocess.run(
            [str(DOCKER), "info", "--format", "{{.Plugins.Authorization}}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert (done.returncode, done.stdout) == (0, "[policy]\n")
        journal = subprocess.run(
            [
                "curl",
                "-s",
                "--unix-socket",
                str(sock),
                "http://x/emulator/journal?method=AuthZPlugin.AuthZReq",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        users = {entry["request"].get("User") for entry in json.loads(journal.stdout)}
        assert users == {"carol"}
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_serve_refuses_to_start_without_its_authz_plugin(short_tmp: Path) -> None:
    """cmd/dockerd: ``failed to validate authorization plugin: ...``, exit status 1.
    (``this-plugin-does-not-exist`` has dockerd's 2 s lookup budget instead of 15 s.)"""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "emulator",
            "serve",
            "--engine-socket",
            str(short_tmp / "e.sock"),
            "--root",
            str(short_tmp),
            "--authorization-plugin",
            "this-plugin-does-not-exist",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == (
        'failed to validate authorization plugin: plugin "this-plugin-does-not-exist" not found'
    )
    assert proc.stdout == ""
    assert not (short_tmp / "e.sock").exists()
