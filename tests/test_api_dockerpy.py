"""docker-py (the ``docker`` package) against ``plugin-emulator``'s Engine API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.engine_api import Served, served

docker = pytest.importorskip("docker")


async def _call(s: Served, work: Callable[[Any], Any]) -> Any:
    """Run ``work(client)`` in a thread (docker-py is synchronous) with a fresh client."""

    def run() -> Any:
        client = docker.DockerClient(base_url=s.host, version="auto", timeout=30)
        try:
            return work(client)
        finally:
            client.close()

    return await trio.to_thread.run_sync(run)


async def test_ping_version_negotiated(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        ping, version, api_version = await _call(
            s, lambda c: (c.ping(), c.version(), c.api.api_version)
        )
        assert ping is True
        assert version["ApiVersion"] == "1.51"
        assert api_version == "1.51"


async def test_volumes(short_tmp: Path) -> None:
    async with served(short_tmp) as s:

        def work(c: Any) -> Any:
            v = c.volumes.create("pyvol", driver="mv", labels={"a": "b"})
            names = [x.name for x in c.volumes.list(filters={"label": "a=b"})]
            got = c.volumes.get("pyvol").attrs
            try:
                c.volumes.get("missing")
            except docker.errors.NotFound as exc:
                missing = (exc.response.status_code, exc.explanation)
            v.remove()
            pruned = c.volumes.prune()
            return names, got, missing, pruned

        names, got, missing, pruned = await _call(s, work)
        assert names == ["pyvol"]
        assert (got["Driver"], got["Labels"], got["Scope"]) == ("mv", {"a": "b"}, "local")
        assert missing == (404, "get missing: no such volume")
        assert pruned == {"VolumesDeleted": None, "SpaceReclaimed": 0}


async def test_containers_run_and_lifecycle(short_tmp: Path) -> None:
    async with served(short_tmp) as s:

        def work(c: Any) -> Any:
            out = c.containers.run("busybox", "true", volumes=["pydata:/data"], remove=True)
            try:
                c.containers.run("busybox", ["sh", "-c", "exit 3"], remove=True)
            except docker.errors.ContainerError as exc:
                failed = exc.exit_status
            box = c.containers.run("busybox", "top", detach=True, volumes=["pydata:/data"])
            running = c.containers.get(box.id).status
            listed = [x.id for x in c.containers.list()]
            box.stop()
            box.reload()
            stopped = box.status
            box.remove()
            return out, failed, running, listed == [box.id], stopped, c.containers.list(all=True)

        out, failed, running, listed, stopped, left = await _call(s, work)
        assert out == b""
        assert failed == 3
        assert (running, listed, stopped, left) == ("running", True, "exited", [])
        assert s.engine.journal.calls("VolumeDriver.Mount") == []  # a local volume


async def test_plugins_empty(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        plugins = await _call(s, lambda c: c.plugins.list())
        assert plugins == []
