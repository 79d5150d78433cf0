"""LogDriver JSON wire models and dockerd's texts (moby/moby v28.5.2).

Requests as ``daemon/logger/proxy.go`` declares them, with ``Info``
(``daemon/logger/loginfo.go``) and ``ReadConfig`` (``daemon/logger/logger.go``).
Field names are Go's and so the JSON keys; fields encode in declaration order, which is
Go's.  Times are Go's ``time.Time`` JSON text, kept as strings so their nanoseconds
survive (:func:`go_time`).

What dockerd sends:

* ``/LogDriver.Capabilities``: an empty body; it reads ``{"Cap": {"ReadLogs": …}, "Err": …}``
  and ignores any failure (``ReadLogs`` is then false).
* ``/LogDriver.StartLogging``: ``{"File": "/run/docker/logging/<64hex>", "Info": {…}}``.
* ``/LogDriver.StopLogging``: ``{"File": …}``.
* ``/LogDriver.ReadLogs``: ``{"Info": {…}, "Config": {"Since", "Until", "Tail", "Follow"}}``
  (the docs call it ``ReadConfig``; the wire key is ``Config``), answered with framed
  ``LogEntry`` records until EOF.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import attrs

__all__ = [
    "CAPABILITIES",
    "DAEMON_NAME",
    "READ_LOGS",
    "START_LOGGING",
    "STOP_LOGGING",
    "CapabilitiesResponse",
    "Capability",
    "ErrResponse",
    "Info",
    "ReadConfig",
    "ReadLogsRequest",
    "StartLoggingRequest",
    "StopLoggingRequest",
    "go_time",
]

CAPABILITIES: Final = "LogDriver.Capabilities"
START_LOGGING: Final = "LogDriver.StartLogging"
STOP_LOGGING: Final = "LogDriver.StopLogging"
READ_LOGS: Final = "LogDriver.ReadLogs"

#: ``Info.DaemonName`` as ``container.StartLogger`` fills it.
DAEMON_NAME: Final = "docker"
#: Where the FIFOs live as the plugin names them (``makePluginCreator``'s ``unscopedPath``).
FIFO_DIR: Final = "/run/docker/logging"
#: Go's zero ``time.Time`` in JSON.
ZERO_TIME_TEXT: Final = "0001-01-01T00:00:00Z"


def go_time(unix_nanos: int | None, *, local: bool = False) -> str:
    """``time.Time.MarshalJSON``'s text for a Unix time in nanoseconds (None: the zero time).

    ``local=False`` is a UTC time (``time.Now().UTC()``, ``Z``); ``local=True`` is
    ``time.Unix(s, n)``, which Go puts in the daemon's local zone (``+01:00``).
    Trailing zeros of the fraction are dropped, as RFC 3339 with nanoseconds does.
    """
    if unix_nanos is None:
        return ZERO_TIME_TEXT
    seconds, nanos = divmod(unix_nanos, 1_000_000_000)
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    if local:
        moment = moment.astimezone()
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    offset = moment.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return text + "Z"
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@attrs.frozen
class Info:
    """``logger.Info``: every key, in Go's order, as ``container.StartLogger`` fills them."""

    __go_name__ = "logger.Info"
    Config: dict[str, str]
    """The container's log options (the daemon's defaults merged in); ``{}`` when none."""
    ContainerID: str
    ContainerName: str
    """With the leading ``/``."""
    ContainerEntrypoint: str
    """``container.Path``: the first word of entrypoint + command."""
    ContainerArgs: list[str]
    """The rest of the words (``[]`` when none)."""
    ContainerImageID: str
    ContainerImageName: str
    """The image as the client named it (``busybox``)."""
    ContainerCreated: str
    """Go's time text (UTC, nanoseconds)."""
    ContainerEnv: list[str] | None
    ContainerLabels: dict[str, str] | None
    LogPath: str = ""
    """Empty for plugins (set only for ``json-file`` and ``local``)."""
    DaemonName: str = DAEMON_NAME


@attrs.frozen
class StartLoggingRequest:
    __go_name__ = "logger.logPluginProxyStartLoggingRequest"
    File: str
    Info: Info


@attrs.frozen
class StopLoggingRequest:
    __go_name__ = "logger.logPluginProxyStopLoggingRequest"
    File: str


@attrs.frozen
class ErrResponse:
    """``StartLogging``/``StopLogging`` answers: a non-empty ``Err`` fails the call."""

    __go_name__ = "logger.logPluginProxyStartLoggingResponse"
    Err: str = ""


@attrs.frozen
class Capability:
    __go_name__ = "logger.Capability"
    ReadLogs: bool = False


@attrs.frozen
class CapabilitiesResponse:
    """``{"Cap": {"ReadLogs": true}}``; a top-level ``ReadLogs`` (as the docs show) is ignored."""

    __go_name__ = "logger.logPluginProxyCapabilitiesResponse"
    Cap: Capability = Capability()
    Err: str = ""


@attrs.frozen
class ReadConfig:
    """``logger.ReadConfig``: ``Tail`` is -1 for all; unset times are the zero time."""

    __go_name__ = "logger.ReadConfig"
    Since: str = ZERO_TIME_TEXT
    Until: str = ZERO_TIME_TEXT
    Tail: int = -1
    Follow: bool = False


@attrs.frozen
class ReadLogsRequest:
    __go_name__ = "logger.logPluginProxyReadLogsRequest"
    Info: Info
    Config: ReadConfig
