"""``plugin-emulator check PLUGIN``: the conformance suite (docs/check.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from emulator.protocol.profiles import DEFAULT_PROFILE, PROFILES

if TYPE_CHECKING:
    from emulator.check import CheckOptions


def _options(values: tuple[str, ...]) -> dict[str, str]:
    parsed = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r}: use KEY=VALUE", param_hint="--volume-opt")
        parsed[key] = rest
    return parsed


@click.command(
    "check",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("plugin", nargs=-1, required=False, type=click.UNPROCESSED)
@click.option(
    "--type",
    "kinds",
    multiple=True,
    type=click.Choice(["volume", "network", "ipam", "authz", "log"]),
    help="Check as this type (repeatable) [default: every type the plugin implements].",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where a plugin given by NAME is discovered [default: /].",
)
@click.option("--name", help="The plugin's name for a command, socket, URL or directory.")
@click.option(
    "-k",
    "select",
    default="",
    metavar="EXPR",
    help="Only checks whose id or title match (pytest's -k: and, or, not).",
)
@click.option("--seed", type=int, help="Seed for names and random draws (printed).")
@click.option(
    "--volume-opt",
    "volume_opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="An option every volume the checks create gets (repeatable), for plugins "
    "that need some, e.g. rclone's remote=:local:/srv/data.",
)
@click.option(
    "--netns/--no-netns",
    default=None,
    help="Start a command in a network namespace of the check's own [default: "
    "with --type network or ipam].",
)
@click.option(
    "--parallel",
    type=click.IntRange(2, 64),
    default=8,
    show_default=True,
    help="Calls made at once by the concurrency checks.",
)
@click.option(
    "--grace",
    type=click.FloatRange(0.1),
    default=30.0,
    show_default=True,
    help="Real seconds an answer may take before the plugin counts as hung.",
)
@click.option(
    "--profile",
    type=click.Choice(sorted(PROFILES)),
    default=DEFAULT_PROFILE,
    show_default=True,
    help="dockerd version to behave as.",
)
@click.option(
    "--junit-xml",
    "junit",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a JUnit XML report (one testcase per check).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a JSON report with every call exchanged.",
)
@click.option("--list", "list_only", is_flag=True, help="Print the catalogue (Markdown) and exit.")
def check_command(
    plugin: tuple[str, ...],
    kinds: tuple[str, ...],
    root: Path | None,
    name: str | None,
    select: str,
    seed: int | None,
    volume_opts: tuple[str, ...],
    netns: bool | None,
    parallel: int,
    grace: float,
    profile: str,
    junit: Path | None,
    json_path: Path | None,
    list_only: bool,
) -> None:
    """Run the conformance checks against PLUGIN and report what dockerd would trip on.

    PLUGIN is a running plugin (a NAME under --root, a socket path, a spec URL such as
    tcp://127.0.0.1:9000), a command to start (several words, or one quoted string;
    {socket} is where it must listen, as for 'serve --plugin'), or a managed plugin
    directory (config.json and rootfs/).  Exit 0 when no check fails, 1 when one does,
    2 on usage errors.
    """
    from emulator.check import CATALOGUE, CheckOptions, TargetError, parse_target, selection
    from emulator.check.catalogue import SelectionError
    from emulator.check.report import catalogue_markdown, print_run, write_reports
    from emulator.check.runner import run_checks_sync

    try:
        chosen = selection(select)
    except SelectionError as exc:
        raise click.UsageError(str(exc)) from None
    if list_only:
        click.echo(catalogue_markdown([c for c in CATALOGUE.checks(kinds or None) if chosen(c)]))
        return
    missing = [k for k in kinds if k not in CATALOGUE.kinds()]
    if missing:
        raise click.UsageError(
            f"no checks exist yet for {', '.join(missing)} plugins "
            f"(types with checks: {', '.join(CATALOGUE.kinds())})"
        )
    try:
        target = parse_target(plugin, root=root, name=name)
    except TargetError as exc:
        raise click.UsageError(str(exc)) from None
    options = CheckOptions(
        kinds=kinds,
        select=select,
        seed=seed,
        volume_opts=_options(volume_opts) or None,
        parallel=parallel,
        netns=netns,
        profile=profile,
        grace=grace,
    )
    run = run_checks_sync(target, options)
    from rich.console import Console

    print_run(Console(highlight=False, emoji=False, width=max(Console().width, 200)), run)
    write_reports(run, junit=junit, json_path=json_path)
    sys.exit(run.exit_code)


def options_from_words(words: list[str]) -> CheckOptions:
    """The run options of a ``check`` command line's options (for ``--emulator-check``)."""
    from emulator.check import CheckOptions

    context = check_command.make_context("check", [*words, "placeholder"])
    params = context.params
    return CheckOptions(
        kinds=params["kinds"],
        select=params["select"],
        seed=params["seed"],
        volume_opts=_options(params["volume_opts"]) or None,
        parallel=params["parallel"],
        netns=params["netns"],
        profile=params["profile"],
        grace=params["grace"],
    )
