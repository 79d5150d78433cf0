"""Hypothesis strategies for scenario documents: right and wrong keys and values, built from
the format's words, for the loader's fuzz tests and the schema-equals-loader test."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from emulator.scenario import ACTIONS
from emulator.scenario.loader import (
    ARGUMENTS,
    ENGINE_KEYS,
    FAULT_KEYS,
    MATCH_KEYS,
    PLUGIN_KEYS,
    RESPOND_KEYS,
    TOP_KEYS,
)

__all__ = ["FAULTS", "SCENARIOS"]


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=300),
    st.floats(min_value=-1, max_value=1e4, allow_nan=False),
    st.sampled_from(
        [
            *("5s", "500ms", "1m30s", "5 parsecs", "volume", "myvol", "other", "v1", "v1:/data"),
            *("VolumeDriver.Mount", "VolumeDriver.*", "Volume[Driver", "hang", "drip", "uniform"),
            *("last_step", "start", "28", "virtual", "real", "global", "(", ""),
        ]
    ),
)
_KEYS = st.sampled_from(
    sorted(
        {
            *TOP_KEYS,
            *ENGINE_KEYS,
            *PLUGIN_KEYS,
            *FAULT_KEYS,
            *MATCH_KEYS,
            *RESPOND_KEYS,
            *ACTIONS,
            *(a.key for args in ARGUMENTS.values() for a in args),
            *("distribution", "low", "high", "mean", "stddev", "from", "until", "error"),
            *("result", "duration", "max", "min", "calls", "since", "bogus", "dealy"),
        }
    )
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=8,
)


def _mostly(*good: Any, bad: st.SearchStrategy[Any] = _SCALARS) -> st.SearchStrategy[Any]:
    """One of ``good`` (a value or a strategy) four times in five, else anything."""
    strategies = [g if isinstance(g, st.SearchStrategy) else st.just(g) for g in good]
    return st.one_of(*([st.one_of(*strategies)] * 4), bad)


def _maybe_with(base: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """``base``, one time in five with one more key (valid or not) of any value."""
    extra = st.builds(lambda b, e: {**b, **e}, base, st.dictionaries(_KEYS, _VALUES, max_size=1))
    return st.one_of(base, base, base, base, extra)


_NAMES = _mostly("myvol", "p2", bad=st.sampled_from(["nope", "bad name", ""]))
_DURATION = _mostly(0, 1.5, "500ms", "2m", "1m30s", bad=_SCALARS)
_WORDS = st.lists(_mostly("a", "b c", 5, bad=_SCALARS), max_size=3)
_TEXTMAP = st.dictionaries(st.sampled_from(["a", "b"]), _mostly("x", 1, True), max_size=2)
_ARGUMENT_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "string": _mostly("v1", "c1", "/data", "local"),
    "bool": _mostly(st.booleans()),
    "duration": _DURATION,
    "argv": _mostly(_WORDS, "sh -c 'echo hi'", bad=st.just("a 'b")),
    "words": _mostly(_WORDS, bad=_VALUES),
    "textmap": _mostly(_TEXTMAP, bad=_VALUES),
    "filters": _mostly(st.dictionaries(st.just("name"), _mostly("v", ["a", "b"])), bad=_VALUES),
    "exit_code": _mostly(0, 3, 255, bad=st.integers(-1, 300)),
    "count": _mostly(0, 5, bad=st.integers(-3, -1)),
    "plugin": _NAMES,
    "json": _mostly(st.dictionaries(st.sampled_from(["Name", "x"]), _VALUES, max_size=2)),
}
_PLUGIN = _maybe_with(
    st.one_of(
        st.fixed_dictionaries(
            {"name": _NAMES, "builtin": _mostly("volume")},
            optional={"scope": _mostly("local", "global"), "appear_after": _DURATION},
        ),
        st.fixed_dictionaries(
            {"name": _NAMES, "command": _ARGUMENT_VALUES["argv"]},
            optional={"env": _TEXTMAP, "startup_timeout": _DURATION},
        ),
        st.fixed_dictionaries({"name": _NAMES, "address": _mostly("unix:///x.sock")}),
        st.fixed_dictionaries({"name": _NAMES}, optional={"builtin": _SCALARS}),
    )
)
_MATCH = _maybe_with(
    st.fixed_dictionaries(
        {},
        optional={
            "plugin": _NAMES,
            "call": _mostly("VolumeDriver.Mount", "VolumeDriver.*", bad=st.just("bad glob[")),
            "body": st.dictionaries(st.text(max_size=3), _VALUES, max_size=2),
            "nth": _mostly(1, 2, bad=st.integers(-1, 3)),
            "first": _mostly(1, 2, bad=st.integers(-1, 3)),
            "times": _mostly(1, 2, bad=st.integers(-1, 3)),
            "probability": _mostly(0, 0.5, 1, bad=st.floats(-1, 2)),
            "window": st.fixed_dictionaries({}, optional={"from": _DURATION, "until": _DURATION}),
        },
    )
)
_DELAY = _mostly(
    _DURATION,
    st.fixed_dictionaries(
        {"distribution": st.just("uniform"), "low": _DURATION, "high": _DURATION}
    ),
    st.fixed_dictionaries(
        {"distribution": st.just("normal"), "mean": _DURATION, "stddev": _DURATION}
    ),
    st.fixed_dictionaries(
        {"distribution": st.just("lognormal"), "mu": _SCALARS, "sigma": _SCALARS},
        optional={"jitter": _DURATION},
    ),
    bad=_VALUES,
)
_FAULT_ACTION = st.one_of(
    st.fixed_dictionaries({"delay": _DELAY}, optional={"jitter": _DURATION}),
    st.fixed_dictionaries(
        {"respond": st.dictionaries(st.sampled_from(RESPOND_KEYS), _VALUES, max_size=3)}
    ),
    st.fixed_dictionaries(
        {"fault": _mostly("hang", "drip", "reset", bad=st.just("bogus"))},
        optional={"rate": _mostly(1, 2.5)},
    ),
    st.dictionaries(st.sampled_from(["delay", "respond", "fault"]), _SCALARS, max_size=3),
)
FAULTS = _maybe_with(
    st.builds(lambda m, a: {"match": m, **a}, _MATCH, _FAULT_ACTION)
    | st.dictionaries(st.sampled_from(FAULT_KEYS), _VALUES, max_size=3)
)
_EXPECT = st.fixed_dictionaries(
    {},
    optional={
        "error": _mostly("^x", "Mount: .*", bad=st.just("(")),
        "result": _mostly(st.dictionaries(st.sampled_from(["Name", "a"]), _VALUES, max_size=2)),
        "duration": st.fixed_dictionaries({}, optional={"max": _DURATION, "min": _DURATION}),
        "status": _mostly(0, 403, bad=st.integers(-1, 700)),
        "output": _mostly("^x", bad=st.just("(")),
    },
)
_CALLS = st.lists(
    _mostly(
        "VolumeDriver.Get",
        "Plugin.*",
        st.fixed_dictionaries({"VolumeDriver.Mount": _mostly(None, {"Name": "v1"})}),
    ),
    max_size=3,
)


def _step(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    special: dict[str, st.SearchStrategy[Any]] = {
        "faults.add": st.lists(FAULTS, max_size=2),
        "sleep": _DURATION,
        "docker": _ARGUMENT_VALUES["argv"],
        "parallel": st.lists(children, max_size=2),
        "expect.calls": _mostly(
            _CALLS, st.fixed_dictionaries({"calls": _CALLS}, optional={"since": _SCALARS})
        ),
        "expect.no_calls": _mostly(_CALLS, st.fixed_dictionaries({"calls": _CALLS})),
    }

    def for_action(action: str) -> st.SearchStrategy[dict[str, Any]]:
        if action in special:
            args = _mostly(special[action], bad=_VALUES)
        else:
            arguments = ARGUMENTS[action]
            args = _mostly(
                st.fixed_dictionaries(
                    {a.key: _ARGUMENT_VALUES[a.kind] for a in arguments if a.required},
                    optional={a.key: _ARGUMENT_VALUES[a.kind] for a in arguments if not a.required},
                ),
                _ARGUMENT_VALUES["plugin" if action.startswith("plugin.") else "string"],
                None,
                bad=_VALUES,
            )
        step = st.fixed_dictionaries({action: args}, optional={"name": _SCALARS, "expect": _EXPECT})
        return _maybe_with(step)

    return st.sampled_from(sorted(ACTIONS)).flatmap(for_action)


_STEP = st.recursive(st.fixed_dictionaries({"sleep": _DURATION}), _step, max_leaves=4)
SCENARIOS = _maybe_with(
    st.fixed_dictionaries(
        {
            "version": st.just(1),
            "name": st.just("t"),
            "steps": st.lists(_STEP, min_size=1, max_size=3),
        },
        optional={
            "engine": st.fixed_dictionaries(
                {},
                optional={
                    "profile": _mostly("28", "24", 27, bad=st.just("29")),
                    "clock": _mostly("virtual", "real"),
                    "seed": _mostly(0, 7, None, bad=st.just(-1)),
                    "hang_guard": _mostly(_DURATION, None),
                },
            ),
            "plugins": st.lists(_PLUGIN, max_size=2),
            "faults": st.lists(FAULTS, max_size=2),
        },
    )
)
