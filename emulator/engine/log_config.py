"""A container's ``LogConfig`` at create: dockerd's defaults and its driver-name check.

``mergeAndVerifyLogConfig`` (moby/moby daemon/logs.go, v28.5.2) fills an empty ``Type``
with the daemon's ``--log-driver`` (``json-file``) and a missing ``Config`` with ``{}``,
then ``logger.ValidateLogOpts`` (daemon/logger/factory.go) accepts ``none`` at once and
otherwise needs the driver registered: one of the built-in drivers
(daemon/logdrivers_linux.go), else a plugin found by ``getPlugin``
(daemon/logger/plugin.go: ``pluginGetter.Get(name, "LogDriver", Lookup)``, with the
plugin store's ~15 s v1 lookup).  A failure is a 400 with
``error looking up logging plugin NAME: <lookup error>``.

:func:`check_log_driver` is that check and nothing more: the logging drivers themselves
(options, the LogDriver protocol) are built on it elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

from emulator.errors import EngineError, PluginLookupError
from emulator.protocol.logdriver.options import BUILTIN_DRIVERS, DEFAULT_DRIVER

__all__ = [
    "BUILTIN_LOG_DRIVERS",
    "DEFAULT_LOG_DRIVER",
    "LOG_DRIVER_IFACE",
    "LogConfigError",
    "check_log_driver",
    "merged_log_config",
]

#: daemon/logdrivers_linux.go: the drivers dockerd registers at start (``none`` aside).
BUILTIN_LOG_DRIVERS: Final = BUILTIN_DRIVERS
#: dockerd's ``--log-driver`` default (cmd/dockerd/config.go).
DEFAULT_LOG_DRIVER: Final = DEFAULT_DRIVER
#: The capability a logging plugin implements (daemon/logger/plugin.go ``extName``).
LOG_DRIVER_IFACE: Final = "LogDriver"


class LogConfigError(EngineError):
    """A ``LogConfig`` dockerd refuses at create; ``str()`` is dockerd's text."""

    http_status = 400
    default_hint = (
        "use one of dockerd's log drivers (" + ", ".join(BUILTIN_LOG_DRIVERS) + ", none) "
        "or start a logging plugin under that name"
    )


class PluginGetter(Protocol):
    """The plugin registry as the check uses it (``PluginRegistry.get``)."""

    async def get(self, name: str, iface: str) -> Any: ...


def merged_log_config(type_: str, config: Mapping[str, str] | None) -> dict[str, Any]:
    """``mergeAndVerifyLogConfig``'s defaults: the daemon's driver, an empty ``Config``."""
    return {"Type": type_ or DEFAULT_LOG_DRIVER, "Config": dict(config or {})}


async def check_log_driver(plugins: PluginGetter, name: str) -> None:
    """``driverRegistered``: ``none``, a built-in driver, or a logging plugin that exists.

    Raises :class:`LogConfigError` with dockerd's text when the plugin lookup fails
    (``error looking up logging plugin nosuch: plugin "nosuch" not found``).
    """
    if name == "none" or name in BUILTIN_LOG_DRIVERS:
        return
    try:
        await plugins.get(name, LOG_DRIVER_IFACE)
    except PluginLookupError as exc:
        raise LogConfigError(
            f"error looking up logging plugin {name}: {exc}",
            hint=(
                f"use one of dockerd's log drivers ({', '.join(BUILTIN_LOG_DRIVERS)}, none) "
                f"or install a logging plugin named {name!r}"
            ),
        ) from None
