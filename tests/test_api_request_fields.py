"""Request fields dockerd honours: honoured by the emulator too, or refused loudly.

Each test drives the real docker CLI (or raw HTTP where the CLI has no flag) against a
served engine: a field that was accepted and ignored before makes it fail.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import trio
import trio.lowlevel

from tests.engine_api import RawResponse, raw_request, request_bytes, served

# -- docker run --mount -------------------------------------------------------------------


async def test_mount_volume_driver_options_and_labels_reach_create(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        r = await s.docker(
            "create",
            "--volume-driver",
            "local",
            "--mount",
            "type=volume,src=v1,dst=/data,volume-driver=mv,volume-opt=size=1,volume-label=k=v",
            "busybox",
            "true",
        )
        assert r.rc == 0, r.err
        creates = s.engine.journal.calls("VolumeDriver.Create")
        assert [c.request for c in creates] == [{"Name": "v1", "Opts": {"size": "1"}}]
        r = await s.docker("volume", "inspect", "-f", "{{.Driver}} {{json .Labels}}", "v1")
        assert r.out == 'mv {"k":"v"}\n'
        # --volume-driver does not apply to a --mount without volume-driver (dockerd's
        # ParseMountSpec takes the driver from DriverConfig only).
        r = await s.docker(
            "create", "--volume-driver", "mv", "--mount", "src=v2,dst=/d", "busybox", "true"
        )
        assert r.rc == 0, r.err
        r = await s.docker("volume", "inspect", "-f", "{{.Driver}}", "v2")
        assert r.out == "local\n"


async def test_mount_volume_subpath(short_tmp: Path) -> None:
    async with served(short_tmp, containers="fake") as s:
        r = await s.docker("volume", "create", "-d", "mv", "v1")
        assert r.rc == 0, r.err
        spec = "type=volume,src=v1,dst=/data,volume-subpath=sub"
        r = await s.docker("create", "--name", "c1", "--mount", spec, "busybox", "true")
        assert r.rc == 0, r.err
        r = await s.docker("start", "c1")
        assert r.rc == 1
        assert "cannot access path " in r.err
        assert "/sub: no such file or directory" in r.err
        mounting = ("VolumeDriver.Mount", "VolumeDriver.Unmount")
        methods = [e.method for e in s.engine.journal if e.method in mounting]
        assert methods[-2:] == ["VolumeDriver.Mount", "VolumeDriver.Unmount"]
        mounted = s.engine.journal.calls("VolumeDriver.Mount")[-1].response_body
        assert mounted is not None
        (Path(json.loads(mounted)["Mountpoint"]) / "sub").mkdir()
        r = await s.docker("create", "--name", "c2", "--mount", spec, "busybox", "sleep", "1000")
        r = await s.docker("start", "c2")
        assert r.rc == 0, r.err
        (mp,) = s.engine.containers.get("c2").mounts
        assert mp.path.endswith("/sub")
        await s.docker("rm", "-f", "c2")
        bad = "type=volume,src=v1,dst=/data,volume-subpath=../x"
        r = await s.docker("create", "--mount", bad, "busybox", "true")
        assert r.err == (
            'Error response from daemon: invalid mount config for type "volume": '
            "subpath must be a relative path within the volume\n"
        )


async def test_mount_bind_source_must_exist(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        missing = short_tmp / "nowhere"
        r = await s.docker("create", "--mount", f"type=bind,src={missing},dst=/x", "busybox")
        assert r.err == (
            'Error response from daemon: invalid mount config for type "bind": '
            f"bind source path does not exist: {missing}\n"
        )
        spec = f"type=bind,src={short_tmp},dst=/x,bind-recursive=disabled"
        r = await s.docker("create", "--mount", spec, "busybox")
        assert "cannot honour --mount type=bind,bind-recursive=disabled" in r.err
        assert s.engine.containers.list(all=True) == []
        # linux_parser.go: with CreateMountpoint a missing source is no error at create,
        # and MountPoint.Setup makes it at start (compose's bind.create_host_path).
        body = {
            "Image": "busybox",
            "Cmd": ["true"],
            "HostConfig": {
                "Mounts": [
                    {
                        "Type": "bind",
                        "Source": str(missing),
                        "Target": "/x",
                        "BindOptions": {"CreateMountpoint": True},
                    }
                ]
            },
        }
        created = await _post(s.host, "/v1.51/containers/create?name=mk", body)
        assert created.status == 201, created.body
        assert not missing.exists()
        started = await _post(s.host, "/v1.51/containers/mk/start", None)
        assert started.status == 204, started.body
        assert missing.is_dir()


async def test_mount_tmpfs_options_are_kept(short_tmp: Path) -> None:
    async with served(short_tmp, containers="fake") as s:
        body = {
            "Image": "busybox",
            "HostConfig": {
                "Mounts": [
                    {
                        "Type": "tmpfs",
                        "Target": "/t",
                        "TmpfsOptions": {"SizeBytes": 4096, "Options": [["noexec"]]},
                    }
                ]
            },
        }
        answer = await _post(s.host, "/v1.51/containers/create", body)
        assert answer.status == 201, answer.body
        cid = str(json.loads(answer.body)["Id"])
        assert s.engine.containers.get(cid).config.tmpfs == {"/t": "size=4096,noexec"}


async def test_restart_policy_refused(short_tmp: Path) -> None:
    async with served(short_tmp, containers="fake") as s:
        r = await s.docker("create", "--restart", "always", "busybox", "true")
        assert r.rc == 1
        assert "cannot honour --restart always (HostConfig.RestartPolicy)" in r.err
        r = await s.docker("create", "--restart", "no", "busybox", "true")
        assert r.rc == 0, r.err


# -- volumes ------------------------------------------------------------------------------


async def test_volume_prune_label_filters(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        for name, label in (("va", "keep=1"), ("vb", "keep=2"), ("vc", "other")):
            r = await s.docker("volume", "create", "--label", label, name)
            assert r.rc == 0, r.err
        r = await s.docker("volume", "prune", "-a", "-f", "--filter", "label=keep")
        assert r.rc == 0, r.err
        r = await s.docker("volume", "ls", "-q")
        assert r.out == "vc\n"
        r = await s.docker("volume", "create", "--label", "keep=1", "vd")
        r = await s.docker("volume", "prune", "-a", "-f", "--filter", "label!=keep")
        r = await s.docker("volume", "ls", "-q")
        assert r.out == "vd\n"


async def test_cluster_volume_spec_refused(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        body = {"Name": "cv", "Driver": "mv", "ClusterVolumeSpec": {}}
        answer = await _post(s.host, "/v1.51/volumes/create", body)
        assert answer.status == 503
        assert "This node is not a swarm manager" in str(answer.json())
        assert s.engine.journal.calls("VolumeDriver.Create") == []
        # Before API 1.42 dockerd ignores the field.
        answer = await _post(s.host, "/v1.41/volumes/create", body)
        assert answer.status == 201, answer.body


# -- docker ps ----------------------------------------------------------------------------


async def test_ps_filters_and_limit(short_tmp: Path) -> None:
    async with served(short_tmp, containers="fake") as s:
        await s.docker("network", "create", "n1")
        await s.docker("create", "--name", "c1", "--label", "role=db", "busybox", "true")
        await s.docker("create", "--name", "c2", "--network", "n1", "busybox", "true")
        await s.docker("create", "--name", "c3", "--label", "role=web", "busybox", "true")

        async def names(*args: str) -> str:
            r = await s.docker("ps", "--format", "{{.Names}}", *args)
            assert r.rc == 0, r.err
            return r.out

        assert await names("-a", "--filter", "label=role=db") == "c1\n"
        assert await names("-a", "--filter", "label=role") == "c3\nc1\n"
        assert await names("-a", "--filter", "network=n1") == "c2\n"
        assert await names("-a", "--filter", "before=c2") == "c1\n"
        assert await names("-a", "--filter", "since=c1") == "c3\nc2\n"
        assert await names("-n", "1") == "c3\n"
        assert await names("--filter", "status=created") == "c3\nc2\nc1\n"
        assert await names("-a", "--filter", "name=^c[12]$") == "c2\nc1\n"
        assert await names("-a", "--filter", "exited=0") == ""
        r = await s.docker("ps", "--filter", "bogus=1")
        assert r.err == "Error response from daemon: invalid filter 'bogus'\n"
        r = await s.docker("ps", "--filter", "status=sleeping")
        assert "invalid filter 'status=sleeping': invalid value for state (sleeping)" in r.err
        r = await s.docker("ps", "--filter", "ancestor=busybox")
        assert "does not emulate the ps filter 'ancestor'" in r.err


# -- events -------------------------------------------------------------------------------


async def test_events_label_and_other_filters(short_tmp: Path) -> None:
    async with served(short_tmp, containers="fake") as s:
        await s.docker("create", "--name", "c1", "--label", "role=db", "busybox", "true")
        await s.docker("create", "--name", "c2", "busybox", "true")
        until = str(int(time.time()) + 1)
        await trio.lowlevel.checkpoint()

        async def events(*args: str) -> list[str]:
            r = await s.docker(
                "events",
                "--since",
                "0",
                "--until",
                until,
                "--format",
                "{{.Actor.Attributes.name}}",
                *args,
            )
            assert r.rc == 0, r.err
            return r.out.split()

        assert await events("--filter", "label=role=db") == ["c1"]
        assert await events("--filter", "type=container", "--filter", "label=role") == ["c1"]
        # dockerd checks no filter key: one for events the emulator never logs matches none.
        assert await events("--filter", "network=n1") == []
        assert await events("--filter", "image=busybox") == ["c1", "c2"]


# -- networks -----------------------------------------------------------------------------


async def test_network_disconnect_force_and_scope(short_tmp: Path) -> None:
    async with served(short_tmp, containers="fake") as s:
        r = await s.docker("network", "create", "n1")
        assert r.rc == 0, r.err
        r = await s.docker("network", "disconnect", "n1", "ghost")
        assert r.err == "Error response from daemon: No such container: ghost\n"
        r = await s.docker("network", "disconnect", "-f", "n1", "ghost")
        assert r.err == "Error response from daemon: endpoint ghost not found\n"
        r = await s.docker("network", "create", "--scope", "swarm", "n2")
        assert r.err == (
            "Error response from daemon: cannot create a swarm scoped network when swarm "
            "is not active\n"
        )
        r = await s.docker("network", "create", "--scope", "global", "n3")
        assert r.rc == 0, r.err
        r = await s.docker("network", "inspect", "-f", "{{.Scope}}", "n3")
        assert r.out == "global\n"


async def test_rm_link_does_not_remove_the_container(short_tmp: Path) -> None:
    async with served(short_tmp, containers="fake") as s:
        await s.docker("create", "--name", "c1", "busybox", "true")
        r = await s.docker("rm", "--link", "c1")
        assert r.err == (
            "Error response from daemon: Conflict, cannot remove the default link name of "
            "the container\n"
        )
        assert [c.name for c in s.engine.containers.list(all=True)] == ["c1"]


async def _post(host: str, path: str, body: object) -> RawResponse:
    data = json.dumps(body).encode()
    request = request_bytes("POST", path, data, {"Content-Type": "application/json"})
    return await trio.to_thread.run_sync(raw_request, host.removeprefix("unix://"), request)
