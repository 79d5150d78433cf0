"""Registry authentication and TLS as dockerd's plugin code does them, against docker-registry.

* Basic auth (htpasswd): credentials come only from ``X-Registry-Auth``; without
  them a loopback registry's error is the one of the first (https) attempt.
* Bearer tokens (a token server in the test): anonymous ``GET realm?scope=…&service=…``
  for pulls; with credentials an OAuth form ``POST`` (``client_id=containerd-client``),
  falling back to ``GET`` with Basic; scopes include moby's ``repository(plugin):``.
* TLS: a registry on a non-loopback address (in a network namespace of its own) is
  secure for dockerd: verified against ``certs.d/<host:port>/*.crt`` (trustme CA),
  and never tried over plain HTTP.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trustme

from emulator.engine.core import open_engine
from emulator.engine.managed import ManagedPluginError
from emulator.engine.managed.remote import RemoteOptions
from emulator.protocol.registry_auth import AuthConfig
from tests.netutil import veth_namespace
from tests.registry import REGISTRY, Registry, TokenAuth, run_registry
from tests.test_managed import plugin_dir
from tests.token_server import ISSUER, SERVICE, TokenServer

pytestmark = pytest.mark.skipif(REGISTRY is None, reason="docker-registry is not installed")


@pytest.fixture
def basic_registry(short_tmp: Path) -> Iterator[Registry]:
    with run_registry(short_tmp / "registry", htpasswd=True) as running:
        yield running


async def test_basic_auth_uses_x_registry_auth_credentials(
    short_tmp: Path, basic_registry: Registry
) -> None:
    registry = basic_registry
    assert registry.password  # provisioned by the registry, read from its log
    name = f"{registry.host}/test/plug:1.0"
    login = RemoteOptions(auth=AuthConfig("docker", registry.password))
    async with open_engine(short_tmp / "a") as engine:
        managed = engine.managed_plugins
        managed.create(name, plugin_dir(short_tmp))
        with pytest.raises(ManagedPluginError) as info:
            await managed.push(name)
        # dockerd keeps the https attempt's error for a loopback registry.
        assert str(info.value).startswith(
            'error pushing plugin: failed to do request: Head "https://'
            f"{registry.host}/v2/test/plug/blobs/sha256:"
        )
        assert str(info.value).endswith(": http: server gave HTTP response to HTTPS client")
        registry.mark()
        assert all(r.endswith(" 401") for r in registry.access_log() if "/test/plug/" in r)

        await managed.push(name, options=login)
        assert registry.tags("test/plug") == ["1.0"]
        await managed.remove(name)

        assert await managed.remote_privileges(name) == []  # the 401 is swallowed
        with pytest.raises(ManagedPluginError) as info:
            await managed.pull(name)
        assert str(info.value) == (
            "error resolving plugin reference: failed to do request: "
            f'Head "https://{registry.host}/v2/test/plug/manifests/1.0": '
            "http: server gave HTTP response to HTTPS client"
        )
        assert await managed.pull(name, options=login) == name
    registry.mark()
    authorized = [line for line in registry.log if 'msg="authorized request"' in line]
    assert any(
        "method=PUT" in line and "/v2/test/plug/manifests/1.0" in line for line in authorized
    )


async def test_bearer_tokens_anonymous_and_with_credentials(short_tmp: Path) -> None:
    server = TokenServer(short_tmp / "token")
    async with trio.open_nursery() as nursery:
        realm = await nursery.start(server.serve)
        token = TokenAuth(realm, SERVICE, ISSUER, server.bundle)
        with run_registry(short_tmp / "registry", token=token) as registry:
            name = f"{registry.host}/test/plug:1.0"
            login = RemoteOptions(auth=AuthConfig("alice", "secret"))
            async with open_engine(short_tmp / "a") as engine:
                engine.managed_plugins.create(name, plugin_dir(short_tmp))
                await engine.managed_plugins.push(name, options=login)
            pushed = list(server.requests)
            async with open_engine(short_tmp / "b") as engine:
                assert await engine.managed_plugins.pull(name) == name
            pulled = server.requests[len(pushed) :]
        nursery.cancel_scope.cancel()

    # The scopes asked for, plus the one in the registry's first challenge (for the HEAD).
    scopes = (
        "repository(plugin):test/plug:pull,push repository:test/plug:pull "
        "repository:test/plug:pull,push"
    )
    assert [(r.method, dict(r.form)) for r in pushed] == [
        (
            "POST",
            {
                "client_id": "containerd-client",
                "grant_type": "password",
                "password": "secret",
                "scope": scopes,
                "service": SERVICE,
                "username": "alice",
            },
        )
    ]  # one token for the whole push: cached per set of scopes
    assert [(r.method, r.query, r.authorization) for r in pulled] == [
        (
            "GET",
            [
                ("scope", "repository(plugin):test/plug:pull"),
                ("scope", "repository:test/plug:pull"),
                ("service", SERVICE),
            ],
            "",
        )
    ]


async def test_bearer_oauth_refused_falls_back_to_get_with_basic(short_tmp: Path) -> None:
    server = TokenServer(short_tmp / "token", refuse_oauth=True)
    async with trio.open_nursery() as nursery:
        realm = await nursery.start(server.serve)
        token = TokenAuth(realm, SERVICE, ISSUER, server.bundle)
        with run_registry(short_tmp / "registry", token=token) as registry:
            name = f"{registry.host}/test/plug:1.0"
            async with open_engine(short_tmp / "a") as engine:
                engine.managed_plugins.create(name, plugin_dir(short_tmp))
                options = RemoteOptions(auth=AuthConfig("alice", "secret"))
                await engine.managed_plugins.push(name, options=options)
        nursery.cancel_scope.cancel()
    basic = "Basic " + base64.b64encode(b"alice:secret").decode()
    assert [(r.method, r.authorization) for r in server.requests] == [
        ("POST", ""),
        ("GET", basic),
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace")
async def test_tls_registry_is_verified_with_certs_d(short_tmp: Path) -> None:
    """A registry that is not on loopback: HTTPS only, verified, and its auth errors shown."""
    ca = trustme.CA()
    with veth_namespace("i19reg") as (netns, address):
        server = ca.issue_cert(address)
        cert, key = short_tmp / "registry.crt", short_tmp / "registry.key"
        server.cert_chain_pems[0].write_to_path(str(cert))
        server.private_key_pem.write_to_path(str(key))
        ca_file = short_tmp / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        with run_registry(
            short_tmp / "registry",
            tls=(cert, key),
            ca=ca_file,
            netns=(netns, address),
            htpasswd=True,
        ) as registry:
            name = f"{registry.host}/test/plug:1.0"
            login = RemoteOptions(auth=AuthConfig("docker", registry.password))
            async with open_engine(short_tmp / "root") as engine:
                managed = engine.managed_plugins
                managed.create(name, plugin_dir(short_tmp))
                with pytest.raises(ManagedPluginError) as info:
                    await managed.push(name, options=login)
                text = str(info.value)
                assert text.startswith(
                    "error pushing plugin: failed to do request: "
                    f'Head "https://{registry.host}/v2/test/plug/blobs/sha256:'
                )
                assert text.endswith(
                    '": tls: failed to verify certificate: '
                    "x509: certificate signed by unknown authority"
                )
                certs = short_tmp / "root/etc/docker/certs.d" / registry.host
                certs.mkdir(parents=True)
                ca.cert_pem.write_to_path(str(certs / "ca.crt"))

                with pytest.raises(ManagedPluginError) as info:
                    await managed.push(name)  # no credentials: dockerd's words
                assert str(info.value) == (
                    "error pushing plugin: push access denied, repository does not exist "
                    "or may require authorization: authorization failed: no basic auth "
                    "credentials"
                )
                await managed.push(name, options=login)
                await managed.remove(name)
                with pytest.raises(ManagedPluginError) as info:
                    await managed.pull(name)
                assert str(info.value) == (
                    "error resolving plugin reference: pull access denied, repository does "
                    "not exist or may require authorization: authorization failed: no basic "
                    "auth credentials"
                )
                assert info.value.http_status == 500
                assert await managed.pull(name, options=login) == name
            assert registry.tags("test/plug") == ["1.0"]
