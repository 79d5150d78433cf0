"""The engine's event log (what ``docker events`` streams): volume and container actions."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import attrs
import trio


@attrs.frozen
class Event:
    """One event: ``type`` (``volume``, ``container``, ``plugin``), ``action``, attributes."""

    time: float
    type: str
    action: str
    attributes: Mapping[str, str]


class EventLog:
    """Events in order, with engine-clock times."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._subscribers: list[trio.MemorySendChannel[Event]] = []

    def __call__(self, type_: str, action: str, attributes: Mapping[str, str]) -> None:
        event = Event(trio.current_time(), type_, action, dict(attributes))
        self.events.append(event)
        for channel in self._subscribers:
            channel.send_nowait(event)

    @contextmanager
    def subscribe(self) -> Iterator[trio.MemoryReceiveChannel[Event]]:
        """Every event logged from now on, in order, until the ``with`` block ends."""
        send, receive = trio.open_memory_channel[Event](math.inf)
        self._subscribers.append(send)
        try:
            yield receive
        finally:
            self._subscribers.remove(send)
            send.close()
            receive.close()

    def of(self, type_: str) -> list[Event]:
        """Events of one type."""
        return [e for e in self.events if e.type == type_]
