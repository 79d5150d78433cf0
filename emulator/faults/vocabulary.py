"""The fault words of scenario files: a ``match`` (which calls) and one action (``delay``,
``respond`` or ``fault``); docs/scenario-format.md.

The tables here are what the loader checks faults against and what the scenario's JSON
Schema is generated from.
"""

from __future__ import annotations

from typing import Any

import attrs
from yaml.nodes import MappingNode, Node

from emulator.faults.model import FAULT_KINDS, Delay, Fault, Match, Respond, Window, Wire
from emulator.vocabulary.kinds import (
    CallPattern,
    Choice,
    Duration,
    Int,
    JsonObject,
    Kind,
    Num,
    PluginRef,
    SchemaContext,
    Str,
    duration_schema,
)
from emulator.vocabulary.nodes import (
    quote,
)
from emulator.vocabulary.reader import DURATION_HELP, Pairs, Reader
from emulator.vocabulary.shapes import (
    AtLeastOne,
    ExactlyOne,
    Excludes,
    Field,
    Requires,
    RequiresValue,
    Rule,
    Shape,
)

__all__ = ["DISTRIBUTIONS", "FAULT", "MATCH", "RESPOND"]

DISTRIBUTIONS = {
    "uniform": ("low", "high"),
    "normal": ("mean", "stddev"),
    "lognormal": ("mu", "sigma"),
}
"""Each delay distribution and the two parameters it takes."""


# -- match --------------------------------------------------------------------------------


def _window(r: Reader, node: Node, m: Pairs, v: dict[str, Any]) -> Window:
    start, until = v.get("from", 0.0), v.get("until")
    if until is not None and until <= start:  # reader only: JSON Schema cannot compare
        r.fail(
            m["until"][1],
            f"'until' in window ({until:g}s) must be later than 'from' ({start:g}s)",
        )
    return Window(start=start, until=until)


WINDOW = Shape(
    what="window",
    label="'window' in match",
    description="Engine time since the scenario started.",
    items=(
        Field("from", Duration(), "Start (engine time since the start)."),
        Field("until", Duration(nullable=True), "End (excluded)."),
    ),
    build=_window,
)

MATCH = Shape(
    what="match",
    label="'match' in fault",
    description="Which calls (all given conditions must hold).",
    items=(
        Field("plugin", PluginRef(), "A (declared) plugin's name.", label="match"),
        Field("call", CallPattern(), "The call, exact or a glob."),
        Field("body", JsonObject(), "A subset of the request JSON."),
        Field("nth", Int(minimum=1), "Only the Nth call."),
        Field("first", Int(minimum=1), "The first N calls."),
        Field("after", Int(minimum=0), "Calls after the first N."),
        Field("times", Int(minimum=1), "Fire at most N times."),
        Excludes(
            "nth",
            ("first", "after"),
            "'nth' and {other} exclude each other in match: 'nth' picks one call",
        ),
        Field("probability", Num(0, 1), "Chance of firing, drawn from the seed."),
        Field("window", WINDOW),
    ),
    build=lambda r, node, m, v: Match(**v),
)


# -- actions ------------------------------------------------------------------------------


@attrs.frozen
class _DistributionParams(Rule):
    """A distribution takes its two parameters, and no other's."""

    def check(self, r: Reader, node: Node, m: Pairs, values: dict[str, Any]) -> None:
        distribution = values["distribution"]
        params = DISTRIBUTIONS[distribution]
        for key in ("low", "high", "mean", "stddev", "mu", "sigma"):
            if key in m and key not in params:
                r.fail(
                    m[key][0],
                    f"{quote(key)} does not apply to distribution {distribution} "
                    f"(it takes {params[0]!r} and {params[1]!r})",
                )
        for key in params:
            if key not in m:
                r.fail(
                    node,
                    f"delay with distribution {distribution} is missing the required key "
                    f"{quote(key)}",
                )

    def schema(self) -> dict[str, Any]:
        every = {p for params in DISTRIBUTIONS.values() for p in params}
        return {
            "allOf": [
                {
                    "if": {"properties": {"distribution": {"const": name}}},
                    "then": {
                        "required": list(params),
                        "properties": {other: False for other in sorted(every - set(params))},
                    },
                }
                for name, params in DISTRIBUTIONS.items()
            ]
        }


def _delay(r: Reader, node: Node, m: Pairs, v: dict[str, Any]) -> Delay:
    if v["distribution"] == "uniform" and v["high"] < v["low"]:  # reader only
        r.fail(m["high"][1], "'high' in delay must not be less than 'low'")
    return Delay(**v)


