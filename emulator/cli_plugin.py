"""``plugin-emulator plugin ...``: commands for managed (v2) plugin authors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import attrs
import click

from emulator.managed.lint import lint_plugin_dir


@click.group("plugin")
def plugin_command() -> None:
    """Managed (v2) plugins: check a `docker plugin create` directory."""


@plugin_command.command("lint")
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR"
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as a JSON array.")
def lint_command(directory: Path, as_json: bool) -> None:
    """Report packaging mistakes in DIR (config.json + rootfs/) that dockerd only shows at run time.

    Exit status: 0 when clean or only warnings, 1 when any error is found.
    """
    findings = lint_plugin_dir(directory)
    if as_json:
        click.echo(json.dumps([attrs.asdict(f) for f in findings], indent=2))
    else:
        for finding in findings:
            click.echo(str(finding))
        errors = sum(f.severity == "error" for f in findings)
        warnings = len(findings) - errors
        click.echo(f"{directory}: {errors} error(s), {warnings} warning(s)")
    if any(f.severity == "error" for f in findings):
        sys.exit(1)
