"""What the API layer keeps beside the engine (:class:`ApiState`), and how a route gets it.

The app holds one :class:`ApiState` (``app.config["EMULATOR_STATE"]``, set by
:func:`emulator.api.app.create_app`); a route handler reaches it with :func:`state`.
"""

from __future__ import annotations

import attrs
from quart import current_app

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


def state() -> ApiState:
    """The served engine's API state (inside a request of an app ``create_app`` made)."""
    value: ApiState = current_app.config["EMULATOR_STATE"]
    return value
