"""``plugin-emulator serve`` stopped and started again on the same data-root, as a user does.

A restart serves within seconds whatever the data-root holds, brings back every
volume, container and network with every field it had, and never grows the database.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine_api import DOCKER
from tests.serve_process import ServeProcess
from tests.test_managed import plugin_dir

pytestmark = pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")


@pytest.fixture
def serve(short_tmp: Path) -> Iterator[ServeProcess]:
    process = ServeProcess(short_tmp, ("--mock", "mv=volume"))
    try:
        yield process
    finally:
        process.kill()


def _db_bytes(data_root: Path) -> int:
    return sum(p.stat().st_size for p in data_root.glob("emulator.db*"))


def _populate(serve: ServeProcess) -> None:
    serve.ok("volume", "create", "-d", "mv", "--label", "k=v", "v1")
    serve.ok("create", "--name", "a", "-v", "v1:/data", "busybox", "true")
    serve.ok("create", "--name", "b", "busybox", "true")
    serve.ok("create", "--name", "c", "-v", "/anon", "busybox", "true")
    serve.ok("network", "create", "n1")
    ran = serve.docker("run", "--name", "d", "--network", "n1", "busybox", "sh", "-c", "exit 3")
    assert (ran.rc, ran.err) == (3, "")


def test_restart_with_many_containers_serves_at_once_and_keeps_the_database_size(
    serve: ServeProcess,
) -> None:
    serve.start()
    _populate(serve)
    assert serve.stop() == 0
    before = _db_bytes(serve.data_root)

    took = serve.start(ready_within=15)

    assert took < 15
    assert _db_bytes(serve.data_root) <= before + 64 * 1024
    names = serve.ok("ps", "-a", "--format", "{{.Names}}").split()
    assert sorted(names) == ["a", "b", "c", "d"]
    assert serve.stop() == 0
    assert _db_bytes(serve.data_root) <= before + 64 * 1024


def test_everything_comes_back_as_it_was(serve: ServeProcess) -> None:
    serve.start()
    _populate(serve)
    names = ("a", "b", "c", "d")
    containers = json.loads(serve.ok("inspect", *names))
    network = json.loads(serve.ok("network", "inspect", "n1"))
    volume = json.loads(serve.ok("volume", "inspect", "v1"))
    serve.ok("run", "-d", "--name", "e", "-v", "v1:/data", "--network", "n1", "busybox", "top")
    assert serve.stop() == 0  # the running container e is stopped as dockerd stops it

    serve.start()
    assert json.loads(serve.ok("inspect", *names)) == containers
    assert json.loads(serve.ok("network", "inspect", "n1")) == network
    assert json.loads(serve.ok("volume", "inspect", "v1")) == volume
    status = dict(
        line.split(" ", 1)
        for line in serve.ok("ps", "-a", "--format", "{{.Names}} {{.Status}}").splitlines()
    )
    assert status["a"] == "Created"
    assert status["d"].startswith("Exited (3) ")
    assert status["e"].startswith("Exited (143) ")
    assert "years" not in serve.ok("ps", "-a", "--format", "{{.CreatedAt}} {{.RunningFor}}")
    # The restored network works: the container starts on it again.
    serve.ok("start", "e")
    assert serve.ok("inspect", "-f", "{{.State.Status}}", "e") == "running\n"
    assert serve.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_a_restore_that_never_ends_stops_serve(
    serve: ServeProcess, sig: signal.Signals
) -> None:
    """The restore waits on a plugin that never answers: a signal still stops ``serve``."""
    serve.start()
    serve.ok("volume", "create", "-d", "mv", "v1")
    assert serve.stop() == 0
    # Now the plugin is a socket that accepts connections and never answers.
    serve.args = ()
    hung = serve.root / "run/docker/plugins/mv/mv.sock"
    hung.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(hung))
        listener.listen(16)
        listener.settimeout(20)
        serve.launch()
        connection, _ = listener.accept()  # serve is restoring: it asks the plugin
        with connection:
            started = time.monotonic()
            assert serve.stop(sig, within=10) == 0
    assert time.monotonic() - started < 5
    assert "Traceback" not in serve.stderr()


def _plugin_processes(data_root: Path) -> set[int]:
    """Processes running a managed plugin's rootfs under ``data_root``."""
    found = set()
    needle = str(data_root / "plugins").encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def test_a_plugin_left_running_by_a_killed_serve_is_shut_down_at_start(
    serve: ServeProcess,
) -> None:
    """dockerd's restore: a managed plugin found alive is shut down, then enabled again."""
    serve.start()
    source = plugin_dir(serve.root / "src")
    serve.ok("plugin", "create", "mockvol", str(source))
    serve.ok("plugin", "enable", "mockvol")
    try:
        left = _plugin_processes(serve.data_root)
        assert left
        serve.kill()  # the plugin runs in its own session: it outlives serve
        assert _plugin_processes(serve.data_root) == left

        serve.start()
        now = _plugin_processes(serve.data_root)
        assert now
        assert not now & left
        assert serve.ok("plugin", "inspect", "-f", "{{.Enabled}}", "mockvol") == "true\n"
        assert serve.stop() == 0
        assert _plugin_processes(serve.data_root) == set()
    finally:
        for pid in _plugin_processes(serve.data_root):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


