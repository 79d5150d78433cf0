"""``plugin-emulator serve``: the Engine API on a unix socket for the real ``docker`` CLI.

Besides the engine, serve can start plugins under its root, as a scenario's ``plugins:``
does: built-in mocks (``--mock NAME=volume|network|ipam|authz``), the author's own command
(``--plugin NAME -- CMD ARG…``, with ``{socket}``, ``{root}`` and ``{name}`` replaced) or
a file with a ``plugins:`` list (``--plugins-file``).  A command plugin's output is kept
(``GET /emulator/plugin-output``) and logged at debug level, never as an error.
"""

from __future__ import annotations

import logging
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import TypeVar

import attrs
import click
import trio

from emulator.api.listen import parse_tcp
from emulator.api.logging import setup_logging
from emulator.api.server import PLAIN_TCP_REFUSED, default_socket_path, serve
from emulator.api.tls import ServerTLS, default_cert_dir
from emulator.engine.authz import AuthorizationStartError
from emulator.engine.core import DEFAULT_SHUTDOWN_TIMEOUT, Engine, open_engine
from emulator.engine.logs import LogConfig, LoggingError
from emulator.engine.processes import PluginStartError
from emulator.errors import ConfigurationError
from emulator.protocol.profiles import DEFAULT_PROFILE, PROFILES
from emulator.protocol.registry_hosts import RegistryConfig, RegistryConfigError
from emulator.protocol.shutdown import FORCE_QUIT_COUNT
from emulator.scenario.loader import ScenarioError, load_plugins_file
from emulator.scenario.model import PluginSpec
from emulator.scenario.plugins import PluginSet
from emulator.vocabulary.reader import PLUGIN_NAME_PATTERN

#: The built-in mock plugins ``--mock NAME=KIND`` starts (emulator/mocks; authz allows
#: everything and records what it is asked).
MOCK_KINDS = ("volume", "network", "ipam", "authz", "log")

E = TypeVar("E", bound=BaseException)

#: How Go's ``os.Signal`` prints them (``Processing signal 'terminated'``).
SIGNAL_NAMES = {signal.SIGINT: "interrupt", signal.SIGTERM: "terminated"}

#: Plugin call attempts ``serve`` keeps for the control API (the latest ones), and
#: requests its ``--mock`` plugins keep.
JOURNAL_LIMIT = 1_000

log = logging.getLogger("emulator.serve")


def _mock(value: str) -> PluginSpec:
    name, sep, kind = value.partition("=")
    if not sep or not name or kind not in MOCK_KINDS:
        raise click.BadParameter(
            f"{value!r}: use NAME=KIND with KIND one of {', '.join(MOCK_KINDS)}",
            param_hint="'--mock'",
        )
    return PluginSpec(name=name, builtin=kind)  # type: ignore[arg-type]


