"""What a logging plugin sees from the engine, counted at the plugin (the built-in mock
log driver over a real unix socket and a real FIFO).

Rules from moby/moby v28.5.2 (``daemon/logger/plugin.go``, ``adapter.go``,
``copier.go``, ``container/container.go`` ``StartLogger``, ``container/monitor.go``
``Reset``, ``daemon/logs.go``) and ``core.md`` §6; each test fails if the rule is broken.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from emulator import open_engine
from emulator.engine.containers import ContainerError
from emulator.engine.core import Engine
from emulator.engine.log_config import LogConfigError
from emulator.engine.log_store import ReadOptions
from emulator.engine.logs import LoggingError
from emulator.mocks.log import MockLogDriver
from emulator.mocks.volume import MockVolumePlugin
from emulator.runtime.support import static_support
from tests.logspec import spec

DRIVER = "mocklog"


@attrs.frozen
class Env:
    engine: Engine
    driver: MockLogDriver
    root: Path

    def calls(self) -> list[str]:
        return [
            r.method.removeprefix("LogDriver.")
            for r in self.driver.plugin.requests
            if r.method != "Plugin.Activate"
        ]

    def bodies(self, method: str) -> list[object]:
        return [r.json() for r in self.driver.plugin.calls(f"LogDriver.{method}")]


@pytest.fixture
async def env(short_tmp: Path) -> AsyncIterator[Env]:
    driver = MockLogDriver(DRIVER)
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.serve, f"unix:{short_tmp / 'run/docker/plugins' / DRIVER}.sock")
        async with open_engine(root=short_tmp) as engine:
            yield Env(engine, driver, short_tmp)
        nursery.cancel_scope.cancel()


async def run(e: Env, script: str, **options: Any) -> str:
    container = await e.engine.containers.run(
        spec(command=["sh", "-c", script], log_driver=DRIVER, **options)
    )
    return container.id


async def test_both_streams_reach_the_plugin_with_their_sources(env: Env) -> None:
    cid = await run(env, "echo out; echo err >&2")
    got = {(r.source, r.text) for r in env.driver.entries(cid)}
    assert got == {("stdout", "out"), ("stderr", "err")}
    assert env.engine.logs.entries(cid) == env.driver.entries(cid)
    assert env.calls() == ["Capabilities", "StartLogging", "StopLogging"]


async def test_start_logging_info_has_every_key_in_go_order(env: Env) -> None:
    cid = await run(env, "echo hi", name="app", log_opts={"k": "v"}, env=["A=1"], labels={})
    (body,) = env.bodies("StartLogging")
    assert isinstance(body, dict)
    assert list(body) == ["File", "Info"]
    info = body["Info"]
    assert list(info) == [
        "Config",
        "ContainerID",
        "ContainerName",
        "ContainerEntrypoint",
        "ContainerArgs",
        "ContainerImageID",
        "ContainerImageName",
        "ContainerCreated",
        "ContainerEnv",
        "ContainerLabels",
        "LogPath",
        "DaemonName",
    ]
    assert info["Config"] == {"k": "v"}
    assert info["ContainerID"] == cid
    assert info["ContainerName"] == "/app"
    assert info["ContainerEntrypoint"] == "sh"
    assert info["ContainerArgs"] == ["-c", "echo hi"]
    assert info["ContainerImageName"] == "busybox"
    assert info["ContainerImageID"].startswith("sha256:")
    assert info["ContainerEnv"][-1] == "A=1"
    assert info["ContainerEnv"][0].startswith("PATH=")
    assert info["LogPath"] == ""
    assert info["DaemonName"] == "docker"
    assert info["ContainerCreated"].endswith("Z")


async def test_capabilities_body_is_empty_and_file_is_the_fifo(env: Env) -> None:
    await run(env, "echo hi")
    (cap,) = env.driver.plugin.calls("LogDriver.Capabilities")
    assert cap.body == b""
    start, stop = env.bodies("StartLogging"), env.bodies("StopLogging")
    file = start[0]["File"]  # type: ignore[index]
    assert stop == [{"File": file}]
    assert Path(file).parent == env.root / "run/docker/logging"
    assert len(Path(file).name) == 64
    assert not Path(file).exists()  # removed after StopLogging's answer
    assert stat.S_IMODE(Path(file).parent.stat().st_mode) == 0o700


async def test_fifo_is_a_0700_fifo_while_logging(env: Env) -> None:
    container = await env.engine.containers.run(
        spec(command=["sh", "-c", "echo a; sleep 5; echo b"], log_driver=DRIVER, detach=True)
    )
    file = Path(env.bodies("StartLogging")[0]["File"])  # type: ignore[index]
    mode = file.stat().st_mode
    assert stat.S_ISFIFO(mode)
    assert stat.S_IMODE(mode) == 0o700
    await env.engine.containers.wait(container.id)
    assert [r.text for r in env.driver.entries(container.id)] == ["a", "b"]


async def test_a_40k_line_arrives_as_three_partial_records(env: Env) -> None:
    cid = await run(env, "printf '%40960s\\n' x")
    records = env.driver.entries(cid)
    assert [len(r.line) for r in records] == [16384, 16384, 8192]
    metas = [r.partial for r in records]
    assert all(m is not None for m in metas)
    assert [m.ordinal for m in metas if m] == [1, 2, 3]
    assert [m.last for m in metas if m] == [False, False, True]
    assert len({m.id for m in metas if m}) == 1
    assert len({r.time_nano for r in records}) == 1


async def test_a_last_line_without_newline_is_a_partial_not_last(env: Env) -> None:
    cid = await run(env, "echo -n tail")
    (record,) = env.driver.entries(cid)
    assert record.text == "tail"
    assert record.partial is not None
    assert record.partial.ordinal == 1
    assert not record.partial.last


async def test_unknown_driver_is_refused_at_create(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_engine(root=short_tmp) as engine:
        with trio.move_on_after(30):
            with pytest.raises(LogConfigError) as caught:
                await engine.containers.create(spec(command=["true"], log_driver="nosuch"))
        assert caught.value.http_status == 400
        assert str(caught.value) == (
            'error looking up logging plugin nosuch: plugin "nosuch" not found'
        )
        assert engine.containers.list(all=True) == []


async def test_create_only_looks_the_plugin_up(env: Env) -> None:
    await env.engine.containers.create(spec(command=["true"], log_driver=DRIVER))
    assert env.calls() == []
    assert env.driver.plugin.count("Plugin.Activate") == 1


async def test_start_logging_error_fails_the_start(env: Env) -> None:
    env.driver.plugin.on("LogDriver.StartLogging", {"Err": "no backend"})
    with pytest.raises(ContainerError) as caught:
        await run(env, "echo hi")
    assert str(caught.value) == (
        "failed to create task for container: failed to initialize logging driver: "
        "error creating logger: no backend"
    )


async def test_stop_logging_comes_before_unmount(short_tmp: Path) -> None:
    driver = MockLogDriver(DRIVER)
    volumes = MockVolumePlugin(short_tmp / "vstate", name="vd")
    async with trio.open_nursery() as nursery:
        plugins = short_tmp / "run/docker/plugins"
        await nursery.start(driver.serve, f"unix:{plugins / DRIVER}.sock")
        await nursery.start(volumes.serve, f"unix:{plugins / 'vd'}.sock")
        async with open_engine(root=short_tmp) as engine:
            await engine.containers.run(
                spec(command=["echo", "x"], volumes=["v:/d"], volume_driver="vd", log_driver=DRIVER)
            )
            order = [
                e.method
                for e in engine.journal
                if e.method.split(".")[1] in ("Mount", "Unmount", "StartLogging", "StopLogging")
            ]
        nursery.cancel_scope.cancel()
    assert order == [
        "VolumeDriver.Mount",
        "LogDriver.StartLogging",
        "LogDriver.StopLogging",
        "VolumeDriver.Unmount",
    ]


async def test_stalled_plugin_blocks_the_container_until_it_reads(
    env: Env, autojump_clock: trio.testing.MockClock
) -> None:
    env.driver.stall()
    container = await env.engine.containers.run(
        spec(command=["seq", "30000"], log_driver=DRIVER, detach=True)
    )
    await trio.sleep(60)
    assert container.running  # blocked writing its output
    output = env.engine.logs.output_of(container.id)
    assert output is not None
    assert output.stdout.buffered == output.stdout.capacity
    env.driver.resume()
    await env.engine.containers.wait(container.id)
    assert len(env.driver.entries(container.id)) == 30000


async def test_non_blocking_mode_drops_instead_of_blocking(
    env: Env, autojump_clock: trio.testing.MockClock
) -> None:
    env.driver.stall()
    container = await env.engine.containers.run(
        spec(
            command=["seq", "20000"],
            log_driver=DRIVER,
            log_opts={"mode": "non-blocking", "max-buffer-size": "4k"},
            detach=True,
        )
    )
    output = env.engine.logs.output_of(container.id)
    assert output is not None
    await trio.sleep(60)
    # The process wrote everything (the ring took it) although the plugin reads nothing.
    assert output.stdout.closed
    assert output.stdout.buffered == 0
    assert output.stdout.written == len("".join(f"{n}\n" for n in range(1, 20001)))
    # As in dockerd, closing the ring waits for the write it is in: the exit completes
    # only once the plugin reads again.
    env.driver.resume()
    await env.engine.containers.wait(container.id)
    assert not env.driver.streams[0].error
    assert 0 < len(env.driver.entries(container.id)) < 20000


async def test_docker_logs_of_a_stopped_container_is_the_fresh_logger_dance(env: Env) -> None:
    cid = await run(env, "echo one; echo two")
    before = len(env.calls())
    container = env.engine.containers.get(cid)
    reading = await env.engine.logs.open(container, ReadOptions(), running=False)
    lines = [line.line async for line in reading.lines()]
    await reading.aclose()
    assert lines == [b"one\n", b"two\n"]
    assert env.calls()[before:] == ["Capabilities", "StartLogging", "ReadLogs", "StopLogging"]
    (read,) = env.bodies("ReadLogs")
    assert isinstance(read, dict)
    assert list(read) == ["Info", "Config"]
    assert read["Config"] == {
        "Since": "0001-01-01T00:00:00Z",
        "Until": "0001-01-01T00:00:00Z",
        "Tail": -1,
        "Follow": False,
    }


async def test_without_read_logs_the_local_cache_answers(short_tmp: Path) -> None:
    driver = MockLogDriver(DRIVER, read_logs=False)
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.serve, f"unix:{short_tmp / 'run/docker/plugins' / DRIVER}.sock")
        async with open_engine(root=short_tmp) as engine:
            container = await engine.containers.run(
                spec(command=["sh", "-c", "echo hello world"], log_driver=DRIVER)
            )
            reading = await engine.logs.open(container, ReadOptions(), running=False)
            lines = [line.line async for line in reading.lines()]
            await reading.aclose()
            assert lines == [b"hello world\n"]
            assert driver.plugin.count("LogDriver.ReadLogs") == 0
            disabled = await engine.containers.run(
                spec(command=["echo", "x"], log_driver=DRIVER, log_opts={"cache-disabled": "true"})
            )
            with pytest.raises(LoggingError) as caught:
                await engine.logs.open(disabled, ReadOptions(), running=False)
            assert str(caught.value) == "configured logging driver does not support reading"
            assert caught.value.http_status == 501
        nursery.cancel_scope.cancel()


def _fifo_fds(root: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(root / "run/docker/logging")):
            found.append(target)
    return found


async def test_no_fifo_or_fd_left_behind(env: Env) -> None:
    container = await env.engine.containers.run(
        spec(command=["sh", "-c", "echo a; sleep 5"], log_driver=DRIVER, detach=True)
    )
    assert len(_fifo_fds(env.root)) == 2  # the engine's read-write end, the plugin's reader
    await env.engine.containers.wait(container.id)
    assert list((env.root / "run/docker/logging").iterdir()) == []
    assert _fifo_fds(env.root) == []


async def test_fifo_delay_fault_holds_each_record(
    env: Env, autojump_clock: trio.testing.MockClock
) -> None:
    env.engine.faults.add(call="LogDriver.FIFO", plugin=DRIVER, delay=3)
    began = trio.current_time()
    cid = await run(env, "echo a; echo b")
    assert trio.current_time() - began >= 6  # the exit waited for the copier (< 10 s)
    assert [r.text for r in env.driver.entries(cid)] == ["a", "b"]
    assert [f.method for f in env.engine.faults.fired] == ["LogDriver.FIFO"] * 2


async def test_a_stuck_fifo_write_holds_the_exit_until_the_hang_guard(
    env: Env, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    # dockerd: Reset waits 10 s for the copier, then Close takes the adapter's lock,
    # which the blocked write holds: it waits forever.  The emulator's hang guard (300 s)
    # ends that wait and says so.
    env.engine.faults.add(call="LogDriver.FIFO", fault="hang")
    began = trio.current_time()
    cid = await run(env, "echo a")
    waited = trio.current_time() - began
    assert 310 <= waited < 311
    assert "Logger didn't exit in time: logs may be truncated" in caplog.text
    assert "dockerd would wait for it forever before StopLogging" in caplog.text
    assert env.driver.entries(cid) == []
    assert env.calls()[-1] == "StopLogging"


async def test_plugin_dying_mid_stream_blocks_the_container_and_leaves_the_fifo(
    env: Env, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    container = await env.engine.containers.run(
        spec(command=["sh", "-c", "echo a; sleep 5; seq 100000"], log_driver=DRIVER, detach=True)
    )
    file = Path(env.bodies("StartLogging")[0]["File"])  # type: ignore[index]
    await trio.sleep(1)
    env.driver.crash()
    await trio.sleep(60)
    assert container.running  # the FIFO is full and nobody reads it: the output blocks
    began = trio.current_time()
    await env.engine.containers.kill(container.id)
    # 10 s for the copier, the stuck write's lock (forever in dockerd: the hang guard's
    # 300 s here), then StopLogging retried against a dead socket (~15 s)
    assert trio.current_time() - began >= 325
    assert not container.running
    assert "error closing logger" in caplog.text
    assert file.exists()  # a failed StopLogging leaves the FIFO in place, as in dockerd
    assert [r.text for r in env.driver.entries(container.id)] == ["a"]


def test_fifo_faults_take_only_what_a_pipe_can_do() -> None:
    from emulator.faults import FaultSet

    faults = FaultSet()
    with pytest.raises(ValueError, match=r"cannot apply to LogDriver\.FIFO"):
        faults.add(call="LogDriver.FIFO", respond={"status": 500})
    with pytest.raises(ValueError, match="reset cannot apply"):
        faults.add(call="LogDriver.FIFO", fault="reset")
    faults.add(call="LogDriver.FIFO", fault="drip", rate=100)


@pytest.mark.parametrize(
    ("driver", "opts", "text"),
    [
        ("json-file", {"nope": "1"}, "unknown log opt 'nope' for json-file log driver"),
        ("local", {"nope": "1"}, "unknown log opt 'nope' for log driver local"),
        ("json-file", {"mode": "fast"}, "logger: logging mode not supported: fast"),
        (
            "json-file",
            {"max-buffer-size": "1m"},
            "logger: max-buffer-size option is only supported with 'mode=non-blocking'",
        ),
        (
            "json-file",
            {"mode": "non-blocking", "max-buffer-size": "lots"},
            "error parsing option max-buffer-size: invalid size: 'lots'",
        ),
        (
            "json-file",
            {"cache-disabled": "maybe"},
            "invalid value for option cache-disabled: maybe",
        ),
        ("json-file", {"tag": "x"}, "does not implement the log option 'tag'"),
    ],
)
async def test_log_opts_are_checked_as_dockerd_does(
    env: Env, driver: str, opts: dict[str, str], text: str
) -> None:
    with pytest.raises(LogConfigError) as caught:
        await env.engine.containers.create(spec(command=["true"], log_driver=driver, log_opts=opts))
    assert text in str(caught.value)
    assert caught.value.http_status == 400


async def test_builtin_drivers_the_emulator_lacks_fail_at_start(env: Env) -> None:
    created = await env.engine.containers.create(spec(command=["true"], log_driver="syslog"))
    with pytest.raises(ContainerError) as caught:
        await env.engine.containers.start(created.id)
    assert str(caught.value) == (
        "failed to create task for container: failed to initialize logging driver: "
        "the emulator does not emulate the syslog logging driver"
    )


async def test_plugin_options_pass_through_unchecked(env: Env) -> None:
    await run(env, "true", log_opts={"anything": "goes", "tag": "x", "mode": "blocking"})
    (start,) = env.bodies("StartLogging")
    assert start["Info"]["Config"] == {"anything": "goes", "tag": "x", "mode": "blocking"}  # type: ignore[index]


async def test_a_container_that_ends_by_itself_unmounts_and_stops_logging(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # The exit used to cancel its own task (the sleep's scope), so nothing after the first
    # checkpoint ran: no StopLogging, no Unmount.
    driver = MockLogDriver(DRIVER)
    volumes = MockVolumePlugin(short_tmp / "vstate", name="vd")
    async with trio.open_nursery() as nursery:
        plugins = short_tmp / "run/docker/plugins"
        await nursery.start(driver.serve, f"unix:{plugins / DRIVER}.sock")
        await nursery.start(volumes.serve, f"unix:{plugins / 'vd'}.sock")
        async with open_engine(root=short_tmp) as engine:
            container = await engine.containers.run(
                spec(
                    command=["sleep", "5"],
                    volumes=["v:/d"],
                    volume_driver="vd",
                    log_driver=DRIVER,
                    detach=True,
                )
            )
            await engine.containers.wait(container.id)
            assert container.state == "exited"
            assert engine.journal.count("VolumeDriver.Unmount") == 1
            assert engine.journal.count("LogDriver.StopLogging") == 1
        nursery.cancel_scope.cancel()


_SUPPORT = static_support()


@pytest.mark.skipif(not _SUPPORT.available, reason=_SUPPORT.reason or "no container runtime")
async def test_a_real_process_s_output_reaches_the_plugin(short_tmp: Path) -> None:
    """The same path for a container that runs its command: its pipes → the streams → the
    log driver's copier → the FIFO."""
    driver = MockLogDriver(DRIVER)
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.serve, f"unix:{short_tmp / 'run/docker/plugins' / DRIVER}.sock")
        async with open_engine(root=short_tmp, containers="processes") as engine:
            container = await engine.containers.run(
                spec(
                    command=[
                        "sh",
                        "-c",
                        "echo out; echo err >&2; head -c 40960 /dev/zero | tr '\\0' x; echo",
                    ],
                    log_driver=DRIVER,
                )
            )
            assert container.exit_code == 0
            records = driver.entries(container.id)
            assert {(r.source, r.text) for r in records[:2]} | {
                (r.source, r.text) for r in records if r.partial is None
            } >= {("stdout", "out"), ("stderr", "err")}
            long = [r for r in records if r.partial is not None]
            assert [len(r.line) for r in long] == [16384, 16384, 8192]
            assert engine.logs.entries(container.id) == records
        nursery.cancel_scope.cancel()
