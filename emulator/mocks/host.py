"""A scriptable mock plugin host.

:class:`MockPlugin` is a small HTTP server that behaves like a Docker Engine
plugin: dockerd (or the emulator standing in for it) sends ``POST
/Plugin.Activate``, ``POST /VolumeDriver.Create`` and so on, and the mock
answers from a table of per-method *handlers*.  Every request is recorded
(before its handler runs) so tests can assert on what the daemon sent.

The server is a Quart (quart-trio) application served by hypercorn's trio
worker on a unix socket or a loopback TCP port::

    plugin = MockPlugin(("VolumeDriver",), {"VolumeDriver.Create": {"Err": ""}})
    async with trio.open_nursery() as nursery:
        addr = await nursery.start(plugin.serve, "unix:/tmp/x/run/docker/plugins/p.sock")
        ...  # addr == "unix:///tmp/x/run/docker/plugins/p.sock"
        nursery.cancel_scope.cancel()

Unhandled methods answer the way a plugin built on docker/go-plugins-helpers
does (Go's ``http.ServeMux``): ``404`` with ``text/plain`` body
``404 page not found``.
"""

from __future__ import annotations

import contextlib
import inspect
import ipaddress
import json
import logging
import os
import stat
import sys
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeAlias

import attrs
import hypercorn.trio
import trio
from hypercorn.config import Config
from quart import Response, request
from quart_trio import QuartTrio

__all__ = [
    "PLUGIN_CONTENT_TYPE",
    "BindError",
    "Handler",
    "MockPlugin",
    "RecordedRequest",
    "Reply",
]

#: The Content-Type that docker/go-plugins-helpers puts on its JSON replies.
PLUGIN_CONTENT_TYPE = "application/vnd.docker.plugins.v1.1+json"

#: Longest unix socket path that fits ``sockaddr_un.sun_path`` (108 bytes,
#: including the terminating NUL) on Linux.
MAX_UNIX_PATH_BYTES = 107

_log = logging.getLogger(__name__)
# Hypercorn's "Running on ..." messages and connection errors go here; it is an
# ordinary logger, so it is silent unless the application configures logging.
_server_log = logging.getLogger(f"{__name__}.hypercorn")

# Methods routed to the catch-all view.  Go's ServeMux, which real plugins use,
# does not look at the method either.
_HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@attrs.frozen
class RecordedRequest:
    """One request as the mock plugin received it.

    Attributes:
        method: The plugin method, i.e. the path without its leading ``/``
            (``"Plugin.Activate"``, ``"VolumeDriver.Mount"``).
        http_method: The HTTP method (``"POST"``).
        path: The request path (``"/VolumeDriver.Mount"``), without query.
        headers: Header ``(name, value)`` pairs in the order received.  Names
            are as the ASGI server reports them, i.e. lower-cased.
        body: The raw request body.
        time: :func:`trio.current_time` when the request was received.
    """

    method: str
    http_method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    time: float

    def json(self) -> Any:
        """The body decoded as JSON, or ``None`` for an empty body."""
        if not self.body.strip():
            return None
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


