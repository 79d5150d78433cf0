"""Benchmark: plugin push and install of a 10 MB rootfs against bare blob transfers.

One Debian ``docker-registry`` on loopback serves the whole run.  A plugin whose rootfs
is one 10 MB file of random bytes (incompressible, so its gzip layer is ~10 MB) is
created once.  Each round:

* **push**: ``engine.managed_plugins.push`` to a new repository (HEAD, POST, PUT per
  blob; HEAD, PUT of the manifest; the https attempt dockerd makes first included);
  baseline: a bare ``http.client`` upload of the same layer bytes to another new
  repository (``POST blobs/uploads/`` then one ``PUT …&digest=``);
* **install**: ``pull`` into a fresh data-root (resolve, manifest, config, layer,
  digest check, unpack into the rootfs); baseline: a bare ``GET`` of the layer blob,
  and a second one that also unpacks it (``gzip`` + ``tarfile``) as a floor for the
  work an install cannot avoid.

Rounds alternate the measured and the baseline operations; medians are reported.

Run: ``.venv/bin/python bench/registry_plugin.py [--rounds N] [--size-mb N]``
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import io
import json
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).parent.parent))

from emulator import open_engine
from tests.registry import Registry, run_registry

CONFIG = {
    "description": "benchmark plugin",
    "entrypoint": ["/bin/true"],
    "interface": {"socket": "bench.sock", "types": ["docker.volumedriver/1.0"]},
}


def bare_upload(registry: Registry, repo: str, data: bytes, digest: str) -> float:
    start = time.perf_counter()
    host, port = registry.host.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("POST", f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
    response = conn.getresponse()
    response.read()
    location = response.getheader("Location") or ""
    path = location.split(registry.host, 1)[1]
    conn.request(
        "PUT",
        f"{path}&digest={digest}",
        body=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    done = conn.getresponse()
    done.read()
    conn.close()
    assert done.status == 201, done.status
    return time.perf_counter() - start


def bare_download(
    registry: Registry, repo: str, digest: str, size: int, unpack_into: Path | None = None
) -> float:
    start = time.perf_counter()
    host, port = registry.host.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", f"/v2/{repo}/blobs/{digest}")
    response = conn.getresponse()
    data = response.read()
    conn.close()
    assert len(data) == size
    if unpack_into is not None:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
            tar.extractall(unpack_into, filter="tar")
    return time.perf_counter() - start


async def run(rounds: int, size_mb: int) -> dict[str, object]:
    base = Path(tempfile.mkdtemp(prefix="pe-bench-", dir="/tmp"))
    try:
        source = base / "plugin"
        (source / "rootfs/bin").mkdir(parents=True)
        (source / "rootfs/data.bin").write_bytes(os.urandom(size_mb << 20))
        (source / "config.json").write_text(json.dumps(CONFIG))
        with run_registry(base / "registry") as registry:
            return await _rounds(base, source, registry, rounds)
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def _rounds(base: Path, source: Path, registry: Registry, rounds: int) -> dict[str, object]:
    keys = ("push", "upload", "install", "download", "download_unpack")
    times: dict[str, list[float]] = {k: [] for k in keys}
    async with open_engine(base / "builder") as builder:
        managed = builder.managed_plugins
        template = f"{registry.host}/bench/template:1"
        managed.create(template, source)
        layer = managed.inspect(template).Config.Rootfs
        assert layer is not None
        assert layer.DiffIds
        digest = layer.DiffIds[0]
        data = managed.blobs.path(digest).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
        for index in range(rounds):
            name = f"{registry.host}/bench/plug{index}:1"
            managed.create(name, source)
            start = time.perf_counter()
            await managed.push(name)
            times["push"].append(time.perf_counter() - start)
            times["upload"].append(bare_upload(registry, f"bench/raw{index}", data, digest))

            pushed = managed.inspect(name).Config.Rootfs
            assert pushed is not None
            assert pushed.DiffIds
            async with open_engine(base / f"installer{index}") as installer:
                start = time.perf_counter()
                await installer.managed_plugins.pull(name)
                times["install"].append(time.perf_counter() - start)
            times["download"].append(
                bare_download(registry, f"bench/plug{index}", pushed.DiffIds[0], len(data))
            )
            shutil.rmtree(base / f"installer{index}", ignore_errors=True)
            target = base / f"unpacked{index}"
            times["download_unpack"].append(
                bare_download(registry, f"bench/plug{index}", pushed.DiffIds[0], len(data), target)
            )
            shutil.rmtree(target, ignore_errors=True)
    medians = {k: statistics.median(v) for k, v in times.items()}
    return {
        "layer_bytes": len(data),
        "rounds": rounds,
        "median_seconds": {k: round(v, 4) for k, v in medians.items()},
        "push_vs_upload": round(medians["push"] / medians["upload"], 2),
        "install_vs_download": round(medians["install"] / medians["download"], 2),
        "install_vs_download_unpack": round(medians["install"] / medians["download_unpack"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size-mb", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(trio.run(run, args.rounds, args.size_mb), indent=2))


if __name__ == "__main__":
    main()
