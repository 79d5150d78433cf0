"""The fault vocabulary: what to match and what to do, as frozen data.

Scenario files and ``engine.faults.add(...)`` both build these classes; see
``docs/scenario-format.md``.  Durations are seconds (floats).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any, Literal

import attrs

FaultKind = Literal[
    "hang",
    "reset",
    "reset_before_send",
    "reset_mid_response",
    "truncate",
    "garbage",
    "drip",
    "drop",
]
FAULT_KINDS: tuple[str, ...] = typing.get_args(FaultKind)


@attrs.frozen
class Window:
    """Engine time since the scenario (or fault set) started: ``from`` ≤ t < ``until``."""

    start: float = 0.0
    until: float | None = None


@attrs.frozen
class Match:
    """Which calls a fault applies to.  Counting (``nth``, ``first``, ``after``) is over the
    calls that satisfy ``plugin``, ``call``, ``body`` and ``window``."""

    plugin: str | None = None
    call: str | None = None
    """``Iface.Method``, exact or a shell-style glob (``VolumeDriver.*``)."""
    body: Mapping[str, Any] | None = None
    """A subset of the request JSON; nested mappings match as subsets."""
    nth: int | None = None
    first: int | None = None
    after: int | None = None
    times: int | None = None
    probability: float | None = None
    window: Window | None = None


@attrs.frozen
class Delay:
    """Wait before the request goes to the plugin (the plugin then answers as usual)."""

    seconds: float = 0.0
    distribution: Literal["fixed", "uniform", "normal", "lognormal"] = "fixed"
    low: float = 0.0
    high: float = 0.0
    mean: float = 0.0
    stddev: float = 0.0
    mu: float = 0.0
    sigma: float = 0.0
    jitter: float = 0.0


@attrs.frozen
class Respond:
    """Answer instead of the plugin: ``status`` + ``body``, or ``err`` (200 + ``{"Err": err}``)."""

    status: int = 200
    body: str | Mapping[str, Any] | None = None
    content_type: str | None = "application/vnd.docker.plugins.v1.1+json"
    err: str | None = None


@attrs.frozen
class Wire:
    """A connection-level fault (``fault: reset`` …); ``rate`` is for ``drip`` (bytes/s)."""

    kind: FaultKind
    rate: float = 10.0


Action = Delay | Respond | Wire


@attrs.frozen
class Fault:
    """A match and what to do when it matches."""

    match: Match
    action: Action
    name: str = ""

    def describe(self) -> str:
        """A short human description for reports."""
        if self.name:
            return self.name
        what = type(self.action).__name__.lower()
        if isinstance(self.action, Wire):
            what = self.action.kind
        target = self.match.call or "*"
        if self.match.plugin:
            target = f"{self.match.plugin}/{target}"
        return f"{what} on {target}"
