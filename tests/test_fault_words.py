"""One fault vocabulary (issue 14.2): every fault spelling docs/faults.md shows works in all
four places (scenario file, ``engine.faults.add``, ``@pytest.mark.faults``, the control API)
and gives the same fault there; every misspelling it lists gets the loader's message in all
four, never a traceback."""

from __future__ import annotations

import ast
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator.faults import Fault, FaultSet
from emulator.faults.vocabulary import read_fault_text
from emulator.scenario import ScenarioError, load_scenario_text
from emulator.vocabulary.nodes import FaultSpecError
from tests.engine_api import Served, raw_request, request_bytes, served

pytest_plugins = ["pytester"]

DOCS = Path(__file__).parent.parent / "docs"
PAGE = (DOCS / "faults.md").read_text()


def _yaml_spellings(text: str) -> list[dict[str, Any]]:
    """The faults of every YAML block that is a list of faults or a ``faults:`` key."""
    spellings: list[dict[str, Any]] = []
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL):
        data = yaml.safe_load(block)
        if isinstance(data, dict):
            data = data.get("faults") if set(data) == {"faults"} else None
        if isinstance(data, list) and all(
            isinstance(item, dict) and set(item) & {"delay", "respond", "fault"} for item in data
        ):
            spellings.extend(data)
    return spellings


def _python_spellings(text: str) -> list[dict[str, Any]]:
    """The faults of every ``engine.faults.add(...)`` and ``@pytest.mark.faults(...)`` call
    in the page's Python blocks."""
    spellings: list[dict[str, Any]] = []
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL):
        for call in ast.walk(ast.parse(textwrap.dedent(block))):
            if not isinstance(call, ast.Call):
                continue
            name = ast.unparse(call.func)
            if name not in ("engine.faults.add", "pytest.mark.faults"):
                continue
            spellings.extend(ast.literal_eval(arg) for arg in call.args)
            if call.keywords:
                spellings.append(
                    {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg is not None}
                )
    return spellings


def _curl_spellings(text: str) -> list[dict[str, Any]]:
    return [json.loads(body) for body in re.findall(r"-d '(\{.*?\})'", text)]


SPELLINGS = (
    _yaml_spellings(PAGE)
    + _python_spellings(PAGE)
    + _curl_spellings(PAGE)
    + _yaml_spellings((DOCS / "scenario-format.md").read_text())
    + _python_spellings((DOCS / "pytest-plugin.md").read_text())
)
MISTAKES = [
    (yaml.safe_load(given), message)
    for given, message in re.findall(r"^\| `(\{.*?\})` \| `(.*)` \|$", PAGE, flags=re.MULTILINE)
]
HEAD = {"version": 1, "name": "t", "plugins": [{"name": "myvol", "builtin": "volume"}]}


def test_the_page_shows_every_form_and_every_mistake() -> None:
    assert len(SPELLINGS) >= 30
    assert any("match" in s for s in SPELLINGS)
    assert any("call" in s for s in SPELLINGS)
    kinds = {s.get("fault") for s in SPELLINGS}
    assert {"hang", "reset", "reset_before_send", "reset_mid_response"} <= kinds
    assert {"truncate", "garbage", "drip", "drop"} <= kinds
    assert len(MISTAKES) >= 10


def _from_scenario(words: dict[str, Any]) -> Fault:
    document = {**HEAD, "faults": [words], "steps": [{"sleep": 0}]}
    (fault,) = load_scenario_text(yaml.safe_dump(document), filename="x.yaml").faults
    return fault


def _ids(items: list[Any]) -> list[str]:
    return [json.dumps(item)[:60] for item in items]


@pytest.mark.parametrize("words", SPELLINGS, ids=_ids(SPELLINGS))
def test_each_spelling_is_one_fault_in_a_scenario_and_in_python(words: dict[str, Any]) -> None:
    expected = _from_scenario(words)
    faults = FaultSet(1)
    assert faults.add(words) == expected
    assert faults.add(**words) == expected
    assert read_fault_text(json.dumps(words), filename="<request>") == [expected]


@pytest.mark.parametrize(("words", "message"), MISTAKES, ids=_ids([m for m, _ in MISTAKES]))
def test_each_mistake_gets_the_loaders_message(words: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError) as in_a_file:
        _from_scenario(words)
    assert in_a_file.value.message == message
    with pytest.raises(FaultSpecError) as from_python:
        FaultSet(1).add(**words)
    assert str(from_python.value) == f"engine.faults.add(): {message}"
    assert isinstance(from_python.value, ValueError)
    with pytest.raises(FaultSpecError) as as_a_mapping:
        FaultSet(1).add(words)
    assert str(as_a_mapping.value) == f"engine.faults.add(): {message}"


