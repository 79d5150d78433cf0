"""Log drivers and ``--log-opt`` rules as dockerd checks them (moby/moby v28.5.2).

``logger.ValidateLogOpts`` (``daemon/logger/factory.go``) runs at container create on
the merged log config (``daemon/logs.go`` ``mergeAndVerifyLogConfig``) and at daemon
start on the default one (``defaultLogConfig``, only when it has options):

1. ``none`` takes anything;
2. ``mode`` is ``blocking``, ``non-blocking`` or unset;
3. ``max-buffer-size`` needs ``mode=non-blocking`` and parses with ``units.RAMInBytes``;
4. the log cache's own check: ``cache-disabled`` parses as a bool
   (``daemon/logger/loggerutils/cache/validate.go``);
5. the driver must exist: a built-in one, else a plugin looked up with
   ``plugingetter.Lookup`` (its error is ``error looking up logging plugin NAME: …``);
6. a built-in driver's own validator sees the options minus the daemon's built-in ones
   (``mode``, ``max-buffer-size``, ``cache-*``); a plugin's options are never checked.

Steps 1-4 and 6 are here (:func:`check_common`, :func:`check_builtin`); the engine does 5.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from emulator.golang.units import UnitsError, parse_bool, ram_in_bytes

__all__ = [
    "BLOCKING",
    "BUILTIN_DRIVERS",
    "BUILTIN_OPTS",
    "DEFAULT_DRIVER",
    "EMULATED_BUILTINS",
    "NON_BLOCKING",
    "RING_DEFAULT_SIZE",
    "buffer_size",
    "check_builtin",
    "check_common",
    "lookup_error",
    "not_registered",
    "uses_cache",
]

#: ``daemon/logdrivers_linux.go``: what ``logger.ListDrivers()`` (``docker info``'s
#: ``Plugins.Log``) lists, sorted.  Plugins are never listed there.
BUILTIN_DRIVERS: Final = (
    "awslogs",
    "fluentd",
    "gcplogs",
    "gelf",
    "journald",
    "json-file",
    "local",
    "splunk",
    "syslog",
)
#: The built-in drivers the emulator implements (the others are refused at create).
EMULATED_BUILTINS: Final = ("json-file", "local")
#: dockerd's default ``--log-driver``.
DEFAULT_DRIVER: Final = "json-file"

BLOCKING: Final = "blocking"
NON_BLOCKING: Final = "non-blocking"
#: ``defaultRingMaxSize``: the non-blocking buffer without ``max-buffer-size`` (1e6 bytes).
RING_DEFAULT_SIZE: Final = 1_000_000

#: ``builtInLogOpts`` with the cache's keys (``cache-`` + the local driver's keys).
BUILTIN_OPTS: Final = frozenset(
    {
        "mode",
        "max-buffer-size",
        "cache-disabled",
        "cache-max-file",
        "cache-max-size",
        "cache-compress",
    }
)
_JSON_FILE_KEYS: Final = frozenset(
    {"max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"}
)
_LOCAL_KEYS: Final = frozenset({"max-file", "max-size", "compress"})
#: json-file options that only add record attributes, which the emulator does not keep.
_NOT_EMULATED: Final = frozenset({"labels", "labels-regex", "env", "env-regex", "tag"})


def check_common(name: str, config: Mapping[str, str]) -> str | None:
    """Steps 2-4 of ``ValidateLogOpts``: dockerd's text for the first problem, or None."""
    if name == "none":
        return None
    mode = config.get("mode", "")
    if mode not in ("", BLOCKING, NON_BLOCKING):
        return f"logger: logging mode not supported: {mode}"
    if "max-buffer-size" in config:
        if mode != NON_BLOCKING:
            return f"logger: max-buffer-size option is only supported with 'mode={NON_BLOCKING}'"
        try:
            ram_in_bytes(config["max-buffer-size"])
        except UnitsError as exc:
            return f"error parsing option max-buffer-size: {exc}"
    disabled = config.get("cache-disabled", "")
    if disabled:
        try:
            parse_bool(disabled)
        except UnitsError:
            return f"invalid value for option cache-disabled: {disabled}"
    return None


def check_builtin(name: str, config: Mapping[str, str]) -> str | None:
    """Step 6 for the built-in drivers the emulator has; None when the options are fine.

    Go ranges over a map, so with several unknown keys dockerd names any one of them;
    the emulator names the first in sorted order.
    """
    keys = _JSON_FILE_KEYS if name == "json-file" else _LOCAL_KEYS
    for key in sorted(k for k in config if k not in BUILTIN_OPTS):
        if key not in keys:
            if name == "json-file":
                return f"unknown log opt '{key}' for json-file log driver"
            return f"unknown log opt '{key}' for log driver {name}"
        if key in _NOT_EMULATED:
            return (
                f"the emulator's {name} driver does not implement the log option '{key}' "
                "(dockerd adds it to each record's attributes, shown by docker logs --details)"
            )
    return None


def lookup_error(name: str, cause: str) -> str:
    """``getPlugin``'s text when the plugin lookup fails."""
    return f"error looking up logging plugin {name}: {cause}"


def not_registered(name: str) -> str:
    """``factory.get``'s text wrapped around a lookup failure at container start."""
    return f"logger: no log driver named '{name}' is registered"


def uses_cache(config: Mapping[str, str]) -> bool:
    """``cache.ShouldUseCache``: dual logging is on unless ``cache-disabled`` is true."""
    value = config.get("cache-disabled", "")
    if value == "":
        return True
    try:
        return not parse_bool(value)
    except UnitsError:
        return False


def buffer_size(config: Mapping[str, str]) -> int:
    """The non-blocking ring's size: ``max-buffer-size`` or 1e6 bytes."""
    text = config.get("max-buffer-size")
    return RING_DEFAULT_SIZE if text is None else ram_in_bytes(text)
