"""A plugin's ``TLSConfig`` goes through go-connections ``tlsconfig.Client`` (v0.5.0, as
vendored by moby/moby v28.5.2; pkg/plugins/client.go ``newTransport`` calls it before it
parses the address), with Go's texts: ``os.ReadFile``'s ``open``/``read`` errors,
``CertPool.AppendCertsFromPEM``, ``x509.DecryptPEMBlock``, ``tls.X509KeyPair`` and
``adjustMinVersion``.  A broken ``TLSConfig`` fails activation before any dial.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
import trustme
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    load_pem_private_key,
)

from emulator import open_engine
from emulator.errors import PluginLookupError
from tests.rawplugin import RawPlugin


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def files(short_tmp: Path, ca: trustme.CA) -> dict[str, str]:
    leaf = ca.issue_cert("127.0.0.1")
    other = ca.issue_cert("127.0.0.2")
    paths = {
        "ca": short_tmp / "ca.pem",
        "cert": short_tmp / "cert.pem",
        "key": short_tmp / "key.pem",
        "other-key": short_tmp / "other-key.pem",
        "garbage": short_tmp / "garbage.txt",
        "bad-der": short_tmp / "bad-der.pem",
        "odd-blocks": short_tmp / "odd-blocks.pem",
        "dir": short_tmp / "adir",
    }
    ca.cert_pem.write_to_path(str(paths["ca"]))
    paths["cert"].write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(paths["key"]))
    other.private_key_pem.write_to_path(str(paths["other-key"]))
    paths["garbage"].write_text("not a PEM file\n")
    paths["bad-der"].write_text("-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n")
    paths["odd-blocks"].write_text(
        "-----BEGIN FOO-----\nAAEC\n-----END FOO-----\n-----BEGIN BAR-----\n-----END BAR-----\n"
    )
    paths["dir"].mkdir()
    return {name: str(path) for name, path in paths.items()}


def write_json(root: Path, name: str, addr: str, tls: dict[str, Any]) -> None:
    path = root / "etc/docker/plugins" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"Addr": addr, "TLSConfig": tls}))


async def activation_error(root: Path) -> PluginLookupError:
    async with open_engine(root=root) as engine:
        with pytest.raises(PluginLookupError) as info:
            await engine.plugins.get("t", "VolumeDriver")
        assert engine.journal.calls("Plugin.Activate") == []  # failed before any request
    return info.value


CASES: dict[str, tuple[dict[str, Any], str]] = {
    "ca-is-a-directory": (
        {"CAFile": "{dir}"},
        'could not read CA certificate "{dir}": read {dir}: is a directory',
    ),
    "ca-without-certificates": (
        {"CAFile": "{garbage}"},
        'failed to append certificates from PEM file: "{garbage}"',
    ),
    "ca-holds-only-a-key": (
        {"CAFile": "{key}"},
        'failed to append certificates from PEM file: "{key}"',
    ),
    "cert-missing": (
        {"CertFile": "{dir}/none.pem", "KeyFile": "{key}"},
        "could not load X509 key pair: open {dir}/none.pem: no such file or directory",
    ),
    "key-missing": (
        {"CertFile": "{cert}", "KeyFile": "{dir}/none.pem"},
        "could not load X509 key pair: open {dir}/none.pem: no such file or directory",
    ),
    "key-without-cert": (
        {"KeyFile": "{key}"},
        "could not load X509 key pair: open : no such file or directory",
    ),
    "key-not-pem": (
        {"CertFile": "{cert}", "KeyFile": "{garbage}"},
        "could not load X509 key pair: no valid private key found",
    ),
    "cert-and-key-switched": (
        {"CertFile": "{key}", "KeyFile": "{cert}"},
        "could not load X509 key pair: tls: failed to find certificate PEM data in "
        "certificate input, but did find a private key; PEM inputs may have been switched",
    ),
    "key-of-another-certificate": (
        {"CertFile": "{cert}", "KeyFile": "{other-key}"},
        "could not load X509 key pair: tls: private key does not match public key",
    ),
    "certificate-not-der": (
        {"CertFile": "{bad-der}", "KeyFile": "{key}"},
        "could not load X509 key pair: x509: malformed certificate",
    ),
    "no-certificate-block": (
        {"CertFile": "{odd-blocks}", "KeyFile": "{key}"},
        'could not load X509 key pair: tls: failed to find "CERTIFICATE" PEM block in '
        "certificate input after skipping PEM blocks of the following types: [FOO BAR]",
    ),
    "key-file-is-a-certificate": (
        {"CertFile": "{cert}", "KeyFile": "{ca}"},
        "could not load X509 key pair: tls: found a certificate rather than a key in the "
        "PEM for the private key",
    ),
    "min-version-tls10": (
        {"MinVersion": 0x0301},
        "requested minimum TLS version is too low. Should be at-least: 303",
    ),
    "min-version-ssl3": ({"MinVersion": 0x0300}, "invalid minimum TLS version: 300"),
    "min-version-nonsense": ({"MinVersion": 1}, "invalid minimum TLS version: 1"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("addr", ["https://127.0.0.1:1", "unix:///nonexistent/p.sock"])
async def test_broken_tls_config_fails_activation_with_gos_text(
    short_tmp: Path, files: dict[str, str], case: str, addr: str
) -> None:
    options, text = CASES[case]
    write_json(
        short_tmp,
        "t",
        addr,
        {k: v.format(**files) if isinstance(v, str) else v for k, v in options.items()},
    )
    error = await activation_error(short_tmp)
    assert str(error) == "legacy plugin: " + text.format(**files)
    assert "fix TLSConfig" in error.hint


async def test_insecure_skip_verify_never_reads_the_ca_file(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    write_json(
        short_tmp,
        "t",
        "unix:///nonexistent/p.sock",
        {"CAFile": "/nonexistent/ca.pem", "InsecureSkipVerify": True},
    )
    async with open_engine(root=short_tmp) as engine:
        with pytest.raises(PluginLookupError) as info:
            await engine.plugins.get("t", "VolumeDriver")
    assert str(info.value).endswith(
        "dial unix /nonexistent/p.sock: connect: no such file or directory"
    )


# -- against a TLS plugin ---------------------------------------------------------------


def server_context(
    ca: trustme.CA, *, client_certs: bool = False, max_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    if client_certs:
        context.verify_mode = ssl.CERT_REQUIRED
        ca.configure_trust(context)
    if max_version is not None:
        context.maximum_version = max_version
    return context


async def activate(
    root: Path, server: ssl.SSLContext, tls: dict[str, Any]
) -> tuple[RawPlugin, PluginLookupError | None]:
    plugin = RawPlugin(tls=server)
    error: PluginLookupError | None = None
    async with trio.open_nursery() as nursery:
        address = await nursery.start(plugin.serve, ("127.0.0.1", 0))
        write_json(root, "t", "https://" + address.removeprefix("tcp://"), tls)
        async with open_engine(root=root) as engine:
            try:
                await engine.plugins.get("t", "VolumeDriver")
            except PluginLookupError as exc:
                error = exc
        nursery.cancel_scope.cancel()
    return plugin, error


def legacy_encrypted(key_pem: bytes, password: bytes, wrong: bytes) -> bytes:
    """The key with RFC 1423 encryption (as ``openssl rsa -aes256`` writes it), chosen so
    that ``wrong`` gives a bad padding (Go then says the password is incorrect)."""
    key = load_pem_private_key(key_pem, None)
    while True:
        encrypted = key.private_bytes(
            Encoding.PEM, PrivateFormat.TraditionalOpenSSL, BestAvailableEncryption(password)
        )
        lines = encrypted.decode().splitlines()
        dek = next(line for line in lines if line.startswith("DEK-Info: AES-256-CBC,"))
        iv = bytes.fromhex(dek.split(",")[1])
        body = "".join(line for line in lines[3:-1] if line and ":" not in line)
        data = __import__("base64").b64decode(body)
        derived = b""
        digest = b""
        while len(derived) < 32:
            digest = hashlib.md5(digest + wrong + iv[:8]).digest()
            derived += digest
        decryptor = Cipher(algorithms.AES(derived[:32]), modes.CBC(data[-32:-16])).decryptor()
        last = (decryptor.update(data[-16:]) + decryptor.finalize())[-1]
        if not 1 <= last <= 16:
            return encrypted


async def test_passphrase_decrypts_a_legacy_encrypted_key(
    short_tmp: Path, ca: trustme.CA, files: dict[str, str]
) -> None:
    encrypted = short_tmp / "encrypted.pem"
    encrypted.write_bytes(legacy_encrypted(Path(files["key"]).read_bytes(), b"s3cret", b"nope"))
    tls = {"CAFile": files["ca"], "CertFile": files["cert"], "KeyFile": str(encrypted)}
    plugin, error = await activate(
        short_tmp, server_context(ca, client_certs=True), {**tls, "Passphrase": "s3cret"}
    )
    assert error is None
    assert plugin.paths() == ["/Plugin.Activate"]
    write_json(short_tmp, "t", "https://127.0.0.1:1", {**tls, "Passphrase": "nope"})
    error = await activation_error(short_tmp)
    assert str(error) == (
        "legacy plugin: could not load X509 key pair: private key is encrypted, but could "
        "not decrypt it: x509: decryption password incorrect"
    )


async def _handshake_only(
    context: ssl.SSLContext, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """A TLS server that runs the handshake over memory BIOs and sends what OpenSSL wrote,
    alerts included (as Go's server does before it hangs up), then closes."""

    async def handler(stream: trio.SocketStream) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_side=True)
        async with stream:
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    return
                incoming.write(data)
                try:
                    tls.do_handshake()
                except ssl.SSLWantReadError:
                    await stream.send_all(outgoing.read())
                    continue
                except ssl.SSLError:
                    await stream.send_all(outgoing.read())
                    return
                return

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        task_status.started(f"https://127.0.0.1:{port}")
        await trio.serve_listeners(handler, listeners, handler_nursery=nursery)