async def _post(s: Served, body: bytes) -> tuple[int, Any]:
    import trio

    sock = s.host.removeprefix("unix://")
    data = request_bytes("POST", "/emulator/faults", body, {})
    response = await trio.to_thread.run_sync(raw_request, sock, data)
    return response.status, response.json()


async def test_the_control_api_takes_every_spelling_and_refuses_every_mistake(
    short_tmp: Path,
) -> None:
    async with served(short_tmp) as s:
        for words in SPELLINGS:
            status, answer = await _post(s, json.dumps(words).encode())
            assert status == 201, (words, answer)
            assert answer == {"added": [_from_scenario(words).describe()]}
        status, answer = await _post(s, yaml.safe_dump(SPELLINGS[:3]).encode())
        assert (status, len(answer["added"])) == (201, 3)
        for words, message in MISTAKES:
            status, answer = await _post(s, json.dumps(words).encode())
            assert status == 400, words
            assert re.fullmatch(
                r"invalid fault: <request>:1:\d+: " + re.escape(message), answer["message"]
            )
        status, answer = await _post(s, b"call: VolumeDriver.Mount\nfault_kind: reset\n")
        assert answer["message"] == (
            "invalid fault: <request>:2:1: unknown key 'fault_kind' in fault "
            "(did you mean 'fault'?)"
        )


def _marker_file(items: list[tuple[str, dict[str, Any]]]) -> str:
    """One test per marker spelling; each checks the fault the marker installed."""
    tests = []
    for index, (form, words) in enumerate(items):
        marker = f"**{words!r}" if form == "keywords" else repr(words)
        tests.append(
            f"@pytest.mark.faults({marker})\n"
            f"def test_{index}(plugin_engine):\n"
            f"    expected = read_fault({words!r}, source='x')\n"
            f"    assert plugin_engine.engine.faults.faults == [expected]\n"
        )
    head = "import pytest\nfrom emulator.faults.vocabulary import read_fault\n\n\n"
    return head + "\n\n".join(tests)


def test_the_marker_takes_every_spelling(pytester: pytest.Pytester) -> None:
    items = [(form, words) for words in SPELLINGS for form in ("mapping", "keywords")]
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    pytester.makepyfile(_marker_file(items))
    pytester.runpytest().assert_outcomes(passed=len(items))


def test_the_marker_refuses_every_mistake_without_a_traceback(pytester: pytest.Pytester) -> None:
    tests = [
        f"@pytest.mark.faults({words!r})\ndef test_{i}(plugin_engine):\n    pass\n"
        for i, (words, _) in enumerate(MISTAKES)
    ]
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    pytester.makepyfile("import pytest\n\n\n" + "\n\n".join(tests))
    result = pytester.runpytest()
    result.assert_outcomes(errors=len(MISTAKES))
    output = result.stdout.str()
    for _, message in MISTAKES:
        assert f"@pytest.mark.faults: {message}" in output
    assert "Traceback" not in output
    assert "site-packages/trio" not in output


def test_the_sync_fixture_checks_words_in_the_callers_thread(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    pytester.makepyfile(
        textwrap.dedent(
            """
            import pytest
            from emulator.vocabulary.nodes import FaultSpecError

            def test_nested_and_flat(plugin_engine):
                nested = plugin_engine.faults.add({"match": {"call": "VolumeDriver.Get"},
                                                   "fault": "reset"})
                flat = plugin_engine.faults.add(call="VolumeDriver.Get", fault="reset")
                assert nested == flat
                assert plugin_engine.engine.faults.faults == [nested, flat]

            def test_misspelt(plugin_engine):
                with pytest.raises(FaultSpecError) as info:
                    plugin_engine.faults.add(match={"call": "VolumeDriver.Get"}, fault="rest")
                assert str(info.value).startswith(
                    "plugin_engine.faults.add(): 'fault' in fault must be one of")
                # checked in the test's thread: no frame of trio's thread machinery
                assert not any("trio" in str(entry.path) for entry in info.traceback)
            """
        )
    )
    pytester.runpytest().assert_outcomes(passed=2)
