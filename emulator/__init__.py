"""docker-plugin-emulator: an in-process fake Docker daemon for plugin authors.

Start an engine with :func:`open_engine` (trio)::

    async with emulator.open_engine(root="/tmp/root") as engine:
        plugin = await engine.plugins.get("myvol", "VolumeDriver")
        reply = await engine.plugins.call("myvol", "VolumeDriver.List", {})
        print(engine.journal.calls("VolumeDriver.List"))

Every error raised on dockerd's behalf is an :class:`EngineError` whose text is dockerd's.
"""

from emulator.engine.core import Engine, open_engine
from emulator.errors import (
    ConfigurationError,
    EmulatorError,
    EngineError,
    PluginCallError,
    PluginDeadlineError,
    PluginHangError,
    PluginLookupError,
    PluginResponseError,
    PluginStatusError,
    PluginTransportError,
)
from emulator.journal import Journal, JournalEntry
from emulator.protocol.profiles import PROFILES, EngineProfile

__all__ = [
    "PROFILES",
    "ConfigurationError",
    "EmulatorError",
    "Engine",
    "EngineError",
    "EngineProfile",
    "Journal",
    "JournalEntry",
    "PluginCallError",
    "PluginDeadlineError",
    "PluginHangError",
    "PluginLookupError",
    "PluginResponseError",
    "PluginStatusError",
    "PluginTransportError",
    "open_engine",
]
