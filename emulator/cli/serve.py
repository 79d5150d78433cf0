"""``plugin-emulator serve``: the Engine API on a unix socket for the real ``docker`` CLI.

Besides the engine, serve can start plugins under its root, as a scenario's ``plugins:``
does: built-in mocks (``--mock NAME=volume|network|ipam|authz|log``), the author's own command
(``--plugin NAME -- CMD ARG…``, with ``{socket}``, ``{root}`` and ``{name}`` replaced) or
a file with a ``plugins:`` list (``--plugins-file``).  A command plugin's output is kept
(``GET /emulator/plugin-output``) and logged at debug level, never as an error.

This module is the command line only; :mod:`emulator.cli.serve_daemon` runs it, and is
imported when ``serve`` runs (not for ``--help``, which stays quick).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import click

from emulator.api.listen import default_socket_path, parse_tcp
from emulator.protocol.profiles import DEFAULT_PROFILE, PROFILES
from emulator.protocol.shutdown import SHUTDOWN_TIMEOUT

__all__ = ["ServeOptions", "serve_command"]


def _log_opts(values: tuple[str, ...]) -> dict[str, str]:
    """``--log-opt KEY=VALUE`` pairs (one without ``=`` is refused)."""
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r}: use KEY=VALUE")
        pairs[key] = rest
    return pairs


def _tcp(value: str | None) -> str | None:
    """``--tcp``: checked here so a bad value exits 2 with the reason."""
    if value is None:
        return None
    try:
        parse_tcp(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@attrs.frozen(kw_only=True)
class ServeOptions:
    """``plugin-emulator serve``'s command line as click parsed it (one field per option)."""

    engine_socket: Path | None
    tcp: str | None
    tlsverify: bool
    tls_only: bool
    tlscacert: Path | None
    tlscert: Path | None
    tlskey: Path | None
    tcp_insecure: bool
    root: Path | None
    data_root: Path | None
    reset_state: bool
    durable: bool
    mocks: tuple[str, ...]
    plugin: str | None
    plugins_file: Path | None
    authorization_plugins: tuple[str, ...]
    log_driver: str
    log_opts: dict[str, str]
    profile: str
    log_level: str
    log_format: str
    insecure_registries: tuple[str, ...]
    registry_mirrors: tuple[str, ...]
    containers: str | None
    network_namespace: Path | None
    shutdown_timeout: float
    command: tuple[str, ...]


