"""One matcher: scenario expect.calls, the assert_called family and fault match decide
"is this the call" by the same rules (emulator/matching.py, docs/matching.md)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
import trio

from emulator import open_engine
from emulator.engine.core import Engine
from emulator.errors import PluginStatusError
from emulator.journal import JournalEntry
from emulator.matching import CallSpec, body_matches, call_matches, decode_body, value_matches
from emulator.mocks.volume import MockVolumePlugin
from emulator.scenario.loader import load_scenario_text
from emulator.scenario.runner import run_scenario

D = "mt"


def test_method_patterns() -> None:
    assert call_matches(None, "VolumeDriver.Mount")
    assert call_matches("VolumeDriver.Mount", "VolumeDriver.Mount")
    assert not call_matches("VolumeDriver.Mount", "VolumeDriver.Mounts")
    assert call_matches("VolumeDriver.*", "VolumeDriver.Mount")
    assert call_matches("*.Get", "VolumeDriver.Get")
    assert call_matches("IpamDriver.Re[lq]*", "IpamDriver.RequestPool")
    assert not call_matches("IpamDriver.Re[!lq]*", "IpamDriver.RequestPool")
    assert call_matches("Mount", "VolumeDriver.Mount")
    assert not call_matches("mount", "VolumeDriver.Mount")


def test_values_and_bodies() -> None:
    assert value_matches(1, 1.0)
    assert value_matches({"Opts": {"size": "1G"}}, {"Opts": {"size": "1G", "uid": "0"}})
    assert not value_matches({"Opts": {"size": "1G"}}, {"Opts": None})
    assert value_matches(re.compile("^v[0-9]+$"), "v12")
    assert not value_matches(re.compile("x"), 5)
    assert value_matches(lambda s: s >= 500, 503)
    assert value_matches(str, str)  # a class is a value, not a predicate
    assert decode_body(b"") is None
    assert decode_body(b"  \n") is None
    assert decode_body(None) is None
    assert decode_body(b"not json") is None
    assert decode_body(b'{"Name":"v"}\n') == {"Name": "v"}
    assert body_matches({}, None)  # no fields: any call
    assert not body_matches({"Name": "v"}, None)  # nothing is found in a body that is not JSON


def _entry(method: str, body: bytes, **fields: object) -> JournalEntry:
    values: dict[str, object] = {
        "seq": 0,
        "call_id": 1,
        "attempt": 1,
        "plugin": D,
        "method": method,
        "address": "unix:///x.sock",
        "started": 0.0,
        "duration": 0.0,
        "request_body": body,
        "status": 200,
        "response_body": b"{}",
        "error": None,
    }
    values.update(fields)
    return JournalEntry(**values)  # type: ignore[arg-type]


def test_fields_name_request_keys_or_entry_attributes() -> None:
    entry = _entry("VolumeDriver.Mount", b'{"Name":"v1","ID":"abc"}', status=500)
    assert CallSpec("VolumeDriver.Mount", {"Name": "v1", "status": 500}).matches(entry)
    assert not CallSpec("VolumeDriver.Mount", {"Name": "v1", "status": 200}).matches(entry)
    assert CallSpec("Mount", {"request": {"ID": "abc"}}).matches(entry)
    assert not CallSpec("Mount", {"Missing": None}).matches(entry)


@attrs.frozen
class Env:
    engine: Engine
    plugin: MockVolumePlugin


@pytest.fixture
async def env(short_tmp: Path) -> AsyncIterator[Env]:
    plugin = MockVolumePlugin(short_tmp / "state", name=D)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.serve, f"unix:{short_tmp}/run/docker/plugins/{D}.sock")
        async with open_engine(root=short_tmp, seed=5) as engine:
            await engine.plugins.get(D, "VolumeDriver")
            yield Env(engine, plugin)
        nursery.cancel_scope.cancel()


PATTERNS = [
    ("VolumeDriver.Get", {"Name": "v1"}, 1),
    ("VolumeDriver.*", {"Name": "v2"}, 2),
    ("VolumeDriver.Create", {"Opts": {"size": "1G"}}, 1),
    ("VolumeDriver.Create", {}, 2),
    ("VolumeDriver.List", {}, 1),
    ("VolumeDriver.Capabilities", {"Name": "v1"}, 0),
]


@pytest.mark.parametrize(("method", "fields", "hits"), PATTERNS)
async def test_fault_assertions_and_scenarios_agree(
    env: Env, method: str, fields: dict[str, object], hits: int
) -> None:
    """The calls a fault fires on are the calls assert_called's rule and a scenario's
    expect.calls item find."""
    calls = [
        ("VolumeDriver.Get", {"Name": "v1"}),
        ("VolumeDriver.Create", {"Name": "v2", "Opts": {"size": "1G", "uid": "0"}}),
        ("VolumeDriver.Create", {"Name": "v3", "Opts": None}),
        ("VolumeDriver.List", None),
        ("VolumeDriver.Capabilities", None),
        ("VolumeDriver.Get", {"Name": "v2"}),
    ]
    env.engine.faults.add(call=method, body=fields, delay=0, name="probe")
    for call_method, body in calls:
        with contextlib.suppress(PluginStatusError):  # Get of a volume the plugin lacks
            await env.engine.plugins.call(D, call_method, body)
    entries = env.engine.journal.calls(plugin=D)[-len(calls) :]
    fired = [e.seq for e in entries if e.fault == "probe"]
    spec = CallSpec(method, fields)
    assert fired == [e.seq for e in entries if spec.matches(e)]
    assert len(fired) == hits
    document = load_scenario_text(
        "version: 1\nname: m\nsteps:\n  - expect.calls:\n"
        f"      - {{{method}: {fields if fields else 'null'}}}\n".replace("'", '"')
    )
    expect = document.steps[0].args.calls[0]
    assert (expect.method, dict(expect.fields or {})) == (method, fields)
    found = [e.seq for e in entries if CallSpec(expect.method, expect.fields or {}).matches(e)]
    assert found == fired


async def test_a_scenario_may_name_entry_attributes(short_tmp: Path) -> None:
    text = f"""
version: 1
name: entry fields
plugins:
  - {{name: {D}, builtin: volume}}
faults:
  - match: {{call: VolumeDriver.Remove}}
    respond: {{status: 500, body: '{{"Err":"busy"}}'}}
steps:
  - volume.create: {{name: v1, driver: {D}}}
  - volume.rm: v1
    expect: {{error: busy}}
  - expect.calls:
      - VolumeDriver.Create: {{Name: v1, status: 200}}
      - VolumeDriver.Remove: {{Name: v1, status: 500, fault: "respond on VolumeDriver.Remove"}}
"""
    result = await run_scenario(load_scenario_text(text), root=short_tmp)
    assert result.passed, [s.message for s in result.steps]


def test_a_journal_window_refuses_to_read_across_a_clear() -> None:
    from emulator.journal import Journal

    journal = Journal()
    fields = {
        "call_id": 1,
        "attempt": 1,
        "plugin": "p",
        "method": "VolumeDriver.Get",
        "address": "unix:///p.sock",
        "started": 0.0,
        "duration": 0.0,
        "request_body": b"{}",
        "status": 200,
        "response_body": b"{}",
        "error": None,
    }
    journal.record(**fields)
    with journal.window() as window:
        journal.record(**fields)
        assert len(window.entries) == 1
    journal.record(**fields)
    assert len(window.entries) == 1  # fixed when the block ended
    with journal.window() as cleared:
        journal.clear()
    with pytest.raises(RuntimeError, match="the journal was cleared"):
        _ = cleared.entries
