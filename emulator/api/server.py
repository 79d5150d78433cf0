"""Serve the Engine API on a 0600 unix socket or loopback TCP (plain or TLS), with hypercorn.

hypercorn's trio ``TCPServer`` speaks HTTP on each connection; the accept loop is
the emulator's own (hypercorn's ``worker_serve`` made smaller) so that each
connection is wrapped (:class:`~emulator.api.connections.Connection`) and TLS is set
up as dockerd sets it up.  The limits are dockerd's: its ``http.Server`` has
``ReadHeaderTimeout: 5 * time.Minute`` and no ``IdleTimeout``, which Go then takes
from ``ReadHeaderTimeout``: an idle keep-alive connection, or one that sends no
request, is closed after 5 minutes (moby/moby cmd/dockerd/daemon.go, v28.5.2).
Request heads may be 1 MiB (Go's ``DefaultMaxHeaderBytes``).

Plain TCP needs ``insecure=True`` and then logs dockerd's warnings
(``loadListeners``); see :mod:`emulator.api.connections` for the Host check.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import sys
from collections.abc import Mapping
from functools import partial
from typing import Any, Final

import trio
from hypercorn.config import Config
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import wrap_app

from emulator.api.app import MAX_BODY, create_app
from emulator.api.connections import Connection
from emulator.api.listen import DEFAULT_SOCKET_NAME, Listening, default_socket_path, listen
from emulator.api.tls import ServerTLS
from emulator.engine.core import Engine
from emulator.engine.plugin_output import PluginOutput
from emulator.errors import ConfigurationError

__all__ = ["DEFAULT_SOCKET_NAME", "IDLE_TIMEOUT", "default_socket_path", "serve"]

log = logging.getLogger("emulator.api")

#: dockerd's ``ReadHeaderTimeout`` (5 min), which is also its idle keep-alive timeout.
IDLE_TIMEOUT: Final = 300.0
#: Go's ``http.DefaultMaxHeaderBytes``.
MAX_HEADER_BYTES: Final = 1 << 20

#: dockerd's words when it binds TCP without ``--tlsverify`` (cmd/dockerd/daemon.go).
PLAIN_TCP_WARNINGS: Final = (
    "Binding to IP address without --tlsverify is insecure and gives root access on this "
    "machine to everyone who has access to your network.",
    "Binding to an IP address, even on localhost, can also give access to scripts run in a "
    "browser. Be safe out there!",
    "[DEPRECATION NOTICE] In future versions this will be a hard failure preventing the "
    "daemon from starting! Learn more at: https://docs.docker.com/go/api-security/",
)
PLAIN_TCP_REFUSED: Final = (
    "refusing plain TCP on {host}: without --tlsverify it gives root on this machine to "
    "every local user and to scripts in web pages; serve TLS (--tlsverify --tlscacert "
    "--tlscert --tlskey) or accept the risk with --tcp-insecure"
)


def _config() -> Config:
    config = Config()
    config.include_server_header = False
    config.keep_alive_timeout = IDLE_TIMEOUT
    # Go's http.Server serves any number of requests on one connection; hypercorn
    # closes one after 1000 by default.
    config.keep_alive_max_requests = sys.maxsize
    config.graceful_timeout = 1
    config.h11_max_incomplete_size = MAX_HEADER_BYTES
    config.accesslog = None
    config.errorlog = None
    return config


async def serve(
    engine: Engine,
    bind: str,
    *,
    max_body: int = MAX_BODY,
    tls: ServerTLS | None = None,
    insecure: bool = False,
    plugin_outputs: Mapping[str, PluginOutput] | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``engine``'s API on ``bind`` until cancelled; ``task_status`` gets DOCKER_HOST.

    ``bind``: ``unix:PATH`` (created with mode 0600; removed when serving ends) or
    ``tcp:127.0.0.1:PORT`` (loopback only; port 0 picks one).  TCP is served with
    ``tls`` (:class:`~emulator.api.tls.ServerTLS`), or in plain text only with
    ``insecure=True`` (:class:`ConfigurationError` otherwise).  Request bodies over
    ``max_body`` bytes get 413.  ``plugin_outputs`` (by plugin name) is served as
    ``GET /emulator/plugin-output``.
    """
    context = tls.context() if tls is not None else None
    listening = listen(bind)
    try:
        if listening.tcp and context is None and not insecure:
            raise ConfigurationError(PLAIN_TCP_REFUSED.format(host=listening.docker_host))
        if listening.tcp and (tls is None or not tls.verify):
            for warning in PLAIN_TCP_WARNINGS:
                log.warning(warning, extra={"fields": {"host": listening.docker_host}})
        config = _config()
        app = wrap_app(
            create_app(engine, max_body=max_body, plugin_outputs=plugin_outputs),  # type: ignore[arg-type]
            config.wsgi_max_body_size,
            "asgi",
        )
        await _run(app, config, listening, context, task_status)
    finally:
        listening.sock.close()
        if listening.path is not None:
            with contextlib.suppress(FileNotFoundError):
                listening.path.unlink()


async def _run(
    app: Any,
    config: Config,
    listening: Listening,
    context: ssl.SSLContext | None,
    task_status: trio.TaskStatus[str],
) -> None:
    """hypercorn's ``worker_serve``, one listener, every connection wrapped."""
    worker = WorkerContext(None)
    lifespan = Lifespan(app, config, {})
    plain_tcp = listening.tcp and context is None

    async def handle(stream: trio.SocketStream) -> None:
        wrapped: Any = stream
        if context is not None:
            wrapped = trio.SSLStream(stream, context, server_side=True, https_compatible=True)
        connection = Connection(wrapped, plain_tcp=plain_tcp)
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as watcher:
                watcher.start_soon(connection.supervise, scope, IDLE_TIMEOUT)
                per_connection: Any = connection.app(app)
                conn_stream: Any = connection  # hypercorn types it as an SSLStream only
                await TCPServer(per_connection, config, worker, ConnectionState({}), conn_stream)
                watcher.cancel_scope.cancel()

    listening.sock.setblocking(False)
    listener = trio.SocketListener(trio.socket.from_stdlib_socket(listening.sock))
    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        async with trio.open_nursery() as connections:
            connections.start_soon(
                partial(trio.serve_listeners, handle, [listener], handler_nursery=connections)
            )
            task_status.started(listening.docker_host)
        lifespan_nursery.cancel_scope.cancel()
