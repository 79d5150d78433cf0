"""containerd's resolver and fetcher against a scripted registry: retries, redirects, fallbacks.

The real registry never answers 405, 503 or redirects, so these rules of
``c8d:remotes/docker/resolver.go`` (``retryRequest``, the GET fallback of
``Resolve``) and of Go's HTTP client (redirects, re-authorized per host) are
checked against a small h11 server whose answers each test scripts.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from emulator.engine.managed.blobstore import BlobStore
from emulator.engine.managed.registry_session import RegistryError, RegistrySession
from emulator.protocol import distribution as dist
from emulator.protocol import registry_auth as ra
from emulator.protocol import registry_hosts as rh
from emulator.protocol.reference import parse_normalized_named
from tests.fake_registry import Answer, FakeRegistry

MANIFEST = b'{"schemaVersion":2}'
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def session(port: int) -> RegistrySession:
    ref = parse_normalized_named(f"127.0.0.1:{port}/test/plug:1.0")
    return RegistrySession(
        ref,
        [rh.Endpoint("http", f"127.0.0.1:{port}", verify=False)],
        auth=ra.AuthConfig(),
        headers=[("User-Agent", "docker/28.5.2")],
        tls_context=lambda endpoint: ssl.create_default_context(),
    )


async def with_registry(
    script: Callable[[str, str], Answer], body: Callable[[int], Awaitable[None]]
) -> FakeRegistry:
    registry = FakeRegistry(script)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(registry.serve)
        try:
            await body(port)
        finally:
            nursery.cancel_scope.cancel()
    return registry


async def test_head_405_is_resent_as_get_and_digest_taken_from_the_body() -> None:
    def script(method: str, path: str) -> Answer:
        if method == "HEAD":
            return Answer(405)
        return Answer(200, {"Content-Type": dist.MANIFEST_MEDIA_TYPE}, MANIFEST)

    async def body(port: int) -> None:
        s = session(port)
        try:
            desc = await s.resolve("1.0")
        finally:
            await s.aclose()
        assert desc == dist.Descriptor(dist.MANIFEST_MEDIA_TYPE, DIGEST, len(MANIFEST))

    registry = await with_registry(script, body)
    # The 405 makes the HEAD a GET; that answer has no digest header either, so
    # Resolve sends its own GET as well (as containerd does).
    assert registry.seen == [
        ("HEAD", "/v2/test/plug/manifests/1.0"),
        ("GET", "/v2/test/plug/manifests/1.0"),
        ("GET", "/v2/test/plug/manifests/1.0"),
    ]


async def test_head_without_digest_header_falls_back_to_get() -> None:
    def script(method: str, path: str) -> Answer:
        return Answer(200, {"Content-Type": dist.MANIFEST_MEDIA_TYPE}, MANIFEST)

    async def body(port: int) -> None:
        s = session(port)
        try:
            assert (await s.resolve("1.0")).Digest == DIGEST
        finally:
            await s.aclose()

    registry = await with_registry(script, body)
    assert [m for m, _ in registry.seen] == ["HEAD", "GET"]


async def test_503_is_retried_once_on_the_last_host() -> None:
    def script(method: str, path: str) -> Answer:
        return Answer(
            503, {}, b'{"errors":[{"code":"UNAVAILABLE","message":"service unavailable"}]}'
        )

    async def body(port: int) -> None:
        s = session(port)
        try:
            with pytest.raises(RegistryError) as info:
                await s.resolve("1.0")
        finally:
            await s.aclose()
        assert str(info.value) == (
            f"unexpected status from HEAD request to http://127.0.0.1:{port}"
            "/v2/test/plug/manifests/1.0: 503 Service Unavailable"
        )

    registry = await with_registry(script, body)
    assert len(registry.seen) == 2  # the same status twice: no third try


async def test_blob_redirect_is_followed_and_checked(tmp_path: Path) -> None:
    data = b"layer bytes"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()

    def script(method: str, path: str) -> Answer:
        if path.startswith("/v2/"):
            return Answer(307, {"Location": "/storage/blob?sig=1"})
        return Answer(200, {}, data)

    async def body(port: int) -> None:
        s = session(port)
        store = BlobStore(tmp_path)
        try:
            desc = dist.Descriptor(dist.LAYER_GZIP_MEDIA_TYPE, digest, len(data))
            await s.fetch(desc, store)
            assert store.read(digest) == data
            wrong = dist.Descriptor(dist.LAYER_GZIP_MEDIA_TYPE, "sha256:" + "0" * 64, len(data))
            with pytest.raises(RegistryError, match="unexpected commit digest"):
                await s.fetch(wrong, store)
        finally:
            await s.aclose()

    registry = await with_registry(script, body)
    assert registry.seen[:2] == [
        ("GET", f"/v2/test/plug/blobs/{digest}"),
        ("GET", "/storage/blob?sig=1"),
    ]
    assert registry.headers[0]["accept"] == f"{dist.LAYER_GZIP_MEDIA_TYPE}, */*"
    assert registry.headers[0]["accept-encoding"] == dist.ACCEPT_ENCODING


async def test_missing_blob_is_containerds_not_found(tmp_path: Path) -> None:
    def script(method: str, path: str) -> Answer:
        return Answer(404, {}, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}')

    async def body(port: int) -> None:
        s = session(port)
        digest = "sha256:" + "1" * 64
        try:
            with pytest.raises(RegistryError) as info:
                await s.fetch(
                    dist.Descriptor(dist.CONFIG_MEDIA_TYPE, digest, 10), BlobStore(tmp_path)
                )
        finally:
            await s.aclose()
        assert str(info.value) == (
            f"could not fetch content descriptor {digest} "
            "(application/vnd.docker.plugin.v1+json) from remote: not found"
        )
        assert info.value.not_found

    await with_registry(script, body)


async def test_requests_carry_dockerds_user_agent_and_the_meta_headers(tmp_path: Path) -> None:
    """``X-Meta-*`` headers of the API request are forwarded; ``User-Agent`` names the client."""
    from emulator.engine.managed.remote import RegistryAccess, RemoteOptions, user_agent

    def script(method: str, path: str) -> Answer:
        return Answer(404)

    async def body(port: int) -> None:
        access = RegistryAccess(
            rh.RegistryConfig.load(),
            tmp_path / "certs.d",
            BlobStore(tmp_path / "storage"),
            lambda client: user_agent("28.5.2", "go1.24.9", "89c5e8f", client),
        )
        options = RemoteOptions(
            meta_headers=(("X-Meta-Build", "42"),), client_agent="Docker-Client/28.5.2 (linux)"
        )
        ref = parse_normalized_named(f"127.0.0.1:{port}/test/plug:1.0")
        assert await access.privileges(ref, options) == []  # 404: swallowed

    registry = await with_registry(script, body)
    first, legacy = registry.headers  # the https attempts never reach a plain server
    assert first["x-meta-build"] == "42"
    assert first["user-agent"].startswith("docker/28.5.2 go/go1.24.9 git-commit/89c5e8f ")
    assert first["user-agent"].endswith(" UpstreamClient(Docker-Client/28.5.2 \\(linux\\))")
    assert first["accept"] == dist.RESOLVE_ACCEPT
    # moby's retry for old registries: four Accept lines, and no meta headers.
    assert "x-meta-build" not in legacy
    accepts = [v for k, v in registry.raw_headers[1] if k == "accept"]
    assert accepts == list(dist.LEGACY_RESOLVE_ACCEPT)
