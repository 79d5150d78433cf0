"""docker-plugin-emulator: an in-process fake Docker daemon for plugin authors.

Start an engine with :func:`open_engine` (trio)::

    from emulator import ContainerSpec

    async with emulator.open_engine(root="/tmp/root") as engine:
        await engine.volumes.create("v1", driver="myvol", opts={"k": "v"})
        c = await engine.containers.run(ContainerSpec(volumes=["v1:/data"], name="c1", detach=True))
        await engine.containers.stop("c1")
        print(engine.journal.calls("VolumeDriver.Mount"))

Every error raised on dockerd's behalf is an :class:`EngineError` whose text is dockerd's.
"""

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
