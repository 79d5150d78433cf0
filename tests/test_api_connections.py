"""The Engine API server's connections: dockerd's limits, TLS, and what plain TCP refuses.

dockerd (moby/moby cmd/dockerd/daemon.go, v28.5.2): ``ReadHeaderTimeout`` 5 min, which
Go also uses as the idle keep-alive timeout; TLS with ``RequireAndVerifyClientCert``
under ``--tlsverify``; plain TCP only with its warnings.  Listen backlog: the kernel's
``somaxconn``, as Go's ``net.Listen``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import pytest
import trio
import trustme

from emulator.api.listen import parse_tcp, somaxconn
from emulator.api.server import IDLE_TIMEOUT, serve
from emulator.api.tls import ServerTLS
from emulator.engine.core import Engine, open_engine
from emulator.errors import ConfigurationError
from tests.engine_api import DOCKER, served

EMULATOR = [sys.executable, "-m", "emulator"]


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@asynccontextmanager
async def serving(tmp: Path, bind: str, **options: object) -> AsyncIterator[tuple[Engine, str]]:
    async with open_engine(root=tmp) as engine, trio.open_nursery() as nursery:
        host = await nursery.start(partial(serve, **options), engine, bind)  # type: ignore[arg-type]
        yield engine, host
        nursery.cancel_scope.cancel()


def _unix(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(path))
    return sock


def _read_until_eof(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


async def test_connection_close_is_honoured(short_tmp: Path) -> None:
    async with serving(short_tmp, f"unix:{short_tmp / 'e.sock'}"):

        def ask() -> bytes:
            with _unix(short_tmp / "e.sock") as sock:
                sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return _read_until_eof(sock, timeout=5)

        answer = await trio.to_thread.run_sync(ask)
        assert answer.startswith(b"HTTP/1.1 200")
        assert answer.endswith(b"OK")


async def test_connections_closed_without_a_request_free_their_descriptor(short_tmp: Path) -> None:
    async with serving(short_tmp, f"unix:{short_tmp / 'e.sock'}"):
        before = _fds()

        def churn() -> None:
            for _ in range(100):
                _unix(short_tmp / "e.sock").close()
            with _unix(short_tmp / "e.sock") as sock:  # and one after a request
                sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
                assert sock.recv(65536).startswith(b"HTTP/1.1 200")

        await trio.to_thread.run_sync(churn)
        with trio.fail_after(10):
            while _fds() > before:  # noqa: ASYNC110 (the server closes each at its EOF)
                await trio.sleep(0.01)


async def test_idle_connections_are_closed_after_dockerds_timeout(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with serving(short_tmp, f"unix:{short_tmp / 'e.sock'}"):
        started = trio.current_time()

        def silent() -> bytes:
            with _unix(short_tmp / "e.sock") as sock:
                return _read_until_eof(sock, timeout=30)

        assert await trio.to_thread.run_sync(silent) == b""
        assert IDLE_TIMEOUT <= trio.current_time() - started < 2 * IDLE_TIMEOUT
        assert IDLE_TIMEOUT == 300.0

        started = trio.current_time()

        def keep_alive() -> bytes:
            with _unix(short_tmp / "e.sock") as sock:
                sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
                return _read_until_eof(sock, timeout=30)

        assert (await trio.to_thread.run_sync(keep_alive)).startswith(b"HTTP/1.1 200")
        assert IDLE_TIMEOUT <= trio.current_time() - started < 2 * IDLE_TIMEOUT


async def test_the_listen_backlog_is_the_systems_maximum(short_tmp: Path) -> None:
    path = short_tmp / "e.sock"
    async with serving(short_tmp, f"unix:{path}"):
        clients: list[socket.socket] = []
        refused = 0
        try:
            # No checkpoint in this loop: the server accepts nothing meanwhile, as when
            # 200 clients arrive at once; what does not fit in the backlog is refused.
            for _ in range(200):
                sock = socket.socket(socket.AF_UNIX)
                sock.setblocking(False)
                clients.append(sock)
                try:
                    sock.connect(str(path))
                except BlockingIOError:
                    refused += 1
        finally:
            for sock in clients:
                sock.close()
        assert refused == 0
    assert somaxconn() == int(Path("/proc/sys/net/core/somaxconn").read_text())


@pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")
async def test_a_burst_of_200_docker_clients_all_get_through(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        results: list[int] = []

        async def one(index: int) -> None:
            r = await s.docker("volume", "create", f"burst{index}")
            results.append(r.rc)

        async with trio.open_nursery() as nursery:
            for index in range(200):
                nursery.start_soon(one, index)
        assert results == [0] * 200
        volumes, _ = await s.engine.volumes.list()
        assert len(volumes) == 200


def _request(host: str, port: int, head: str) -> bytes:
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\nConnection: close\r\n\r\n")
        return _read_until_eof(sock)


async def test_plain_tcp_needs_the_insecure_flag_and_a_loopback_host(
    short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_engine(root=short_tmp) as engine:
        with pytest.raises(ConfigurationError, match="--tcp-insecure"):
            await serve(engine, "tcp:127.0.0.1:0")
    async with serving(short_tmp, "tcp:127.0.0.1:0", insecure=True) as (_engine, host):
        port = int(host.rsplit(":", 1)[1])
        cases = {
            f"Host: 127.0.0.1:{port}": 200,
            "Host: localhost": 200,
            "Host: api.moby.localhost": 200,
            "Host: [::1]:2375": 200,
            "Host: attacker.example": 403,
            "Host: 127.0.0.1.attacker.example:80": 403,
            "Host: 10.0.0.1": 403,
            "Host: localhost\r\nOrigin: https://attacker.example": 403,
            "Host: localhost\r\nOrigin: http://localhost:8080": 200,
        }
        for headers, status in cases.items():
            answer = await trio.to_thread.run_sync(
                _request, "127.0.0.1", port, f"GET /_ping HTTP/1.1\r\n{headers}"
            )
            assert answer.startswith(f"HTTP/1.1 {status} ".encode()), (headers, answer)
        answer = await trio.to_thread.run_sync(
            _request,
            "127.0.0.1",
            port,
            "POST /plugins/create?name=x HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 0",
        )
        assert (
            b'"message": "plugin-emulator refuses a request for Host \\"evil.example\\"' in answer
        )
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings[:3] == [
        "Binding to IP address without --tlsverify is insecure and gives root access on this "
        "machine to everyone who has access to your network.",
        "Binding to an IP address, even on localhost, can also give access to scripts run in a "
        "browser. Be safe out there!",
        "[DEPRECATION NOTICE] In future versions this will be a hard failure preventing the "
        "daemon from starting! Learn more at: https://docs.docker.com/go/api-security/",
    ]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("127.0.0.1:99999", "the port must be a number from 0 to 65535"),
        ("[::1%lo]:0", "zones are for link-local addresses"),
        ("127.0.0.1", "use HOST:PORT"),
        ("::1:80", "write an IPv6 address in brackets"),
        ("example.com:80", "is not an IP address"),
        ("0.0.0.0:0", "only loopback TCP is allowed"),
    ],
)
def test_bad_tcp_values_exit_2(short_tmp: Path, value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_tcp(value)
    done = subprocess.run(
        [*EMULATOR, "serve", "--engine-socket", str(short_tmp / "e.sock"), "--tcp", value],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert problem in done.stderr
    assert "Traceback" not in done.stderr
    assert not (short_tmp / "e.sock").exists()


def test_plain_tcp_without_the_flag_exits_2(short_tmp: Path) -> None:
    done = subprocess.run(
        [*EMULATOR, "serve", "--engine-socket", str(short_tmp / "e.sock"), "--tcp", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "refusing plain TCP" in done.stderr
    assert "--tcp-insecure" in done.stderr


# -- TLS ------------------------------------------------------------------------------


@pytest.fixture
def pki(short_tmp: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1, and client certificates (one foreign)."""
    ca, other = trustme.CA(), trustme.CA()
    files: dict[str, Path] = {}
    ca.cert_pem.write_to_path(files.setdefault("ca", short_tmp / "ca.pem"))
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.cert_chain_pems[0].write_to_path(files.setdefault("cert", short_tmp / "server.pem"))
    server.private_key_pem.write_to_path(files.setdefault("key", short_tmp / "server-key.pem"))
    client_dir = short_tmp / "client"
    client_dir.mkdir()
    client = ca.issue_cert("alice@example.invalid", common_name="alice")
    ca.cert_pem.write_to_path(client_dir / "ca.pem")
    client.cert_chain_pems[0].write_to_path(files.setdefault("client", client_dir / "cert.pem"))
    client.private_key_pem.write_to_path(files.setdefault("client_key", client_dir / "key.pem"))
    files["client_dir"] = client_dir
    stranger = other.issue_cert("mallory@example.invalid", common_name="mallory")
    stranger.private_key_and_cert_chain_pem.write_to_path(
        files.setdefault("stranger", short_tmp / "stranger.pem")
    )
    return files


