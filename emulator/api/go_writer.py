"""Go's ``http.ResponseWriter`` over ASGI, and dockerd's authz response modifier on it.

The authorization middleware sits between dockerd's handlers and Go's response writer
(moby/moby v28.5.2 pkg/authorization/response.go), and what an authz plugin sees of a
response, and what the client gets after a refusal, follows from how the two buffer:

* :class:`GoResponseWriter` is the connection's writer: a header map, a status set by the
  first ``WriteHeader`` (later calls are "superfluous" and ignored), and the header sent
  with the first body byte or ``Flush``.  A handler that finishes without writing
  answers 200 with an empty body.
* :class:`ResponseModifier` is ``responseModifier``: its own header map and status, and a
  body buffer that is flushed to the writer before it would exceed 64 KiB, on ``Flush``
  and on ``Hijack``; ``FlushAll`` copies header and status over and clears them.  What
  is still buffered when the handler returns is what ``AuthZRes`` sees; after a refusal
  it is never sent.

Both are driven by the authz middleware (:mod:`emulator.api.authz`); they only hold and
forward bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from emulator.protocol.authz import MAX_BUFFER_SIZE

__all__ = ["GoResponseWriter", "Header", "ResponseModifier"]

log = logging.getLogger("emulator.api")

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]


class Header:
    """Go's ``http.Header``: canonical names, several values each, in insertion order."""

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}

    def add(self, name: str, value: str) -> None:
        self.values.setdefault(name, []).append(value)

    def set(self, name: str, value: str) -> None:
        self.values[name] = [value]

    def get(self, name: str) -> str:
        """The first value, or ``""``."""
        found = self.values.get(name)
        return found[0] if found else ""

    def pairs(self) -> list[tuple[bytes, bytes]]:
        return [
            (name.encode("utf-8", "surrogateescape"), value.encode("utf-8", "surrogateescape"))
            for name, values in self.values.items()
            for value in values
        ]


class GoResponseWriter:
    """The connection's ``http.ResponseWriter``, sending ASGI messages.

    Written bytes are held until :meth:`flush` or :meth:`finish`, so an answer written
    in one go at the end gets a ``Content-Length`` (as Go gives a handler that finishes
    before its buffer fills); a flushed one is sent chunked.
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self.header = Header()
        self.status = 0
        self.started = False
        self.hijacked = False
        self._pending = bytearray()

    def write_header(self, status: int) -> None:
        """``WriteHeader``: the first status wins."""
        if self.hijacked:
            log.debug("http: response.WriteHeader on hijacked connection")
            return
        if self.status:
            log.debug("http: superfluous response.WriteHeader call (status %s)", status)
            return
        self.status = status

    async def write(self, data: bytes) -> None:
        """``Write``: an implicit ``WriteHeader(200)`` first."""
        if self.hijacked:
            return  # http.ErrHijacked
        self.write_header(200)
        self._pending += data

    async def flush(self) -> None:
        """``Flush``: the header (and status 200 if none was set) goes out, then the bytes."""
        if self.hijacked:
            return
        self.write_header(200)
        await self._start(length=None)
        if self._pending:
            data, self._pending = bytes(self._pending), bytearray()
            await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def finish(self) -> None:
        """The handler returned: send what is left and end the response."""
        if self.hijacked:
            return
        self.write_header(200)
        await self._start(length=len(self._pending))
        data, self._pending = bytes(self._pending), bytearray()
        await self._send({"type": "http.response.body", "body": data, "more_body": False})

    async def passthrough(self, message: Message) -> None:
        """Send an ASGI message as it is (a hijacked connection's raw answer)."""
        self.started = True
        await self._send(message)

    async def _start(self, *, length: int | None) -> None:
        if self.started:
            return
        self.started = True
        headers = self.header.pairs()
        if length is not None and not self.header.get("Content-Length"):
            headers.append((b"content-length", str(length).encode()))
        await self._send({"type": "http.response.start", "status": self.status, "headers": headers})


class ResponseModifier:
    """dockerd's ``responseModifier`` over a :class:`GoResponseWriter`."""

    def __init__(self, writer: GoResponseWriter) -> None:
        self.writer = writer
        self._header = Header()
        self.status = 0
        self.body = bytearray()
        self.hijacked = False

    @property
    def header(self) -> Header:
        """``Header()``: the modifier's own map; the writer's once hijacked."""
        return self.writer.header if self.hijacked else self._header

    def write_header(self, status: int) -> None:
        """``WriteHeader``: remembered (passed on once hijacked)."""
        if self.hijacked:
            self.writer.write_header(status)
            return
        self.status = status

    async def write(self, data: bytes) -> None:
        """``Write``: flush first if the buffer would exceed 64 KiB, then buffer ``data``."""
        if self.hijacked:
            await self.writer.write(data)
            return
        if len(self.body) + len(data) > MAX_BUFFER_SIZE:
            await self.flush()
        self.body += data

    async def flush(self) -> None:
        """``Flush``: ``FlushAll``, then the writer's ``Flush``."""
        await self.flush_all()
        await self.writer.flush()

    async def flush_all(self) -> None:
        """``FlushAll``: header, status and buffered body to the writer, then cleared."""
        for name, values in self._header.values.items():
            for value in values:
                self.writer.header.add(name, value)
        if self.status > 0:
            self.writer.write_header(self.status)
        if self.body:
            data, self.body = bytes(self.body), bytearray()
            await self.writer.write(data)
        self.status = 0
        self._header = Header()

    async def hijack(self) -> None:
        """``Hijack``: ``FlushAll``, then the handler owns the connection."""
        self.hijacked = True
        await self.flush_all()
        self.writer.hijacked = True
