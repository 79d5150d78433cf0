"""Scenario reports: the terminal summary (rich), JUnit XML and JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from emulator.scenario.runner import ScenarioResult, StepResult


def print_step(console: Console, step: StepResult) -> None:
    """One live progress line."""
    mark = "[green]✓[/green]" if step.passed else "[red]✗[/red]"
    took = f"{step.engine_seconds:.3f}s" if step.engine_seconds else ""
    console.print(f"  {mark} {escape(step.index)}. {escape(step.label)} [dim]{took}[/dim]")
    if not step.passed:
        for line in step.message.splitlines():
            console.print(f"      [red]{escape(line)}[/red]")


#: Lines of a plugin's output the terminal summary shows (the JSON report has them all).
SHOWN_OUTPUT_LINES = 50


def print_summary(
    console: Console, results: Sequence[ScenarioResult], *, plugin_output: bool = False
) -> None:
    """The summary after all scenarios ran; a failed scenario's plugin output is shown
    (every scenario's with ``plugin_output``)."""
    for result in results:
        status = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
        steps_ok = sum(s.passed for s in result.steps)
        console.print(
            f"{status} {escape(result.name)} — {steps_ok}/{len(result.steps)} steps, "
            f"{len(result.faults_fired)} faults fired, seed {result.seed}, "
            f"{result.engine_seconds:.1f}s engine time in {result.wall_seconds:.2f}s"
        )
        for note in result.notes:
            console.print(f"    [yellow]note: {escape(note)}[/yellow]")
        if result.setup_error:
            console.print(f"    [red]{escape(result.setup_error)}[/red]")
        if not result.passed:
            console.print("    last plugin calls:")
            for line in result.journal_excerpt():
                console.print(f"      [dim]{escape(line)}[/dim]")
        if plugin_output or not result.passed:
            print_plugin_output(console, result)
    failed = sum(not r.passed for r in results)
    console.print(f"\n{len(results) - failed} passed, {failed} failed")


def print_plugin_output(console: Console, result: ScenarioResult) -> None:
    """The last lines each ``command:`` plugin of ``result`` wrote."""
    for name, lines in result.plugin_output:
        shown = lines[-SHOWN_OUTPUT_LINES:]
        more = f", last {len(shown)} of {len(lines)}" if len(shown) < len(lines) else ""
        console.print(f"    output of plugin {escape(name)} ({len(lines)} lines{more}):")
        for line in shown:
            console.print(f"      [dim]{escape(line)}[/dim]")


def junit_xml(results: Sequence[ScenarioResult]) -> str:
    """JUnit XML: a ``testsuite`` per scenario, a ``testcase`` per step."""
    suites = ET.Element("testsuites", name="plugin-emulator")
    for result in results:
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=result.name,
            tests=str(len(result.steps) + (1 if result.setup_error else 0)),
            failures=str(sum(not s.passed for s in result.steps)),
            errors="1" if result.setup_error else "0",
            time=f"{result.wall_seconds:.3f}",
        )
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="seed", value=str(result.seed))
        if result.path:
            ET.SubElement(props, "property", name="file", value=result.path)
        if result.setup_error:
            case = ET.SubElement(suite, "testcase", classname=result.name, name="setup")
            ET.SubElement(case, "error", message=result.setup_error).text = result.setup_error
        output = _output_text(result)
        if output:
            ET.SubElement(suite, "system-out").text = output
        for step in result.steps:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=result.name,
                name=f"{step.index}. {step.label}",
                time=f"{step.wall_seconds:.3f}",
            )
            if result.path:
                case.set("file", result.path)
                case.set("line", str(step.line))
            if not step.passed:
                failure = ET.SubElement(case, "failure", message=step.message.splitlines()[0])
                failure.text = (
                    step.message + "\n\nlast plugin calls:\n" + "\n".join(result.journal_excerpt())
                )
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _output_text(result: ScenarioResult) -> str:
    blocks = [
        f"output of plugin {name}:\n" + "\n".join(lines) for name, lines in result.plugin_output
    ]
    return "\n\n".join(blocks)


def json_report(results: Sequence[ScenarioResult]) -> dict[str, Any]:
    """A machine-readable report."""
    return {
        "passed": all(r.passed for r in results),
        "scenarios": [
            {
                "name": r.name,
                "path": r.path,
                "seed": r.seed,
                "passed": r.passed,
                "setup_error": r.setup_error,
                "notes": list(r.notes),
                "engine_seconds": r.engine_seconds,
                "wall_seconds": r.wall_seconds,
                "steps": [
                    {
                        "index": s.index,
                        "label": s.label,
                        "line": s.line,
                        "passed": s.passed,
                        "message": s.message,
                        "error": s.error,
                        "engine_seconds": s.engine_seconds,
                    }
                    for s in r.steps
                ],
                "plugin_output": {name: list(lines) for name, lines in r.plugin_output},
                "faults_fired": [
                    {
                        "time": f.time,
                        "fault": f.fault,
                        "plugin": f.plugin,
                        "method": f.method,
                        "action": f.action,
                    }
                    for f in r.faults_fired
                ],
                "calls": [
                    {
                        "time": e.started,
                        "plugin": e.plugin,
                        "method": e.method,
                        "attempt": e.attempt,
                        "request": e.shown_request,
                        "status": e.status,
                        "error": e.error,
                        "fault": e.fault,
                        "duration": e.duration,
                    }
                    for e in r.journal
                ],
            }
            for r in results
        ],
    }


def write_reports(
    results: Sequence[ScenarioResult], *, junit: Path | None, json_path: Path | None
) -> None:
    """Write the requested report files."""
    if junit is not None:
        junit.write_text(junit_xml(results))
    if json_path is not None:
        json_path.write_text(json.dumps(json_report(results), indent=2) + "\n")