def _tls_get(port: int, path: str, *, cert: Path | None, ca: Path) -> bytes:
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: anything\r\nConnection: close\r\n\r\n".encode())
        return _read_until_eof(sock)


async def test_tls_requires_a_client_certificate_and_hands_it_to_handlers(
    short_tmp: Path, pki: dict[str, Path]
) -> None:
    tls = ServerTLS(pki["cert"], pki["key"], pki["ca"])
    async with serving(short_tmp, "tcp:127.0.0.1:0", tls=tls) as (_engine, host):
        port = int(host.rsplit(":", 1)[1])
        client = pki["client_dir"] / "both.pem"
        client.write_bytes(pki["client"].read_bytes() + pki["client_key"].read_bytes())
        answer = await trio.to_thread.run_sync(
            partial(_tls_get, port, "/emulator/client", cert=client, ca=pki["ca"])
        )
        body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert (body["authenticated"], body["user"]) == (True, "alice")
        assert body["subject"].startswith(
            "CN=alice,OU=Testing cert "
        )  # RFC 4514, as trustme made it
        for cert in (None, pki["stranger"]):
            try:  # TLS 1.3: the refusal may come after the client's handshake completed
                answer = await trio.to_thread.run_sync(
                    partial(_tls_get, port, "/_ping", cert=cert, ca=pki["ca"])
                )
            except (ssl.SSLError, OSError):
                answer = b""
            assert not answer.startswith(b"HTTP/1.1"), cert


