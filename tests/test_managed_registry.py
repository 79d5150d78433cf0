"""Managed plugins and a real registry (Debian's docker-registry 2.8.2), through the engine.

Every test starts its own registry on a free loopback port (``tests/registry.py``)
and checks the registry's own view: its access log (the request sequence dockerd
sends), ``/v2/_catalog``, tags and the stored manifest's bytes.  Texts are moby
v28.5.2's (``plugin/backend_linux.go``, ``plugin/fetch_linux.go``) and containerd's.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.engine.core import open_engine
from emulator.engine.managed import ManagedPluginError
from emulator.protocol import jsonmessage as jm
from emulator.protocol import plugin_config as pc
from emulator.protocol.registry_hosts import RegistryConfig
from tests.registry import REGISTRY, Registry, free_port, run_registry
from tests.test_managed import CONFIG, plugin_dir

pytestmark = pytest.mark.skipif(REGISTRY is None, reason="docker-registry is not installed")

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture
def registry(short_tmp: Path) -> Iterator[Registry]:
    with run_registry(short_tmp / "registry") as running:
        yield running


def lines(events: list[jm.Progress]) -> list[str]:
    """The progress events as dockerd's stream lines (without ``\\r\\n``)."""
    return [jm.format_progress(e).decode().rstrip("\r\n") for e in events]


def statuses(events: list[jm.Progress]) -> list[str]:
    """``ID: status`` or ``status``, as the CLI shows them on a non-terminal (counts dropped)."""
    out = []
    for event in events:
        text = event.message or event.action
        if event.aux is not None or (event.current and event.total):
            continue
        out.append(f"{event.id}: {text}" if event.id else text)
    return out


def config_with(**changes: Any) -> dict[str, Any]:
    return {**CONFIG, **changes}


async def test_push_sends_dockerds_requests_and_objects(
    short_tmp: Path, registry: Registry
) -> None:
    name = f"{registry.host}/test/plug:1.0"
    events: list[jm.Progress] = []
    async with open_engine(short_tmp / "a") as engine:
        managed = engine.managed_plugins
        managed.create(name, plugin_dir(short_tmp))
        created = managed.inspect(name)
        manifest = await managed.push(name, out=events.append)

        headers, stored = registry.manifest("test/plug", "1.0")
        assert headers["docker-content-digest"] == manifest.Digest
        assert len(stored) == manifest.Size == int(headers["content-length"])
        assert stored == managed.blobs.read(manifest.Digest)  # dockerd's bytes, as pushed
        assert headers["content-type"] == MANIFEST_V2
        body = json.loads(stored)
        assert list(body) == ["schemaVersion", "config", "layers", "mediaType"]
        assert body["mediaType"] == MANIFEST_V2
        assert body["config"]["mediaType"] == "application/vnd.docker.plugin.v1+json"
        [layer] = body["layers"]
        assert layer["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
        # diff_ids hold the *compressed* layer digest, as dockerd's create writes them.
        assert created.Config.Rootfs == pc.PluginConfigRootfs(
            DiffIds=[layer["digest"]], Type="layers"
        )
        config_blob = registry.blob("test/plug", body["config"]["digest"])
        assert "sha256:" + hashlib.sha256(config_blob).hexdigest() == body["config"]["digest"]
        assert config_blob.endswith(b"}\n")  # json.Encoder's newline
        assert json.loads(config_blob)["Description"] == CONFIG["description"]
        layer_blob = registry.blob("test/plug", layer["digest"])
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer_blob))) as tar:
            assert "bin/mockvol" in tar.getnames()
        assert registry.catalog() == ["test/plug"]
        assert registry.tags("test/plug") == ["1.0"]

        registry.mark()
        requests = [r for r in registry.access_log() if "/v2/test/plug/" in r]
        blob_steps = [r.split(" ")[0] + " " + r.split(" ")[-1] for r in requests[:6]]
        assert sorted(blob_steps) == ["HEAD 404"] * 2 + ["POST 202"] * 2 + ["PUT 201"] * 2
        assert all("&digest=sha256%3A" in r for r in requests[:6] if r.startswith("PUT"))
        assert requests[6:8] == [
            "HEAD /v2/test/plug/manifests/1.0 404",
            "PUT /v2/test/plug/manifests/1.0 201",
        ]

        shown = [s for s in statuses(events) if not s.endswith(": Waiting")]  # the 100 ms ticker
        assert shown[0] == f"The push refers to repository [{registry.host}/test/plug]"
        jobs = list(dict.fromkeys(e.id for e in events if e.action == "Preparing"))
        short = [manifest.Digest, body["config"]["digest"], layer["digest"]]
        assert jobs == [d[7:19] for d in short]
        # A loopback registry is tried over https first (it fails), then over http.
        assert shown[1:7] == [f"{i}: Preparing" for i in jobs] * 2
        assert shown[-3:] == [f"{i}: Upload complete" for i in jobs]
        aux = {"Tag": "1.0", "Digest": manifest.Digest, "Size": manifest.Size}
        compact = json.dumps(aux, separators=(",", ":"))
        assert lines(events)[-1] == '{"progressDetail":{},"aux":' + compact + "}"

        before = registry.mark()
        again = await managed.push(name)
        assert again == manifest  # the same digest every time
        second = registry.access_log()[before : registry.mark()]
        assert [r.split(" ")[0] for r in second] == ["HEAD", "HEAD", "HEAD"]  # nothing uploaded
        assert all(r.endswith(" 200") for r in second)


