"""A scriptable mock plugin host.

:class:`MockPlugin` is a small HTTP server that behaves like a Docker Engine
plugin: dockerd (or the emulator standing in for it) sends ``POST
/Plugin.Activate``, ``POST /VolumeDriver.Create`` and so on, and the mock
answers from a table of per-method *handlers*.  Every request is recorded
(before its handler runs) so tests can assert on what the daemon sent.

The server is a small h11 server on trio sockets (:mod:`emulator.mocks.http_server`,
which sends the bytes the earlier Quart-on-hypercorn server sent) on a unix socket or a
loopback TCP port::

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
import socket as _stdsocket
import stat
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeAlias

import attrs
import trio

from emulator.mocks.http_server import ServerRequest, ServerResponse, serve_http

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

#: The listen backlog of a mock's socket (hypercorn's default).
BACKLOG = 100


@attrs.frozen
class RecordedRequest:
    """One request as the mock plugin received it.

    Attributes:
        method: The plugin method, i.e. the path without its leading ``/``
            (``"Plugin.Activate"``, ``"VolumeDriver.Mount"``).
        http_method: The HTTP method (``"POST"``).
        path: The request path (``"/VolumeDriver.Mount"``), without query.
        headers: Header ``(name, value)`` pairs in the order received, names
            lower-cased.
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


def _bound_socket(target: _UnixBind | _TcpBind) -> trio.socket.SocketType:
    """A listening socket on ``target``, as hypercorn made them: a stale unix socket at
    the path is replaced; TCP with ``SO_REUSEADDR`` and ``TCP_NODELAY``."""
    if isinstance(target, _UnixBind):
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.stat(target.path).st_mode):
                os.unlink(target.path)
        raw = _stdsocket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_STREAM)
        address: str | tuple[str, int] = target.path
    else:
        family = _stdsocket.AF_INET6 if ":" in target.host else _stdsocket.AF_INET
        raw = _stdsocket.socket(family, _stdsocket.SOCK_STREAM)
        raw.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY, 1)
        address = (target.host, target.port)
    try:
        raw.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_REUSEADDR, 1)
        raw.bind(address)  # a unix bind is a quick local call: no worker thread
        raw.listen(BACKLOG)
    except BaseException:
        raw.close()
        raise
    return trio.socket.from_stdlib_socket(raw)


def _reported_address(target: _UnixBind | _TcpBind, sock: trio.socket.SocketType) -> str:
    """The bound address as a spec URL (``unix:///…``, ``tcp://127.0.0.1:PORT``)."""
    if isinstance(target, _UnixBind):
        return f"unix://{target.path}"
    port = sock.getsockname()[1]
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
        if isinstance(target, _UnixBind):
            os.makedirs(os.path.dirname(target.path), exist_ok=True)
        # Identity of whatever sits at the socket path before we bind (a stale socket
        # there is replaced), so that cleanup also works when we are cancelled between
        # the bind and the start report.
        before = _socket_identity(target.path) if isinstance(target, _UnixBind) else None
        created: tuple[int, int] | None = None
        try:
            sock = _bound_socket(target)
            if isinstance(target, _UnixBind):
                created = _socket_identity(target.path)
            with sock:
                async with trio.open_nursery() as nursery:
                    await nursery.start(serve_http, trio.SocketListener(sock), self._respond)
                    address = _reported_address(target, sock)
                    _log.debug("%r serving on %s", self, address)
                    task_status.started(address)
        finally:
            if isinstance(target, _UnixBind):
                current = _socket_identity(target.path)
                ours = current == created if created is not None else current != before
                if current is not None and ours:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(target.path)

    async def _respond(self, request: ServerRequest) -> ServerResponse:
        """Record the request, run its handler and build the response."""
        recorded = RecordedRequest(
            method=request.path.removeprefix("/"),
            http_method=request.http_method,
            path=request.path,
            headers=request.headers,
            body=request.body,
            time=request.received,
        )
        self.requests.append(recorded)
        if self.record_limit is not None and len(self.requests) > 2 * self.record_limit:
            del self.requests[: -self.record_limit]  # trimmed now and then, not per request
        if self._thawed is not None:
            await self._thawed.wait()
        reply, data = await self._answer(recorded)
        if reply.delay > 0:
            await trio.sleep(reply.delay)
        return ServerResponse(reply.status, _reply_headers(reply), data, stream=reply.stream)

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


def _reply_headers(reply: Reply) -> tuple[tuple[str, str], ...]:
    """``reply``'s headers in order: its ``content_type`` unless a header overrides it."""
    overridden = any(name.lower() == "content-type" for name, _ in reply.headers)
    if reply.content_type is not None and not overridden:
        return (("Content-Type", reply.content_type), *reply.headers)
    return reply.headers


def _socket_identity(path: str) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of the unix socket at ``path``, or ``None`` if there is none."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISSOCK(info.st_mode):
        return None
    return (info.st_dev, info.st_ino)
