"""docker-plugin-emulator: an in-process fake Docker daemon for plugin authors.

Start an engine with :func:`open_engine` (trio)::

    from emulator import ContainerSpec

    async with emulator.open_engine(root="/tmp/root") as engine:
        await engine.volumes.create("v1", driver="myvol", opts={"k": "v"})
        c = await engine.containers.run(ContainerSpec(volumes=["v1:/data"], name="c1", detach=True))
        await engine.containers.stop("c1")
        print(engine.journal.calls("VolumeDriver.Mount"))

Every error raised on dockerd's behalf is an :class:`EngineError` whose text is dockerd's.

The names below are imported on first use (``import emulator`` alone loads nothing of
the engine), so that ``plugin-emulator --help`` and the mock plugins start quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.engine.containers import Container, ContainerError, ContainerSpec
    from emulator.engine.core import Engine, open_engine
    from emulator.engine.network_model import NetworkSpec
    from emulator.engine.process_spec import ProcessSpec
    from emulator.engine.volume_store import VolumeError
    from emulator.engine.volumes import VolumeInfo
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

#: Where each public name is defined.
_HOMES = {
    "Container": "emulator.engine.containers",
    "ContainerError": "emulator.engine.containers",
    "ContainerSpec": "emulator.engine.containers",
    "Engine": "emulator.engine.core",
    "open_engine": "emulator.engine.core",
    "NetworkSpec": "emulator.engine.network_model",
    "ProcessSpec": "emulator.engine.process_spec",
    "VolumeError": "emulator.engine.volume_store",
    "VolumeInfo": "emulator.engine.volumes",
    "ConfigurationError": "emulator.errors",
    "EmulatorError": "emulator.errors",
    "EngineError": "emulator.errors",
    "PluginCallError": "emulator.errors",
    "PluginDeadlineError": "emulator.errors",
    "PluginHangError": "emulator.errors",
    "PluginLookupError": "emulator.errors",
    "PluginResponseError": "emulator.errors",
    "PluginStatusError": "emulator.errors",
    "PluginTransportError": "emulator.errors",
    "Journal": "emulator.journal",
    "JournalEntry": "emulator.journal",
    "PROFILES": "emulator.protocol.profiles",
    "EngineProfile": "emulator.protocol.profiles",
}

__all__ = [
    "PROFILES",
    "ConfigurationError",
    "Container",
    "ContainerError",
    "ContainerSpec",
    "EmulatorError",
    "Engine",
    "EngineError",
    "EngineProfile",
    "Journal",
    "JournalEntry",
    "NetworkSpec",
    "PluginCallError",
    "PluginDeadlineError",
    "PluginHangError",
    "PluginLookupError",
    "PluginResponseError",
    "PluginStatusError",
    "PluginTransportError",
    "ProcessSpec",
    "VolumeError",
    "VolumeInfo",
    "open_engine",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'emulator' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
