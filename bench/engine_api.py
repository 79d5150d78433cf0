"""The emulator's share of the real docker CLI's wall time, command by command.

Commands: ``volume create``, ``volume ls``, ``run --rm -v VOL:/data busybox true`` and
``network ls``, with the ``local`` drivers or with plugins (the built-in mock volume
plugin; for ``network ls`` a network of the built-in mock network driver exists).

Each command is run with the real docker CLI against (a) the emulator's Engine API and
(b) a static h11 server that answers every request with the very bytes the emulator
answered it, recorded through a proxy in the same run (the attach stream of ``run``
included: its 101 answer and what followed, then the close).  The difference is the
emulator's cost; its share is that difference over the emulator's time.  Runs alternate
so both see the same machine state.  With ``--framework``, a third server answers the
same recorded statuses, headers and bodies from a bare Quart app on hypercorn (what the
Engine API is built on), for the commands without an attach stream: the floor that
framework sets.

With ``--containers fake`` the engine runs containers on its command table instead of as
real processes (``open_engine(containers=...)``; default ``auto``).

    .venv/bin/python bench/engine_api.py [--runs 30] [--driver local|mock] [--framework]
        [--containers auto|processes|fake]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path

import h11
import hypercorn.trio
import trio
from hypercorn.config import Config
from quart import Response, request
from quart_trio import QuartTrio

from emulator.api.server import serve
from emulator.engine.core import open_engine
from emulator.mocks.network import MockNetworkPlugin
from emulator.mocks.volume import MockVolumePlugin

Key = tuple[bytes, bytes]
_VERSION = re.compile(rb"^/v[0-9.]+")


def _key(method: bytes, target: bytes) -> Key:
    return method, _VERSION.sub(b"", target)


class Recording:
    """What the emulator answered each request, in order, by method and target."""

    def __init__(self) -> None:
        self.open = 0
        """Connections still being recorded."""
        self.idle = trio.Event()
        """Set when the last connection being recorded ended."""
        self.answers: dict[Key, deque[tuple[bytes, bool]]] = defaultdict(deque)
        """key -> (raw answer bytes, whether the server ends the connection after it: a
        hijacked stream (101, as ``attach``) or ``Connection: close``)."""

    def add_connection(self, turns: list[tuple[str, bytes]]) -> None:
        """One connection's bytes as alternating turns (``"c"``lient, ``"s"``erver)."""
        for index, (side, data) in enumerate(turns):
            if side != "c":
                continue
            line = data.split(b"\r\n", 1)[0].split(b" ")
            answer = turns[index + 1][1] if index + 1 < len(turns) else b""
            head = answer.split(b"\r\n\r\n", 1)[0].lower()
            last = head.startswith(b"http/1.1 101") or b"\r\nconnection: close" in head
            self.answers[_key(line[0], line[1])].append((answer, last))

    def take(self, key: Key) -> tuple[bytes, bool]:
        """The next recorded answer for ``key`` (the last one is kept for later runs)."""
        queue = self.answers[key]
        return queue.popleft() if len(queue) > 1 else queue[0]


