"""Containers that run their commands: the engine's side (no CLI), against a mock plugin.

Each test names the dockerd rule it checks (moby/moby v28.5.2 sources in the modules
under test).  They need root and busybox-static; without them they are skipped with
the reason (the command-table fallback has its own test).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
import trio

from emulator import open_engine
from emulator.clock import VirtualClock
from emulator.engine.container_model import ContainerError, ContainerSpec, RunConfig
from emulator.engine.core import Engine
from emulator.mocks.volume import MockVolumePlugin
from emulator.runtime.support import RuntimeSupport, static_support

SUPPORT = static_support()
pytestmark = pytest.mark.skipif(not SUPPORT.available, reason=SUPPORT.reason or "no runtime")


@attrs.frozen
class Env:
    engine: Engine
    plugin: MockVolumePlugin
    root: Path


@pytest.fixture
async def env(short_tmp: Path) -> AsyncIterator[Env]:
    plugin = MockVolumePlugin(short_tmp / "plugin", name="mv")
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.serve, f"unix:{short_tmp}/run/docker/plugins/mv.sock")
        async with open_engine(root=short_tmp, containers="processes") as engine:
            yield Env(engine, plugin, short_tmp)
        nursery.cancel_scope.cancel()


def spec(*command: str, **options: object) -> ContainerSpec:
    return ContainerSpec("busybox", command, **options)  # type: ignore[arg-type]


async def test_output_goes_to_the_json_file_log_per_stream(env: Env) -> None:
    # copier.go + jsonfilelog: one JSON line per line, the stream, an RFC 3339 time.
    c = await env.engine.containers.run(
        spec("sh", "-c", "echo out; echo 'a<b>&' >&2; printf partial; exit 3", name="c")
    )
    assert (c.state, c.exit_code) == ("exited", 3)
    raw = env.engine.containers.log(c).path.read_text()
    lines = [json.loads(line) for line in raw.splitlines()]
    # Two pipes, two copiers: each stream keeps its order, not their interleaving.
    out = [e["log"] for e in lines if e["stream"] == "stdout"]
    err = [e["log"] for e in lines if e["stream"] == "stderr"]
    assert (out, err) == (["out\n", "partial"], ["a<b>&\n"])  # EOF's partial: no newline
    assert set(lines[0]) == {"log", "stream", "time"}
    assert "\\u003cb\\u003e\\u0026" in raw  # jsonlog escapes <, > and & as Go does
    assert lines[0]["time"].endswith("Z")
    assert await env.engine.containers.logs("c", stderr=False) == "out\npartial"
    assert await env.engine.containers.logs("c", tail=1) == "partial"


async def test_a_volume_is_read_and_written_through_the_plugins_mountpoint(env: Env) -> None:
    await env.engine.volumes.create("v1", driver="mv")
    c = await env.engine.containers.run(
        spec("sh", "-c", "echo hi > /data/f && cat /data/f", volumes=["v1:/data"], name="c")
    )
    assert c.exit_code == 0
    assert await env.engine.containers.logs("c") == "hi\n"
    assert (env.plugin.volumes_dir / "v1" / "data" / "f").read_text() == "hi\n"
    # :ro is a read-only bind (runc remounts it read-only).
    c = await env.engine.containers.run(
        spec("sh", "-c", "echo x > /data/g", volumes=["v1:/data:ro"], name="ro")
    )
    assert c.exit_code == 1
    assert "Read-only file system" in await env.engine.containers.logs("ro")


async def test_workdir_env_user_and_hostname(env: Env) -> None:
    config = RunConfig(env=("FOO=bar",), working_dir="/made/here", user="nobody", hostname="h1")
    await env.engine.containers.run(
        spec("sh", "-c", "echo $FOO; pwd; id -u; echo $HOME; hostname", config=config, name="c")
    )
    assert await env.engine.containers.logs("c") == "bar\n/made/here\n65534\n/home\nh1\n"
    with pytest.raises(ContainerError, match="unable to find user nosuch: no matching entries"):
        await env.engine.containers.run(spec("true", config=RunConfig(user="nosuch"), name="u"))


async def test_a_missing_command_fails_the_start_with_runcs_text_and_127(env: Env) -> None:
    # daemon/errors.go setExitCodeFromError: "executable file not found" -> 127, 400.
    with pytest.raises(ContainerError) as info:
        await env.engine.containers.run(spec("nosuch", name="c"))
    assert str(info.value).endswith('exec: "nosuch": executable file not found in $PATH: unknown')
    assert str(info.value).startswith("failed to create task for container: ")
    assert info.value.http_status == 400
    assert env.engine.containers.get("c").exit_code == 127


async def test_exec_runs_in_the_containers_namespaces(env: Env) -> None:
    await env.engine.containers.run(spec("sleep", "1000", name="c", detach=True))
    result = await env.engine.containers.exec(
        "c", ["sh", "-c", "hostname; cat; exit 5"], stdin=b"in\n"
    )
    assert (result.exit_code, result.stdout) == (
        5,
        env.engine.containers.get("c").id[:12].encode() + b"\nin\n",
    )
    result = await env.engine.containers.exec("c", ["ps", "-o", "pid,comm"])
    assert b"1 sleep" in result.stdout  # the container's PID namespace
    with pytest.raises(ContainerError, match='exec: "nosuch": executable file not found'):
        await env.engine.containers.exec("c", ["nosuch"])
    await env.engine.containers.kill("c")
    with pytest.raises(ContainerError, match="is not running") as info:
        await env.engine.containers.exec("c", ["true"])
    assert info.value.http_status == 409


async def test_stop_sends_sigterm_then_sigkill_after_the_timeout(env: Env) -> None:
    # daemon/stop.go containerStop: the stop signal, the timeout, then Kill (SIGKILL).
    containers = env.engine.containers
    await containers.run(
        spec("sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.05; done", name="t", detach=True)
    )
    await trio.sleep(0.2)  # the trap is set
    await containers.stop("t")
    assert containers.get("t").exit_code == 42
    await containers.run(spec("sleep", "1000", name="s", detach=True))
    since = env.engine.events.count
    started = time.monotonic()
    await containers.stop("s", timeout=1)
    assert time.monotonic() - started >= 1.0
    assert containers.get("s").exit_code == 137  # PID 1 ignores SIGTERM it has no handler for
    actions = [
        (e.action, e.attributes.get("signal", e.attributes.get("exitCode")))
        for e in env.engine.events.since(since)
        if e.type == "container"  # the bridge's network disconnect comes before die
    ]
    assert actions == [("kill", "15"), ("kill", "9"), ("die", "137"), ("stop", None)]


async def test_kill_with_a_signal_does_not_wait(env: Env) -> None:
    containers = env.engine.containers
    await containers.run(
        spec(
            "sh",
            "-c",
            "trap 'echo hup; exit 3' HUP; while :; do sleep 0.05; done",
            name="t",
            detach=True,
        )
    )
    await trio.sleep(0.2)
    await containers.kill("t", "HUP")
    await containers.wait("t")
    assert containers.get("t").exit_code == 3
    assert await containers.logs("t") == "hup\n"
    with pytest.raises(ContainerError, match="Invalid signal: NOPE"):
        await containers.kill("t", "NOPE")


async def test_container_root_is_confined(env: Env) -> None:
    # runc: pivot_root, masked and read-only paths; no CAP_MKNOD (no device cgroup here).
    outside = env.root / "outside"
    outside.mkdir()
    c = await env.engine.containers.create(
        spec("sh", "-c", "ls /escape", volumes=["/escape/sub"], name="c")
    )
    (env.engine.containers.rootfs(c) / "escape").symlink_to(outside)  # an absolute link
    await env.engine.containers.start("c")
    await env.engine.containers.wait("c")
    assert list(outside.iterdir()) == []  # the link was followed inside the root only
    script = (
        "echo 1 > /proc/sys/kernel/core_pattern 2>/dev/null || echo ro; "
        "wc -c < /proc/keys; mknod /tmp/x b 8 0 2>/dev/null || echo nomknod; "
        "cat /proc/1/cmdline | tr '\\0' ' '"
    )
    await env.engine.containers.run(spec("sh", "-c", script, name="d"))
    out = (await env.engine.containers.logs("d", stderr=False)).split()
    assert out[:3] == ["ro", "0", "nomknod"]
    assert out[3:5] == ["sh", "-c"]  # PID 1 is the container's command (its own namespace)


async def test_no_process_outlives_the_engine(short_tmp: Path) -> None:
    async with open_engine(root=short_tmp, containers="processes") as engine:
        quick = RunConfig(stop_timeout=1)
        c = await engine.containers.run(spec("sleep", "1000", detach=True, name="c", config=quick))
        pid = c.pid
        assert Path(f"/proc/{pid}").exists()
    # the shutdown stopped it (SIGTERM, its 1 s stop timeout, SIGKILL: 137)
    assert c.exit_code == 137
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_stop_timeout_runs_on_the_engine_clock() -> None:
    """Under virtual time the process gets the grace (real seconds) to exit, then the
    10 s stop timeout passes at once: a SIGTERM-ignoring container is SIGKILLed after
    10 s of engine time and about a grace of wall time; one that exits on SIGTERM at
    once takes no engine time."""
    root = Path(os.environ.get("TMPDIR", "/dev/shm")) / f"pe-vt-{os.getpid()}"

    async def main() -> tuple[float, float, float]:
        async with open_engine(root=root, containers="processes") as engine:
            containers = engine.containers
            await containers.run(
                spec(
                    "sh",
                    "-c",
                    "trap 'exit 0' TERM; while :; do sleep 0.05; done",
                    name="t",
                    detach=True,
                )
            )
            with trio.move_on_after(0.2):
                await containers.wait("t")  # virtual time passes while the trap is set
            begin = trio.current_time()
            await containers.stop("t")
            quick = trio.current_time() - begin
            await containers.run(spec("sleep", "1000", name="s", detach=True))
            begin, wall = trio.current_time(), time.monotonic()
            await containers.stop("s")
            return quick, trio.current_time() - begin, time.monotonic() - wall

    try:
        quick, slow, wall = trio.run(main, clock=VirtualClock(grace=0.5).clock)
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    assert quick < 1.0
    assert slow == pytest.approx(10.0, abs=0.5)
    assert wall < 5.0


async def test_fallback_to_the_command_table_is_said_once(
    short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_engine(root=short_tmp, containers="auto") as engine:
        engine.runtime = type(engine.runtime)(
            "auto", RuntimeSupport(None, False, "no busybox here")
        )
        engine.containers.runtime = engine.runtime
        for name in ("a", "b"):
            c = await engine.containers.run(spec("sh", "-c", "exit 3", name=name))
            assert c.exit_code == 3  # the table's sh -c 'exit N'
    said = [r for r in caplog.records if "follow the command table" in r.getMessage()]
    assert len(said) == 1
    assert "no busybox here" in said[0].getMessage()


async def test_an_interface_the_driver_did_not_make_fails_the_start(short_tmp: Path) -> None:
    # osl createInterface: LinkByName(SrcName) in the daemon's namespace fails first.
    from emulator.engine.network_model import IpamConfig, NetworkSpec
    from emulator.mocks.network import MockNetworkPlugin

    plugin = MockNetworkPlugin("ghost")  # names veth<id> in Join, never makes it
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.serve, f"unix:{short_tmp}/run/docker/plugins/ghost.sock")
        async with open_engine(root=short_tmp, containers="processes") as engine:
            config = (IpamConfig(subnet="10.68.0.0/24"),)
            await engine.networks.create(NetworkSpec("g", driver="ghost", ipam_config=config))
            with pytest.raises(ContainerError) as info:
                await engine.containers.run(spec("true", networks=["g"], name="c"))
            assert re.fullmatch(
                "failed to set up container networking: failed to add interface (veth[0-9a-f]{7}) "
                'to sandbox: failed to get link by name "\\1": Link not found',
                str(info.value),
            )
            assert plugin.endpoints == {}  # rolled back: Leave, DeleteEndpoint
            assert plugin.violations == []
        nursery.cancel_scope.cancel()


async def test_a_container_in_a_user_namespace_mounts_and_execs(env: Env) -> None:
    # Rootless: the container's user namespace maps one user and one group, so no mount
    # may name another (runc's specconv.ToRootless drops gid=/uid=: devpts' gid=5 would be
    # EINVAL), and docker exec joins that user namespace before the others it owns.
    # Run here with the user namespace the rootless path makes (root maps to root alone).
    assert SUPPORT.busybox is not None
    runtime = type(env.engine.runtime)("processes", RuntimeSupport(SUPPORT.busybox, True))
    containers = env.engine.containers
    env.engine.runtime = containers.runtime = containers.processes.runtime = runtime
    await env.engine.volumes.create("v1", driver="mv")
    detached = spec("sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait", volumes=["v1:/data"])
    c = await env.engine.containers.run(attrs.evolve(detached, name="c", detach=True))
    assert c.running
    result = await env.engine.containers.exec(
        "c", ["sh", "-c", "echo hi > /data/f; cat /data/f; grep ' /dev/pts ' /proc/self/mountinfo"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "hi"
    assert "gid=" not in lines[1], lines[1]
    assert (env.root / "plugin/volumes/v1/data/f").read_text() == "hi\n"
    await env.engine.containers.stop("c")
