"""``check`` reports: the terminal table (rich), JSON, JUnit XML, and the catalogue as
Markdown (docs/check.md is generated from the checks' own metadata)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from emulator.check.answers import describe
from emulator.check.model import Check, CheckResult, Verdict
from emulator.check.runner import CheckRun

__all__ = ["catalogue_markdown", "json_report", "junit_xml", "print_run", "write_reports"]

_STYLE = {
    Verdict.PASS: "green",
    Verdict.FAIL: "bold red",
    Verdict.WARN: "yellow",
    Verdict.SKIP: "dim",
}
#: Calls shown per check in the table (the JSON report has them all).
TABLE_CALLS = 5


def _calls_cell(result: CheckResult) -> str:
    lines = [describe(e) for e in result.calls]
    if len(lines) > TABLE_CALLS:
        hidden = len(lines) - TABLE_CALLS + 1
        lines = [f"… {hidden} earlier (--json has them all)", *lines[-(TABLE_CALLS - 1) :]]
    return "\n".join(lines) or "-"


def print_run(console: Console, run: CheckRun) -> None:
    """The table, the notes and the summary line."""
    console.print(f"[bold]plugin-emulator check[/bold] {escape(run.target)}, seed {run.seed}")
    for note in run.notes:
        console.print(f"note: {escape(note)}")
    if run.setup_error:
        console.print(f"[bold red]error:[/bold red] {escape(run.setup_error)}")
    if run.results:
        table = Table(show_lines=True, expand=True)
        table.add_column("check", no_wrap=True)
        table.add_column("verdict", no_wrap=True)
        table.add_column("what dockerd does", ratio=3)
        table.add_column("what the plugin did", ratio=3)
        table.add_column("calls exchanged", ratio=4, overflow="fold")
        table.add_column("hint", ratio=2)
        for result in run.results:
            style = _STYLE[result.verdict]
            table.add_row(
                escape(result.check.id),
                f"[{style}]{result.verdict.value}[/{style}]",
                escape(result.check.dockerd),
                escape(result.did),
                escape(_calls_cell(result)),
                escape(result.hint),
            )
        console.print(table)
    counts = ", ".join(f"{run.count(v)} {v.value}" for v in Verdict)
    console.print(f"{counts} — {run.engine_seconds:.1f}s engine time in {run.wall_seconds:.2f}s")


def json_report(run: CheckRun) -> dict[str, Any]:
    """The ``--json`` report."""
    return {
        "target": run.target,
        "plugin": run.plugin,
        "kinds": list(run.kinds),
        "seed": run.seed,
        "setup_error": run.setup_error,
        "notes": list(run.notes),
        "counts": {v.value: run.count(v) for v in Verdict},
        "engine_seconds": round(run.engine_seconds, 6),
        "wall_seconds": round(run.wall_seconds, 6),
        "results": [r.to_json() for r in run.results],
    }


def junit_xml(run: CheckRun) -> str:
    """JUnit XML: one ``testcase`` per check (warn passes, with its text in system-out)."""
    suite = ET.Element(
        "testsuite",
        name=f"plugin-emulator check {run.plugin}",
        tests=str(len(run.results) + (1 if run.setup_error else 0)),
        failures=str(run.count(Verdict.FAIL)),
        errors="1" if run.setup_error else "0",
        skipped=str(run.count(Verdict.SKIP)),
        time=f"{run.wall_seconds:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="seed", value=str(run.seed))
    ET.SubElement(props, "property", name="target", value=run.target)
    if run.setup_error:
        case = ET.SubElement(suite, "testcase", classname="check", name="setup")
        ET.SubElement(case, "error", message=run.setup_error)
    for result in run.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"check.{result.check.kind}",
            name=result.check.id,
            time=f"{result.wall_seconds:.3f}",
        )
        details = "\n".join(
            [
                f"dockerd: {result.check.dockerd}",
                f"plugin: {result.did}",
                f"hint: {result.check.hint}",
                f"rule: {result.check.rule} ({result.check.source})",
                "calls:",
                *(f"  {describe(e)}" for e in result.calls),
            ]
        )
        if result.verdict is Verdict.FAIL:
            ET.SubElement(case, "failure", message=result.did).text = details
        elif result.verdict is Verdict.SKIP:
            ET.SubElement(case, "skipped", message=result.did)
        elif result.verdict is Verdict.WARN:
            ET.SubElement(case, "system-out").text = "WARN " + details
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_reports(run: CheckRun, *, junit: Path | None, json_path: Path | None) -> None:
    """Write the requested report files."""
    if junit is not None:
        junit.write_text(junit_xml(run))
    if json_path is not None:
        json_path.write_text(json.dumps(json_report(run), indent=2) + "\n")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def catalogue_markdown(checks: Sequence[Check]) -> str:
    """The catalogue as a Markdown table per type (what docs/check.md shows)."""
    out: list[str] = []
    kind = None
    for item in checks:
        if item.kind != kind:
            kind = item.kind
            out += [
                "",
                f"### {kind}",
                "",
                "| check | class | rule | what dockerd does | source | hint |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
        out.append(
            f"| `{item.id}` {_cell(item.title)} | {item.severity.value} | {_cell(item.rule)} "
            f"| {_cell(item.dockerd)} | {_cell(item.source)} | {_cell(item.hint)} |"
        )
    return "\n".join(out).lstrip("\n") + "\n"
