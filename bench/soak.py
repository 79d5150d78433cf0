"""Soak: 1,000 create/start/wait/rm cycles through ``plugin-emulator serve``; no growth.

A cycle is what ``docker run --rm -v sv:/data busybox true`` asks of the Engine API,
as separate calls: ``POST /containers/create`` (a named volume on the built-in mock
volume plugin, so every cycle makes plugin calls: Get, Mount, Get, Unmount), ``start``,
``wait``, ``DELETE /containers/NAME``.  ``serve`` runs as its own process; its resident
memory, open file descriptors, threads and the files under its root are read from
``/proc`` and the file system (its ``TMPDIR`` is a directory under its root, so temporary
files count as files under the root).  The baseline is the same process after a warm-up
of ``--warmup`` cycles, measured in the same run; the figures are the ratios
end/baseline and end/middle (the bounded buffers, 1,000 journal entries and mock
records, fill during the first few hundred cycles), and the cycle time of the last 100
cycles over the first 100 after warm-up.

    .venv/bin/python bench/soak.py [--cycles 1000] [--warmup 100]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=30)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def call(connection: UnixHTTPConnection, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else b""
    connection.request(
        method, "/v1.51" + path, body=data, headers={"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    payload = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {payload!r}")
    return json.loads(payload) if payload.strip() else None


def cycle(connection: UnixHTTPConnection, index: int) -> None:
    name = f"soak{index}"
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Binds": ["sv:/data"]}}
    call(connection, "POST", f"/containers/create?name={name}", body)
    call(connection, "POST", f"/containers/{name}/start")
    result = call(connection, "POST", f"/containers/{name}/wait")
    assert result["StatusCode"] == 0, result
    call(connection, "DELETE", f"/containers/{name}")


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _files(root: Path) -> int:
    return sum(len(files) + len(dirs) for _, dirs, files in os.walk(root))


def measure(pid: int, root: Path) -> dict[str, float]:
    return {
        "rss_kib": _status(pid, "VmRSS"),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": _status(pid, "Threads"),
        "files_under_root": _files(root),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pe-soak-", dir="/tmp"))
    sock = root / "engine.sock"
    (root / "tmp").mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "serve",
            "--engine-socket",
            str(sock),
            "--root",
            str(root),
            "--mock",
            "mv=volume",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(root / "tmp")},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("export DOCKER_HOST=")
        connection = UnixHTTPConnection(sock)
        call(connection, "POST", "/volumes/create", {"Name": "sv", "Driver": "mv"})
        start = measure(proc.pid, root)
        times: list[float] = []
        baseline: dict[str, float] = {}
        middle: dict[str, float] = {}
        for index in range(args.warmup + args.cycles):
            began = time.perf_counter()
            cycle(connection, index)
            times.append(time.perf_counter() - began)
            if index + 1 == args.warmup:
                baseline = measure(proc.pid, root)
            if index + 1 == args.warmup + args.cycles // 2:
                middle = measure(proc.pid, root)
        end = measure(proc.pid, root)
        connection.close()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        leftover = _files(root / "tmp")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)
    first = sorted(times[args.warmup : args.warmup + 100])
    last = sorted(times[-100:])
    print(f"{args.cycles} cycles after {args.warmup} warm-up cycles; serve exit status {code}")
    print(
        f"{'measure':<18}{'at start':>10}{'baseline':>10}{'middle':>10}{'end':>10}"
        f"{'end/baseline':>14}{'end/middle':>12}"
    )
    for key in start:
        print(
            f"{key:<18}{start[key]:>10.0f}{baseline[key]:>10.0f}{middle[key]:>10.0f}"
            f"{end[key]:>10.0f}{end[key] / baseline[key]:>13.3f}x{end[key] / middle[key]:>11.3f}x"
        )
    median_first, median_last = first[len(first) // 2], last[len(last) // 2]
    print(
        f"cycle time median: first 100 {median_first * 1000:.2f} ms, last 100 "
        f"{median_last * 1000:.2f} ms, ratio {median_last / median_first:.3f}x"
    )
    print(f"files left in serve's TMPDIR after its exit: {leftover}")


if __name__ == "__main__":
    main()
