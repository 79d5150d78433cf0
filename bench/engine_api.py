"""The emulator's share of ``docker volume create`` / ``docker volume ls`` wall time.

Each command is run with the real docker CLI against (a) the emulator's Engine API and
(b) a static h11 server that answers, from a table, the very bytes the emulator answered
(recorded in the same run).  The difference is the emulator's cost; its share is that
difference over the emulator's time.  Runs alternate so both see the same machine state.

    .venv/bin/python bench/engine_api.py [--runs 30] [--driver local|mock]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h11
import trio

from emulator.api.server import serve
from emulator.engine.core import open_engine
from emulator.mocks.volume import MockVolumePlugin

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
_VERSION = re.compile(rb"^/v[0-9.]+")


def _key(method: bytes, target: bytes) -> tuple[bytes, bytes]:
    return method, _VERSION.sub(b"", target.split(b"?", 1)[0])


def record(sock: str, method: str, target: str, body: bytes = b"") -> Answer:
    """One request to the emulator; its status, headers (no Date) and body."""
    conn = h11.Connection(h11.CLIENT)
    headers = [("Host", "api.moby.localhost"), ("Content-Length", str(len(body)))]
    if body:
        headers.append(("Content-Type", "application/json"))
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock)
        s.sendall(conn.send(h11.Request(method=method, target=target, headers=headers)))
        if body:
            s.sendall(conn.send(h11.Data(data=body)))
        s.sendall(conn.send(h11.EndOfMessage()))
        status, got, data = 0, [], b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(s.recv(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                got = [(k, v) for k, v in event.headers if k not in (b"date", b"connection")]
            elif isinstance(event, h11.Data):
                data += event.data
            elif isinstance(event, h11.EndOfMessage):
                return status, got, data


async def serve_static(
    path: Path,
    table: dict[tuple[bytes, bytes], Answer],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer each request from ``table`` (keep-alive, h11) until cancelled."""

    async def handle(stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        key = (b"", b"")
        async with stream:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(event, h11.Request):
                    key = _key(event.method, event.target)
                elif isinstance(event, h11.EndOfMessage):
                    status, headers, body = table[key]
                    out = conn.send(h11.Response(status_code=status, headers=headers))
                    if body and key[0] != b"HEAD":
                        out += conn.send(h11.Data(data=body))
                    out += conn.send(h11.EndOfMessage())
                    await stream.send_all(out)
                    conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    return

    sock = trio.socket.socket(trio.socket.AF_UNIX)
    await sock.bind(str(path))
    sock.listen(128)
    listener = trio.SocketListener(sock)
    try:
        task_status.started()
        await trio.serve_listeners(handle, [listener])
    finally:
        path.unlink(missing_ok=True)


def _docker(host: str, args: list[str], *, config: Path) -> float:
    env = {**os.environ, "DOCKER_HOST": host, "DOCKER_CONFIG": str(config)}
    docker = shutil.which("docker")
    assert docker is not None, "the docker CLI is not installed"
    start = time.perf_counter()
    done = subprocess.run([docker, *args], env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {done.stderr.decode()}")
    return elapsed


async def main(runs: int, driver: str) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="pe-bench-", dir="/tmp"))
    config = tmp / "docker-config"
    config.mkdir()
    try:
        async with trio.open_nursery() as nursery:
            if driver == "mock":
                plugin = MockVolumePlugin(tmp / "mock", name="mv")
                await nursery.start(plugin.serve, f"unix:{tmp}/run/docker/plugins/mv/mv.sock")
            async with open_engine(root=tmp) as engine:
                host = await nursery.start(serve, engine, f"unix:{tmp}/emu.sock")
                drv = "mv" if driver == "mock" else "local"
                commands = {
                    "volume create": ["volume", "create", "-d", drv, "benchvol"],
                    "volume ls": ["volume", "ls"],
                }
                run: Callable[[str, list[str]], float] = functools.partial(_docker, config=config)
                await trio.to_thread.run_sync(run, host, commands["volume create"])
                sock = str(tmp / "emu.sock")
                create_body = json.dumps({"Driver": drv, "Name": "benchvol"}).encode()
                table: dict[tuple[bytes, bytes], Answer] = {}
                for method, target, body in [
                    ("HEAD", "/_ping", b""),
                    ("GET", "/_ping", b""),
                    ("POST", "/v1.51/volumes/create", create_body),
                    ("GET", "/v1.51/volumes", b""),
                ]:
                    answer = await trio.to_thread.run_sync(record, sock, method, target, body)
                    table[_key(method.encode(), target.encode())] = answer
                static_host = f"unix://{tmp}/static.sock"
                await nursery.start(serve_static, tmp / "static.sock", table)
                results: dict[str, object] = {"runs": runs, "driver": driver}
                for name, args in commands.items():
                    emu, static = [], []
                    for _ in range(runs):
                        emu.append(await trio.to_thread.run_sync(run, host, args))
                        static.append(await trio.to_thread.run_sync(run, static_host, args))
                    e, s = statistics.median(emu), statistics.median(static)
                    results[name] = {
                        "emulator_ms": round(e * 1000, 2),
                        "static_ms": round(s * 1000, 2),
                        "emulator_share": round((e - s) / e, 3),
                    }
                nursery.cancel_scope.cancel()
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--driver", choices=["local", "mock"], default="local")
    options = parser.parse_args()
    print(json.dumps(trio.run(main, options.runs, options.driver), indent=2))