def _plugin_specs(
    mocks: tuple[str, ...], plugin: str | None, command: tuple[str, ...], file: Path | None
) -> list[PluginSpec]:
    """The plugins to start, checked: unique names, a command for --plugin and only then."""
    specs = [_mock(m) for m in mocks]
    if plugin is not None:
        if not command:
            raise click.UsageError(
                f"--plugin {plugin} needs its command after '--': "
                f"plugin-emulator serve --plugin {plugin} -- ./myplugin --socket {{socket}}"
            )
        specs.append(PluginSpec(name=plugin, command=command))
    elif command:
        raise click.UsageError(
            f"unexpected arguments {' '.join(command)!r}: a command is given after "
            "'--plugin NAME --'"
        )
    if file is not None:
        try:
            specs.extend(load_plugins_file(file))
        except ScenarioError as exc:
            raise click.UsageError(str(exc)) from None
    seen: set[str] = set()
    for spec in specs:
        if not re.fullmatch(PLUGIN_NAME_PATTERN, spec.name):
            raise click.UsageError(
                f"plugin name {spec.name!r} must be letters, digits, '_', '.' and '-', "
                "starting with a letter or digit (it becomes a socket file name)"
            )
        if spec.name in seen:
            raise click.UsageError(f"two plugins are named {spec.name!r}")
        seen.add(spec.name)
    return specs


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
    default=DEFAULT_SHUTDOWN_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="How long the shutdown (stopping running containers) may take, as dockerd's.",
)
@click.argument("command", nargs=-1, metavar="[-- COMMAND...]")
def serve_command(
    engine_socket: Path | None,
    tcp: str | None,
    tlsverify: bool,
    tls_only: bool,
    tlscacert: Path | None,
    tlscert: Path | None,
    tlskey: Path | None,
    tcp_insecure: bool,
    root: Path | None,
    data_root: Path | None,
    reset_state: bool,
    durable: bool,
    mocks: tuple[str, ...],
    plugin: str | None,
    plugins_file: Path | None,
    authorization_plugins: tuple[str, ...],
    log_driver: str,
    log_opts: dict[str, str],
    profile: str,
    log_level: str,
    log_format: str,
    insecure_registries: tuple[str, ...],
    registry_mirrors: tuple[str, ...],
    containers: str | None,
    network_namespace: Path | None,
    shutdown_timeout: float,
    command: tuple[str, ...],
) -> None:
    """Serve the Docker Engine API (1.51) so the docker CLI and docker-py drive the emulator.

    Prints the 'export DOCKER_HOST=...' line to use.  SIGINT/SIGTERM stop it at any
    time, even during the restore at start: as dockerd, it stops serving, stops the
    running containers (plugins see their Leave, DeleteEndpoint, ReleaseAddress and
    Unmount calls) within --shutdown-timeout seconds, stops managed plugins and exits 0,
    removing its socket, the plugins it started (and its temporary root).  A fourth
    signal ends it at once (exit status 128 + the signal).
    """
    setup_logging(log_level, log_format)
    parsed = _plugin_specs(mocks, plugin, command, plugins_file)
    try:
        registries = RegistryConfig.load(insecure_registries, registry_mirrors)
    except RegistryConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    temporary: Path | None = None
    if root is None:
        if parsed:
            temporary = Path(tempfile.mkdtemp(prefix="pe-serve-", dir="/tmp"))
            root = temporary
        else:
            root = Path("/")
    socket_path = engine_socket or default_socket_path()
    tls = _server_tls(tlsverify or tls_only, tlscacert, tlscert, tlskey)
    if tcp is not None and tls is None and not tcp_insecure:
        click.echo(f"error: {PLAIN_TCP_REFUSED.format(host='tcp://' + tcp)}", err=True)
        sys.exit(2)
    setup = _ServeSetup(
        socket_path=socket_path,
        tcp=tcp,
        tls=tls,
        insecure=tcp_insecure,
        reset_state=reset_state,
        durable=durable,
        root=root,
        data_root=data_root,
        plugins=tuple(parsed),
        profile=profile,
        registries=registries,
        authorization_plugins=authorization_plugins,
        containers=containers,
        network_namespace=str(network_namespace) if network_namespace else None,
        log_config=LogConfig(log_driver, log_opts),
    )
    try:
        _serve_until_stopped(setup, _Daemon(shutdown_timeout))
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


def _serve_until_stopped(setup: _ServeSetup, daemon: _Daemon) -> None:
    """Run :func:`_serve`; a set-up error exits 1 or 2 with its text, as dockerd's."""
    try:
        trio.run(_serve, setup, daemon)
    except (
        ConfigurationError,
        AuthorizationStartError,
        PluginStartError,
        BaseExceptionGroup,
    ) as exc:
        refused = _find(exc, AuthorizationStartError)
        if refused is not None:
            click.echo(str(refused), err=True)  # dockerd prints it and exits 1
            sys.exit(1)
        problem = _configuration_error(exc)
        if problem is None:
            raise
        click.echo(f"error: {problem}", err=True)
        sys.exit(1 if isinstance(problem, PluginStartError) else 2)
    if daemon.forced is not None:
        sys.exit(128 + daemon.forced)


def _configuration_error(exc: BaseException) -> ConfigurationError | PluginStartError | None:
    """The set-up error inside ``exc`` (nurseries wrap it in exception groups)."""
    return _find(exc, ConfigurationError) or _find(exc, PluginStartError)


