"""``plugin-emulator serve`` starting plugins: network and IPAM mocks, the author's own
command, a plugins file; ``docker info`` listing what is there; plugin output on demand.

Run as a user runs it: a real ``serve`` process and the real ``docker`` CLI.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.engine_api import DOCKER

DIRVOL = Path(__file__).resolve().parent.parent / "examples" / "plugins" / "dirvol.py"
EMULATOR = [sys.executable, "-m", "emulator"]
needs_docker = pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")


class Serving:
    """A running ``serve``: its socket, and the docker CLI pointed at it."""

    def __init__(self, proc: subprocess.Popen[str], sock: Path, config: Path) -> None:
        self.proc = proc
        self.sock = sock
        self.config = config
        self.stderr = ""

    def docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert DOCKER is not None
        env = {
            **os.environ,
            "DOCKER_HOST": f"unix://{self.sock}",
            "DOCKER_CONFIG": str(self.config),
        }
        return subprocess.run(
            [DOCKER, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    def get(self, path: str) -> tuple[int, Any]:
        """GET ``path`` from the served API (the control API included)."""
        conn = http.client.HTTPConnection("localhost", timeout=30)
        conn.sock = socket.socket(socket.AF_UNIX)
        conn.sock.connect(str(self.sock))
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()


@contextmanager
def serving(tmp: Path, *args: str) -> Iterator[Serving]:
    sock = tmp / "engine.sock"
    proc = subprocess.Popen(
        [*EMULATOR, "serve", "--engine-socket", str(sock), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Serving(proc, sock, tmp)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"serve ended ({proc.returncode}) before serving:\n{err}")
        assert line == f"export DOCKER_HOST=unix://{sock}\n"
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, served.stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, served.stderr
    assert "Traceback" not in served.stderr


def info_plugins(served: Serving) -> dict[str, Any]:
    result = served.docker("info", "--format", "{{json .Plugins}}")
    assert result.returncode == 0, result.stderr
    plugins: dict[str, Any] = json.loads(result.stdout)
    return plugins


@needs_docker
def test_network_and_ipam_mocks_with_the_docker_cli(short_tmp: Path) -> None:
    with serving(short_tmp, "--mock", "mynet=network", "--mock", "myipam=ipam") as served:
        assert info_plugins(served)["Network"] == ["bridge", "host", "null"]
        created = served.docker("network", "create", "-d", "mynet", "--ipam-driver", "myipam", "n1")
        assert created.returncode == 0, created.stderr
        run = served.docker("run", "-d", "--name", "app", "--network", "n1", "busybox", "top")
        assert run.returncode == 0, run.stderr
        inspect = served.docker("network", "inspect", "n1", "--format", "{{.Driver}}")
        assert inspect.stdout.strip() == "mynet"
        # docker info lists the network driver in use, as GetNetworkDriverList does
        assert info_plugins(served)["Network"] == ["bridge", "host", "mynet", "null"]
        assert served.docker("rm", "-f", "app").returncode == 0
        assert served.docker("network", "rm", "n1").returncode == 0
        _status, journal = served.get("/emulator/journal?plugin=mynet")
        methods = [e["method"] for e in journal]
        assert methods[:2] == ["Plugin.Activate", "NetworkDriver.GetCapabilities"]
        assert "NetworkDriver.Join" in methods
        assert methods[-1] == "NetworkDriver.DeleteNetwork"


@needs_docker
def test_your_own_plugin_command_with_the_docker_cli(short_tmp: Path) -> None:
    command = [sys.executable, str(DIRVOL), "--socket", "{socket}", "--state", "{root}/vols"]
    args = ["--log-level", "debug", "--plugin", "dirvol", "--", *command]
    with serving(short_tmp, *args) as served:
        plugins = info_plugins(served)
        assert plugins["Volume"] == ["local"]  # dockerd lists a v1 driver once looked up
        assert plugins["Authorization"] is None
        assert "json-file" in plugins["Log"]  # dockerd's built-in drivers (docs/logging.md)
        assert served.docker("volume", "create", "-d", "dirvol", "data").stdout == "data\n"
        run = served.docker("run", "--rm", "-v", "data:/data", "busybox", "true")
        assert run.returncode == 0, run.stderr
        assert info_plugins(served)["Volume"] == ["dirvol", "local"]
        status, output = served.get("/emulator/plugin-output?plugin=dirvol")
        assert status == 200
        texts = [line["text"] for line in output[0]["lines"]]
        assert any("/VolumeDriver.Mount" in text for text in texts)
        assert {line["stream"] for line in output[0]["lines"]} == {"stderr"}
        since = output[0]["lines"][-1]["number"]
        assert served.get(f"/emulator/plugin-output?since={since}")[1] == [
            {"plugin": "dirvol", "lines": []}
        ]
        status, error = served.get("/emulator/plugin-output?plugin=other")
        assert status == 404
        assert error["message"] == "no plugin 'other' was started by serve (started: dirvol)"
    # the plugin logs INFO lines on stderr: serve does not turn them into errors
    assert "level=error" not in served.stderr
    assert 'msg="INFO dirvol: serving on ' in served.stderr  # debug: the lines, live
    assert "plugin=dirvol stream=stderr" in served.stderr


def test_a_plugins_file_and_its_mistakes(short_tmp: Path) -> None:
    good = short_tmp / "plugins.yaml"
    good.write_text(
        "plugins:\n"
        "  - {name: vol, builtin: volume}\n"
        f"  - name: dirvol\n    command: [{sys.executable}, {DIRVOL}, --socket, '{{socket}}',"
        " --state, '{root}/v']\n    env: {PYTHONUNBUFFERED: '1'}\n"
    )
    with serving(short_tmp, "--plugins-file", str(good)) as served:
        status, output = served.get("/emulator/plugin-output")
        assert status == 200
        assert [o["plugin"] for o in output] == ["dirvol"]  # built-in mocks write nothing
    bad = short_tmp / "bad.yaml"
    bad.write_text("plugins:\n  - {name: vol, biltin: volume}\n")
    result = subprocess.run(
        [*EMULATOR, "serve", "--plugins-file", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"{bad}:2:17: unknown key 'biltin' in plugin (did you mean 'builtin'?)" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--mock", "a=nfs"],
            "'a=nfs': use NAME=KIND with KIND one of volume, network, ipam, authz, log",
        ),
        (["--plugin", "mine"], "--plugin mine needs its command after '--'"),
        (["--", "./myplugin"], "unexpected arguments './myplugin'"),
        (["--mock", "a=volume", "--mock", "a=network"], "two plugins are named 'a'"),
        (["--plugin", "../x", "--", "true"], "plugin name '../x' must be letters"),
    ],
)
def test_serve_refuses_wrong_plugins(short_tmp: Path, args: list[str], message: str) -> None:
    result = subprocess.run(
        [*EMULATOR, "serve", "--engine-socket", str(short_tmp / "e.sock"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_a_plugin_that_does_not_start_is_reported_with_its_output(short_tmp: Path) -> None:
    result = subprocess.run(
        [
            *(*EMULATOR, "serve", "--engine-socket", str(short_tmp / "e.sock")),
            *("--plugin", "bad", "--", sys.executable, "-c", "import sys; sys.exit('no config')"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "error: plugin bad exited with status 1 before accepting connections" in result.stderr
    assert "  no config" in result.stderr
    assert not (short_tmp / "e.sock").exists()
