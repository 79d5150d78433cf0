"""``docker cp`` mounts a running container's volumes and always gives them back.

moby/moby ``daemon/containerfs_linux.go`` (v28.5.2) ``openContainerFS``: once
``setupMounts`` succeeded, any later error unmounts the volumes.  A Mountpoint that does
not exist on the daemon's host (a plugin in a private mount namespace) is such an error;
the archive API answers it as a missing file.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from emulator.mocks.host import MockPlugin, RecordedRequest, Reply
from tests.engine_api import DOCKER, served

pytestmark = pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")


class ElsewherePlugin:
    """A strict volume plugin whose Mountpoints live in another mount namespace.

    Mount answers a path that does not exist here; mounts are counted per ID and a
    volume still mounted refuses ``Remove``, as real plugins do.
    """

    def __init__(self) -> None:
        self.volumes: set[str] = set()
        self.mounts: Counter[tuple[str, str]] = Counter()
        self.plugin = MockPlugin(
            ("VolumeDriver",),
            {
                "VolumeDriver.Capabilities": {"Capabilities": {"Scope": "local"}},
                "VolumeDriver.Create": self._create,
                "VolumeDriver.Get": self._get,
                "VolumeDriver.List": lambda _r: {"Volumes": [{"Name": n} for n in self.volumes]},
                "VolumeDriver.Mount": self._mount,
                "VolumeDriver.Unmount": self._unmount,
                "VolumeDriver.Remove": self._remove,
                "VolumeDriver.Path": lambda r: {"Mountpoint": self._where(r.json()["Name"])},
            },
            name="elsewhere",
        )

    @staticmethod
    def _where(name: str) -> str:
        return f"/nonexistent-mount-namespace/{name}"

    def _create(self, request: RecordedRequest) -> dict[str, Any]:
        self.volumes.add(request.json()["Name"])
        return {}

    def _get(self, request: RecordedRequest) -> dict[str, Any] | Reply:
        name = request.json()["Name"]
        if name not in self.volumes:
            return {"Err": f"no such volume {name}"}
        return {"Volume": {"Name": name}}

    def _mount(self, request: RecordedRequest) -> dict[str, Any]:
        body = request.json()
        self.mounts[(body["Name"], body["ID"])] += 1
        return {"Mountpoint": self._where(body["Name"])}

    def _unmount(self, request: RecordedRequest) -> dict[str, Any]:
        body = request.json()
        key = (body["Name"], body["ID"])
        if self.mounts[key] == 0:
            return {"Err": f"{body['Name']} is not mounted with ID {body['ID']}"}
        self.mounts[key] -= 1
        return {}

    def _remove(self, request: RecordedRequest) -> dict[str, Any]:
        name = request.json()["Name"]
        if any(count for (volume, _id), count in self.mounts.items() if volume == name):
            return {"Err": f"volume {name} is in use"}
        self.volumes.discard(name)
        return {}

    def outstanding(self, name: str) -> int:
        return sum(c for (volume, _id), c in self.mounts.items() if volume == name)

    async def serve(self, bind: str, *, task_status: Any) -> None:
        await self.plugin.serve(bind, task_status=task_status)


async def test_cp_unmounts_when_the_mountpoint_is_not_on_this_host(short_tmp: Path) -> None:
    elsewhere = ElsewherePlugin()
    async with served(short_tmp, mocks=(), plugins={"elsewhere": elsewhere}) as s:
        assert (await s.docker("volume", "create", "-d", "elsewhere", "v1")).rc == 0
        # The container itself cannot start: its own bind mount of the Mountpoint fails.
        run = await s.docker("run", "-d", "--name", "c", "-v", "v1:/data", "busybox", "top")
        assert run.rc != 0
        assert "/nonexistent-mount-namespace/v1" in run.err
        assert elsewhere.outstanding("v1") == 0  # the failed start gave its Mount back

        for _attempt in range(3):
            cp = await s.docker("cp", "c:/data/file", str(short_tmp / "out"))
            assert (cp.rc, cp.err) == (
                1,
                "Error response from daemon: Could not find the file /data/file in container c\n",
            )
        assert elsewhere.outstanding("v1") == 0
        calls = [(e.method, (e.request or {}).get("ID")) for e in s.engine.journal.entries]
        mounts = [i for m, i in calls if m == "VolumeDriver.Mount"]
        unmounts = [i for m, i in calls if m == "VolumeDriver.Unmount"]
        assert len(mounts) == 4  # the failed start, then one per docker cp
        assert Counter(mounts) == Counter(unmounts)

        assert (await s.docker("rm", "c")).rc == 0
        removed = await s.docker("volume", "rm", "v1")
        assert (removed.rc, removed.err) == (0, "")
        assert elsewhere.volumes == set()