async def test_min_version_tls13_against_a_tls12_plugin(
    short_tmp: Path, ca: trustme.CA, files: dict[str, str], autojump_clock: trio.testing.MockClock
) -> None:
    server = server_context(ca, max_version=ssl.TLSVersion.TLSv1_2)
    async with trio.open_nursery() as nursery:
        url = await nursery.start(_handshake_only, server)
        write_json(short_tmp, "t", url, {"CAFile": files["ca"], "MinVersion": 0x0304})
        async with open_engine(root=short_tmp) as engine:
            with pytest.raises(PluginLookupError) as info:
                await engine.plugins.get("t", "VolumeDriver")
        nursery.cancel_scope.cancel()
    assert str(info.value) == (
        f'legacy plugin: Post "{url}/Plugin.Activate": '
        "remote error: tls: protocol version not supported"
    )
    _, error = await activate(short_tmp, server, {"CAFile": files["ca"], "MinVersion": 0x0303})
    assert error is None


async def test_only_go_connections_cipher_suites_are_offered(
    short_tmp: Path, ca: trustme.CA, files: dict[str, str], autojump_clock: trio.testing.MockClock
) -> None:
    server = server_context(ca, max_version=ssl.TLSVersion.TLSv1_2)
    server.set_ciphers("ECDHE-RSA-AES128-SHA256:AES128-GCM-SHA256")  # not in clientCipherSuites
    async with trio.open_nursery() as nursery:
        url = await nursery.start(_handshake_only, server)
        write_json(short_tmp, "t", url, {"CAFile": files["ca"]})
        async with open_engine(root=short_tmp) as engine:
            with pytest.raises(PluginLookupError) as info:
                await engine.plugins.get("t", "VolumeDriver")
        nursery.cancel_scope.cancel()
    assert str(info.value) == (
        f'legacy plugin: Post "{url}/Plugin.Activate": remote error: tls: handshake failure'
    )


async def test_exclusive_root_pool_trusts_the_ca_file(
    short_tmp: Path, ca: trustme.CA, files: dict[str, str]
) -> None:
    _, error = await activate(
        short_tmp, server_context(ca), {"CAFile": files["ca"], "ExclusiveRootPools": True}
    )
    assert error is None
