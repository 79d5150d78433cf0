"""One client connection of the Engine API: its stream, its requests, its closing.

hypercorn's ``TCPServer`` speaks HTTP on each connection.  Around it the emulator adds
what dockerd's ``http.Server`` does and hypercorn does not:

* a connection the client closed is released at once when no request is running on
  it (hypercorn otherwise holds its descriptor until the keep-alive timeout);
* a connection with no request running is closed once it has been so for the idle
  timeout (dockerd: 5 minutes), counted from its opening or its last answer to the
  start of the next request (Go's ``IdleTimeout`` then ``ReadHeaderTimeout``; bytes
  trickling in do not extend it).  hypercorn's own keep-alive timer is not reliable
  here: it is restarted from the request task, which quart-trio cancels as it ends;
* closing is never interrupted halfway (a ``Connection: close`` answer really closes:
  hypercorn's close can be cancelled by the request task ending at the same moment);
* on TLS, the verified client certificate goes into each request's ASGI scope
  (``scope["extensions"]["tls"]``, see :mod:`emulator.api.tls`);
* on plain TCP, requests for a ``Host`` that is not a loopback name or address, or
  from a browser page of another origin, are refused (DNS rebinding, CSRF): only
  ``localhost``, ``*.localhost``, ``127.0.0.0/8`` and ``::1`` are served;
* a request may **hijack** the connection after answering ``101 UPGRADED`` (attach,
  exec start), as dockerd's ``httputils.HijackConnection``: from then on the bytes the
  client sends go to the handler (``scope["extensions"]["emulator.hijack"]()`` gives a
  :class:`HijackedStream`), never to hypercorn, and the handler writes raw bytes, its
  answer's head included (dockerd writes it by hand; what hypercorn would write for the
  request is dropped).  When the handler returns, the connection is closed.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import urlsplit

import trio

from emulator.api.tls import tls_scope

__all__ = ["Connection", "HijackedStream", "is_loopback_host", "plain_tcp_refusal"]

Scope = MutableMapping[str, Any]
#: hypercorn's app wrapper: ``app(scope, receive, send, sync_spawn, call_soon)``.
AppWrapper = Callable[..., Awaitable[None]]

#: How long closing a TLS stream may wait for the peer to take the close_notify.
CLOSE_GRACE: Final = 1.0


def is_loopback_host(host: str) -> bool:
    """``localhost``, ``*.localhost`` or a loopback address (a ``:port`` may follow)."""
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name[1:]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    name = name.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def plain_tcp_refusal(scope: Scope) -> str | None:
    """Why a plain-TCP request must not be served (None: it may)."""
    host = _header(scope, b"host")
    if host is None or not is_loopback_host(host):
        return (
            f"plugin-emulator refuses a request for Host {json.dumps(host or '')} on plain "
            "TCP: only loopback names and addresses (localhost, *.localhost, 127.0.0.0/8, "
            "[::1]) are served, to keep web pages out (DNS rebinding); use the unix socket, "
            "or TLS with --tlsverify"
        )
    origin = _header(scope, b"origin")
    if origin is not None and not is_loopback_host(urlsplit(origin).netloc or origin):
        return (
            f"plugin-emulator refuses a request from the web page {json.dumps(origin)} on "
            "plain TCP (cross-site requests could start plugins as root); the docker CLI "
            "and SDKs send no Origin"
        )
    return None


class HijackedStream:
    """A connection taken over by a request handler: raw bytes both ways.

    :meth:`receive_some` gives what the client sends (``b""`` once it closed its side);
    :meth:`send_all` writes to it directly.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._send, self._receive = trio.open_memory_channel[bytes](1)

    async def feed(self, data: bytes) -> None:
        """Bytes the client sent (from the connection's reader); ``b""`` at its end."""
        try:
            await self._send.send(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        if not data:
            self._send.close()

    async def receive_some(self) -> bytes:
        """The client's next bytes; ``b""`` once it closed its side.

        hypercorn reads a connection only while it expects a request: after one it
        usually waits (h11 pauses until the answer is done), so nobody reads and the
        bytes are read here directly.  When hypercorn's reader is at the socket, it hands
        over what it gets (:meth:`Connection.receive_some`).
        """
        lock = self._connection.read_lock
        while True:
            try:
                return self._receive.receive_nowait()
            except trio.WouldBlock:
                pass
            except (trio.EndOfChannel, trio.ClosedResourceError):
                return b""
            if lock.locked():
                try:
                    return await self._receive.receive()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    return b""
            async with lock:
                try:
                    return self._receive.receive_nowait()  # handed over while we waited
                except trio.WouldBlock:
                    pass
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    return b""
                try:
                    return bytes(await self._connection.receive_raw())
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    return b""

    async def send_all(self, data: bytes) -> None:
        await self._connection.send_raw(data)

    def close(self) -> None:
        self._send.close()
        self._receive.close()


class Connection:
    """The stream of one connection, as hypercorn's ``TCPServer`` uses it.

    Everything not defined here (``socket``, ``do_handshake``, ``transport_stream``,
    ``selected_alpn_protocol`` ...) is the wrapped stream's, so hypercorn tells plain
    and TLS streams apart exactly as before.
    """

    def __init__(self, stream: Any, *, plain_tcp: bool = False) -> None:
        self._stream = stream
        self._plain_tcp = plain_tcp
        self._closed_by_peer = False
        self._active = 0
        self._idle_timeout = math.inf
        self._timer: trio.CancelScope | None = None
        """The supervisor's wait: its deadline is when the connection is closed for being
        idle (none while a request runs); cancelled when the peer closed an idle one."""
        self._tls: dict[str, Any] | None = None
        self._hijacked: HijackedStream | None = None
        self.read_lock = trio.Lock()
        """Held by whoever reads the stream (hypercorn, or a hijacking handler)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def hijack(self) -> HijackedStream:
        """Give what the client sends from now on to the caller (see the module docstring)."""
        self._hijacked = HijackedStream(self)
        return self._hijacked

    async def receive_raw(self) -> bytes | bytearray:
        """The stream's next bytes (the caller holds :attr:`read_lock`)."""
        data: bytes | bytearray = await self._stream.receive_some(65536)
        return data

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        while True:
            try:
                async with self.read_lock:
                    data = await self._stream.receive_some(max_bytes)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._note(closed=True)
                if self._hijacked is not None:
                    await self._hijacked.feed(b"")
                raise
            hijacked = self._hijacked
            if hijacked is not None:
                await hijacked.feed(bytes(data))
                if data:
                    continue  # hypercorn never sees a hijacked connection's bytes
            if not data:
                self._note(closed=True)
            return data  # type: ignore[no-any-return]

    def _note(self, *, closed: bool = False, active: int = 0) -> None:
        """The peer closed, or a request began or ended: the supervisor's deadline moves
        (it is not woken: no task switch per request)."""
        self._closed_by_peer = self._closed_by_peer or closed
        self._active += active
        timer = self._timer
        if timer is None:
            return
        if self._active:
            timer.deadline = math.inf
        elif self._closed_by_peer or self._hijacked is not None:
            timer.cancel()  # a hijacked connection is never reused
        elif active:  # the last running request ended: idle from now
            timer.deadline = trio.current_time() + self._idle_timeout

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._hijacked is not None:
            return  # the hijacking handler writes its own answer, head included
        await self._stream.send_all(data)

    async def send_raw(self, data: bytes | bytearray | memoryview) -> None:
        """Bytes from a hijacking handler (:meth:`HijackedStream.send_all`)."""
        await self._stream.send_all(data)

    async def send_eof(self) -> None:
        # AttributeError for TLS streams, as hypercorn expects
        send_eof = self._stream.send_eof
        with trio.CancelScope(shield=True):
            await send_eof()

    async def aclose(self) -> None:
        with trio.move_on_after(CLOSE_GRACE) as scope:
            scope.shield = True
            await self._stream.aclose()
        if scope.cancelled_caught:
            await trio.aclose_forcefully(self._stream)

    # -- requests -------------------------------------------------------------------

    def app(self, app: AppWrapper) -> AppWrapper:
        """``app`` for this connection: requests counted, TLS identity added, Host checked."""

        async def per_connection(
            scope: Scope, receive: Any, send: Any, sync_spawn: Any, call_soon: Any
        ) -> None:
            if scope.get("type") != "http":
                await app(scope, receive, send, sync_spawn, call_soon)
                return
            self._note(active=1)
            try:
                refusal = plain_tcp_refusal(scope) if self._plain_tcp else None
                if refusal is not None:
                    await _refuse(send, refusal)
                    return
                extensions = {**(scope.get("extensions") or {}), "emulator.hijack": self.hijack}
                tls = self._tls_scope()
                if tls is not None:
                    extensions["tls"] = tls
                scope = {**scope, "extensions": extensions}
                await app(scope, receive, send, sync_spawn, call_soon)
            finally:
                self._note(active=-1)

        return per_connection

    def _tls_scope(self) -> dict[str, Any] | None:
        if self._tls is None and hasattr(self._stream, "getpeercert"):
            try:
                peer = self._stream.getpeercert()
                der = self._stream.getpeercert(binary_form=True)
                cipher = self._stream.cipher()
                version = self._stream.version()
            except (ValueError, AttributeError):  # no handshake yet
                return None
            self._tls = tls_scope(peer, der, version, cipher[0] if cipher else None)
        return self._tls

    async def supervise(self, scope: trio.CancelScope, idle_timeout: float) -> None:
        """Cancel ``scope`` (the connection) once no request runs and the peer has closed,
        or no request has started for ``idle_timeout`` seconds."""
        self._idle_timeout = idle_timeout
        with trio.CancelScope(deadline=trio.current_time() + idle_timeout) as timer:
            self._timer = timer
            self._note()  # what happened before the supervisor started
            await trio.sleep_forever()
        self._timer = None
        scope.cancel()


async def _refuse(send: Callable[[Any], Awaitable[None]], text: str) -> None:
    body = (json.dumps({"message": text}) + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