HANGING_UNMOUNT = """
import http.server, json, os, socketserver, sys, time

path, data = sys.argv[1], sys.argv[2]

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path == "/VolumeDriver.Unmount":
            time.sleep(3600)  # never answers
        answers = {
            "/Plugin.Activate": {"Implements": ["VolumeDriver"]},
            "/VolumeDriver.Capabilities": {"Capabilities": {"Scope": "local"}},
            "/VolumeDriver.Get": {"Volume": {"Name": body.get("Name", "")}},
            "/VolumeDriver.Mount": {"Mountpoint": data},
        }
        answer = json.dumps(answers.get(self.path, {})).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass

class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

Server(path, Handler).serve_forever()
"""


@pytest.fixture
def hanging_plugin(short_tmp: Path) -> Iterator[None]:
    """A v1 volume plugin ``hang`` whose Unmount never answers."""
    sock = short_tmp / "run/docker/plugins/hang.sock"
    sock.parent.mkdir(parents=True, exist_ok=True)
    (short_tmp / "hang-data").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", HANGING_UNMOUNT, str(sock), str(short_tmp / "hang-data")]
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        yield
    finally:
        proc.kill()
        proc.wait()


def test_a_hung_plugin_holds_the_shutdown_no_longer_than_its_timeout(
    serve: ServeProcess, hanging_plugin: None
) -> None:
    serve.args = ("--shutdown-timeout", "2")
    serve.start()
    serve.ok(
        "run", "-d", "--name", "c", "-v", "v:/data", "--volume-driver", "hang", "busybox", "top"
    )
    started = time.monotonic()
    assert serve.stop(within=20) == 0
    assert 2 <= time.monotonic() - started < 6
    assert "Force shutdown daemon" in serve.stderr()
    assert "Traceback" not in serve.stderr()


def test_the_fourth_signal_ends_serve_at_once(serve: ServeProcess, hanging_plugin: None) -> None:
    """dockerd's trap: after three, another SIGINT/SIGTERM exits without clean-up."""
    serve.start()  # the default 15 s shutdown timeout
    serve.ok(
        "run", "-d", "--name", "c", "-v", "v:/data", "--volume-driver", "hang", "busybox", "top"
    )
    assert serve.proc is not None
    started = time.monotonic()
    for _ in range(3):
        serve.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
    assert serve.stop(signal.SIGTERM, within=10) == 128 + signal.SIGTERM
    assert time.monotonic() - started < 5
    assert "Forcing docker daemon shutdown without cleanup" in serve.stderr()