@click.command("serve")
@click.option(
    "--engine-socket",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Unix socket to serve the Engine API on (mode 0600) [default: {default_socket_path()}].",
)
@click.option(
    "--tcp",
    "tcp",
    metavar="HOST:PORT",
    callback=lambda _ctx, _param, value: _tcp(value),
    help="Also serve on loopback TCP (127.0.0.1:0 picks a port); other hosts are refused. "
    "Needs TLS (--tlsverify ...) or --tcp-insecure.",
)
@click.option(
    "--tlsverify",
    is_flag=True,
    help="Serve TCP with TLS and require client certificates signed by --tlscacert.",
)
@click.option("--tls", "tls_only", is_flag=True, help="Serve TCP with TLS (implies --tlsverify).")
@click.option(
    "--tlscacert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Trust client certificates signed only by this CA [default: $DOCKER_CERT_PATH/ca.pem].",
)
@click.option(
    "--tlscert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The server's TLS certificate [default: $DOCKER_CERT_PATH/cert.pem].",
)
@click.option(
    "--tlskey",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The server's TLS key [default: $DOCKER_CERT_PATH/key.pem].",
)
@click.option(
    "--tcp-insecure",
    is_flag=True,
    help="Serve --tcp without TLS (dockerd's warnings are logged; only loopback Host "
    "headers are answered).",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Look for v1 plugins under ROOT/run/docker/plugins, ... [default: a fresh temporary "
    "directory when serve starts plugins (--mock, --plugin, --plugins-file), else /].",
)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False, path_type=Path),
    help="The engine's state directory [default: ROOT/var/lib/docker].",
)
@click.option(
    "--reset-state",
    is_flag=True,
    help="Move the state database (DATA_ROOT/emulator.db) aside and start empty; for a "
    "database the emulator reports as damaged.",
)
@click.option(
    "--durable",
    is_flag=True,
    help="Make every commit of the state database wait for the disk, as dockerd's stores "
    "do. Without it a commit survives the emulator being killed, not a power cut.",
)
@click.option(
    "--mock",
    "mocks",
    multiple=True,
    metavar="NAME=KIND",
    help="Start a built-in mock plugin NAME under ROOT/run/docker/plugins (repeatable); "
    "KIND is volume, network, ipam, authz (allows everything, records what it is asked) "
    "or log (a logging driver that records what it reads).",
)
@click.option(
    "--plugin",
    metavar="NAME",
    help="Start your plugin NAME: its command follows '--' ({socket}, {root} and {name} are "
    "replaced), e.g. --plugin myvol -- ./myvol --socket {socket}.",
)
@click.option(
    "--plugins-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Start the plugins of a YAML file with a 'plugins:' list, as in scenario files "
    "(builtin, command with env and startup_timeout, address).",
)
@click.option(
    "--authorization-plugin",
    "authorization_plugins",
    multiple=True,
    metavar="NAME",
    help="Authorization plugins to load (dockerd's flag; repeatable, in chain order). "
    "Each is looked up at start: a missing one stops serve with dockerd's error.",
)
@click.option(
    "--log-driver",
    default="json-file",
    show_default=True,
    help="dockerd's --log-driver: the default logging driver of containers (a plugin name "
    "works too).",
)
@click.option(
    "--log-opt",
    "log_opts",
    multiple=True,
    metavar="KEY=VALUE",
    callback=lambda _ctx, _param, value: _log_opts(value),
    help="dockerd's --log-opt: a default log option (repeatable).",
)
@click.option(
    "--profile", type=click.Choice(sorted(PROFILES)), default=DEFAULT_PROFILE, show_default=True
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="debug shows every API request and every plugin call.",
)
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--insecure-registry",
    "insecure_registries",
    multiple=True,
    metavar="HOST[:PORT]|CIDR",
    help="dockerd's --insecure-registry: plain HTTP (and unverified TLS) allowed; "
    "127.0.0.0/8 and ::1 always are (repeatable).",
)
@click.option(
    "--registry-mirror",
    "registry_mirrors",
    multiple=True,
    metavar="URL",
    help="dockerd's --registry-mirror: tried before Docker Hub for docker.io pulls, "
    "e.g. http://127.0.0.1:5000 (repeatable).",
)
@click.option(
    "--containers",
    type=click.Choice(["auto", "processes", "fake"]),
    default=None,
    help="Run containers' commands as real processes (auto: where the host allows it, "
    "else the command table; processes: or fail; fake: the command table only) "
    "[default: $EMULATOR_CONTAINERS, else auto].",
)
@click.option(
    "--network-namespace",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The network namespace (a path such as /run/netns/NAME) where network plugins "
    "make the interfaces moved into containers [default: serve's own].",
)
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(min=0),
    default=SHUTDOWN_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="How long the shutdown (stopping running containers) may take, as dockerd's.",
)
@click.argument("command", nargs=-1, metavar="[-- COMMAND...]")
def serve_command(**options: Any) -> None:
    """Serve the Docker Engine API (1.51) so the docker CLI and docker-py drive the emulator.

    Prints the 'export DOCKER_HOST=...' line to use.  SIGINT/SIGTERM stop it at any
    time, even during the restore at start: as dockerd, it stops serving, stops the
    running containers (plugins see their Leave, DeleteEndpoint, ReleaseAddress and
    Unmount calls) within --shutdown-timeout seconds, stops managed plugins and exits 0,
    removing its socket, the plugins it started (and its temporary root).  A fourth
    signal ends it at once (exit status 128 + the signal).
    """
    from emulator.cli.serve_daemon import serve_main  # the engine: imported only to run

    serve_main(ServeOptions(**options))
