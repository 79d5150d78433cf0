"""Clients of the engine's Engine API: the real ``docker`` CLI, docker-py, raw requests.

:class:`ApiEndpoint` serves the engine's Engine API on a unix socket the first time a
test asks for it (``plugin_engine.docker(...)``, ``plugin_engine.docker_client()``); the
server task lives in the engine's nursery, so it ends with the engine at the latest.
:func:`run_docker` / :func:`run_docker_sync` run the CLI with ``DOCKER_HOST`` pointing
there and a private ``DOCKER_CONFIG`` (the user's contexts, credentials and TLS
variables are left out), and return a :class:`DockerResult`.  Every request the CLI
makes goes through the whole API, authorization chain included.  :func:`api_request`
sends one raw HTTP request (from trio, no thread: safe under a virtual clock).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import h11
import trio

from emulator.clock import real_io, real_sleep
from emulator.errors import EmulatorError

if TYPE_CHECKING:
    from emulator.engine.core import Engine

__all__ = [
    "ApiAnswer",
    "ApiEndpoint",
    "DockerResult",
    "api_request",
    "docker_client",
    "run_docker",
    "run_docker_sync",
]

#: Environment variables of the user's docker setup that must not reach the CLI under test.
_USER_DOCKER_ENV = (
    "DOCKER_CONTEXT",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS",
    "DOCKER_API_VERSION",
)


@attrs.frozen
class DockerResult:
    """What one ``docker`` command did."""

    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout, then stderr."""
        return self.stdout + self.stderr

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def check(self) -> DockerResult:
        """``self`` when the command succeeded, else an AssertionError with its output."""
        if not self.ok:
            raise AssertionError(
                f"docker {' '.join(self.args)} exited {self.exit_code}:\n{self.output}"
            )
        return self


def docker_binary() -> str:
    """The ``docker`` CLI on ``PATH`` (an :class:`EmulatorError` with a hint when absent)."""
    found = shutil.which("docker")
    if found is None:
        raise EmulatorError(
            "the docker CLI is not installed",
            hint="install docker-ce-cli (v28) or the docker.io package's client",
        )
    return found


def docker_env(host: str, config_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The CLI's environment: ``DOCKER_HOST`` and a private ``DOCKER_CONFIG``."""
    config_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in _USER_DOCKER_ENV}
    env |= {"DOCKER_HOST": host, "DOCKER_CONFIG": str(config_dir)}
    return env | (extra or {})


def run_docker_sync(
    host: str,
    config_dir: Path,
    args: Sequence[str],
    *,
    input: bytes | None = None,
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
) -> DockerResult:
    """Run ``docker ARGS`` and wait (blocking; the engine must run in another thread)."""
    proc = subprocess.run(
        [docker_binary(), *args],
        env=docker_env(host, config_dir, env),
        input=input or b"",
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return DockerResult(
        tuple(args), proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode()
    )


async def run_docker(
    host: str,
    config_dir: Path,
    args: Sequence[str],
    *,
    input: bytes | None = None,
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
) -> DockerResult:
    """Run ``docker ARGS`` from trio (a stretch of real I/O under a virtual clock).

    ``timeout`` is real seconds, whatever the clock (a virtual clock that resumes jumping
    after its real-I/O grace must not cut the command short); ``trio.TooSlowError``
    when it runs out (the command is killed).
    """
    proc: subprocess.CompletedProcess[bytes] | None = None
    with real_io():
        async with trio.open_nursery() as nursery:

            async def alarm() -> None:
                await real_sleep(timeout)
                nursery.cancel_scope.cancel()

            nursery.start_soon(alarm)
            proc = await trio.run_process(
                [docker_binary(), *args],
                env=docker_env(host, config_dir, env),
                stdin=input or b"",
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
            nursery.cancel_scope.cancel()
    if proc is None:
        raise trio.TooSlowError(f"docker {' '.join(args)} ran longer than {timeout:g}s")
    return DockerResult(
        tuple(args),
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
    )


def docker_client(host: str, **options: Any) -> Any:
    """A docker-py ``DockerClient`` for ``host`` (close it when done)."""
    try:
        import docker  # type: ignore[import-untyped]  # docker-py is optional
    except ImportError:
        raise EmulatorError(
            "docker-py is not installed", hint="pip install docker (the Python SDK)"
        ) from None
    return docker.DockerClient(base_url=host, **options)


class ApiEndpoint:
    """The engine's Engine API on ``socket_path``, served from the first :meth:`start`."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.host: str | None = None
        """``unix://...`` once serving."""
        self._scope: trio.CancelScope | None = None
        self._done: trio.Event | None = None

    async def start(self, engine: Engine) -> str:
        """Serve ``engine`` (once; later calls return at once) and return its DOCKER_HOST."""
        if self.host is not None:
            await trio.lowlevel.checkpoint()
            return self.host
        # Imported here: the server is Quart on hypercorn, a quarter of a second to load,
        # paid only by a run that serves the API.
        from emulator.api.server import serve

        scope = trio.CancelScope()
        done = trio.Event()

        async def run(task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                with scope:
                    await serve(engine, f"unix:{self.socket_path}", task_status=task_status)
            finally:
                done.set()

        self._scope, self._done = scope, done
        self.host = await engine.nursery.start(run)
        return self.host

    async def aclose(self) -> None:
        """Stop serving (the socket file is removed)."""
        if self._scope is not None and self._done is not None:
            self._scope.cancel()
            await self._done.wait()
        self._scope = self._done = None
        self.host = None


@attrs.frozen
class ApiAnswer:
    """A raw API answer: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def data(self) -> Any:
        """The body as JSON data, or as text when it is not JSON."""
        text = self.body.decode("utf-8", "replace")
        try:
            return json.loads(text)
        except ValueError:
            return text


async def api_request(
    host: str,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
) -> ApiAnswer:
    """Send one HTTP/1.1 request to ``unix://...`` and read its answer."""
    sock = host.removeprefix("unix://")
    client = h11.Connection(h11.CLIENT)
    names = {name.lower() for name, _ in headers}
    head = [("Host", "api.moby.localhost"), ("Connection", "close"), *headers]
    if "content-length" not in names and "transfer-encoding" not in names:
        head.append(("Content-Length", str(len(body))))
    status, answer_headers, data = 0, {}, bytearray()
    async with await trio.open_unix_socket(sock) as stream:
        out = client.send(h11.Request(method=method, target=path, headers=head)) or b""
        out += (client.send(h11.Data(data=body)) or b"") if body else b""
        await stream.send_all(out + (client.send(h11.EndOfMessage()) or b""))
        while True:
            event = client.next_event()
            if event is h11.NEED_DATA:
                client.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                answer_headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                data += event.data
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
    return ApiAnswer(status, answer_headers, bytes(data))