async def test_a_pushed_plugin_installs_on_another_engine(
    short_tmp: Path, registry: Registry
) -> None:
    name = f"{registry.host}/test/plug:1.0"
    async with open_engine(short_tmp / "a") as first:
        first.managed_plugins.create(name, plugin_dir(short_tmp))
        manifest = await first.managed_plugins.push(name)
    before = registry.mark()
    events: list[jm.Progress] = []
    async with open_engine(short_tmp / "b") as second:
        managed = second.managed_plugins
        assert await managed.remote_privileges(name) == pc.compute_privileges(
            pc.parse_config(json.dumps(CONFIG).encode())
        )
        installed = await managed.pull(name, out=events.append)
        assert installed == name
        plugin = managed.inspect(name)
        assert (plugin.Name, plugin.PluginReference, plugin.Enabled) == (name, name, False)
        assert plugin.Settings.Env == ["DEBUG=0", "CRASH=0"]
        assert len(plugin.ID) == 64
        rootfs = short_tmp / f"b/var/lib/docker/plugins/{plugin.ID}/rootfs"
        assert os.access(rootfs / "bin/mockvol", os.X_OK)
        assert not list((short_tmp / "b/var/lib/docker/plugins/tmp").iterdir())
        diff_ids = plugin.Config.Rootfs.DiffIds if plugin.Config.Rootfs else [""]
        assert diff_ids is not None
        layer = diff_ids[0]
        short = layer[7:19]
        assert statuses(events) == [
            f"1.0: Pulling from {registry.host}/test/plug",
            f"Digest: {manifest.Digest}",
            f"{short}: Waiting",
            f"{short}: Download complete",
            f"{short}: Complete",
        ]
        assert [e.action for e in events if e.action == "Extracting"][-1:] == ["Extracting"]
        pulled = [e for e in second.events.of("plugin") if e.action == "pull"]
        assert [dict(e.attributes) for e in pulled] == [{"id": name, "name": name}]

        await managed.enable(name, timeout=30)
        volume = await second.volumes.create("v", driver=name)
        assert volume.Driver == name
        await second.volumes.remove("v")
        await managed.disable(name)

    registry.mark()
    fetched = [r for r in registry.access_log()[before:] if "/v2/test/plug/" in r]
    # Privileges: resolve, manifest, config.  Pull: resolve and the layer only.
    assert [r.split("/v2/test/plug/")[1].split("/")[0] for r in fetched] == [
        "manifests", "manifests", "blobs", "manifests", "blobs"
    ]  # fmt: skip
    assert fetched[0].startswith("HEAD /v2/test/plug/manifests/1.0 ")
    assert fetched[1] == f"GET /v2/test/plug/manifests/{manifest.Digest} 200"


