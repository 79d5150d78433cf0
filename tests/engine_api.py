"""Test helpers: serve the Engine API for a fresh engine and run the real ``docker`` CLI on it."""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import h11
import trio

from emulator.api.server import serve
from emulator.engine.core import Engine, open_engine
from emulator.mocks.volume import MockVolumePlugin

DOCKER = shutil.which("docker")


@attrs.frozen
class Result:
    """What a ``docker`` command printed and its exit code."""

    rc: int
    out: str
    err: str


@attrs.define
class Served:
    """An engine served on ``host`` (``unix://…``), with a private ``DOCKER_CONFIG``."""

    engine: Engine
    host: str
    config_dir: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.config_dir)}

    async def docker(self, *args: str, stdin: bytes = b"") -> Result:
        """Run ``docker ARGS`` against the emulator (real clock; the CLI is another process)."""
        assert DOCKER is not None, "the docker CLI is not installed"
        proc = await trio.run_process(
            [DOCKER, *args],
            env=self.env(),
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())

    async def events(self, *filters: str, format: str) -> list[str]:
        """``docker events --since 0 --until NOW+1s --filter F… --format FORMAT``: the
        lines of every event logged so far (the CLI returns once ``until`` has passed)."""
        until = str(int(time.time()) + 1)
        options = [arg for f in filters for arg in ("--filter", f)]
        r = await self.docker(
            "events", "--since", "0", "--until", until, *options, "--format", format
        )
        assert r.rc == 0, r.err
        return r.out.splitlines()


@asynccontextmanager
async def served(
    tmp: Path,
    *,
    mocks: Sequence[str] = ("mv",),
    max_body: int = 1 << 20,
    plugins: Mapping[str, Any] | None = None,
    **engine_options: Any,
) -> AsyncIterator[Served]:
    """Mock volume plugins ``mocks`` under ``tmp``, an engine, and its API on ``tmp/d.sock``.

    ``plugins`` maps names to other mocks (anything with ``serve(bind, task_status=)``,
    e.g. :class:`~emulator.mocks.network.MockNetworkPlugin`), served as v1 plugins on
    ``run/docker/plugins/NAME.sock``.  ``engine_options`` go to ``open_engine``
    (``authorization_plugins=...``, ``profile=...``).
    """
    async with trio.open_nursery() as nursery:
        for name, mock in (plugins or {}).items():
            await nursery.start(mock.serve, f"unix:{tmp / 'run/docker/plugins' / name}.sock")
        for name in mocks:
            plugin = MockVolumePlugin(tmp / "mocks" / name, name=name)
            sock = tmp / "run/docker/plugins" / name / f"{name}.sock"
            await nursery.start(plugin.serve, f"unix:{sock}")
        engine_options.setdefault("hang_guard", 60.0)
        async with open_engine(root=tmp, **engine_options) as engine:
            host = await nursery.start(
                functools.partial(serve, max_body=max_body), engine, f"unix:{tmp / 'd.sock'}"
            )
            config = tmp / "docker-config"
            config.mkdir(exist_ok=True)
            yield Served(engine, host, config)
        nursery.cancel_scope.cancel()


def docker_version() -> str:
    """``docker --version`` (the client only)."""
    assert DOCKER is not None
    return subprocess.run([DOCKER, "--version"], capture_output=True, text=True).stdout.strip()


@attrs.frozen
class RawResponse:
    """A raw HTTP answer: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def raw_request(sock_path: str, data: bytes, *, timeout: float = 10.0) -> RawResponse:
    """Send ``data`` as-is on a new connection (blocking; for threads) and read one answer.

    The answer is framed by h11 (Content-Length or chunked), so the connection need not
    close; ``data`` must be one well-framed request (see :func:`request_bytes`).
    """
    head = data.split(b"\r\n", 1)[0]
    method = head.split(b" ", 1)[0]
    parser = h11.Connection(h11.CLIENT)
    # Put the parser in the state "request sent" without sending its bytes: ours are raw.
    parser.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
    parser.send(h11.EndOfMessage())
    status = 0
    headers: dict[str, str] = {}
    body = bytearray()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(sock_path)
        sock.sendall(data)
        while True:
            event = parser.next_event()
            if event is h11.NEED_DATA:
                parser.receive_data(sock.recv(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode().lower(): v.decode("latin1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
    return RawResponse(status, headers, bytes(body))


async def raw_request_trio(sock_path: str, data: bytes) -> RawResponse:
    """:func:`raw_request` from trio (no thread: safe under an autojumping MockClock)."""
    head = data.split(b"\r\n", 1)[0]
    parser = h11.Connection(h11.CLIENT)
    parser.send(h11.Request(method=head.split(b" ", 1)[0], target="/", headers=[("Host", "x")]))
    parser.send(h11.EndOfMessage())
    status, headers, body = 0, {}, bytearray()
    async with await trio.open_unix_socket(sock_path) as stream:
        await stream.send_all(data)
        while True:
            event = parser.next_event()
            if event is h11.NEED_DATA:
                parser.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode().lower(): v.decode("latin1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
    return RawResponse(status, headers, bytes(body))


def request_bytes(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    """An HTTP/1.1 request with ``Connection: close`` and a Content-Length."""
    lines = [f"{method} {path} HTTP/1.1", "Host: api.moby.localhost", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if method != "HEAD" or body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin1") + body
