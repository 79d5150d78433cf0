"""``plugin-emulator plugin ...``: commands for managed (v2) plugin authors."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click

from emulator.api.listen import default_socket_path

if TYPE_CHECKING:
    import http.client


@click.group("plugin")
def plugin_command() -> None:
    """Managed (v2) plugins: check a plugin directory; list and enter running plugins."""


@plugin_command.command("lint")
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR"
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as a JSON array.")
def lint_command(directory: Path, as_json: bool) -> None:
    """Report packaging mistakes in DIR (config.json + rootfs/) that dockerd only shows at run time.

    Exit status: 0 when clean or only warnings, 1 when any error is found.
    """
    from emulator.engine.managed.lint import lint_plugin_dir  # here: the engine is heavy

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


# -- debugging a running `serve`: the equivalents of `runc list` and `runc exec` ------------


def _unix_connection(path: str) -> http.client.HTTPConnection:
    """HTTP over the engine's unix socket (``http.client`` is imported only for this)."""
    import http.client

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(path)
            self.sock = sock

    return UnixConnection("localhost", timeout=30)


def _engine_socket(host: str | None) -> str:
    """``--host``, else ``DOCKER_HOST`` (``unix://`` only), else serve's default socket."""
    value = host or os.environ.get("DOCKER_HOST", "")
    if value.startswith("unix://"):
        return value.removeprefix("unix://")
    if value:
        raise click.UsageError(f"{value}: plugin ps/exec need the engine's unix socket (unix://…)")
    return str(default_socket_path())


def _running(host: str | None) -> list[dict[str, Any]]:
    path = _engine_socket(host)
    conn = _unix_connection(path)
    try:
        conn.request("GET", "/emulator/managed-plugins")
        response = conn.getresponse()
        body = response.read()
    except OSError as exc:
        raise click.ClickException(
            f"cannot reach plugin-emulator serve at {path}: {exc} (is it running? --host?)"
        ) from None
    finally:
        conn.close()
    if response.status != 200:
        raise click.ClickException(f"{path}: {response.status} {body.decode(errors='replace')}")
    return list(json.loads(body))


_HOST_OPTION = click.option(
    "--host",
    metavar="unix://PATH",
    help="The serve socket [default: $DOCKER_HOST, else serve's default socket].",
)


@plugin_command.command("ps")
@_HOST_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def ps_command(host: str | None, as_json: bool) -> None:
    """List the managed plugins of a running `plugin-emulator serve` and their processes.

    The equivalent of `runc --root /run/docker/runtime-runc/plugins.moby list` on a
    real host: ID, PID, STATUS (running, paused, stopped), NAME and the socket the
    engine dials (curl --unix-socket SOCKET http://localhost/Plugin.Activate -X POST).
    """
    found = _running(host)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    rows = [("ID", "PID", "STATUS", "NAME", "SOCKET")]
    for item in found:
        pid = str(item["pid"]) if item["pid"] is not None else "0"
        rows.append((item["id"], pid, item["status"], item["name"], item["socket"]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:4])]
        click.echo("   ".join([*cells, row[4]]))


@plugin_command.command(
    "exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@_HOST_OPTION
@click.argument("plugin")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_command(host: str | None, plugin: str, command: tuple[str, ...]) -> None:
    """Run COMMAND inside the running plugin PLUGIN (ID, ID prefix or name): `runc exec`.

    COMMAND runs in the plugin's mount namespace (via nsenter; root or the
    plugin's user namespace is needed), in its working directory, with its
    environment; its exit status is this command's.  Example:
    `plugin-emulator plugin exec 3a4f -- ls /run/docker/plugins`.
    """
    target = _pick(_running(host), plugin)
    if target["status"] != "running" or target["pid"] is None:
        raise click.ClickException(f"plugin {target['name']} is not running ({target['status']})")
    argv = list(command[1:] if command[:1] == ("--",) else command)
    if not argv:
        raise click.UsageError("no command given")
    if target["private_namespace"]:
        nsenter = shutil.which("nsenter")
        if nsenter is None:
            raise click.ClickException("nsenter (util-linux) is needed to enter the plugin")
        pid = str(target["pid"])
        flags = ["--target", pid, "--mount", f"--wd={target['cwd']}"]
        if os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user"):
            flags[2:2] = ["--user", "--preserve-credentials"]
        argv = [nsenter, *flags, "--", *argv]
    else:
        os.chdir(target["cwd"])
    env = dict(target["env"])
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        raise click.ClickException(f"{argv[0]}: {exc.strerror}") from None


def _pick(found: list[dict[str, Any]], wanted: str) -> dict[str, Any]:
    """A plugin by full ID, name (``:latest`` implied) or unique ID prefix."""
    names = {wanted, f"{wanted}:latest"}
    exact = [p for p in found if p["id"] == wanted or p["name"] in names]
    if exact:
        return exact[0]
    prefixed = [p for p in found if p["id"].startswith(wanted)]
    if len(prefixed) == 1:
        return prefixed[0]
    if prefixed:
        raise click.ClickException(f'multiple plugins found for "{wanted}"')
    raise click.ClickException(f'plugin "{wanted}" not found')