async def record_proxy(
    listen: Path,
    upstream: Path,
    recording: Recording,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Forward every connection on ``listen`` to ``upstream``, recording its turns."""

    async def handle(client: trio.SocketStream) -> None:
        recording.open += 1
        server = await trio.open_unix_socket(str(upstream))
        turns: list[tuple[str, bytes]] = []

        def note(side: str, data: bytes) -> None:
            if turns and turns[-1][0] == side:
                turns[-1] = (side, turns[-1][1] + data)
            else:
                turns.append((side, data))

        async def pump(src: trio.SocketStream, dst: trio.SocketStream, side: str) -> None:
            try:
                while data := await src.receive_some(65536):
                    note(side, bytes(data))
                    await dst.send_all(data)
                await dst.send_eof()  # a half-close is passed on as one
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass

        async with client, server, trio.open_nursery() as nursery:
            nursery.start_soon(pump, client, server, "c")
            nursery.start_soon(pump, server, client, "s")
        recording.add_connection(turns)
        recording.open -= 1
        if not recording.open:
            recording.idle.set()
            recording.idle = trio.Event()

    await _serve_unix(listen, handle, task_status)


async def serve_replay(
    path: Path,
    recording: Recording,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer each request with its recorded bytes (h11 parses the requests)."""

    async def handle(stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        key: Key = (b"", b"")
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
                    answer, last = recording.take(key)
                    await stream.send_all(answer)
                    if last:
                        return
                    conn = h11.Connection(h11.SERVER)  # the answer was not sent through h11
                elif isinstance(event, h11.ConnectionClosed):
                    return

    await _serve_unix(path, handle, task_status)


async def serve_framework(
    path: Path,
    recording: Recording,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The recorded statuses, headers and bodies from a bare Quart app on hypercorn."""
    app = QuartTrio("floor")

    @app.route("/", defaults={"path": ""}, methods=["GET", "HEAD", "POST", "DELETE"])
    @app.route("/<path:path>", methods=["GET", "HEAD", "POST", "DELETE"])
    async def answer(path: str) -> Response:
        await request.get_data()
        target = request.full_path if request.query_string else request.path
        raw, _ = recording.take(_key(request.method.encode(), target.encode()))
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        response = Response(body, status=status)
        for line in lines[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() not in ("content-length", "date", "connection"):
                response.headers[name] = value.strip()
        return response

    config = Config()
    config.bind = [f"unix:{path}"]
    config.accesslog = None
    await hypercorn.trio.serve(app, config, task_status=task_status)  # type: ignore[arg-type]


async def _serve_unix(
    path: Path,
    handle: Callable[[trio.SocketStream], object],
    task_status: trio.TaskStatus[None],
) -> None:
    sock = trio.socket.socket(trio.socket.AF_UNIX)
    await sock.bind(str(path))
    sock.listen(128)
    try:
        await trio.serve_listeners(
            handle,  # type: ignore[arg-type]
            [trio.SocketListener(sock)],
            task_status=task_status,  # type: ignore[arg-type]
        )
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


def commands(driver: str) -> dict[str, list[str]]:
    """The docker commands measured, with the local drivers or the mock plugins."""
    volume = ["-d", "mv"] if driver == "mock" else []
    run_driver = ["--volume-driver", "mv"] if driver == "mock" else []
    return {
        "volume create": ["volume", "create", *volume, "benchvol"],
        "volume ls": ["volume", "ls"],
        "run --rm -v": ["run", "--rm", *run_driver, "-v", "runvol:/data", "busybox", "true"],
        "network ls": ["network", "ls"],
    }


async def _start_plugins(nursery: trio.Nursery, tmp: Path) -> None:
    plugins = tmp / "run/docker/plugins"
    volume = MockVolumePlugin(tmp / "mock", name="mv")
    await nursery.start(volume.serve, f"unix:{plugins}/mv/mv.sock")
    await nursery.start(MockNetworkPlugin(name="mn").serve, f"unix:{plugins}/mn.sock")


async def main(
    runs: int, driver: str, framework: bool, containers: str = "auto"
) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="pe-bench-", dir="/tmp"))
    config = tmp / "docker-config"
    config.mkdir()
    run: Callable[[str, list[str]], float] = functools.partial(_docker, config=config)
    try:
        async with trio.open_nursery() as nursery:
            if driver == "mock":
                await _start_plugins(nursery, tmp)
            async with open_engine(root=tmp, containers=containers) as engine:
                host = await nursery.start(serve, engine, f"unix:{tmp}/emu.sock")
                if driver == "mock":
                    network = ["network", "create", "-d", "mn", "bn"]
                    await trio.to_thread.run_sync(run, host, network)
                recording = Recording()
                await nursery.start(record_proxy, tmp / "rec.sock", tmp / "emu.sock", recording)
                await nursery.start(serve_replay, tmp / "static.sock", recording)
                if framework:
                    await nursery.start(serve_framework, tmp / "quart.sock", recording)
                results: dict[str, object] = {
                    "runs": runs,
                    "driver": driver,
                    "containers": containers,
                }
                for name, args in commands(driver).items():
                    await trio.to_thread.run_sync(run, host, args)  # the state it leaves
                    await trio.to_thread.run_sync(run, f"unix://{tmp}/rec.sock", args)
                    if recording.open:  # every connection of the command recorded
                        with trio.fail_after(30):
                            await recording.idle.wait()
                    hosts = {"emulator": host, "static": f"unix://{tmp}/static.sock"}
                    if framework and not name.startswith("run"):
                        hosts["framework"] = f"unix://{tmp}/quart.sock"
                    times: dict[str, list[float]] = {k: [] for k in hosts}
                    for _ in range(runs):
                        for kind, where in hosts.items():
                            times[kind].append(await trio.to_thread.run_sync(run, where, args))
                    medians = {k: statistics.median(v) for k, v in times.items()}
                    e, s = medians["emulator"], medians["static"]
                    row: dict[str, float] = {
                        "emulator_ms": round(e * 1000, 2),
                        "static_ms": round(s * 1000, 2),
                        "emulator_share": round((e - s) / e, 3),
                    }
                    if "framework" in medians:
                        f = medians["framework"]
                        row["framework_ms"] = round(f * 1000, 2)
                        row["framework_share"] = round((f - s) / f, 3)
                    results[name] = row
                nursery.cancel_scope.cancel()
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--driver", choices=["local", "mock"], default="local")
    parser.add_argument("--framework", action="store_true", help="also a bare Quart app")
    parser.add_argument("--containers", choices=["auto", "processes", "fake"], default="auto")
    options = parser.parse_args()
    results = trio.run(main, options.runs, options.driver, options.framework, options.containers)
    print(json.dumps(results, indent=2))
