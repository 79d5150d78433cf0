"""The scenario runner: shipped scenarios pass, failures are reported clearly, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from emulator.scenario.loader import load_scenario, load_scenario_text
from emulator.scenario.report import json_report, junit_xml, print_summary
from emulator.scenario.runner import run_scenario_sync
from tests.rclone import rclone_available

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))


def test_at_least_ten_scenarios_are_shipped() -> None:
    assert len(SCENARIOS) >= 10
    assert any(p.name == "quickstart.yaml" for p in SCENARIOS)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenario_passes(path: Path) -> None:
    result = run_scenario_sync(load_scenario(path))
    failures = [f"{s.index}. {s.label}: {s.message}" for s in result.steps if not s.passed]
    assert result.passed, "\n".join([*failures, result.setup_error or ""])


RCLONE_SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios/rclone").glob("*.yaml"))


@pytest.mark.skipif(rclone_available() is not None, reason=str(rclone_available()))
@pytest.mark.parametrize("path", RCLONE_SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenario_passes_against_rclone(path: Path) -> None:
    result = run_scenario_sync(load_scenario(path))
    failures = [f"{s.index}. {s.label}: {s.message}" for s in result.steps if not s.passed]
    assert result.passed, "\n".join([*failures, result.setup_error or ""])


FAILING = """
version: 1
name: expectations that do not hold
engine: {clock: virtual, seed: 9}
plugins:
  - {name: fp, builtin: volume}
steps:
  - volume.create: {name: v, driver: fp}
  - volume.inspect: {name: nope}
  - volume.create: {name: w, driver: fp}
    expect: {error: "never"}
  - expect.calls:
      - VolumeDriver.Remove: {Name: v}
  - expect.no_calls: [VolumeDriver.Create]
  - volume.inspect: {name: v}
    expect: {result: {Driver: other}}
  - sleep: 3s
    expect: {duration: {max: 1s}}
"""


def test_failures_say_what_was_expected_and_what_was_seen() -> None:
    result = run_scenario_sync(load_scenario_text(FAILING, filename="failing.yaml"))
    assert not result.passed
    messages = [s.message for s in result.steps]
    assert messages[0] == ""
    assert messages[1] == "failed: get nope: no such volume"
    assert messages[2] == "expected an error matching /never/, but it succeeded"
    assert messages[3].startswith("expected call VolumeDriver.Remove {'Name': 'v'} was not seen.")
    assert "calls seen:" in messages[3]
    assert "VolumeDriver.Create" in messages[3]
    assert messages[4].startswith("expected no call VolumeDriver.Create, but saw 2:")
    assert "does not contain {'Driver': 'other'}" in messages[5]
    assert messages[6] == "took 3.000s of engine time, more than 1s"
    assert result.seed == 9
    assert [s.line for s in result.steps] == [8, 9, 10, 12, 14, 15, 17]


def test_a_status_expectation_never_passes_a_step_that_failed() -> None:
    # A failed action gives no status: expect.status cannot hide its error.
    text = """
version: 1
name: exec where nothing runs
engine: {containers: fake}
steps:
  - container.exec: {name: nosuch, command: [cat, /x]}
    expect: {status: 0}
  - container.logs: nosuch
    expect: {output: "^$"}
"""
    result = run_scenario_sync(load_scenario_text(text, filename="exec.yaml"))
    assert [s.message for s in result.steps] == [
        "failed: No such container: nosuch",
        "failed: No such container: nosuch",
    ]
    assert not result.passed


def test_containers_that_followed_the_command_table_are_reported() -> None:
    # A green run must say what it did not do as asked: here, no process ran.
    text = """
version: 1
name: a fake exit status
engine: {containers: auto}
steps:
  - container.run: {name: c, command: [myapp], exit_code: 3}
    expect: {result: {exit_code: 3}}