@attrs.frozen
class Reply:
    """A scripted answer.

    Attributes:
        status: HTTP status code.
        body: ``bytes`` and ``str`` (UTF-8) are sent as they are; any other
            object is JSON-encoded followed by ``"\\n"``, like Go's
            ``json.NewEncoder(w).Encode`` (compact separators, UTF-8).
        content_type: The ``Content-Type`` header; ``None`` sends none.
        delay: Seconds (on the trio clock, so ``MockClock`` friendly) to wait
            before answering.
        headers: Extra ``(name, value)`` header pairs.  A ``Content-Type``
            given here replaces :attr:`content_type`.
        stream: When set, the body is sent as this iterable yields it (chunked),
            and :attr:`body` is ignored (a ``ReadLogs`` answer that follows).
    """

    status: int = 200
    body: bytes | str | object = b""
    content_type: str | None = PLUGIN_CONTENT_TYPE
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    stream: AsyncIterable[bytes] | None = None

    def encoded_body(self) -> bytes:
        """The body as it goes on the wire."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        text = json.dumps(
            self.body, separators=(",", ":"), ensure_ascii=False, default=_json_default
        )
        return (text + "\n").encode("utf-8")


#: What a method is answered with: a fixed :class:`Reply`, a mapping (sent as
#: ``Reply(body=mapping)``), or a sync or async callable producing either.
Handler: TypeAlias = (
    Reply
    | Mapping[str, Any]
    | Callable[
        [RecordedRequest],
        Reply | Mapping[str, Any] | Awaitable[Reply | Mapping[str, Any]],
    ]
)

#: What :func:`http.NotFound` in Go answers for a path nobody registered.
NOT_FOUND = Reply(
    status=404,
    body=b"404 page not found\n",
    content_type="text/plain; charset=utf-8",
    headers=(("X-Content-Type-Options", "nosniff"),),
)


def _json_default(value: object) -> object:
    """Let :func:`json.dumps` encode any mapping or set, not only dicts/lists."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class BindError(ValueError):
    """A bind address :meth:`MockPlugin.serve` refuses."""


@attrs.frozen
class _UnixBind:
    path: str


@attrs.frozen
class _TcpBind:
    host: str
    port: int


def _parse_bind(bind: str) -> _UnixBind | _TcpBind:
    """Parse ``unix:/abs/path`` / ``unix:///abs/path`` or ``tcp:HOST:PORT``.

    Only loopback TCP addresses are accepted, and unix paths must fit in
    ``sun_path``.
    """
    if bind.startswith("unix:"):
        raw = bind[len("unix:") :]
        if raw.startswith("//"):
            raw = raw[2:]
        if not raw:
            raise BindError(f"empty unix socket path in bind {bind!r}")
        path = os.path.abspath(raw)
        size = len(os.fsencode(path))
        if size > MAX_UNIX_PATH_BYTES:
            raise BindError(
                f"unix socket path is {size} bytes, longer than the "
                f"{MAX_UNIX_PATH_BYTES}-byte limit: {path!r}"
            )
        return _UnixBind(path)
    if bind.startswith("tcp:"):
        rest = bind[len("tcp:") :]
        if rest.startswith("//"):
            rest = rest[2:]
        host, sep, port_text = rest.rpartition(":")
        if not sep or not host or not port_text.isdigit():
            raise BindError(f"expected tcp:HOST:PORT, got {bind!r}")
        port = int(port_text)
        if port > 65535:
            raise BindError(f"port out of range in bind {bind!r}")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if host == "localhost":
            host = "127.0.0.1"
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise BindError(f"tcp bind host must be a loopback IP address, got {host!r}") from None
        if not address.is_loopback:
            raise BindError(
                f"refusing to bind {host}: only loopback (127.0.0.0/8 or ::1) is allowed"
            )
        return _TcpBind(str(address), port)
    raise BindError(f"bind must start with 'unix:' or 'tcp:', got {bind!r}")


def _reported_address(target: _UnixBind | _TcpBind, binds: Sequence[str]) -> str:
    """Turn what hypercorn reports (``http://127.0.0.1:PORT``) into a spec URL."""
    if isinstance(target, _UnixBind):
        return f"unix://{target.path}"
    if len(binds) != 1:
        raise RuntimeError(f"hypercorn reported {len(binds)} binds, expected one: {binds!r}")
    reported = binds[0].removeprefix("http://")
    _, _, port = reported.rpartition(":")
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"tcp://{host}:{int(port)}"


