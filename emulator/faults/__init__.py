"""Fault injection at the daemon→plugin edge: ``engine.faults`` (the words: docs/faults.md).

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
from emulator.faults.vocabulary import fault_from_call
from emulator.matching import decode_body
from emulator.vocabulary.nodes import FaultSpecError

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


#: The pseudo-call of a log plugin's FIFO: one decision per record the engine writes.
FIFO_CALL = "LogDriver.FIFO"


def fifo_fault_problem(fault: Fault) -> str | None:
    """Why ``fault`` cannot apply to ``LogDriver.FIFO`` (a pipe has no answer), or None.

    The FIFO takes ``delay`` (each matching record held), ``fault: drip`` (written at
    ``rate`` bytes per second) and ``fault: hang`` (never written: a stuck reader)."""
    if fault.match.call != FIFO_CALL:
        return None
    action = fault.action
    if isinstance(action, Delay) or (isinstance(action, Wire) and action.kind in ("hang", "drip")):
        return None
    what = action.kind if isinstance(action, Wire) else "respond"
    return (
        f"{what} cannot apply to {FIFO_CALL} (a FIFO has no answer): use delay, "
        "fault: drip or fault: hang"
    )


class FaultSet:
    """The active faults of an engine, their counters and what fired.

    ``seed`` seeds every random draw (probabilities, delay distributions); ``fired`` lists
    the :class:`FiredFault` records (time, fault, plugin, method, action) in order.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed if seed is not None else secrets.randbelow(2**31)
        self._rng = random.Random(self.seed)
        self._states: list[FaultState] = []
        self.fired: list[FiredFault] = []
        self._origin: float | None = None

    def start_clock(self) -> None:
        """Windows are measured from now (the scenario's start)."""
        self._origin = trio.current_time()

    def add(self, fault: Fault | Mapping[str, Any] | None = None, /, **words: Any) -> Fault:
        """Add a fault, in the fault words of scenario files (docs/faults.md).

        Give one mapping or keywords, nested or flat, or a ready :class:`Fault`::

            engine.faults.add(call="VolumeDriver.Mount", nth=1, delay=150)
            engine.faults.add(match={"plugin": "p", "call": "VolumeDriver.Get"},
                              respond={"status": 500, "body": '{"Err":"down"}'})
            engine.faults.add({"match": {"call": "VolumeDriver.*"}, "fault": "reset",
                               "probability": 0.3})

        The words are checked before anything is added: a mistake raises
        :class:`~emulator.vocabulary.nodes.FaultSpecError` (a ``ValueError``) with the
        scenario loader's message (what is wrong, where, the nearest valid word).
        """
        checked = fault_from_call(fault, words, source="engine.faults.add()")
        problem = fifo_fault_problem(checked)
        if problem is not None:
            raise FaultSpecError(problem, source="engine.faults.add()")
        self._states.append(FaultState(checked))
        return checked

    def clear(self) -> None:
        """Remove every fault (what fired is kept)."""
        self._states.clear()

    def reset(self) -> None:
        """Remove every fault and forget what fired."""
        self._states.clear()
        self.fired.clear()

    @property
    def faults(self) -> list[Fault]:
        """The active faults, in the order added."""
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
