"""The real docker CLI running real container processes through the emulator's Engine API.

What a plugin author types: ``docker run`` reading and writing a volume, ``docker logs``
(``-f``, ``--tail``, ``-t``, ``--since``), exit codes, ``docker exec``, ``-i``, ``docker
stop``/``kill``, a container on a mock network plugin seeing its interface, and the
expectations of moby's ``integration-cli/docker_cli_external_volume_driver_test.go`` that
read a file through a container.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from emulator.mocks.host import RecordedRequest, Reply
from emulator.mocks.network import MockNetworkPlugin
from emulator.mocks.volume import MockVolumePlugin
from emulator.runtime.support import static_support
from tests.engine_api import DOCKER, served

SUPPORT = static_support()
pytestmark = [
    pytest.mark.skipif(DOCKER is None, reason="the docker CLI (v28) is not installed"),
    pytest.mark.skipif(not SUPPORT.available, reason=SUPPORT.reason or "no runtime"),
]


async def test_run_reads_and_writes_a_plugin_volume(short_tmp: Path) -> None:
    async with served(short_tmp, containers="processes") as s:
        assert (await s.docker("volume", "create", "-d", "mv", "v")).rc == 0
        r = await s.docker(
            "run",
            "--rm",
            "-v",
            "v:/data",
            "busybox",
            "sh",
            "-c",
            "echo hi > /data/f && cat /data/f",
        )
        assert (r.rc, r.out, r.err) == (0, "hi\n", "")
        assert (short_tmp / "mocks/mv/volumes/v/data/f").read_text() == "hi\n"
        assert s.engine.containers.list(all=True) == []  # --rm
        r = await s.docker("run", "busybox", "sh", "-c", "echo bye >&2; exit 3")
        assert (r.rc, r.out, r.err) == (3, "", "bye\n")


async def test_start_failures_and_their_exit_codes(short_tmp: Path) -> None:
    async with served(short_tmp, containers="processes") as s:
        r = await s.docker("run", "--rm", "busybox", "nosuchcommand")
        assert r.rc == 127
        assert 'exec: "nosuchcommand": executable file not found in $PATH: unknown' in r.err
        r = await s.docker("run", "--rm", "-t", "busybox", "true")
        assert r.rc == 125
        assert "cannot honour -t/--tty" in r.err


async def test_logs_follow_tail_timestamps_since(short_tmp: Path) -> None:
    async with served(short_tmp, containers="processes") as s:
        script = "for i in 1 2 3; do echo line$i; sleep 0.2; done"
        r = await s.docker("run", "-d", "--name", "l", "busybox", "sh", "-c", script)
        assert r.rc == 0
        r = await s.docker("logs", "-f", "l")  # follows until the container stops
        assert (r.rc, r.out) == (0, "line1\nline2\nline3\n")
        r = await s.docker("logs", "--tail", "1", "-t", "l")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line3\n", r.out)
        r = await s.docker("logs", "--until", "2000-01-01T00:00:00Z", "l")
        assert r.out == ""  # every line is younger
        r = await s.docker("logs", "--since", "1h", "l")
        assert r.out == "line1\nline2\nline3\n"
        path = s.engine.containers.log(s.engine.containers.get("l")).path
        assert path.name == f"{s.engine.containers.get('l').id}-json.log"
        r = await s.docker("inspect", "-f", "{{.LogPath}}", "l")
        assert r.out == f"{path}\n"


async def test_exec_and_attached_stdin(short_tmp: Path) -> None:
    async with served(short_tmp, containers="processes") as s:
        r = await s.docker("run", "-d", "--name", "e", "busybox", "sleep", "1000")
        assert r.rc == 0
        r = await s.docker(
            "exec", "-e", "X=1", "-w", "/tmp", "e", "sh", "-c", "echo $X; pwd; exit 5"
        )
        assert (r.rc, r.out) == (5, "1\n/tmp\n")
        r = await s.docker("exec", "-i", "e", "cat", stdin=b"through stdin\n")
        assert (r.rc, r.out) == (0, "through stdin\n")
        r = await s.docker("exec", "e", "nosuch")
        assert r.rc == 127
        assert 'exec: "nosuch": executable file not found in $PATH' in r.out + r.err
        r = await s.docker(
            "run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done", stdin=b"x\n"
        )
        assert (r.rc, r.out) == (0, "x\ndone\n")
        r = await s.docker("rm", "-f", "e")
        assert r.rc == 0


async def test_stop_and_kill(short_tmp: Path) -> None:
    async with served(short_tmp, containers="processes") as s:
        await s.docker("run", "-d", "--name", "s", "busybox", "sleep", "1000")
        started = time.monotonic()
        r = await s.docker("stop", "-t", "1", "s")
        assert (r.rc, r.out) == (0, "s\n")
        assert 1.0 <= time.monotonic() - started < 5
        r = await s.docker("inspect", "-f", "{{.State.ExitCode}}", "s")
        assert r.out == "137\n"
        trap = "trap 'echo got-usr1; exit 9' USR1; while :; do sleep 0.05; done"
        await s.docker("run", "-d", "--name", "k", "busybox", "sh", "-c", trap)
        await trio.sleep(0.3)
        r = await s.docker("kill", "-s", "USR1", "k")
        assert r.rc == 0
        r = await s.docker("wait", "k")
        assert r.out == "9\n"
        r = await s.docker("logs", "k")
        assert r.out == "got-usr1\n"


@pytest.fixture
def daemon_namespace() -> Iterator[str]:
    """A network namespace for the daemon side (the plugin's interfaces), this test's own."""
    name = f"i17d-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)


async def test_a_network_plugins_interface_is_the_containers_eth0(
    short_tmp: Path, daemon_namespace: str
) -> None:
    # libnetwork/osl: moved in, renamed DstPrefix + 0, the endpoint's address, up, gateway.
    plugin = MockNetworkPlugin("mynet", interfaces=True, bridge=True, netns=daemon_namespace)
    async with served(
        short_tmp,
        containers="processes",
        plugins={"mynet": plugin},
        network_namespace=daemon_namespace,
    ) as s:
        r = await s.docker("network", "create", "-d", "mynet", "--subnet", "10.66.0.0/24", "n1")
        assert r.rc == 0
        r = await s.docker(
            "run", "--rm", "--network", "n1", "busybox", "ip", "-4", "addr", "show", "eth0"
        )
        assert r.rc == 0, r.err
        assert "inet 10.66.0.2/24 scope global eth0" in r.out
        r = await s.docker("run", "--rm", "--network", "n1", "busybox", "ip", "route")
        assert r.out.splitlines()[0] == "default via 10.66.0.1 dev eth0 "
        await s.docker("run", "-d", "--name", "peer", "--network", "n1", "busybox", "sleep", "1000")
        address = s.engine.networks.endpoint_of("n1", s.engine.containers.get("peer").id)
        assert address is not None
        assert address.iface.address is not None
        r = await s.docker(
            "run",
            "--rm",
            "--network",
            "n1",
            "busybox",
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            str(address.iface.address.ip),
        )
        assert (r.rc, "1 packets received" in r.out) == (0, True), r.out + r.err
        r = await s.docker("rm", "-f", "peer")
        assert r.rc == 0
        assert plugin.violations == []
        links = await trio.run_process(
            ["ip", "-n", daemon_namespace.rsplit("/", 1)[1], "-j", "link"], capture_stdout=True
        )
        names = [link["ifname"] for link in json.loads(links.stdout)]
        assert [n for n in names if n.startswith(("veth", "p"))] == []  # back and deleted


def _moby_volume_plugin(root: Path, url: str) -> MockVolumePlugin:
    """moby's test driver: its Mount writes ``test`` (the server's URL) in the volume."""
    plugin = MockVolumePlugin(root, name="test-external-volume-driver")
    mount = plugin.plugin.handler("VolumeDriver.Mount")
    assert mount is not None

    async def writing_mount(recorded: RecordedRequest) -> Reply:
        reply = mount(recorded) if callable(mount) else mount
        if inspect.isawaitable(reply):
            reply = await reply
        assert isinstance(reply, Reply)
        body = reply.body
        answer = json.loads(body) if isinstance(body, (str, bytes)) else body
        assert isinstance(answer, dict)
        Path(answer["Mountpoint"], "test").write_text(url)
        return reply

    plugin.plugin.on("VolumeDriver.Mount", writing_mount)
    return plugin


async def test_external_volume_driver_expectations_read_through_a_container(
    short_tmp: Path,
) -> None:
    url = "http://127.0.0.1:4242"
    plugin = _moby_volume_plugin(short_tmp / "moby", url)
    driver = "test-external-volume-driver"
    async with served(short_tmp, mocks=(), containers="processes", plugins={driver: plugin}) as s:
        # TestExternalVolumeDriverNamed + MountID
        r = await s.docker(
            "run",
            "--rm",
            "--name",
            "test-data",
            "-v",
            "external-volume-test:/tmp/external-volume-test",
            "--volume-driver",
            driver,
            "busybox:latest",
            "cat",
            "/tmp/external-volume-test/test",
        )
        assert (r.rc, r.out) == (0, url)
        counts = [plugin.plugin.count(f"VolumeDriver.{m}") for m in ("Create", "Mount", "Unmount")]
        assert counts == [1, 1, 1]
        assert (await s.docker("volume", "rm", "external-volume-test")).rc == 0
        # TestExternalVolumeDriverUnnamed
        r = await s.docker(
            "run",
            "--rm",
            "--name",
            "test-data",
            "-v",
            "/tmp/external-volume-test",
            "--volume-driver",
            driver,
            "busybox:latest",
            "cat",
            "/tmp/external-volume-test/test",
        )
        assert (r.rc, r.out) == (0, url)
        counts = [
            plugin.plugin.count(f"VolumeDriver.{m}")
            for m in ("Create", "Mount", "Unmount", "Remove")
        ]
        assert counts == [2, 2, 2, 2]