async def test_tls_configuration_errors_are_dockerds(short_tmp: Path, pki: dict[str, Path]) -> None:
    missing = short_tmp / "missing.pem"
    with pytest.raises(ConfigurationError) as info:
        ServerTLS(missing, pki["key"], pki["ca"]).context()
    assert str(info.value) == (
        f'invalid TLS configuration: could not load X509 key pair (cert: "{missing}", '
        f'key: "{pki["key"]}"): open {missing}: no such file or directory'
    )
    with pytest.raises(ConfigurationError) as info:
        ServerTLS(pki["cert"], pki["key"], missing).context()
    assert str(info.value) == (
        f'invalid TLS configuration: could not read CA certificate "{missing}": '
        f"open {missing}: no such file or directory"
    )
    with pytest.raises(ConfigurationError, match="failed to append certificates from PEM file"):
        ServerTLS(pki["cert"], pki["key"], pki["key"]).context()
    # Go's tls.X509KeyPair texts (crypto/tls/tls.go), after go-connections' prefix.
    pair = f'(cert: "{pki["cert"]}", key: "{pki["client_key"]}")'
    with pytest.raises(ConfigurationError) as info:
        ServerTLS(pki["cert"], pki["client_key"], pki["ca"]).context()
    assert str(info.value) == (
        "invalid TLS configuration: error reading X509 key pair - make sure the key is not "
        f"encrypted {pair}: tls: private key does not match public key"
    )
    with pytest.raises(ConfigurationError) as info:
        ServerTLS(pki["client_dir"], pki["key"], pki["ca"]).context()
    assert str(info.value).endswith(f"read {pki['client_dir']}: is a directory")
    assert "make sure the key is not encrypted" in str(info.value)


@pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")
def test_serve_tlsverify_with_the_docker_cli(short_tmp: Path, pki: dict[str, Path]) -> None:
    proc = subprocess.Popen(
        [
            *EMULATOR,
            "serve",
            "--engine-socket",
            str(short_tmp / "e.sock"),
            "--root",
            str(short_tmp),
            "--mock",
            "mv=volume",
            "--tcp",
            "127.0.0.1:0",
            "--tlsverify",
            "--tlscacert",
            str(pki["ca"]),
            "--tlscert",
            str(pki["cert"]),
            "--tlskey",
            str(pki["key"]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("export DOCKER_HOST=unix://")
        tcp = proc.stdout.readline().strip().removeprefix("# also listening on ")
        assert tcp.startswith("tcp://127.0.0.1:")
        env = {
            **os.environ,
            "DOCKER_HOST": tcp,
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(pki["client_dir"]),
            "DOCKER_CONFIG": str(short_tmp),
        }
        done = subprocess.run(
            [str(DOCKER), "volume", "create", "-d", "mv", "tlsvol"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (done.returncode, done.stdout) == (0, "tlsvol\n"), done.stderr
        plain = {**env, "DOCKER_TLS_VERIFY": ""}
        done = subprocess.run(
            [str(DOCKER), "volume", "ls"], env=plain, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "without --tlsverify" not in err


async def test_a_connection_serves_any_number_of_requests(short_tmp: Path) -> None:
    # Go's http.Server has no per-connection request limit (hypercorn's default closes
    # after 1000); docker-py and the CLI keep one connection for a whole session.
    count = 1_100
    async with serving(short_tmp, f"unix:{short_tmp / 'e.sock'}"):

        def ask() -> bytes:
            with _unix(short_tmp / "e.sock") as sock:
                ping = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
                sock.sendall(ping * count)
                sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return _read_until_eof(sock, timeout=30)

        answer = await trio.to_thread.run_sync(ask)
    assert answer.count(b"HTTP/1.1 200 ") == count + 1
    assert answer.lower().count(b"\r\nconnection: close\r\n") == 1