async def test_privileges_null_empty_and_errors(short_tmp: Path, registry: Registry) -> None:
    async with open_engine(short_tmp / "a") as engine:
        managed = engine.managed_plugins
        plain = config_with(network={"type": ""}, mounts=[], linux={}, env=[])
        managed.create(f"{registry.host}/test/plain", plugin_dir(short_tmp, plain))
        await managed.push(f"{registry.host}/test/plain")
        assert await managed.remote_privileges(f"{registry.host}/test/plain") is None  # null
        assert await managed.remote_privileges(f"{registry.host}/test/plain:9.9") == []
        assert await managed.remote_privileges(f"127.0.0.1:{free_port()}/test/plain") == []


async def test_pull_refusals(short_tmp: Path, registry: Registry) -> None:
    name = f"{registry.host}/test/plug:1.0"
    async with open_engine(short_tmp / "a") as engine:
        managed = engine.managed_plugins
        managed.create(name, plugin_dir(short_tmp))
        await managed.push(name)

        before = registry.mark()
        with pytest.raises(ManagedPluginError) as info:
            await managed.pull(name)
        assert (str(info.value), info.value.http_status) == (f"plugin {name} already exists", 400)
        assert registry.mark() == before  # refused before any registry request

        missing = f"{registry.host}/test/plug:9.9"
        with pytest.raises(ManagedPluginError) as info:
            await managed.pull(missing)
        assert str(info.value) == f"error resolving plugin reference: {missing}: not found"
        assert info.value.http_status == 404
        # containerd's resolve, then moby's retry with four separate Accept lines.
        registry.mark()
        assert registry.access_log()[before:] == ["HEAD /v2/test/plug/manifests/9.9 404"] * 2

        with pytest.raises(ManagedPluginError) as info:
            await managed.pull(name, "other", privileges=[])
        assert str(info.value) == "incorrect privileges"
        assert managed.list() == [managed.inspect(name)]
        assert not list((short_tmp / "a/var/lib/docker/plugins/tmp").iterdir())

        with pytest.raises(ManagedPluginError) as info:
            await managed.pull(name, f"x@sha256:{'0' * 64}")
        assert str(info.value) == "cannot use digest in plugin tag"

        down = f"127.0.0.1:{free_port()}"
        with pytest.raises(ManagedPluginError) as info:
            await managed.pull(f"{down}/test/plug:1.0")
        assert str(info.value) == (
            "error resolving plugin reference: failed to do request: "
            f'Head "https://{down}/v2/test/plug/manifests/1.0": '
            f"dial tcp {down}: connect: connection refused"
        )
        assert info.value.http_status == 500


async def test_alias_digest_reference_and_garbage_collection(
    short_tmp: Path, registry: Registry
) -> None:
    name = f"{registry.host}/test/plug:1.0"
    async with open_engine(short_tmp / "a") as first:
        first.managed_plugins.create(name, plugin_dir(short_tmp))
        manifest = await first.managed_plugins.push(name)
    async with open_engine(short_tmp / "b") as engine:
        managed = engine.managed_plugins
        assert await managed.pull(name, "myplug") == "myplug:latest"
        assert managed.inspect("myplug").PluginReference == name
        pinned = f"{registry.host}/test/plug:1.0@{manifest.Digest}"
        before = registry.mark()
        assert await managed.pull(pinned, "pinned:2") == "pinned:2"
        assert managed.inspect("pinned:2").PluginReference == (
            f"{registry.host}/test/plug@{manifest.Digest}"
        )
        registry.mark()
        assert registry.access_log()[before] == (
            f"HEAD /v2/test/plug/manifests/{manifest.Digest} 200"
        )
        assert set(managed.blobs.digests())  # the store holds what was fetched
        await managed.remove("myplug")
        await managed.remove("pinned:2")
        assert list(managed.blobs.digests()) == []  # GC after remove, as dockerd


async def test_a_tampered_blob_is_refused(short_tmp: Path, registry: Registry) -> None:
    name = f"{registry.host}/test/plug:1.0"
    async with open_engine(short_tmp / "a") as first:
        first.managed_plugins.create(name, plugin_dir(short_tmp))
        await first.managed_plugins.push(name)
        layer = first.managed_plugins.inspect(name).Config.Rootfs
        assert layer is not None
        assert layer.DiffIds
        digest = layer.DiffIds[0]
    data = next((registry.root / "data").rglob(f"blobs/sha256/*/{digest[7:]}/data"))
    original = data.read_bytes()
    data.write_bytes(bytes(b ^ 0xFF for b in original))  # same size, other bytes
    async with open_engine(short_tmp / "b") as engine:
        with pytest.raises(ManagedPluginError) as info:
            await engine.managed_plugins.pull(name)
        actual = "sha256:" + hashlib.sha256(data.read_bytes()).hexdigest()
        assert str(info.value) == (
            f'failed commit on ref "layer-{digest}": unexpected commit digest {actual}, '
            f"expected {digest}: failed precondition"
        )
        assert engine.managed_plugins.list() == []
        assert not engine.managed_plugins.blobs.exists(digest)


