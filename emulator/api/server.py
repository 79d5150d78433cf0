"""Serve the Engine API with hypercorn's trio worker on a 0600 unix socket (or loopback TCP)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from pathlib import Path

import trio
from hypercorn.config import Config, Sockets
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app

from emulator.api.app import MAX_BODY, create_app
from emulator.engine.core import Engine
from emulator.errors import ConfigurationError

#: Where ``plugin-emulator serve`` listens unless told otherwise (dockerd: /var/run/docker.sock).
DEFAULT_SOCKET_NAME = "plugin-emulator.sock"


def default_socket_path() -> Path:
    """``$XDG_RUNTIME_DIR/plugin-emulator.sock``, else ``/tmp/plugin-emulator-<uid>.sock``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / DEFAULT_SOCKET_NAME
    return Path(f"/tmp/plugin-emulator-{os.getuid()}.sock")


def _listen(bind: str) -> tuple[socket.socket, str, Path | None]:
    """A listening socket for ``unix:PATH`` or ``tcp:HOST:PORT``, and its DOCKER_HOST."""
    if bind.startswith("unix:"):
        path = Path(bind.removeprefix("unix:").removeprefix("//"))
        if path.exists():
            if not path.is_socket():
                raise ConfigurationError(f"{path} exists and is not a socket")
            probe = socket.socket(socket.AF_UNIX)
            try:
                probe.connect(str(path))
            except OSError:
                path.unlink()  # a stale socket from a process that died
            else:
                raise ConfigurationError(f"{path} is in use by another server")
            finally:
                probe.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(path))
            # Nobody can connect before listen(), so the mode is set before anyone could.
            os.chmod(path, 0o600)
            sock.listen(128)
        except BaseException:
            sock.close()
            raise
        return sock, f"unix://{path}", path
    if bind.startswith("tcp:"):
        rest = bind.removeprefix("tcp:").removeprefix("//")
        host, _, port = rest.rpartition(":")
        host = host.strip("[]")
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConfigurationError(f"refusing to listen on {host}: only loopback TCP is allowed")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, int(port or 0)))
            sock.listen(128)
        except BaseException:
            sock.close()
            raise
        name = sock.getsockname()
        shown = f"[{name[0]}]" if family == socket.AF_INET6 else name[0]
        return sock, f"tcp://{shown}:{name[1]}", None
    raise ConfigurationError(f"cannot listen on {bind!r}: use unix:PATH or tcp:127.0.0.1:PORT")


async def serve(
    engine: Engine,
    bind: str,
    *,
    max_body: int = MAX_BODY,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``engine``'s API on ``bind`` until cancelled; ``task_status`` gets DOCKER_HOST.

    Request bodies over ``max_body`` bytes get 413.

    ``bind``: ``unix:PATH`` (created with mode 0600; removed when serving ends) or
    ``tcp:127.0.0.1:PORT`` (loopback only; port 0 picks one).
    """
    sock, docker_host, path = _listen(bind)
    sock.setblocking(False)
    config = Config()
    config.include_server_header = False
    config.keep_alive_timeout = 3600
    config.graceful_timeout = 1
    config.accesslog = None
    config.errorlog = None
    app = wrap_app(create_app(engine, max_body=max_body), config.wsgi_max_body_size, "asgi")  # type: ignore[arg-type]
    try:
        await worker_serve(
            app,
            config,
            sockets=Sockets(secure_sockets=[], insecure_sockets=[sock], quic_sockets=[]),
            task_status=_Relay(task_status, docker_host),
        )
    finally:
        sock.close()
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


class _Relay:
    """Turns hypercorn's ``started(binds)`` into ``started(DOCKER_HOST)``."""

    def __init__(self, outer: trio.TaskStatus[str], docker_host: str) -> None:
        self._outer = outer
        self._docker_host = docker_host

    def started(self, value: object = None) -> None:
        self._outer.started(self._docker_host)
