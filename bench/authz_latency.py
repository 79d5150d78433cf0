"""Added latency per Engine API request with one allow-all authorization plugin.

One engine serves the API; the same requests are timed with its authz chain empty and
with one plugin in it, alternating request by request in the same run, so both see the
same machine.  The plugin is the built-in mock (in-process, Python) and, when Go and
Debian's moby packages are installed, tests/go/authz (a separate process, as real
plugins are).  Each request costs the plugin two calls (AuthZReq, AuthZRes).  Requests
go over one keep-alive connection, as docker-py sends them; then the docker CLI's
``docker volume ls`` (two requests: HEAD /_ping, GET /volumes) is timed the same way.

    .venv/bin/python bench/authz_latency.py [--runs 300] [--cli-runs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import h11
import trio

from emulator.api.clients import run_docker
from emulator.api.server import serve
from emulator.engine.authz import AuthorizationChain
from emulator.engine.core import Engine, open_engine
from emulator.engine.processes import PluginProcess, ProcessSpec
from emulator.mocks.authz import MockAuthzPlugin

REQUESTS = (
    ("GET", "/v1.51/version", b""),
    ("GET", "/v1.51/volumes", b""),
    ("POST", "/v1.51/volumes/create", b'{"Name":"bench","Labels":{"k":"v"}}'),
)
GO_SOURCE = Path(__file__).parent.parent / "tests/go/authz"


class KeepAlive:
    """One HTTP/1.1 connection to the API, reused request after request."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    async def request(self, method: str, target: str, body: bytes) -> int:
        headers = [("Host", "api.moby.localhost"), ("Content-Length", str(len(body)))]
        if body:
            headers.append(("Content-Type", "application/json"))
        out = self.conn.send(h11.Request(method=method, target=target, headers=headers)) or b""
        if body:
            out += self.conn.send(h11.Data(data=body)) or b""
        await self.stream.send_all(out + (self.conn.send(h11.EndOfMessage()) or b""))
        status = 0
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                self.conn.start_next_cycle()
                return status


def _go_binary(work: Path) -> Path | None:
    if shutil.which("go") is None or not GO_SOURCE.exists():
        return None
    binary = work / "goauthz"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode"}
    built = subprocess.run(
        ["go", "build", "-o", str(binary), "."], cwd=GO_SOURCE, env=env, capture_output=True
    )
    return binary if built.returncode == 0 else None


async def _timed(client: KeepAlive, method: str, target: str, body: bytes) -> float:
    start = time.perf_counter()
    status = await client.request(method, target, body)
    assert status < 300, (method, target, status)
    return time.perf_counter() - start


def _chains(engine: Engine) -> tuple[AuthorizationChain, AuthorizationChain]:
    """(empty, ``engine.authz``): swapped in turn, so the plugin is looked up only once."""
    return AuthorizationChain(engine.authz.lookup_function()), engine.authz


async def _compare(engine: Engine, host: str, runs: int) -> dict[str, Any]:
    """Median ms per request, chain empty vs the engine's chain, alternating."""
    off, on = _chains(engine)
    results: dict[str, Any] = {}
    for method, target, body in REQUESTS:
        bare, guarded = [], []
        # One connection per kind of request (hypercorn closes one after 1000 requests).
        async with await trio.open_unix_socket(host.removeprefix("unix://")) as stream:
            client = KeepAlive(stream)
            for _ in range(runs):
                engine.authz = off
                bare.append(await _timed(client, method, target, body))
                engine.authz = on
                guarded.append(await _timed(client, method, target, body))
            b, g = statistics.median(bare), statistics.median(guarded)
            results[f"{method} {target}"] = {
                "no_authz_ms": round(b * 1000, 3),
                "authz_ms": round(g * 1000, 3),
                "added_ms": round((g - b) * 1000, 3),
                "ratio": round(g / b, 2),
            }
    return results


async def _compare_cli(engine: Engine, host: str, runs: int, config: Path) -> dict[str, Any]:
    off, on = _chains(engine)
    bare, guarded = [], []
    for _ in range(runs):
        for chain, into in ((off, bare), (on, guarded)):
            engine.authz = chain
            start = time.perf_counter()
            done = await run_docker(host, config, ["volume", "ls"])
            into.append(time.perf_counter() - start)
            assert done.ok, done.output
    engine.authz = on
    b, g = statistics.median(bare), statistics.median(guarded)
    return {
        "no_authz_ms": round(b * 1000, 1),
        "authz_ms": round(g * 1000, 1),
        "ratio": round(g / b, 3),
    }


async def main(runs: int, cli_runs: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="pe-bench-", dir="/tmp"))
    try:
        binary = await trio.to_thread.run_sync(_go_binary, tmp)
        out: dict[str, Any] = {"runs": runs, "cli_runs": cli_runs, "load": os.getloadavg()[0]}
        async with trio.open_nursery() as nursery:
            mock = MockAuthzPlugin(name="allowall")
            await nursery.start(mock.serve, f"unix:{tmp}/run/docker/plugins/allowall.sock")
            plugins = {"mock (in-process, Python)": "allowall"}
            if binary is not None:
                sock = tmp / "run/docker/plugins/goauthz.sock"
                argv = [str(binary), "-socket", str(sock), "-log", "/dev/null"]
                spec = ProcessSpec("goauthz", argv, socket=sock, private_run=False)
                process = PluginProcess(spec, root=tmp)
                await nursery.start(process.run)
                plugins["go (tests/go/authz, a process)"] = "goauthz"
            async with open_engine(root=tmp, hang_guard=None) as engine:
                host = await nursery.start(serve, engine, f"unix:{tmp}/api.sock")
                for label, name in plugins.items():
                    await engine.authz.reload([name])  # looked up and activated once
                    out[label] = {
                        "requests": await _compare(engine, host, runs),
                        "docker volume ls": await _compare_cli(
                            engine, host, cli_runs, tmp / "docker-config"
                        ),
                    }
            nursery.cancel_scope.cancel()
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="at most 500")
    parser.add_argument("--cli-runs", type=int, default=30)
    options = parser.parse_args()
    print(json.dumps(trio.run(main, options.runs, options.cli_runs), indent=2))
