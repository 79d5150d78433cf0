"""The ``plugin-emulator`` command: the group and its small commands (``cli/*.py``: the rest).

The engine, trio and rich are imported inside the commands that use them, never at the
top of a ``cli`` module: ``plugin-emulator --help`` loads click and the command
definitions only.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from emulator.cli.check import check_command
from emulator.cli.plugin import plugin_command
from emulator.cli.run import run_command
from emulator.cli.serve import serve_command
from emulator.protocol.profiles import DEFAULT_PROFILE, PROFILES

if TYPE_CHECKING:
    from emulator.engine.plugins import PluginReport


@click.group()
@click.version_option(package_name="docker-plugin-emulator")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="error",
    show_default=True,
    help="Engine log level; 'warning' shows dockerd's retry warnings such as "
    "'Unable to locate plugin: NAME, retrying in 1s'.",
)
def main(log_level: str) -> None:
    """An in-process fake Docker daemon for testing Docker Engine plugins."""
    logging.basicConfig(
        level=log_level.upper(),
        format='time="%(asctime)s" level=%(levelname)s msg="%(message)s"',
        stream=sys.stderr,
    )


@main.group()
def plugins() -> None:
    """Discover and activate v1 plugins as dockerd does."""


@plugins.command("ls")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/"),
    show_default=True,
    help="Look for plugins under ROOT/run/docker/plugins, ROOT/etc/docker/plugins, "
    "ROOT/usr/lib/docker/plugins.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--profile",
    type=click.Choice(sorted(PROFILES)),
    default=DEFAULT_PROFILE,
    show_default=True,
    help="dockerd version to behave as.",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Ignore --root: start built-in mock plugins (and a broken spec file) in a "
    "temporary root and list those.",
)
def plugins_ls(root: Path, as_json: bool, profile: str, demo: bool) -> None:
    """List every discovered plugin, where it came from, and its activation result.

    Each plugin is activated with /Plugin.Activate exactly as dockerd does when it
    enumerates plugins (e.g. for 'docker volume ls'); an unreachable plugin costs the
    same ~15 s of connect retries it costs dockerd.  Exits 1 when any plugin fails
    (except with --demo, whose broken spec file is deliberate).
    """
    import trio

    reports, shown_root = trio.run(_survey, root, profile, demo)
    if as_json:
        click.echo(json.dumps([_report_json(r) for r in reports], indent=2))
    else:
        _print_table(reports, shown_root)
    if any(r.error for r in reports) and not demo:
        sys.exit(1)


async def _survey(root: Path, profile: str, demo: bool) -> tuple[list[PluginReport], Path]:
    import trio

    from emulator.engine.core import open_engine

    if not demo:
        async with open_engine(root=root, profile=profile) as engine:
            return await engine.plugins.survey(), root
    from emulator.cli.demo import demo_root

    tmp = Path(tempfile.mkdtemp(prefix="pe-demo-", dir="/tmp"))
    try:
        async with trio.open_nursery() as nursery:
            await demo_root(tmp, nursery)
            async with open_engine(root=tmp, profile=profile) as engine:
                reports = await engine.plugins.survey()
            nursery.cancel_scope.cancel()
        return reports, tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _report_json(report: PluginReport) -> dict[str, Any]:
    spec = report.spec
    return {
        "name": report.name,
        "address": spec.addr if spec else None,
        "source": str(report.source) if report.source else None,
        "kind": spec.kind if spec else None,
        "implements": list(report.implements) if report.implements is not None else None,
        "error": report.error,
        "hint": report.hint or None,
    }


def _print_table(reports: Sequence[PluginReport], root: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(emoji=False, width=max(Console().width, 160))
    if not reports:
        console.print(f"No plugins found under {root}.")
        return
    table = Table(show_edge=False, pad_edge=False, box=None)
    table.add_column("NAME", no_wrap=True)
    table.add_column("SOURCE", no_wrap=True)
    table.add_column("ADDRESS", overflow="fold")
    table.add_column("ACTIVATION", overflow="fold")
    problems: list[PluginReport] = []
    for report in reports:
        spec = report.spec
        if report.error is not None:
            problems.append(report)
            outcome = "[red]failed[/red] (see below)"
        else:
            outcome = "Implements: " + (", ".join(report.implements or ()) or "(nothing)")
        table.add_row(
            report.name,
            _escape(_daemon_path(report.source, root)) if report.source else "-",
            _escape(spec.addr) if spec else "-",
            outcome,
        )
    console.print(table)
    for report in problems:
        console.print(f"\n[bold]{report.name}[/bold]: [red]{_escape(report.error or '')}[/red]")
        if report.hint:
            console.print(f"  hint: {_escape(report.hint)}")


def _daemon_path(path: Path, root: Path) -> str:
    """``path`` as dockerd would name it: relative to ``root``, shown as absolute."""
    try:
        return "/" + str(path.relative_to(root))
    except ValueError:
        return str(path)


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


@main.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of scenario files (for editors such as the YAML language server).

    Save it (plugin-emulator schema > scenario.schema.json) and start a scenario file with
    '# yaml-language-server: $schema=scenario.schema.json'.
    """
    from emulator.scenario.schema import scenario_json_schema

    click.echo(json.dumps(scenario_json_schema(), indent=2))


main.add_command(run_command)
main.add_command(plugin_command)
main.add_command(serve_command)
main.add_command(check_command)
