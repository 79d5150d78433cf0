"""The fault words, one vocabulary wherever faults are given (docs/faults.md).

A scenario's ``faults:`` and ``faults.add`` steps, ``engine.faults.add(...)``,
``@pytest.mark.faults(...)`` and ``POST /emulator/faults`` all take the same words: a
``match`` (which calls) and one action (``delay``, ``respond`` or ``fault``), nested::

    {"match": {"call": "VolumeDriver.Mount", "nth": 1}, "delay": 150}

or flat, the match words beside the action::

    {"call": "VolumeDriver.Mount", "nth": 1, "delay": 150}

The tables here are what the reader checks them against (with the scenario loader's
messages) and what the scenario's JSON Schema is generated from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from yaml.nodes import MappingNode, Node, SequenceNode

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
    FaultSpecError,
    ScenarioError,
    compose,
    decode_text,
    from_python,
    kind_of,
    quote,
)
from emulator.vocabulary.reader import DURATION_HELP, Pairs, Reader
from emulator.vocabulary.shapes import (
    AtLeastOne,
    ExactlyOne,
    Excludes,
    Field,
    Inline,
    Requires,
    RequiresValue,
    Rule,
    Shape,
)

__all__ = [
    "DISTRIBUTIONS",
    "FAULT",
    "MATCH",
    "RESPOND",
    "fault_from_call",
    "fault_words",
    "read_fault",
    "read_fault_text",
]

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
class _MatchWords(Rule):
    """Which calls: ``match``, or the match words beside the action (not both)."""

    def check(self, r: Reader, node: Node, m: Pairs, values: dict[str, Any]) -> None:
        flat = [key for key in MATCH.keys if key in m]
        if "match" in m and flat:
            r.fail(
                m[flat[0]][0],
                f"{quote(flat[0])} is a match word and this fault has a 'match': put it "
                "inside 'match', or give every match word beside the action",
            )
        if "match" not in m and not flat:
            r.fail(node, "fault is missing the required key 'match'")

    def schema(self) -> dict[str, Any]:
        flat = [{"required": [key]} for key in MATCH.keys]
        return {
            "anyOf": [{"required": ["match"]}, *flat],
            "not": {"required": ["match"], "anyOf": flat},
        }


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
    description="Which calls (match, or its words beside the action) and exactly one of "
    "delay, respond, fault.",
    order=("match", "delay", "respond", "fault", "jitter", "rate", "name", *MATCH.keys),
    items=(
        _MatchWords(),
        ExactlyOne(
            ("delay", "respond", "fault"),
            none="fault has no action: give exactly one of 'delay', 'respond', 'fault'",
            two="fault has two actions, {a} and {b}: give exactly one (write two faults to "
            "do both)",
        ),
        Requires("jitter", "delay", "'jitter' applies only to a fault with 'delay'"),
        Field("fault", Choice(FAULT_KINDS), "A connection-level failure."),
        RequiresValue("rate", "fault", "drip", "'rate' applies only to 'fault: drip'"),
        Field("match", MATCH),
        Inline("match", MATCH),
        Field("delay", _DelayValue(), "Wait before sending; the plugin then answers."),
        _JitterOnce(),
        Field("jitter", Duration(), "Random extra delay (with delay)."),
        Field("respond", RESPOND),
        Field("rate", Num(minimum=0.001), "Bytes per second (fault: drip; default 10)."),
        Field("name", Str(), "Shown in reports.", label="'name' of a fault"),
    ),
    build=_fault,
)
"""A fault: nested (``match: {...}``) or flat (the match words beside the action)."""


# -- fault words from Python and from the control API ------------------------------------


def fault_words(value: Fault | Mapping[str, Any]) -> dict[str, Any]:
    """The words of a fault given as objects: :class:`Delay`, :class:`Respond`,
    :class:`Window`, :class:`Match`, :class:`Wire` values become what a scenario writes."""
    if isinstance(value, Fault):
        words = {"match": _match_words(value.match), **_action_words(value.action)}
        return {**words, "name": value.name} if value.name else words
    words = {}
    for key, item in value.items():
        if key == "match" and isinstance(item, Match):
            words[key] = _match_words(item)
        elif key == "window" and isinstance(item, Window):
            words[key] = _window_words(item)
        elif key in ("delay", "respond", "fault") and isinstance(item, Delay | Respond | Wire):
            words.update(_action_words(item))
        else:
            words[key] = item
    return words


def _window_words(window: Window) -> dict[str, Any]:
    return {"from": window.start, "until": window.until}


def _match_words(match: Match) -> dict[str, Any]:
    words = {f.name: getattr(match, f.name) for f in attrs.fields(Match)}
    if match.window is not None:
        words["window"] = _window_words(match.window)
    return {key: value for key, value in words.items() if value is not None}


def _action_words(action: Delay | Respond | Wire) -> dict[str, Any]:
    if isinstance(action, Wire):
        return {"fault": action.kind, **({"rate": action.rate} if action.kind == "drip" else {})}
    if isinstance(action, Respond):
        words = attrs.asdict(action, recurse=False)
        return {"respond": {k: v for k, v in words.items() if v is not None or k == "content_type"}}
    if action.distribution == "fixed":
        return {"delay": action.seconds, **({"jitter": action.jitter} if action.jitter else {})}
    params = DISTRIBUTIONS[action.distribution]
    delay: dict[str, Any] = {"distribution": action.distribution}
    delay.update({p: getattr(action, p) for p in params})
    if action.jitter:
        delay["jitter"] = action.jitter
    return {"delay": delay}


def read_fault(value: Fault | Mapping[str, Any], *, source: str) -> Fault:
    """A fault from Python: checked against the fault words (nested or flat) and built.

    ``source`` names the call in errors (``engine.faults.add()``).  Raises
    :class:`FaultSpecError` (a ``ValueError``) with the scenario loader's message.  A
    :class:`Fault` object is the checked form already and is returned as it is.
    """
    if isinstance(value, Fault):
        return value  # already the checked form
    if not isinstance(value, Mapping):
        raise FaultSpecError(
            f"a fault is a mapping of fault words (or a Fault), got {value!r}", source=source
        )
    fault: Fault = FAULT.read(Reader(source), from_python(fault_words(value), source))
    return fault


def fault_from_call(
    fault: Fault | Mapping[str, Any] | None, words: Mapping[str, Any], *, source: str
) -> Fault:
    """The fault of a call such as ``add(fault_or_words)`` or ``add(**words)`` (one or the
    other, not both), checked as :func:`read_fault` does."""
    if fault is not None and words:
        raise FaultSpecError(
            "give the fault as one mapping (or Fault) or as keywords, not both", source=source
        )
    return read_fault(fault if fault is not None else words, source=source)


def read_fault_text(text: str | bytes, *, filename: str) -> list[Fault]:
    """Faults written as YAML or JSON: one fault's words, or a list of them.

    Raises :class:`~emulator.vocabulary.nodes.ScenarioError` with the position in
    ``text``.
    """
    if isinstance(text, bytes):
        text = decode_text(text, filename)
    root = compose(text, filename)
    reader = Reader(filename)
    if root is None:
        raise ScenarioError(
            "no fault given: send a mapping of fault words, or a list of them",
            path=filename,
            line=1,
            column=1,
        )
    reader.check_graph(root)
    if isinstance(root, SequenceNode):
        items = reader.sequence(root, "the faults", nonempty=True)
        return [FAULT.read(reader, item) for item in items]
    if kind_of(root) != "mapping":
        reader.fail(root, "send a mapping of fault words, or a list of them")
    return [FAULT.read(reader, root)]
