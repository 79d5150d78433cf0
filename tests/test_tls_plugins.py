"""``https`` plugins with the TLS rules of dockerd's plugin client (go-connections tlsconfig)."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
import trio
import trustme

from emulator import open_engine
from emulator.errors import PluginLookupError
from tests.rawplugin import RawPlugin


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def write(root: Path, name: str, content: str) -> None:
    path = root / "etc/docker/plugins" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


async def serve_https(nursery: trio.Nursery, ca: trustme.CA) -> tuple[RawPlugin, str]:
    plugin = RawPlugin(tls=server_context(ca))
    address: str = await nursery.start(plugin.serve, ("127.0.0.1", 0))
    return plugin, "https://" + address.removeprefix("tcp://")


async def test_spec_https_plugin_is_not_verified(short_tmp: Path, ca: trustme.CA) -> None:
    async with trio.open_nursery() as nursery:
        plugin, url = await serve_https(nursery, ca)
        write(short_tmp, "s.spec", url)
        async with open_engine(root=short_tmp) as engine:
            await engine.plugins.get("s", "VolumeDriver")
        nursery.cancel_scope.cancel()
    assert plugin.paths() == ["/Plugin.Activate"]


async def test_json_with_ca_file_verifies_the_plugin(short_tmp: Path, ca: trustme.CA) -> None:
    ca_file = short_tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    async with trio.open_nursery() as nursery:
        _, url = await serve_https(nursery, ca)
        write(short_tmp, "v.json", json.dumps({"Addr": url, "TLSConfig": {"CAFile": str(ca_file)}}))
        async with open_engine(root=short_tmp) as engine:
            plugin = await engine.plugins.get("v", "VolumeDriver")
        nursery.cancel_scope.cancel()
    assert plugin.spec.tls is not None
    assert not plugin.spec.tls.insecure_skip_verify


async def test_json_without_tls_config_verifies_with_system_roots(
    short_tmp: Path, ca: trustme.CA, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        _, url = await serve_https(nursery, ca)
        write(short_tmp, "strict.json", json.dumps({"Addr": url}))
        async with open_engine(root=short_tmp) as engine:
            with pytest.raises(PluginLookupError) as info:
                await engine.plugins.get("strict", "VolumeDriver")
        nursery.cancel_scope.cancel()
    # An unknown CA is a TLS error on every attempt: retried like any transport error.
    assert str(info.value) == (
        f'legacy plugin: Post "{url}/Plugin.Activate": '
        "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    )


async def test_missing_ca_file_is_reported_at_activation(short_tmp: Path) -> None:
    write(
        short_tmp,
        "m.json",
        json.dumps({"Addr": "https://127.0.0.1:1", "TLSConfig": {"CAFile": "/nonexistent/ca.pem"}}),
    )
    async with open_engine(root=short_tmp) as engine:
        with pytest.raises(PluginLookupError) as info:
            await engine.plugins.get("m", "VolumeDriver")
    assert str(info.value) == (
        'legacy plugin: could not read CA certificate "/nonexistent/ca.pem": '
        "open /nonexistent/ca.pem: no such file or directory"
    )
    assert "fix TLSConfig" in info.value.hint
