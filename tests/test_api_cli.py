"""The real docker CLI (v28) against ``plugin-emulator``'s Engine API and a mock volume plugin.

Expected output and exit codes are dockerd's: the texts come from moby v28.5.2
(``volume/service/errors.go``, ``daemon/errors.go``) and the CLI's own formats
(``cli/command/volume``, ``cli/command/container`` in docker/cli v28), and the status
codes dockerd's ``errdefs/http_helpers.go`` gives them.
"""

from __future__ import annotations

import functools
import re
import subprocess
import time
from pathlib import Path

import pytest
import trio

from tests.engine_api import DOCKER, Result, Served, served

pytestmark = pytest.mark.skipif(DOCKER is None, reason="the docker CLI (v28) is not installed")


async def test_version_and_ping(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        r = await s.docker("version", "--format", "{{.Server.APIVersion}} {{.Server.Version}}")
        assert (r.rc, r.out, r.err) == (0, "1.51 28.5.2\n", "")


async def test_volume_commands(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        r = await s.docker("volume", "create", "-d", "mv", "--label", "k=v", "v1")
        assert (r.rc, r.out) == (0, "v1\n")
        r = await s.docker("volume", "create", "-d", "mv", "v2")
        assert (r.rc, r.out) == (0, "v2\n")
        r = await s.docker("volume", "ls")
        assert r.out == "DRIVER    VOLUME NAME\nmv        v1\nmv        v2\n"
        r = await s.docker("volume", "ls", "-q", "-f", "label=k=v")
        assert r.out == "v1\n"
        r = await s.docker("volume", "inspect", "-f", "{{.Driver}} {{.Name}} {{.Labels}}", "v1")
        assert r.out == "mv v1 map[k:v]\n"
        # The CLI omits empty maps, so dockerd passes nil options on: "Opts": null.
        r = await s.docker("volume", "inspect", "-f", "{{json .Options}}", "v1")
        assert r.out == "null\n"
        creates = s.engine.journal.calls("VolumeDriver.Create")
        assert creates[0].request == {"Name": "v1", "Opts": None}
        await s.docker("volume", "create", "-d", "mv", "-o", "size=1", "v3")
        assert creates[-1].request is not None
        assert s.engine.journal.calls("VolumeDriver.Create")[-1].request == {
            "Name": "v3",
            "Opts": {"size": "1"},
        }
        await s.docker("volume", "rm", "v3")
        r = await s.docker("volume", "create", "v1")
        assert r.rc == 1
        assert r.err == (
            "Error response from daemon: create v1: driver 'mv' already has volume 'v1': "
            "volume name must be unique\n"
        )
        r = await s.docker("volume", "rm", "v1")
        assert (r.rc, r.out, r.err) == (0, "v1\n", "")
        r = await s.docker("volume", "rm", "-f", "v1")
        assert (r.rc, r.out, r.err) == (0, "v1\n", "")
        r = await s.docker("volume", "prune", "-f")
        assert (r.rc, r.out) == (0, "Total reclaimed space: 0B\n")
        r = await s.docker("volume", "ls", "-q")
        assert r.out == "v2\n"  # plugin volumes are never pruned
        # volume/service/service.go Prune: one "prune" event, no actor, bytes reclaimed
        shown = "{{.Type}} {{.Action}} [{{.Actor.ID}}] {{.Actor.Attributes.reclaimed}}"
        assert await s.events("event=prune", format=shown) == ["volume prune [] 0"]


async def test_no_such_volume(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        r = await s.docker("volume", "inspect", "dummy")
        assert (r.rc, r.out) == (1, "[]\n")
        assert r.err == "Error response from daemon: get dummy: no such volume\n"
        r = await s.docker("volume", "rm", "dummy")
        assert (r.rc, r.err) == (1, "Error response from daemon: get dummy: no such volume\n")
        r = await s.docker("volume", "ls", "-f", "bogus=1")
        assert (r.rc, r.err) == (1, "Error response from daemon: invalid filter 'bogus'\n")
        # filters.Args.Match: an exact name, else a regular expression; a bad one matches
        # nothing (regexp.MatchString's error is skipped), never a 500.
        await s.docker("volume", "create", "vol1")
        r = await s.docker("volume", "ls", "-q", "-f", "name=o.1")
        assert (r.rc, r.out) == (0, "vol1\n")
        r = await s.docker("volume", "ls", "-q", "-f", "name=[")
        assert (r.rc, r.out, r.err) == (0, "", "")


async def test_plugin_ls_lists_managed_plugins_only(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        r = await s.docker("plugin", "ls")
        assert (r.rc, r.out) == (0, "ID        NAME      DESCRIPTION   ENABLED\n")
        r = await s.docker("plugin", "inspect", "mv")
        assert (r.rc, r.err) == (1, 'Error response from daemon: plugin "mv" not found\n')
        r = await s.docker("plugin", "ls", "-f", "foo=bar")
        assert (r.rc, r.err) == (1, "Error response from daemon: invalid filter 'foo'\n")


async def test_run_rm_mounts_and_unmounts(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        r = await s.docker(
            "run", "--rm", "-v", "vol:/data", "--volume-driver", "mv", "busybox", "true"
        )
        assert (r.rc, r.out, r.err) == (0, "", "")
        methods = [e.method for e in s.engine.journal if e.method.startswith("VolumeDriver.")]
        assert "VolumeDriver.Create" in methods
        mounts = [e.request["ID"] for e in s.engine.journal.calls("VolumeDriver.Mount")]
        unmounts = [e.request["ID"] for e in s.engine.journal.calls("VolumeDriver.Unmount")]
        assert len(mounts) == 1
        assert mounts == unmounts
        r = await s.docker("ps", "-a", "-q")
        assert r.out == ""  # removed by the daemon: the CLI sends no DELETE
        r = await s.docker("volume", "ls", "-q")
        assert r.out == "vol\n"  # named volumes survive --rm


@pytest.mark.parametrize(
    ("command", "code"),
    [(["true"], 0), (["false"], 1), (["sh", "-c", "exit 7"], 7), (["top"], 0)],
)
async def test_run_exit_codes_follow_the_command(
    short_tmp: Path, command: list[str], code: int
) -> None:
    async with served(short_tmp) as s:
        r = await s.docker("run", "--rm", "-v", "vol:/data", "busybox", *command)
        assert (r.rc, r.out, r.err) == (code, "", "")


async def test_run_sleep_takes_engine_seconds(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        before = trio.current_time()
        r = await s.docker("run", "--rm", "busybox", "sleep", "1")
        assert r.rc == 0
        assert trio.current_time() - before >= 1.0


async def test_create_start_stop_rm_ps_inspect(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        await s.docker("volume", "create", "-d", "mv", "data")
        r = await s.docker("create", "--name", "c1", "-v", "data:/data", "busybox", "top")
        assert r.rc == 0
        cid = r.out.strip()
        assert re.fullmatch(r"[0-9a-f]{64}", cid)
        r = await s.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}")
        assert r.out == "c1 Created\n"
        r = await s.docker("start", "c1")
        assert (r.rc, r.out) == (0, "c1\n")
        r = await s.docker("ps", "--format", "{{.Names}} {{.Command}} {{.Mounts}}")
        assert r.out == 'c1 "top" data\n'
        r = await s.docker("inspect", "-f", "{{.State.Status}} {{.State.Running}}", "c1")
        assert r.out == "running true\n"
        r = await s.docker("volume", "rm", "data")
        assert r.rc == 1
        assert r.err == f"Error response from daemon: remove data: volume is in use - [{cid}]\n"
        r = await s.docker("rm", "c1")
        assert r.rc == 1
        assert r.err == (
            'Error response from daemon: cannot remove container "/c1": container is running: '
            "stop the container before removing or force remove\n"
        )
        r = await s.docker("stop", "c1")
        assert (r.rc, r.out) == (0, "c1\n")
        r = await s.docker("ps", "-a", "--format", "{{.Status}}")
        assert r.out.startswith("Exited (143) ")
        r = await s.docker("rm", "c1")
        assert (r.rc, r.out) == (0, "c1\n")
        r = await s.docker("rm", "c1")
        assert (r.rc, r.err) == (1, "Error response from daemon: No such container: c1\n")
        r = await s.docker("inspect", "c1")
        assert (r.rc, r.out, r.err) == (1, "[]\n", "Error: No such object: c1\n")


async def test_cp_reuses_the_mount_id(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        await s.docker("volume", "create", "-d", "mv", "data")
        await s.docker("run", "-d", "--name", "c1", "-v", "data:/data", "busybox", "top")
        (short_tmp / "in.txt").write_text("hello\n")
        r = await s.docker("cp", str(short_tmp / "in.txt"), "c1:/data/")
        assert (r.rc, r.err) == (0, "")
        r = await s.docker("cp", "c1:/data/in.txt", str(short_tmp / "out.txt"))
        assert (r.rc, r.err) == (0, "")
        assert (short_tmp / "out.txt").read_text() == "hello\n"
        ids = {e.request["ID"] for e in s.engine.journal.calls("VolumeDriver.Mount")}
        assert len(ids) == 1  # start, stat, upload and download all use the same mount ID
        r = await s.docker("cp", "c1:/data/missing", str(short_tmp / "x"))
        assert r.rc == 1
        assert "Could not find the file /data/missing in container c1" in r.err
        await s.docker("rm", "-f", "c1")


async def test_restart_is_stop_then_start(short_tmp: Path) -> None:
    # daemon/restart.go containerRestart: containerStop (Unmount), containerStart (Get,
    # Mount), then the restart event.  The Unmount brought the mount point's count to 0,
    # so its ID was dropped (volume/mounts/mounts.go Cleanup): the Mount has a new one.
    async with served(short_tmp) as s:
        await s.docker("volume", "create", "-d", "mv", "data")
        await s.docker("run", "-d", "--name", "c1", "-v", "data:/data", "busybox", "top")
        mark = len(s.engine.journal.entries)
        r = await s.docker("restart", "-t", "1", "c1")
        assert (r.rc, r.out, r.err) == (0, "c1\n", "")
        calls = [e for e in s.engine.journal.entries[mark:] if e.plugin == "mv"]
        assert [e.method for e in calls] == [
            "VolumeDriver.Get",
            "VolumeDriver.Unmount",
            "VolumeDriver.Get",
            "VolumeDriver.Mount",
        ]
        assert calls[1].request["ID"] != calls[3].request["ID"]
        assert s.engine.containers.get("c1").running
        shown = "{{.Action}}"
        actions = await s.events("container=c1", format=shown)
        assert actions[-5:] == ["kill", "die", "stop", "start", "restart"]
        await s.docker("stop", "c1")
        r = await s.docker("restart", "c1")  # a stopped container is started
        assert (r.rc, r.err) == (0, "")
        assert s.engine.containers.get("c1").running
        r = await s.docker("restart", "nope")  # GetContainer's error is not wrapped
        assert (r.rc, r.err) == (1, "Error response from daemon: No such container: nope\n")
        s.engine.faults.add(call="VolumeDriver.Mount", respond={"status": 500, "err": "full"})
        r = await s.docker("restart", "c1")  # the start's error is wrapped (%v: a 500)
        assert r.rc == 1
        assert r.err.startswith("Error response from daemon: Cannot restart container c1: ")
        assert "VolumeDriver.Mount: full" in r.err
        await s.docker("rm", "-f", "c1")


async def test_container_prune_removes_what_is_not_running(short_tmp: Path) -> None:
    # daemon/prune.go ContainersPrune: not running, matchLabels, containerRm without -v.
    async with served(short_tmp) as s:
        await s.docker("volume", "create", "-d", "mv", "data")
        await s.docker("create", "--name", "a", "-l", "keep=no", "-v", "data:/data", "busybox")
        await s.docker("create", "--name", "b", "-l", "keep=yes", "busybox")
        await s.docker("run", "-d", "--name", "c", "busybox", "top")
        r = await s.docker("container", "prune", "-f", "--filter", "label!=keep=yes")
        assert r.rc == 0, r.err
        a_id = r.out.splitlines()[1]
        assert r.out == f"Deleted Containers:\n{a_id}\n\nTotal reclaimed space: 0B\n"
        names = sorted(c.name for c in s.engine.containers.list(all=True))
        assert names == ["b", "c"]
        r = await s.docker("volume", "rm", "data")  # its reference went with it
        assert (r.rc, r.err) == (0, "")
        r = await s.docker("container", "prune", "-f", "--filter", "until=1h")
        assert r.rc == 1
        assert "filter 'until' is not emulated for container prune" in r.err
        prunes = await s.events("event=prune", format="{{.Type}} [{{.Actor.ID}}]")
        assert prunes == ["container []"]
        await s.docker("rm", "-f", "c")


async def test_events_replay_volume_actions(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        await s.docker("run", "--rm", "-v", "ev:/data", "--volume-driver", "mv", "busybox", "true")
        await s.docker("volume", "rm", "ev")
        r = await s.docker(
            "events",
            "--since",
            "0",
            "--until",
            str(int(time.time()) + 1),
            "-f",
            "type=volume",
            "--format",
            '{{.Type}} {{.Action}} {{.Actor.ID}} {{index .Actor.Attributes "driver"}}',
        )
        assert r.rc == 0
        assert r.out.splitlines() == [
            "volume create ev mv",
            "volume mount ev mv",
            "volume unmount ev mv",
            "volume destroy ev mv",
        ]


async def test_unknown_container_and_api_version(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        r = await s.docker("stop", "nosuch")
        assert (r.rc, r.err) == (1, "Error response from daemon: No such container: nosuch\n")
        env_old = await _docker_env(s, "DOCKER_API_VERSION", "1.60", "volume", "ls")
        assert env_old.rc == 1
        assert "client version 1.60 is too new. Maximum supported API version is 1.51" in (
            env_old.err
        )


async def _docker_env(s: object, key: str, value: str, *args: str) -> Result:
    assert isinstance(s, Served)
    proc = await trio.run_process(
        [str(DOCKER), *args],
        env={**s.env(), key: value},
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


async def test_run_rm_mount_failure_is_removed_by_the_daemon(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        await s.docker("volume", "create", "-d", "mv", "vol")
        s.engine.faults.add(call="VolumeDriver.Mount", respond={"err": "disk full"})
        r = await s.docker("run", "--rm", "-v", "vol:/data", "busybox", "true")
        assert r.rc == 125
        assert r.err.startswith("docker: Error response from daemon: error while mounting volume ")
        assert "disk full" in r.err
        r = await s.docker("ps", "-a", "-q")
        assert r.out == ""


async def test_old_client_versions(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        await s.docker("volume", "create", "named")
        new = await _docker_env(s, "DOCKER_API_VERSION", "1.51", "volume", "prune", "-f")
        assert isinstance(new, Result)
        assert (await s.docker("volume", "ls", "-q")).out == "named\n"  # 1.42+: anonymous only
        old = await _docker_env(s, "DOCKER_API_VERSION", "1.41", "volume", "prune", "-f")
        assert isinstance(old, Result)
        assert old.rc == 0
        assert (await s.docker("volume", "ls", "-q")).out == ""  # below 1.42: all local volumes
        run = await _docker_env(s, "DOCKER_API_VERSION", "1.41", "run", "--rm", "busybox", "true")
        assert isinstance(run, Result)
        assert (run.rc, run.err) == (0, "")


async def test_events_stream_live(short_tmp: Path) -> None:
    async with served(short_tmp) as s, trio.open_nursery() as nursery:
        assert DOCKER is not None
        proc: trio.Process = await nursery.start(
            functools.partial(
                trio.run_process,
                [DOCKER, "events", "-f", "type=volume", "--format", "{{.Action}} {{.Actor.ID}}"],
                env=s.env(),
                stdout=subprocess.PIPE,
                check=False,
            )
        )
        assert proc.stdout is not None
        await trio.sleep(0.5)  # the CLI connects (real time: it is another process)
        await s.docker("volume", "create", "live")
        await s.docker("volume", "rm", "live")
        seen = b""
        with trio.fail_after(10):
            while seen.count(b"\n") < 2:
                seen += await proc.stdout.receive_some(1024)
        assert seen.decode().splitlines() == ["create live", "destroy live"]
        proc.terminate()


async def test_a_v_bind_source_that_is_missing_is_made_at_start(short_tmp: Path) -> None:
    # volume/mounts/mounts.go Setup: a -v bind's missing host directory is created (0755)
    # at start; --mount type=bind never creates it (SkipMountpointCreation).
    async with served(short_tmp) as s:
        made = short_tmp / "made" / "deep"
        r = await s.docker("create", "--name", "c1", "-v", f"{made}:/data", "busybox", "true")
        assert (r.rc, r.err) == (0, "")
        assert not made.exists()  # create does not make it
        r = await s.docker("start", "c1")
        assert (r.rc, r.err) == (0, "")
        assert made.is_dir()
        assert made.stat().st_mode & 0o777 == 0o755
        afile = short_tmp / "afile"
        afile.write_text("x")
        r = await s.docker("run", "--rm", "-v", f"{afile}:/f", "busybox", "true")
        assert (r.rc, r.err) == (0, "")
        assert afile.read_text() == "x"
        r = await s.docker(
            "run", "--rm", "--mount", f"type=bind,src={short_tmp}/nope,dst=/x", "busybox", "true"
        )
        assert r.rc == 125
        assert "bind source path does not exist" in r.err
        assert not (short_tmp / "nope").exists()
