"""The engine's event log (what ``docker events`` streams): volume and container actions."""

from __future__ import annotations

from collections.abc import Mapping

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

    def __call__(self, type_: str, action: str, attributes: Mapping[str, str]) -> None:
        self.events.append(Event(trio.current_time(), type_, action, dict(attributes)))

    def of(self, type_: str) -> list[Event]:
        """Events of one type."""
        return [e for e in self.events if e.type == type_]