"""
    result = run_scenario_sync(load_scenario_text(text, filename="fake.yaml"))
    assert result.passed, [s.message for s in result.steps]
    assert result.notes == (
        "containers given exit_code or runs_for follow the command table (no process runs "
        "for them)",
    )
    assert json_report([result])["scenarios"][0]["notes"] == list(result.notes)
    console = Console(record=True, width=200)
    print_summary(console, [result])
    assert "note: containers given exit_code" in console.export_text()


def test_junit_and_json_reports() -> None:
    result = run_scenario_sync(load_scenario_text(FAILING, filename="failing.yaml"))
    root = ET.fromstring(junit_xml([result]))
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "7"
    assert suite.get("failures") == "6"
    cases = suite.findall("testcase")
    assert cases[1].find("failure") is not None
    seed = suite.find("properties/property[@name='seed']")
    assert seed is not None
    assert seed.get("value") == "9"
    data = json_report([result])
    assert data["passed"] is False
    assert data["scenarios"][0]["calls"][0]["method"] == "Plugin.Activate"
    json.dumps(data)


def test_virtual_time_makes_minutes_of_delays_cost_no_wall_time() -> None:
    scenario = load_scenario_text(
        """
version: 1
name: an hour of delays
engine: {clock: virtual}
plugins: [{name: d, builtin: volume}]
faults:
  - match: {call: VolumeDriver.Get}
    delay: 10m
steps:
  - volume.create: {name: a, driver: d}
  - volume.inspect: {name: a}
    expect: {error: "deadline exceeded"}
  - sleep: 1h
"""
    )
    started = time.perf_counter()
    result = run_scenario_sync(scenario)
    assert result.passed, [s.message for s in result.steps]
    assert result.engine_seconds >= 3600 + 60
    assert time.perf_counter() - started < 5


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulator", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def test_cli_exit_codes_and_reports(short_tmp: Path) -> None:
    good = short_tmp / "good.yaml"
    good.write_text((SCENARIOS[0].parent / "quickstart.yaml").read_text())
    bad = short_tmp / "bad.yaml"
    bad.write_text(FAILING)
    invalid = short_tmp / "invalid.yaml"
    invalid.write_text("version: 1\nname: x\nsteps:\n  - volume.creat: {name: v}\n")
    passed = run_cli("run", str(good), "--junit-xml", str(short_tmp / "j.xml"))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "1 passed, 0 failed" in passed.stdout
    ET.parse(short_tmp / "j.xml")
    failed = run_cli("run", str(good), str(bad), "--json", str(short_tmp / "r.json"))
    assert failed.returncode == 1
    assert "1 passed, 1 failed" in failed.stdout
    report = json.loads((short_tmp / "r.json").read_text())
    assert [s["passed"] for s in report["scenarios"]] == [True, False]
    rejected = run_cli("run", str(invalid))
    assert rejected.returncode == 2
    assert "invalid.yaml:4:" in rejected.stderr
    assert "Traceback" not in rejected.stderr
    seeded = run_cli("run", str(good), "--seed", "77")
    assert "seed 77" in seeded.stdout


def test_cli_prints_names_as_written_and_survives_a_closed_pipe(short_tmp: Path) -> None:
    odd = short_tmp / "odd.yaml"
    odd.write_text(
        "version: 1\nname: 'a :smile: [red]x[/red]'\n"
        "steps:\n  - volume.create: {name: vol}\n    name: ':thumbs_up: [b]step'\n"
    )
    printed = run_cli("run", str(odd))
    assert printed.returncode == 0, printed.stderr
    assert "a :smile: [red]x[/red]" in printed.stdout
    assert ":thumbs_up: [b]step" in printed.stdout
    # `| head -1`: the reader goes away after the first line; the runs end quietly and
    # their report is still written.
    report = short_tmp / "r.json"
    command = [sys.executable, "-m", "emulator", "run", str(odd), str(odd), "--json", str(report)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()
        errors = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 0
    assert "Traceback" not in errors, errors
    assert len(json.loads(report.read_text())["scenarios"]) == 2
