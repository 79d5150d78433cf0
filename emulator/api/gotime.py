"""Go's time formats as dockerd writes them."""

from __future__ import annotations

import datetime as dt


def rfc3339_nano(unix: float | None) -> str:
    """``time.Time`` marshalled by ``encoding/json`` (RFC 3339 with nanoseconds, UTC)."""
    if unix is None:
        return "0001-01-01T00:00:00Z"
    moment = dt.datetime.fromtimestamp(unix, tz=dt.UTC)
    nanos = round((unix % 1) * 1e9) % 1_000_000_000
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f".{nanos:09d}".rstrip("0").rstrip(".")
    return f"{base}{frac}Z"


def human_duration(seconds: float) -> str:
    """``go-units.HumanDuration``, as ``docker ps`` shows ages ("5 seconds", "About a minute")."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    return f"{hours // 24} days"
