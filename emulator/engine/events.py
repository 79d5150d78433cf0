"""The engine's event log (what ``docker events`` streams): volume and container actions.

As dockerd's events service, it keeps the last 256 events for ``docker events --since``
(moby/moby ``daemon/events/events.go`` ``eventsLimit``, v28.5.2); subscribers see every
event logged while they listen.  ``EventLog.count`` is how many were ever logged: a
reader marks it, then asks :meth:`EventLog.since` for what came after, even if older
events have been dropped meanwhile.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Final

import attrs
import trio


@attrs.frozen
class Event:
    """One event: ``type`` (``volume``, ``container``, ``plugin``), ``action``, attributes."""

    time: float
    type: str
    action: str
    attributes: Mapping[str, str]
    seq: int = 0
    """Its place among every event ever logged (from 0)."""


#: What the engine's services log events through: ``(type, action, attributes)``
#: (an :class:`EventLog` is one).
EventSink = Callable[[str, str, Mapping[str, str]], None]

#: How many past events dockerd keeps (``eventsLimit``).
EVENTS_LIMIT: Final = 256


class EventLog:
    """The last ``limit`` events in order, with engine-clock times (None keeps them all)."""

    def __init__(self, limit: int | None = EVENTS_LIMIT) -> None:
        self._kept: collections.deque[Event] = collections.deque(maxlen=limit)
        self._subscribers: list[trio.MemorySendChannel[Event]] = []
        self.count = 0
        """How many events were ever logged."""

    @property
    def events(self) -> list[Event]:
        """The events kept, oldest first."""
        return list(self._kept)

    def since(self, mark: int) -> list[Event]:
        """The kept events logged when :attr:`count` was ``mark`` or later."""
        return [e for e in self._kept if e.seq >= mark]

    def __call__(self, type_: str, action: str, attributes: Mapping[str, str]) -> None:
        event = Event(trio.current_time(), type_, action, dict(attributes), self.count)
        self.count += 1
        self._kept.append(event)
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

    @property
    def subscribers(self) -> int:
        """How many subscriptions are open (``engine_daemon_events_subscribers_total``)."""
        return len(self._subscribers)

    def of(self, type_: str) -> list[Event]:
        """Events of one type."""
        return [e for e in self._kept if e.type == type_]
