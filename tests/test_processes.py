"""PluginProcess: real plugin processes started, watched, faulted and cleaned up."""

from __future__ import annotations

import itertools
import json
import logging
import os
import socket
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing

import emulator.engine.private_run as private_run
from emulator import open_engine
from emulator.clock import VirtualClock
from emulator.engine.processes import (
    PluginProcess,
    PluginStartError,
    ProcessSpec,
    private_run_support,
)
from tests.rclone import rclone_available

#: A small legacy volume plugin: HTTP on a unix socket, answering /Plugin.Activate.
#: Flags pick its misbehaviour.
PLUGIN = textwrap.dedent(
    """
    import http.server, json, os, signal, socketserver, sys, time

    path, flags = sys.argv[1], set(sys.argv[2:])

    def bye(*_):
        print("bye", flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, signal.SIG_IGN if "--ignore-term" in flags else bye)
    if "--fail" in flags:
        print("fatal: bad config", file=sys.stderr, flush=True)
        sys.exit(3)
    if "--no-bind" in flags:
        for i in range(30):
            print(f"starting {i}", flush=True)
        time.sleep(3600)
    if "--fork" in flags:
        child = os.fork()
        if child == 0:
            time.sleep(3600)
            os._exit(0)
        print(f"child {child}", flush=True)
    if "--escape" in flags:  # a daemon in its own session that keeps our stdout
        r, w = os.pipe()
        middle = os.fork()
        if middle == 0:
            os.setsid()
            if os.fork() == 0:
                os.write(w, str(os.getpid()).encode())
                time.sleep(3600)
            os._exit(0)
        os.waitpid(middle, 0)
        print(f"escaped {os.read(r, 20).decode()}", flush=True)
    if "--hard" in flags:
        path = "/run/docker/plugins/hard.sock"
        os.makedirs(os.path.dirname(path), exist_ok=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/Crash":
                os._exit(7)
            answer = {"Implements": ["VolumeDriver"]} if self.path == "/Plugin.Activate" else {}
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.docker.plugins.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            print(f"served {self.path}", flush=True)

        def log_message(self, *args):
            pass

        def address_string(self):
            return "unix"

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    server = Server(path, Handler)
    print(f"listening on {path}", flush=True)
    print("a warning on stderr", file=sys.stderr, flush=True)
    server.serve_forever()
    """
)


@pytest.fixture(autouse=True)
def plugin_log(caplog: pytest.LogCaptureFixture) -> None:
    """Capture the emulator.plugin logger from INFO up."""
    caplog.set_level(logging.INFO, logger="emulator.plugin")


def make_plugin(root: Path, name: str = "py", *flags: str, **options: object) -> PluginProcess:
    """A PluginProcess running the script above with ``flags``."""
    script = root / "plugin.py"
    script.write_text(PLUGIN)
    spec = ProcessSpec(
        name,
        [sys.executable, str(script), "{socket}", *flags],
        socket=root / "run/docker/plugins" / f"{name}.sock",
        **{"private_run": False, **options},  # type: ignore[arg-type]
    )
    return PluginProcess(spec, root=root)


