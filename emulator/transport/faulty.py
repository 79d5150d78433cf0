"""A trio stream that misbehaves on purpose: fault injection at the byte-stream level.

A fault that shapes one attempt (``delay``, ``fault: reset`` …; see
docs/scenario-format.md) wraps the connection's stream in a :class:`FaultyStream` for that
round trip.  The stream delays, swallows, cuts, garbles, resets or drips the *bytes*; the
connection's real HTTP parser (h11) and its real error paths then turn what arrives into
Go's error texts, exactly as they would for a plugin that misbehaved by itself.  Like
trio's memory streams (``trio.testing``), it is a plain :class:`trio.abc.Stream`.

Faults that spoil the plugin's answer first read that answer whole (the plugin has seen
the request and answered it), framed by h11 as the connection would frame it, then deliver
what the fault leaves of it.  All waiting is on trio's clock, outside the connection's
real-I/O guard, so injected delays cost nothing under virtual time.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Final, Literal

import attrs
import h11
import trio

from emulator.faults.model import FaultKind

__all__ = ["GARBAGE", "FaultyStream", "StreamFault"]

StreamFaultKind = Literal["delay"] | FaultKind

#: What ``fault: garbage`` answers with: bytes that are no HTTP status line.
GARBAGE: Final = b"\x00GARBAGE\xff\r\n\r\n"
_READ_CHUNK = 65536


@attrs.frozen
class StreamFault:
    """What a :class:`FaultyStream` does to one round trip.

    ``kind`` is the fault (``delay`` for a delay action); ``delay`` the seconds to wait
    before the request is written; ``rate`` the bytes per second of ``drip``.
    """

    kind: StreamFaultKind
    delay: float = 0.0
    rate: float = 10.0

    @property
    def keeps_connection(self) -> bool:
        """Whether the connection is sound afterwards (only a delay leaves it so)."""
        return self.kind == "delay"


def _os_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


@attrs.frozen
class _Answer:
    """The plugin's answer as read off the wire: its head and the rest (the body)."""

    head: bytes
    body: bytes


class FaultyStream(trio.abc.Stream):
    """``inner`` with ``fault`` applied to the request written and the answer read."""

    def __init__(
        self,
        inner: trio.abc.Stream,
        fault: StreamFault,
        *,
        limit: int,
        on_write: Callable[[], None] | None = None,
    ) -> None:
        """``limit``: the most bytes of an answer read; ``on_write``: called when the
        request counts as written (after a delay; never for ``reset_before_send``; for
        ``hang`` and ``drop`` the plugin "got" it and says nothing)."""
        self._inner = inner
        self._on_write = on_write
        self._fault = fault
        self._limit = limit
        self._sent = False
        self._script: list[tuple[bytes, float]] | None = None
        self._ending: Literal["eof", "reset", "inner"] = "inner"

    # -- writing ----------------------------------------------------------------------

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write the request, or not, as the fault says."""
        kind, first = self._fault.kind, not self._sent
        self._sent = True
        if kind == "delay" and first:
            await trio.sleep(self._fault.delay)
        if kind == "reset_before_send":
            await trio.lowlevel.checkpoint()
            raise trio.BrokenResourceError from _os_error(errno.EPIPE)
        if self._on_write is not None:
            self._on_write()
        if kind in ("hang", "drop"):  # the plugin never gets the request
            await trio.lowlevel.checkpoint()
            return
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        """As the inner stream."""
        await self._inner.wait_send_all_might_not_block()

    # -- reading ----------------------------------------------------------------------

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        """The next bytes of the answer as the fault leaves it."""
        kind = self._fault.kind
        if kind == "hang":
            await trio.sleep_forever()
        if kind == "drop":  # closed before any answer
            await trio.lowlevel.checkpoint()
            return b""
        if kind == "delay":
            return await self._inner.receive_some(max_bytes)
        if self._script is None:
            self._script = self._plan(await self._read_answer())
        if self._script:
            chunk, pause = self._script.pop(0)
            await trio.sleep(pause)
            return chunk
        if self._ending == "reset":
            await trio.lowlevel.checkpoint()
            raise trio.BrokenResourceError from _os_error(errno.ECONNRESET)
        if self._ending == "eof":
            await trio.lowlevel.checkpoint()
            return b""
        return await self._inner.receive_some(max_bytes)

    def _plan(self, answer: _Answer) -> list[tuple[bytes, float]]:
        """The pieces (and the pause before each) the connection reads, and how it ends."""
        kind = self._fault.kind
        if kind == "reset":
            self._ending = "reset"
            return []
        if kind == "reset_mid_response":
            self._ending = "reset"
            return [(answer.head, 0.0)]
        if kind == "truncate":
            self._ending = "eof"
            return [(answer.head + answer.body[: len(answer.body) // 2], 0.0)]
        if kind == "garbage":
            self._ending = "eof"
            return [(GARBAGE, 0.0)]
        assert kind == "drip"
        rate = max(self._fault.rate, 1e-9)
        step = max(1, int(rate // 10))  # about ten reads per second of dripping
        pieces = [(answer.head, 0.0)]
        for start in range(0, len(answer.body), step):
            piece = answer.body[start : start + step]
            pieces.append((piece, len(piece) / rate))
        return pieces

    async def _read_answer(self) -> _Answer:
        """Read the plugin's whole answer, framed by h11 (stop at ``limit`` bytes or EOF)."""
        framer = h11.Connection(h11.CLIENT)
        framer.send(h11.Request(method=b"POST", target=b"/", headers=[(b"Host", b"plugin")]))
        framer.send(h11.EndOfMessage())
        received = bytearray()
        head_size: int | None = None
        while True:
            try:
                event = framer.next_event()
            except h11.RemoteProtocolError:
                break  # not HTTP: the connection's parser will say so
            if event is h11.NEED_DATA:
                if len(received) >= self._limit:
                    break
                chunk = await self._inner.receive_some(_READ_CHUNK)
                received += chunk
                framer.receive_data(bytes(chunk))
                if not chunk and framer.their_state is not h11.DONE:
                    break  # closed early: deliver what came
                continue
            if isinstance(event, h11.Response):
                head_size = len(received) - len(framer.trailing_data[0])
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                end = len(received) - len(framer.trailing_data[0])
                del received[end:]
                break
        data = bytes(received)
        size = len(data) if head_size is None else head_size
        return _Answer(head=data[:size], body=data[size:])

    async def aclose(self) -> None:
        """Close the inner stream."""
        await self._inner.aclose()