class MockPlugin:
    """A fake Docker plugin answering from scripted per-method handlers.

    Args:
        implements: Subsystems reported by the default ``Plugin.Activate``
            handler (``{"Implements": [...]}``).
        handlers: Initial handlers by method name (``"VolumeDriver.Create"``);
            these may also replace the ``Plugin.Activate`` default.
        name: A label for logs and ``repr``.
        record_limit: Keep only about this many of the latest requests (None: all;
            ``plugin-emulator serve --mock`` keeps 1,000 so a long run does not grow).

    Attributes:
        requests: Every request received (the latest ones with ``record_limit``), in
            arrival order.
    """

    def __init__(
        self,
        implements: Sequence[str] = ("VolumeDriver",),
        handlers: Mapping[str, Handler] | None = None,
        *,
        name: str = "mock",
        record_limit: int | None = None,
    ) -> None:
        if isinstance(implements, str):
            raise TypeError("implements must be a sequence of names, not a single string")
        self.name = name
        self.implements: tuple[str, ...] = tuple(implements)
        self.requests: list[RecordedRequest] = []
        self.record_limit = record_limit
        self._handlers: dict[str, Handler] = {
            "Plugin.Activate": {"Implements": list(self.implements)},
        }
        if handlers is not None:
            self._handlers.update(handlers)
        self._thawed: trio.Event | None = None

    def freeze(self) -> None:
        """Stop answering, like a SIGSTOPped process: requests are accepted and recorded,
        then held until :meth:`thaw`."""
        if self._thawed is None:
            self._thawed = trio.Event()

    def thaw(self) -> None:
        """Answer again; held requests are answered now."""
        if self._thawed is not None:
            self._thawed.set()
            self._thawed = None

    def __repr__(self) -> str:
        return f"<MockPlugin {self.name!r} implements={list(self.implements)!r}>"

    def on(self, method: str, handler: Handler) -> None:
        """Answer ``method`` (``"VolumeDriver.Mount"``) with ``handler`` from now on."""
        self._handlers[method] = handler

    def handler(self, method: str) -> Handler | None:
        """The handler currently answering ``method`` (to restore it after an override)."""
        return self._handlers.get(method)

    def calls(self, method: str) -> list[RecordedRequest]:
        """The recorded requests for ``method``, in arrival order."""
        return [r for r in self.requests if r.method == method]

    def count(self, method: str) -> int:
        """How many requests for ``method`` were received."""
        return sum(1 for r in self.requests if r.method == method)

    def reset(self) -> None:
        """Forget the recorded requests; handlers are kept."""
        self.requests.clear()

    async def serve(
        self,
        bind: str,
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve the plugin on ``bind`` until cancelled.

        Args:
            bind: ``"unix:/abs/path.sock"`` (parent directories are created)
                or ``"tcp:127.0.0.1:PORT"`` (port 0 picks a free port; only
                loopback addresses are allowed).  ``unix:///...`` and
                ``tcp://...`` are accepted too.
            task_status: Receives the bound address as a plugin spec URL,
                ``"unix:///abs/path.sock"`` or ``"tcp://127.0.0.1:PORT"``.

        Raises:
            BindError: The bind address is malformed, not loopback, or the
                unix socket path is too long.

        On exit every connection is closed and the unix socket file this call
        created is removed.
        """
        target = _parse_bind(bind)
        config = Config()
        config.accesslog = None
        config.errorlog = _server_log
        config.include_server_header = False  # Go's net/http sends none
        # Go's http.Server (what plugins run) has no idle timeout and no
        # per-connection request limit; hypercorn's defaults (5 s, 1000) would
        # also fire at once under an autojumping MockClock.
        config.keep_alive_timeout = float("inf")
        config.keep_alive_max_requests = sys.maxsize
        if isinstance(target, _UnixBind):
            os.makedirs(os.path.dirname(target.path), exist_ok=True)
            config.bind = [f"unix:{target.path}"]
        else:
            host = f"[{target.host}]" if ":" in target.host else target.host
            config.bind = [f"{host}:{target.port}"]

        # Identity of whatever sits at the socket path before we bind (hypercorn
        # replaces a stale socket there), so that cleanup also works when we
        # are cancelled between hypercorn's bind and its start report.
        before = _socket_identity(target.path) if isinstance(target, _UnixBind) else None
        created: tuple[int, int] | None = None
        try:
            async with trio.open_nursery() as nursery:
                binds: list[str] = await nursery.start(
                    partial(hypercorn.trio.serve, self._make_app(), config)
                )
                if isinstance(target, _UnixBind):
                    created = _socket_identity(target.path)
                address = _reported_address(target, binds)
                _log.debug("%r serving on %s", self, address)
                task_status.started(address)
        finally:
            if isinstance(target, _UnixBind):
                current = _socket_identity(target.path)
                ours = current == created if created is not None else current != before
                if current is not None and ours:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(target.path)

    def _make_app(self) -> QuartTrio:
        """A fresh Quart app whose catch-all view answers through this plugin."""
        app = QuartTrio(__name__, static_folder=None)
        app.config["BODY_TIMEOUT"] = None
        app.config["RESPONSE_TIMEOUT"] = None
        app.url_map.merge_slashes = False
        app.add_url_rule(
            "/",
            "root",
            self._view,
            methods=_HTTP_METHODS,
            defaults={"path": ""},
            provide_automatic_options=False,
        )
        app.add_url_rule(
            "/<path:path>",
            "catch_all",
            self._view,
            methods=_HTTP_METHODS,
            provide_automatic_options=False,
        )
        return app

    async def _view(self, path: str) -> Response:
        """Record the request, run its handler and build the response."""
        received = trio.current_time()
        body = await request.get_data(cache=False)
        assert isinstance(body, bytes)
        recorded = RecordedRequest(
            method=request.path.removeprefix("/"),
            http_method=request.method,
            path=request.path,
            headers=tuple(
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in request.scope["headers"]
            ),
            body=body,
            time=received,
        )
        self.requests.append(recorded)
        if self.record_limit is not None and len(self.requests) > 2 * self.record_limit:
            del self.requests[: -self.record_limit]  # trimmed now and then, not per request
        if self._thawed is not None:
            await self._thawed.wait()
        reply, data = await self._answer(recorded)
        if reply.delay > 0:
            await trio.sleep(reply.delay)
        return _to_response(reply, data)

    async def _answer(self, recorded: RecordedRequest) -> tuple[Reply, bytes]:
        """Run the handler; any exception becomes ``500 {"Err": "..."}``."""
        handler = self._handlers.get(recorded.method)
        if handler is None:
            return NOT_FOUND, NOT_FOUND.encoded_body()
        try:
            reply = await _call_handler(handler, recorded)
            return reply, reply.encoded_body()
        except Exception as exc:
            _log.warning("%r: handler for %s raised", self, recorded.method, exc_info=True)
            failure = Reply(status=500, body={"Err": str(exc) or type(exc).__name__})
            return failure, failure.encoded_body()


async def _call_handler(handler: Handler, recorded: RecordedRequest) -> Reply:
    """Resolve ``handler`` for one request into a :class:`Reply`."""
    if isinstance(handler, Reply):
        return handler
    if isinstance(handler, Mapping):
        return Reply(body=handler)
    result: object = handler(recorded)
    if inspect.isawaitable(result):
        result = await result
    if isinstance(result, Reply):
        return result
    if isinstance(result, Mapping):
        return Reply(body=result)
    raise TypeError(
        f"handler for {recorded.method} returned {type(result).__name__}, "
        "expected a Reply or a mapping"
    )


def _to_response(reply: Reply, data: bytes) -> Response:
    """Build the Quart response for ``reply`` with body ``data``."""
    response = Response(reply.stream if reply.stream is not None else data, status=reply.status)
    if reply.stream is not None:
        response.timeout = None
    del response.headers["Content-Type"]  # Quart's text/html default
    overridden = {name.lower() for name, _ in reply.headers}
    if reply.content_type is not None and "content-type" not in overridden:
        response.headers["Content-Type"] = reply.content_type
    for name, value in reply.headers:
        response.headers.add(name, value)
    return response


def _socket_identity(path: str) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of the unix socket at ``path``, or ``None`` if there is none."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISSOCK(info.st_mode):
        return None
    return (info.st_dev, info.st_ino)
