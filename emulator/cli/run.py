"""``plugin-emulator run FILE...``: run scenario files and report."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from emulator.scenario.runner import ScenarioResult, StepResult


@click.command("run")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--junit-xml",
    "junit",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a JUnit XML report (one testsuite per scenario, one testcase per step).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a JSON report with every step, fault fired and plugin call.",
)
@click.option(
    "--seed",
    type=int,
    help="Seed for probabilities and random delays "
    "(overrides the files' engine.seed; printed in every report).",
)
@click.option(
    "--plugin-output",
    is_flag=True,
    help="Show what the scenarios' command: plugins wrote even when they pass "
    "(a failed scenario's is always shown).",
)
def run_command(
    files: tuple[Path, ...],
    junit: Path | None,
    json_path: Path | None,
    seed: int | None,
    plugin_output: bool,
) -> None:
    """Run scenario files.  Exit 0 when all pass, 1 when one fails, 2 on invalid input.

    The output of the plugins a scenario starts (plugins: with command:) is shown in the
    report of a failed scenario, and kept in the JSON and JUnit reports.
    """
    # Imported here, not at the top: ``plugin-emulator --help`` does not load the engine.
    from rich.console import Console
    from rich.markup import escape

    from emulator.scenario.loader import ScenarioError, load_scenario
    from emulator.scenario.report import print_step, print_summary, write_reports
    from emulator.scenario.runner import run_scenario_sync

    # Scenario names, step labels and plugin texts are printed as they are: no emoji
    # codes (":smile:") or markup read into them.
    console = Console(highlight=False, emoji=False)
    scenarios = []
    invalid = False
    for path in files:
        try:
            scenarios.append(load_scenario(path))
        except ScenarioError as exc:
            click.echo(f"error: {exc}", err=True)
            invalid = True
        except OSError as exc:
            click.echo(f"error: cannot read {path}: {exc.strerror or exc}", err=True)
            invalid = True
    if invalid:
        sys.exit(2)

    def progress(step: StepResult) -> None:
        # rich meeting a closed pipe (`| head`) sends stdout to /dev/null and raises
        # SystemExit: the scenarios still run to their end and their reports are written.
        with contextlib.suppress(SystemExit):
            print_step(console, step)

    results: list[ScenarioResult] = []
    for scenario in scenarios:
        where = f" ({escape(str(scenario.path))})" if scenario.path else ""
        console.print(f"[bold]{escape(scenario.name)}[/bold]{where}")
        results.append(run_scenario_sync(scenario, seed=seed, progress=progress))
    write_reports(results, junit=junit, json_path=json_path)
    console.print()
    print_summary(console, results, plugin_output=plugin_output)
    sys.exit(0 if all(r.passed for r in results) else 1)
