"""What the API layer keeps beside the engine: wall-clock times dockerd shows."""

from __future__ import annotations

import time

import attrs
import trio

from emulator.engine.core import Engine


@attrs.define
class ContainerTimes:
    """When a container was created, last started and last finished (Unix seconds)."""

    created: float
    started: float | None = None
    finished: float | None = None


@attrs.define
class ApiState:
    """The engine served, and times the engine does not keep."""

    engine: Engine
    wall_offset: float = attrs.field(factory=lambda: time.time() - trio.current_time())
    """Add to an engine-clock time to get Unix time."""
    times: dict[str, ContainerTimes] = attrs.field(factory=dict)
    logged_calls: int = 0
    """How many journal entries have been logged as debug lines."""

    def wall(self, engine_time: float) -> float:
        return engine_time + self.wall_offset

    def now(self) -> float:
        return self.wall(trio.current_time())

    def times_of(self, cid: str) -> ContainerTimes:
        return self.times.setdefault(cid, ContainerTimes(created=self.now()))
