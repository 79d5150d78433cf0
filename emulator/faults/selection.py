"""Deciding which fault, if any, applies to one HTTP attempt (pure but for the RNG).

Whether a call is one a fault's ``match`` names (``plugin``, ``call``, ``body``) follows
the rules every matcher uses (:mod:`emulator.matching`, docs/matching.md); counting
(``nth``, ``first``, ``after``, ``times``), ``window`` and ``probability`` are the fault's own.
"""

from __future__ import annotations

import math
import random

import attrs

from emulator.faults.model import Delay, Fault, Match
from emulator.matching import body_matches, call_matches


@attrs.define
class FaultState:
    """One active fault with its counters."""

    fault: Fault
    seen: int = 0
    """Calls that satisfied plugin, call, body and window."""
    fired: int = 0


def selects(
    state: FaultState, *, plugin: str, method: str, body: object, elapsed: float, rng: random.Random
) -> bool:
    """Whether ``state``'s fault fires for this attempt; updates its counters."""
    match: Match = state.fault.match
    if match.plugin is not None and match.plugin != plugin:
        return False
    if match.call is not None and not call_matches(match.call, method):
        return False
    if match.body is not None and not body_matches(match.body, body):
        return False
    if match.window is not None:
        if elapsed < match.window.start:
            return False
        if match.window.until is not None and elapsed >= match.window.until:
            return False
    state.seen += 1
    n = state.seen
    if match.nth is not None and n != match.nth:
        return False
    if match.first is not None and n > match.first:
        return False
    if match.after is not None and n <= match.after:
        return False
    if match.times is not None and state.fired >= match.times:
        return False
    if match.probability is not None and rng.random() >= match.probability:
        return False
    state.fired += 1
    return True


def delay_seconds(delay: Delay, rng: random.Random) -> float:
    """Draw one delay (never negative)."""
    if delay.distribution == "uniform":
        base = rng.uniform(delay.low, delay.high)
    elif delay.distribution == "normal":
        base = rng.gauss(delay.mean, delay.stddev)
    elif delay.distribution == "lognormal":
        base = rng.lognormvariate(delay.mu, delay.sigma)
    else:
        base = delay.seconds
    if delay.jitter:
        base += rng.uniform(-delay.jitter, delay.jitter)
    return max(0.0, base) if math.isfinite(base) else 0.0
