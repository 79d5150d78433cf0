"""What plugins the emulator starts write: kept per plugin, shown where it helps, never as ERROR.

The plugin is examples/plugins/dirvol.py, which logs every call at INFO to stderr (Python's
``logging`` default stream), as the plugin of issue 14 did.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from emulator.engine.plugin_output import PluginOutput

pytest_plugins = ["pytester"]

DIRVOL = Path(__file__).resolve().parent.parent / "examples" / "plugins" / "dirvol.py"


def test_plugin_output_keeps_lines_and_counts_what_it_drops() -> None:
    output = PluginOutput("p", keep=3)
    for number in range(1, 6):
        output.add("stderr" if number % 2 else "stdout", f"line {number}")
    assert output.count == 5
    assert output.texts() == ["line 3", "line 4", "line 5"]
    assert [line.stream for line in output.lines()] == ["stderr", "stdout", "stderr"]
    assert output.report() == "(2 earlier lines not kept)\nline 3\nline 4\nline 5\n"
    assert output.report(since=4) == "line 5\n"
    assert output.report(since=5) == ""


def test_a_failed_test_reports_the_plugin_output_like_captured_output(
    pytester: pytest.Pytester, short_tmp: Path
) -> None:
    pytester.makepyfile(
        f"""
        import sys
        import pytest
        from emulator import ProcessSpec

        @pytest.fixture
        def dirvol(plugin_process):
            return plugin_process(ProcessSpec("dirvol", [sys.executable, {str(DIRVOL)!r},
                                  "--socket", "{{socket}}", "--state", {str(short_tmp)!r}],
                                  private_run=False))

        def test_fails(plugin_engine, dirvol):
            plugin_engine.volumes.create("data", driver="dirvol")
            assert False, "the test's own failure"

        def test_passes(plugin_engine, dirvol):
            plugin_engine.volumes.create("quiet", driver="dirvol")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    text = result.stdout.str()
    # The section, after the failure, as pytest shows captured output:
    result.stdout.fnmatch_lines(
        [
            "*- Captured output of plugin dirvol setup -*",
            "INFO dirvol: serving on *dirvol.sock, volumes in *",
            "*- Captured output of plugin dirvol call -*",
            'INFO dirvol: /VolumeDriver.Create {"Name": "data", "Opts": {}} -> {}',
        ]
    )
    assert '"quiet"' not in text  # a passing test's plugin output is not shown
    assert "ERROR" not in text  # the plugin's stderr is not the emulator's error log
    # -rP shows it for passing tests too, as pytest does with captured output
    result = pytester.runpytest("-p", "no:cacheprovider", "-rP", "-k", "passes")
    result.stdout.fnmatch_lines(['*/VolumeDriver.* {"Name": "quiet"*'])


SCENARIO = """
version: 1
name: dirvol {what}
plugins:
  - name: dirvol
    command: [{python}, {dirvol}, --socket, "{{socket}}", --state, "{{root}}/volumes"]
steps:
  - volume.create: {{name: data, driver: dirvol}}
  - expect.calls: [{{VolumeDriver.Create: {{Name: {expected}}}}}]
"""


def run_scenario(directory: Path, *args: str, expected: str) -> subprocess.CompletedProcess[str]:
    scenario = directory / f"{expected}.yaml"
    scenario.write_text(
        SCENARIO.format(what=expected, python=sys.executable, dirvol=DIRVOL, expected=expected)
    )
    return subprocess.run(
        [sys.executable, "-m", "emulator", "run", str(scenario), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_run_shows_a_failed_scenarios_plugin_output_and_keeps_it_in_reports(
    short_tmp: Path,
) -> None:
    report = short_tmp / "report.json"
    junit = short_tmp / "report.xml"
    failed = run_scenario(
        short_tmp, "--json", str(report), "--junit-xml", str(junit), expected="other"
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "output of plugin dirvol (" in failed.stdout
    assert 'INFO dirvol: /VolumeDriver.Create {"Name": "data"' in failed.stdout
    assert "level=ERROR" not in failed.stderr
    output = json.loads(report.read_text())["scenarios"][0]["plugin_output"]["dirvol"]
    assert any("/VolumeDriver.Create" in line for line in output)
    assert "<system-out>output of plugin dirvol:" in junit.read_text()

    passed = run_scenario(short_tmp, expected="data")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "output of plugin dirvol" not in passed.stdout
    assert "level=ERROR" not in passed.stderr
    on_demand = run_scenario(short_tmp, "--plugin-output", expected="data")
    assert 'INFO dirvol: /VolumeDriver.Create {"Name": "data"' in on_demand.stdout


def test_the_scenario_marker_quotes_the_plugin_output(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(
        ".yaml",
        bad=textwrap.dedent(
            SCENARIO.format(what="bad", python=sys.executable, dirvol=DIRVOL, expected="nope")
        ),
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.scenario("bad.yaml")
        def test_bad():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*output of plugin dirvol (last * lines):", "*INFO dirvol: /VolumeDriver.Create*"]
    )


def test_the_scenario_marker_reports_an_invalid_file_without_a_traceback(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", broken="version: 1\nname: x\nstepz: []\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.scenario("broken.yaml")
        def test_broken():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.scenario: *broken.yaml:3:1: unknown key 'stepz'*"])
    result.stdout.no_fnmatch_line("*Traceback*")
