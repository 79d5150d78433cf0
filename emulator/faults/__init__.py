"""Fault injection at the daemon→plugin edge: ``engine.faults``.

Faults are checked for every HTTP attempt the engine makes to a plugin, in the order
they were added; the first that fires decides the attempt.  Counting (``nth``,
``first``, ``after``, ``times``) is per attempt: a call retried after a connection
error counts once per attempt, as the plugin would see it.  Probabilities are drawn
from one seeded generator, so a run is reproducible from its seed.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from typing import Any

import attrs
import trio

from emulator.faults.model import (
    FAULT_KINDS,
    Action,
    Delay,
    Fault,
    FaultKind,
    Match,
    Respond,
    Window,
    Wire,
)
from emulator.faults.selection import FaultState, delay_seconds, selects
from emulator.matching import decode_body

__all__ = [
    "FAULT_KINDS",
    "Action",
    "Decision",
    "Delay",
    "Fault",
    "FaultKind",
    "FaultSet",
    "FiredFault",
    "Match",
    "Respond",
    "Window",
    "Wire",
]


@attrs.frozen
class FiredFault:
    """A fault that fired: when, on what, and what it did."""

    time: float
    fault: str
    plugin: str
    method: str
    action: str


@attrs.frozen
class Decision:
    """What the transport must do for one attempt."""

    fault: Fault
    delay: float = 0.0

    @property
    def action(self) -> Action:
        return self.fault.action

    def describe(self) -> str:
        return self.fault.describe()


class FaultSet:
    """The active faults of an engine, their counters and what fired."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed if seed is not None else secrets.randbelow(2**31)
        self._rng = random.Random(self.seed)
        self._states: list[FaultState] = []
        self.fired: list[FiredFault] = []
        self._origin: float | None = None

    def start_clock(self) -> None:
        """Windows are measured from now (the scenario's start)."""
        self._origin = trio.current_time()

    def add(
        self,
        fault: Fault | None = None,
        *,
        plugin: str | None = None,
        call: str | None = None,
        body: Mapping[str, Any] | None = None,
        nth: int | None = None,
        first: int | None = None,
        after: int | None = None,
        times: int | None = None,
        probability: float | None = None,
        window: tuple[float, float | None] | None = None,
        delay: float | Delay | None = None,
        respond: Respond | Mapping[str, Any] | None = None,
        fault_kind: FaultKind | None = None,
        name: str = "",
    ) -> Fault:
        """Add a fault: a ready :class:`Fault`, or the same vocabulary as scenario files.

        ``engine.faults.add(call="VolumeDriver.Mount", nth=1, delay=150)``;
        ``engine.faults.add(plugin="p", call="VolumeDriver.Get", respond={"status": 500,
        "body": '{"Err":"down"}'})``; ``engine.faults.add(call="VolumeDriver.*",
        fault_kind="reset", probability=0.3)``.  Exactly one action is required.
        """
        if fault is None:
            actions = [a for a in (delay, respond, fault_kind) if a is not None]
            if len(actions) != 1:
                raise ValueError(
                    "a fault needs exactly one action: delay=, respond= or fault_kind="
                )
            action: Action
            if isinstance(delay, Delay):
                action = delay
            elif delay is not None:
                action = Delay(seconds=float(delay))
            elif isinstance(respond, Respond):
                action = respond
            elif respond is not None:
                action = Respond(**dict(respond))
            else:
                assert fault_kind is not None
                if fault_kind not in FAULT_KINDS:
                    raise ValueError(
                        f"unknown fault {fault_kind!r}: choose one of {', '.join(FAULT_KINDS)}"
                    )
                action = Wire(kind=fault_kind)
            match = Match(
                plugin=plugin,
                call=call,
                body=body,
                nth=nth,
                first=first,
                after=after,
                times=times,
                probability=probability,
                window=Window(*window) if window is not None else None,
            )
            fault = Fault(match=match, action=action, name=name)
        self._states.append(FaultState(fault))
        return fault

    def clear(self) -> None:
        """Remove every fault (what fired is kept)."""
        self._states.clear()

    def reset(self) -> None:
        """Remove every fault and forget what fired."""
        self._states.clear()
        self.fired.clear()

    @property
    def faults(self) -> list[Fault]:
        return [s.fault for s in self._states]

    def decide(self, plugin: str, method: str, body: bytes) -> Decision | None:
        """The fault that applies to this attempt, if any (counters are updated)."""
        if not self._states:
            return None
        now = trio.current_time()
        if self._origin is None:
            self._origin = now
        decoded = decode_body(body)
        for state in self._states:
            if selects(
                state,
                plugin=plugin,
                method=method,
                body=decoded,
                elapsed=now - self._origin,
                rng=self._rng,
            ):
                fault = state.fault
                delay = (
                    delay_seconds(fault.action, self._rng)
                    if isinstance(fault.action, Delay)
                    else 0.0
                )
                action = (
                    fault.action.kind
                    if isinstance(fault.action, Wire)
                    else (f"delay {delay:g}s" if isinstance(fault.action, Delay) else "respond")
                )
                self.fired.append(FiredFault(now, fault.describe(), plugin, method, action))
                return Decision(fault, delay)
        return None