async def test_upgrade_keeps_id_name_and_settings(short_tmp: Path, registry: Registry) -> None:
    repo = f"{registry.host}/test/plug"
    async with open_engine(short_tmp / "a") as first:
        first.managed_plugins.create(f"{repo}:1.0", plugin_dir(short_tmp / "v1"))
        first.managed_plugins.create(
            f"{repo}:2.0", plugin_dir(short_tmp / "v2", config_with(description="v2"))
        )
        await first.managed_plugins.push(f"{repo}:1.0")
        await first.managed_plugins.push(f"{repo}:2.0")
    async with open_engine(short_tmp / "b") as engine:
        managed = engine.managed_plugins
        await managed.pull(f"{repo}:1.0")
        managed.set(f"{repo}:1.0", ["DEBUG=1"])
        before = managed.inspect(f"{repo}:1.0")
        await managed.enable(f"{repo}:1.0", timeout=30)
        with pytest.raises(ManagedPluginError) as info:
            await managed.upgrade(f"{repo}:1.0", f"{repo}:2.0")
        assert info.value.http_status == 409
        assert str(info.value) == (
            f"plugin must be disabled before upgrading: plugin {repo}:1.0 is enabled"
        )
        await managed.disable(f"{repo}:1.0")
        with pytest.raises(ManagedPluginError, match=r"^incorrect privileges$"):
            await managed.upgrade(f"{repo}:1.0", f"{repo}:2.0", privileges=[])
        assert managed.inspect(f"{repo}:1.0").Config.Description == CONFIG["description"]

        events: list[jm.Progress] = []
        await managed.upgrade(f"{repo}:1.0", f"{repo}:2.0", out=events.append)
        after = managed.inspect(f"{repo}:1.0")
        assert (after.ID, after.Name, after.Enabled) == (before.ID, before.Name, False)
        assert after.Settings.Env == ["DEBUG=1", "CRASH=0"]
        assert after.Config.Description == "v2"
        assert after.PluginReference == f"{repo}:2.0"
        assert statuses(events)[0] == f"2.0: Pulling from {repo}"
        data_dir = short_tmp / f"b/var/lib/docker/plugins/{after.ID}"
        assert not (data_dir / "rootfs-old").exists()
        assert (data_dir / "rootfs/bin/mockvol").exists()
        # dockerd saves before it sets the new reference: on disk it is still the old one.
        saved = json.loads((data_dir / "config.json").read_text())
        assert saved["plugin"]["PluginReference"] == f"{repo}:1.0"
        assert saved["plugin"]["Config"]["Description"] == "v2"
        await managed.enable(f"{repo}:1.0", timeout=30)
        await managed.disable(f"{repo}:1.0")


async def test_a_registry_mirror_serves_docker_hub_names(
    short_tmp: Path, registry: Registry
) -> None:

    async with open_engine(short_tmp / "a") as first:
        first.managed_plugins.create(f"{registry.host}/vieux/sshfs", plugin_dir(short_tmp))
        await first.managed_plugins.push(f"{registry.host}/vieux/sshfs")
    mirrors = RegistryConfig.load(mirrors=[f"http://{registry.host}"])
    async with open_engine(short_tmp / "b", registries=mirrors) as engine:
        before = registry.mark()
        assert await engine.managed_plugins.pull("vieux/sshfs") == "vieux/sshfs:latest"
        plugin = engine.managed_plugins.inspect("vieux/sshfs")
        assert plugin.PluginReference == "docker.io/vieux/sshfs:latest"
        # containerd marks requests to a mirror with the namespace they stand for.
        registry.mark()
        assert registry.access_log()[before] == (
            "HEAD /v2/vieux/sshfs/manifests/latest?ns=docker.io 200"
        )
