"""Testing helpers for plugin authors: the objects behind the pytest fixtures.

* :class:`~emulator.testing.sync.PluginEngine`: the ``plugin_engine`` fixture (sync);
* :class:`~emulator.testing.trio_engine.AsyncPluginEngine`: ``plugin_engine_async``;
* :func:`~emulator.matching.call`: an expected call for ``assert_calls`` (the matching
  rules: docs/matching.md).

See docs/pytest-plugin.md.
"""

from emulator.matching import CallSpec, call
from emulator.testing.sync import PluginEngine, SyncPluginProcess
from emulator.testing.thread import EngineThread
from emulator.testing.trio_engine import AsyncPluginEngine, open_plugin_engine

__all__ = [
    "AsyncPluginEngine",
    "CallSpec",
    "EngineThread",
    "PluginEngine",
    "SyncPluginProcess",
    "call",
    "open_plugin_engine",
]
