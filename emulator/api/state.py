"""What the API layer keeps beside the engine, and the engine's clock as Unix time."""

from __future__ import annotations

import attrs

from emulator.engine.core import Engine
from emulator.engine.plugin_output import PluginOutput


@attrs.define
class ApiState:
    """The engine served, and how much of its journal was logged."""

    engine: Engine
    logged_calls: int = 0
    """How many journal entries have been logged as debug lines."""
    plugin_outputs: dict[str, PluginOutput] = attrs.field(factory=dict)
    """What the plugins ``serve`` started wrote, by name (``GET /emulator/plugin-output``)."""

    def wall(self, engine_time: float) -> float:
        """An engine-clock time as Unix time."""
        return engine_time + self.engine.wall_offset

    def now(self) -> float:
        """Now, as Unix time (``time.Now()`` for the engine)."""
        return self.engine.wall_now()