DELAY = Shape(
    what="delay",
    items=(
        Field("distribution", Choice(tuple(DISTRIBUTIONS)), required=True),
        _DistributionParams(),
        Field("low", Duration()),
        Field("high", Duration()),
        Field("mean", Duration()),
        Field("stddev", Duration()),
        Field("mu", Num(), "Mean of the log of the seconds."),
        Field("sigma", Num(minimum=0)),
        Field("jitter", Duration()),
    ),
    build=_delay,
)


@attrs.frozen
class _DelayValue(Kind):
    """A duration, or a mapping with a distribution."""

    def read(self, r: Reader, node: Node, label: str) -> Delay:
        if isinstance(node, MappingNode):
            delay: Delay = DELAY.read(r, node)
            return delay
        expected = DURATION_HELP + " or a mapping with 'distribution'"
        return Delay(seconds=r.duration(node, label, expected=expected))

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return {"anyOf": [duration_schema(ctx), DELAY.schema(ctx)]}


@attrs.frozen
class _RespondBody(Kind):
    """The answer's body: a string as it is, or a mapping sent as JSON."""

    def read(self, r: Reader, node: Node, label: str) -> str | dict[str, Any]:
        if isinstance(node, MappingNode):
            return r.json_object(node, label)
        return r.string(node, label)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return {"type": ["string", "object"]}


RESPOND = Shape(
    what="respond",
    label="'respond' in fault",
    description="Answer instead of the plugin.",
    items=(
        AtLeastOne(
            ("status", "body", "err"), "respond needs at least one of 'status', 'body', 'err'"
        ),
        Excludes(
            "err", ("body",), "'body' and 'err' exclude each other in respond: 'err' is the body"
        ),
        Field("status", Int(100, 599)),
        Field("body", _RespondBody(), "The answer's body.", null="absent"),
        Field("content_type", Str(), null="none"),
        Field("err", Str(), 'HTTP 200 with {"Err": err}.'),
    ),
    build=lambda r, node, m, v: Respond(**v),
)


# -- the fault ----------------------------------------------------------------------------


@attrs.frozen
class _JitterOnce(Rule):
    """``jitter`` beside ``delay`` or inside its mapping, not both."""

    def check(self, r: Reader, node: Node, m: Pairs, values: dict[str, Any]) -> None:
        if "jitter" in m and "jitter" in r.mapping_keys(m["delay"][1]):
            r.fail(m["jitter"][0], "'jitter' is given twice: in 'delay' and beside it")

    def schema(self) -> dict[str, Any]:
        inside = {"properties": {"delay": {"type": "object", "required": ["jitter"]}}}
        return {"not": {"required": ["jitter", "delay"], **inside}}


def _fault(r: Reader, node: Node, m: Pairs, v: dict[str, Any]) -> Fault:
    match = v["match"]
    action: Delay | Respond | Wire
    if "delay" in v:
        action = v["delay"]
        if "jitter" in v:
            action = attrs.evolve(action, jitter=v["jitter"])
    elif "respond" in v:
        action = v["respond"]
    else:
        action = Wire(kind=v["fault"], rate=v.get("rate", 10.0))
    return Fault(match=match, action=action, name=v.get("name", ""))


FAULT = Shape(
    what="fault",
    define="fault",
    description="A match plus exactly one of delay, respond, fault.",
    items=(
        ExactlyOne(
            ("delay", "respond", "fault"),
            none="fault has no action: give exactly one of 'delay', 'respond', 'fault'",
            two="fault has two actions, {a} and {b}: give exactly one (write two faults to "
            "do both)",
        ),
        Requires("jitter", "delay", "'jitter' applies only to a fault with 'delay'"),
        Field("fault", Choice(FAULT_KINDS), "A connection-level failure."),
        RequiresValue("rate", "fault", "drip", "'rate' applies only to 'fault: drip'"),
        Field("match", MATCH, required=True),
        Field("delay", _DelayValue(), "Wait before sending; the plugin then answers."),
        _JitterOnce(),
        Field("jitter", Duration(), "Random extra delay (with delay)."),
        Field("respond", RESPOND),
        Field("rate", Num(minimum=0.001), "Bytes per second (fault: drip; default 10)."),
        Field("name", Str(), "Shown in reports.", label="'name' of a fault"),
    ),
    build=_fault,
)
"""A fault."""