def _find(exc: BaseException, kind: type[E]) -> E | None:
    """The first ``kind`` error in ``exc`` or the exception groups around it."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _find(inner, kind)
            if found is not None:
                return found
    return None


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


def _server_tls(
    enabled: bool, ca: Path | None, cert: Path | None, key: Path | None
) -> ServerTLS | None:
    """dockerd's TLS options: files default to ``$DOCKER_CERT_PATH`` (or ``~/.docker``)."""
    if not enabled:
        return None
    base = default_cert_dir()
    return ServerTLS(
        cert_file=cert or base / "cert.pem",
        key_file=key or base / "key.pem",
        ca_file=ca or base / "ca.pem",
        verify=True,
    )


@attrs.frozen(kw_only=True)
class _ServeSetup:
    """What the command line asked for, checked: where to serve, the engine, the plugins."""

    socket_path: Path
    tcp: str | None
    tls: ServerTLS | None
    insecure: bool
    reset_state: bool
    durable: bool
    root: Path
    data_root: Path | None
    plugins: tuple[PluginSpec, ...]
    profile: str
    registries: RegistryConfig
    authorization_plugins: tuple[str, ...]
    containers: str | None = None
    network_namespace: str | None = None
    log_config: LogConfig = attrs.Factory(LogConfig)


@attrs.define
class _Daemon:
    """What the signal handler acts on: the serving scope, then the engine's shutdown."""

    shutdown_timeout: float
    serving: trio.CancelScope = attrs.Factory(trio.CancelScope)
    """Starting (the restore) and serving: cancelled by the first signal."""
    engine: Engine | None = None
    forced: int | None = None
    """The signal that forced the exit, if one did."""


async def _serve(setup: _ServeSetup, daemon: _Daemon) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_handle_signals, signals, daemon)
            await _run(setup, daemon)
            nursery.cancel_scope.cancel()


async def _handle_signals(signals: AsyncIterator[int], daemon: _Daemon) -> None:
    """dockerd's trap: the first signal shuts down cleanly, the fourth ends it at once."""
    received = 0
    async for signum in signals:
        log.info("Processing signal '%s'", SIGNAL_NAMES.get(signal.Signals(signum), signum))
        received += 1
        if received == 1:
            daemon.serving.cancel()
        elif received > FORCE_QUIT_COUNT:
            log.info(
                "Forcing docker daemon shutdown without cleanup; %d interrupts received",
                FORCE_QUIT_COUNT,
            )
            daemon.forced = signum
            if daemon.engine is not None:
                daemon.engine.force_shutdown()


async def _run(setup: _ServeSetup, daemon: _Daemon) -> None:
    """The plugins, then the engine and its servers until the first signal.

    Leaving ``open_engine`` runs the engine's shutdown (bounded by its timeout) while
    the plugins still serve.
    """
    async with trio.open_nursery() as nursery:
        plugins = PluginSet(setup.plugins, setup.root, nursery, record_limit=JOURNAL_LIMIT)
        await plugins.start()
        outputs = plugins.outputs()
        with daemon.serving:
            async with open_engine(
                root=setup.root,
                data_root=setup.data_root,
                profile=setup.profile,
                registries=setup.registries,
                reset_state=setup.reset_state,
                durable=setup.durable,
                authorization_plugins=setup.authorization_plugins,
                shutdown_timeout=daemon.shutdown_timeout,
                journal_limit=JOURNAL_LIMIT,
                containers=setup.containers,
                network_namespace=setup.network_namespace,
            ) as engine:
                daemon.engine = engine
                try:
                    await engine.logs.set_default(setup.log_config)
                except LoggingError as exc:
                    raise ConfigurationError(str(exc)) from None
                async with trio.open_nursery() as servers:
                    await engine.metrics.ensure_listening(servers)
                    host = await servers.start(
                        partial(serve, plugin_outputs=outputs), engine, f"unix:{setup.socket_path}"
                    )
                    click.echo(f"export DOCKER_HOST={host}")
                    if setup.tcp is not None:
                        tcp_host = await servers.start(
                            partial(
                                serve,
                                tls=setup.tls,
                                insecure=setup.insecure,
                                plugin_outputs=outputs,
                            ),
                            engine,
                            f"tcp:{setup.tcp}",
                        )
                        click.echo(f"# also listening on {tcp_host}")
                    sys.stdout.flush()
                    await trio.sleep_forever()
        nursery.cancel_scope.cancel()
