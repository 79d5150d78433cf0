"""Engine API requests as the checks send them: framed byte for byte, parsed with h11.

The authz checks send what docker clients send and what they do not (``HEAD``, chunked
bodies, a request with no header but ``Host``, repeated headers, a hijacked attach), so
requests are written here as bytes rather than by a client library that would tidy
them; answers are read with h11 (``Content-Length``, chunked, or until the connection
closes after a ``101``).  The engine's API server runs in the same trio run, on a unix
socket of the check's own.
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import h11
import trio

from emulator.check.answers import short

__all__ = ["ApiAnswer", "ApiRequest", "send"]

_READ = 65536


@attrs.frozen
class ApiRequest:
    """One Engine API request, as the check writes it on the wire."""

    method: str
    target: str
    """The request-target: ``/v1.51/volumes/create?x=1``."""
    headers: tuple[tuple[str, str], ...] = ()
    """Header lines after ``Host`` (in order; repeated names allowed)."""
    body: bytes = b""
    chunked: bool = False
    """Send the body with ``Transfer-Encoding: chunked`` instead of ``Content-Length``."""
    label: str = ""
    """What the request stands for, in a sentence (``docker volume ls``)."""

    def wire(self) -> bytes:
        """The request's bytes."""
        lines = [f"{self.method} {self.target} HTTP/1.1", "Host: api.moby.localhost"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.chunked:
            lines.append("Transfer-Encoding: chunked")
        elif self.body or self.method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(self.body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not self.chunked:
            return head + self.body
        chunks = [b"%x\r\n%s\r\n" % (len(part), part) for part in _pieces(self.body)]
        return head + b"".join(chunks) + b"0\r\n\r\n"

    def describe(self) -> str:
        """``GET /v1.51/version`` (and its label)."""
        shown = self.target if len(self.target) <= 60 else self.target[:59] + "…"
        return f"{self.method} {shown}" + (f" ({self.label})" if self.label else "")


def _pieces(body: bytes, size: int = 256 * 1024) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)] or []


@attrs.frozen
class ApiAnswer:
    """What the engine answered (status 0 when no answer came: ``error`` says why)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    error: str | None = None

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    @property
    def message(self) -> str:
        """dockerd's error text: ``message`` of a JSON error body, else the body as text."""
        try:
            data = json.loads(self.body)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            return str(data["message"])
        return self.body.decode("utf-8", "replace").strip()

    def describe(self) -> str:
        """``403 authorization denied by plugin …`` (or the connection's failure)."""
        if self.status == 0:
            return f"no answer ({self.error})"
        if self.status >= 400:
            return f"{self.status} {short(self.message)}"
        return str(self.status)


async def send(socket: Path, request: ApiRequest) -> ApiAnswer:
    """Send ``request`` on a new connection to the API server on ``socket``; read one answer.

    A ``101`` answer (a hijacked attach) is read until the server closes the connection;
    so is a streamed answer, until its end.
    """
    parser = h11.Connection(h11.CLIENT)
    # Put the parser in the state "request sent" without sending its bytes: ours are raw.
    upgrade = any(k.lower() == "upgrade" for k, _ in request.headers)
    pretend = [("Host", "x")] + ([("Connection", "Upgrade"), ("Upgrade", "tcp")] if upgrade else [])
    parser.send(h11.Request(method=request.method, target="/", headers=pretend))
    parser.send(h11.EndOfMessage())
    status, headers, body = 0, [], bytearray()
    try:
        async with await trio.open_unix_socket(str(socket)) as stream:
            await stream.send_all(request.wire())
            while True:
                event = parser.next_event()
                if event is h11.NEED_DATA:
                    parser.receive_data(await stream.receive_some(_READ))
                elif isinstance(event, h11.InformationalResponse | h11.Response):
                    status = event.status_code
                    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
                    if status == 101:
                        body += await _until_closed(stream, parser.trailing_data[0])
                        break
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    break
    except (OSError, trio.BrokenResourceError, h11.ProtocolError) as exc:
        return ApiAnswer(status, tuple(headers), bytes(body), error=str(exc) or type(exc).__name__)
    return ApiAnswer(status, tuple(headers), bytes(body))


async def _until_closed(stream: trio.SocketStream, first: bytes) -> bytes:
    data = bytearray(first)
    while chunk := await stream.receive_some(_READ):
        data += chunk
    return bytes(data)