async def post(sock: Path, path: str) -> tuple[int, object]:
    """One HTTP POST over the unix socket, as dockerd would send it (Connection: close)."""
    conn = trio.socket.socket(socket.AF_UNIX)
    try:
        await conn.connect(str(sock))
        await conn.send(
            f"POST {path} HTTP/1.1\r\nHost: plugin.moby.localhost\r\n"
            f"Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := await conn.recv(65536):
            data += chunk
    finally:
        conn.close()
    if not data:
        raise ConnectionError(f"{sock} closed the connection without answering")
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def eventually(condition: Callable[[], object], timeout: float = 10) -> None:
    """Poll ``condition`` until it holds (real clock), at most ``timeout`` seconds."""
    with trio.fail_after(timeout):
        for _ in itertools.count():
            if condition():
                return
            await trio.sleep(0.01)


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def logged(
    caplog: pytest.LogCaptureFixture, level: int, contains: str = ""
) -> list[logging.LogRecord]:
    """Records of the emulator.plugin logger at ``level`` whose message has ``contains``."""
    return [
        r
        for r in caplog.records
        if r.name == "emulator.plugin" and r.levelno == level and contains in r.getMessage()
    ]


def pids_in(output: list[str], label: str) -> list[int]:
    return [int(line.split()[1]) for line in output if line.startswith(f"{label} ")]


async def test_starts_serves_keeps_its_output_and_cleans_up(
    short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="emulator.plugin.output")
    plugin = make_plugin(short_tmp)
    async with trio.open_nursery() as nursery:
        assert await nursery.start(plugin.run) is plugin
        assert plugin.running
        assert plugin.pid is not None
        assert os.getpgid(plugin.pid) == plugin.pid  # its own process group
        with trio.fail_after(10):
            assert await post(plugin.socket, "/Plugin.Activate") == (
                200,
                {"Implements": ["VolumeDriver"]},
            )
        await eventually(lambda: "served /Plugin.Activate" in plugin.output)
        pid = plugin.pid
        nursery.cancel_scope.cancel()
    assert not alive(pid)
    assert not plugin.socket.exists()
    assert plugin.exit_status == 0  # it handled SIGTERM
    # The plugin's own lines are kept, and logged at DEBUG only: never as the emulator's errors.
    kept = {line.text: line.stream for line in plugin.output_log.lines()}
    assert kept["served /Plugin.Activate"] == "stdout"
    assert kept["a warning on stderr"] == "stderr"
    lines = [r for r in caplog.records if getattr(r, "plugin", None) == "py"]
    output = [r for r in lines if r.name == "emulator.plugin.output"]
    assert {r.getMessage() for r in output} >= {
        "served /Plugin.Activate plugin=py",
        "a warning on stderr plugin=py",
    }
    assert {r.levelno for r in output} == {logging.DEBUG}
    assert {r.fields["stream"] for r in output} == {"stdout", "stderr"}  # type: ignore[attr-defined]
    assert not [r for r in lines if r.levelno >= logging.WARNING]


async def test_log_output_logs_as_dockerd_logs_a_managed_plugin(
    short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """moby/moby plugin/manager.go (makeLoggerStreams): stdout at INFO, stderr at ERROR."""
    plugin = make_plugin(short_tmp, log_output=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)
        await post(plugin.socket, "/Plugin.Activate")
        await eventually(lambda: "served /Plugin.Activate" in plugin.output)
        nursery.cancel_scope.cancel()
    lines = [r for r in caplog.records if getattr(r, "plugin", None) == "py"]
    stdout = [r for r in lines if r.getMessage() == "served /Plugin.Activate plugin=py"]
    stderr = [r for r in lines if r.getMessage() == "a warning on stderr plugin=py"]
    assert [(r.name, r.levelno) for r in stdout] == [("emulator.plugin", logging.INFO)]
    assert [(r.name, r.levelno) for r in stderr] == [("emulator.plugin", logging.ERROR)]


async def test_an_engine_finds_and_activates_it(short_tmp: Path) -> None:
    plugin = make_plugin(short_tmp, "pyvol")
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)
        async with open_engine(root=short_tmp) as engine:
            found = await engine.plugins.get("pyvol", "VolumeDriver")
            assert found.implements == ("VolumeDriver",)
        nursery.cancel_scope.cancel()


def test_placeholders_are_substituted(short_tmp: Path) -> None:
    plugin = PluginProcess(
        ProcessSpec(
            "n1",
            ["run", "--sock={socket}", "{root}/x", "{name}", '{"json": {name}}', "{other}"],
            socket=short_tmp / "n1.sock",
            private_run=False,
        ),
        root=short_tmp,
    )
    assert plugin.argv == [
        "run",
        f"--sock={short_tmp}/n1.sock",
        f"{short_tmp}/x",
        "n1",
        '{"json": n1}',
        "{other}",
    ]
    with pytest.raises(ValueError, match="107"):
        PluginProcess(ProcessSpec("n", ["x"], socket=short_tmp / ("s" * 120)), root=short_tmp)


async def test_startup_timeout_is_real_time_and_quotes_the_output(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A MockClock cannot fire the startup timeout early: it is measured in real time."""
    plugin = make_plugin(short_tmp, "py", "--no-bind", startup_timeout=0.5)
    start = time.monotonic()
    with pytest.raises(PluginStartError) as caught:
        await plugin.run()  # raises before it would report started
    assert time.monotonic() - start >= 0.5
    error = caught.value
    assert "did not accept connections" in str(error)
    assert "within 0.5s" in str(error)
    assert error.exit_status is None
    assert error.output == [f"starting {i}" for i in range(10, 30)]
    assert "  starting 29" in str(error)
    assert "starting 9\n" not in str(error)
    assert plugin.pid is not None
    assert not alive(plugin.pid)


async def test_a_plugin_that_exits_at_startup(short_tmp: Path) -> None:
    plugin = make_plugin(short_tmp, "py", "--fail")
    with pytest.raises(PluginStartError) as caught:
        await plugin.run()  # raises before it would report started
    assert "exited with status 3 before accepting connections" in str(caught.value)
    assert caught.value.exit_status == 3
    assert "fatal: bad config" in caught.value.output
    assert plugin.exit_status == 3


async def test_a_command_that_cannot_start(short_tmp: Path) -> None:
    spec = ProcessSpec("nope", ["/nonexistent/plugin"], socket=short_tmp / "s", private_run=False)
    plugin = PluginProcess(spec, root=short_tmp)
    with pytest.raises(PluginStartError, match="could not be started"):
        await plugin.run()


async def test_a_crash_is_logged_and_the_task_keeps_running(
    short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plugin = make_plugin(short_tmp)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)
        first = plugin.pid
        with pytest.raises(ConnectionError), trio.fail_after(10):  # the connection drops
            await post(plugin.socket, "/Crash")
        await eventually(lambda: not plugin.running)
        assert plugin.exit_status == 7
        assert logged(caplog, logging.ERROR, "plugin py exited with status 7")
        assert plugin.socket.exists()  # a crashed plugin leaves its socket behind
        with pytest.raises(ConnectionRefusedError):
            await post(plugin.socket, "/Plugin.Activate")
        await plugin.restart()
        assert plugin.running
        assert plugin.pid != first
        assert plugin.exit_status is None
        assert (await post(plugin.socket, "/Plugin.Activate"))[0] == 200
        nursery.cancel_scope.cancel()


async def test_kill_is_a_crash_without_an_error_log(
    short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plugin = make_plugin(short_tmp)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)
        await plugin.kill()
        assert not plugin.running
        assert plugin.exit_status == -9
        assert plugin.socket.exists()
        with pytest.raises(ConnectionRefusedError):
            await post(plugin.socket, "/Plugin.Activate")
        nursery.cancel_scope.cancel()
    assert logged(caplog, logging.INFO, "plugin py exited with status -9 (SIGKILL) after kill()")
    assert not logged(caplog, logging.ERROR, "exited")


async def test_stop_freezes_and_cont_resumes(short_tmp: Path) -> None:
    plugin = make_plugin(short_tmp)
    answers: list[object] = []

    async def request() -> None:
        answers.append(await post(plugin.socket, "/Plugin.Activate"))

    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)
        await plugin.stop()
        assert plugin.stopped
        assert plugin.running
        nursery.start_soon(request)
        await trio.sleep(0.3)
        assert answers == []  # accepted by the kernel, never answered
        await plugin.cont()
        assert not plugin.stopped
        await eventually(lambda: answers)
        assert answers == [(200, {"Implements": ["VolumeDriver"]})]
        nursery.cancel_scope.cancel()


async def test_remove_socket_keeps_the_process(short_tmp: Path) -> None:
    plugin = make_plugin(short_tmp)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)
        plugin.remove_socket()
        assert not plugin.socket.exists()
        assert plugin.running
        with pytest.raises(FileNotFoundError):
            await post(plugin.socket, "/Plugin.Activate")
        await plugin.restart()
        assert (await post(plugin.socket, "/Plugin.Activate"))[0] == 200
        nursery.cancel_scope.cancel()


async def test_terminate_is_graceful_when_the_plugin_cooperates(short_tmp: Path) -> None:
    plugin = make_plugin(short_tmp, grace=5)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)
        start = time.monotonic()
        await plugin.terminate()
        # Well inside the 5 s grace (no SIGKILL: status 0), with room for a loaded machine.
        assert time.monotonic() - start < 4
        assert plugin.exit_status == 0
        assert plugin.output[-1] == "bye"  # its last words were read before returning
        nursery.cancel_scope.cancel()


async def test_terminate_escalates_after_a_real_grace(
    short_tmp: Path, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    plugin = make_plugin(short_tmp, "py", "--ignore-term", grace=0.5)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)
        start = time.monotonic()
        await plugin.terminate()
        assert time.monotonic() - start >= 0.5  # not skipped by the MockClock
        assert plugin.exit_status == -9
        nursery.cancel_scope.cancel()
    assert logged(caplog, logging.WARNING, "still running 0.5s after SIGTERM: SIGKILL")


async def test_teardown_leaves_no_process_behind(short_tmp: Path) -> None:
    """SIGTERM-deaf leader and child, and a daemon that left the group but kept stdout."""
    plugin = make_plugin(short_tmp, "py", "--ignore-term", "--fork", "--escape", grace=0.3)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)
        await eventually(lambda: pids_in(plugin.output, "escaped"))
        leader = plugin.pid
        assert leader is not None
        (child,) = pids_in(plugin.output, "child")
        (escaped,) = pids_in(plugin.output, "escaped")
        assert os.getpgid(child) == leader
        assert os.getpgid(escaped) != leader  # left the group (setsid)
        assert all(alive(pid) for pid in (leader, child, escaped))
        nursery.cancel_scope.cancel()
    assert [pid for pid in (leader, child, escaped) if alive(pid)] == []
    assert not plugin.socket.exists()


async def test_teardown_of_a_stopped_plugin_is_graceful(short_tmp: Path) -> None:
    plugin = make_plugin(short_tmp, grace=5)
    start = time.monotonic()
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)
        await plugin.stop()
        nursery.cancel_scope.cancel()
    assert time.monotonic() - start < 4
    assert plugin.exit_status == 0  # SIGTERM was acted on once continued


def test_startup_holds_a_virtual_clock(short_tmp: Path) -> None:
    """Under a VirtualClock, starting a real process is real I/O: virtual time waits."""
    vclock = VirtualClock()
    order: list[str] = []

    async def sleeper() -> None:
        await trio.sleep(5)
        order.append("slept")

    async def main() -> None:
        plugin = make_plugin(short_tmp)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sleeper)
            await trio.lowlevel.checkpoint()
            await nursery.start(plugin.run)
            order.append("started")
            assert trio.current_time() == 0
            await trio.sleep(10)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=vclock.clock)
    assert order == ["started", "slept"]


async def test_private_run_puts_a_hard_coded_socket_under_the_root(short_tmp: Path) -> None:
    wrapper, why = await private_run_support()
    if wrapper is None:
        pytest.skip(f"no private mount namespace here: {why}")
    host_socket = Path("/run/docker/plugins/hard.sock")
    assert not host_socket.exists()
    plugin = make_plugin(
        short_tmp,
        "hard",
        "--hard",
        private_run=True,
    )
    assert plugin.socket == short_tmp / "run/docker/plugins/hard.sock"
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)
        assert plugin.command is not None
        assert plugin.command[0].endswith("unshare")
        assert "listening on /run/docker/plugins/hard.sock" in plugin.output
        assert plugin.socket.is_socket()
        assert not host_socket.exists()
        assert (await post(plugin.socket, "/Plugin.Activate"))[0] == 200
        nursery.cancel_scope.cancel()
    assert not plugin.socket.exists()
    assert plugin.exit_status == 0


async def test_private_run_falls_back_with_a_warning(
    short_tmp: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(private_run, "_redirect_support", (None, "unshare: not allowed"))
    plugin = make_plugin(short_tmp, private_run=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)
        assert plugin.command == plugin.argv
        nursery.cancel_scope.cancel()
    (warning,) = logged(caplog, logging.WARNING, "private_run is not available")
    assert "unshare: not allowed" in warning.getMessage()


#: rclone_available() says loudly what is missing ("... In CI this skip is a defect.").
RCLONE_MISSING = rclone_available()


@pytest.mark.skipif(RCLONE_MISSING is not None, reason=RCLONE_MISSING or "")
async def test_rclone_as_a_plugin_process(
    short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (short_tmp / "rclone.conf").touch()
    spec = ProcessSpec(
        "rclone",
        [
            "rclone",
            "serve",
            "docker",
            "--socket-addr={socket}",
            "--base-dir={root}/base",
            "--cache-dir={root}/cache",
            "--config={root}/rclone.conf",
            "--forget-state",
            "--no-spec",
            "-v",
        ],
        socket=short_tmp / "run/docker/plugins/rclone.sock",
        private_run=False,
    )
    plugin = PluginProcess(spec, root=short_tmp)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)
        with trio.fail_after(30):
            status, answer = await post(plugin.socket, "/Plugin.Activate")
        assert (status, answer) == (200, {"Implements": ["VolumeDriver"]})
        pid = plugin.pid
        assert pid is not None
        nursery.cancel_scope.cancel()
    assert not alive(pid)
    assert not plugin.socket.exists()
    assert any(getattr(r, "plugin", None) == "rclone" for r in caplog.records)
