"""``plugin-emulator serve`` as a user runs it: the export line, a 0600 socket, clean exit."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine_api import DOCKER

EMULATOR = [sys.executable, "-m", "emulator"]


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*EMULATOR, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_export_line_and_cleans_up(short_tmp: Path, sig: signal.Signals) -> None:
    sock = short_tmp / "engine.sock"
    proc = _start("--engine-socket", str(sock), "--mock", "mv=volume", "--log-level", "debug")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == f"export DOCKER_HOST=unix://{sock}\n"
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(short_tmp)}
        done = subprocess.run(
            [str(DOCKER), "volume", "create", "-d", "mv", "vol"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert (done.returncode, done.stdout) == (0, "vol\n")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not sock.exists()
    assert 'level=debug msg="Calling POST /v' in err
    assert "plugin=mv" in err  # each plugin call is a debug line naming the plugin
    assert "Traceback" not in err


def test_serve_refuses_non_loopback_tcp(short_tmp: Path) -> None:
    proc = _start("--engine-socket", str(short_tmp / "e.sock"), "--tcp", "0.0.0.0:0")
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "only loopback TCP is allowed" in err
    assert not (short_tmp / "e.sock").exists()


def test_serve_on_loopback_tcp(short_tmp: Path) -> None:
    proc = _start(
        "--engine-socket", str(short_tmp / "e.sock"), "--tcp", "127.0.0.1:0", "--tcp-insecure"
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("export DOCKER_HOST=unix://")
        tcp = proc.stdout.readline()
        assert tcp.startswith("# also listening on tcp://127.0.0.1:")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_serve_json_logs(short_tmp: Path) -> None:
    sock = short_tmp / "e.sock"
    proc = _start("--engine-socket", str(sock), "--log-level", "debug", "--log-format", "json")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("export DOCKER_HOST=")
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(sock))
            s.sendall(b"GET /v1.51/_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    calling = [line for line in lines if line["msg"] == "Calling GET /v1.51/_ping"]
    assert calling
    assert calling[0]["level"] == "debug"
    assert set(calling[0]) >= {"level", "msg", "time"}
