"""What ``plugin-emulator serve`` runs once its command line is parsed (:mod:`emulator.cli.serve`).

The plugins it starts, the engine, the Engine API servers, and dockerd's signal handling.
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

from emulator.api.listen import default_socket_path
from emulator.api.logging import setup_logging
from emulator.api.server import PLAIN_TCP_REFUSED, serve
from emulator.api.tls import ServerTLS, default_cert_dir
from emulator.cli.serve import ServeOptions
from emulator.engine.authz import AuthorizationStartError
from emulator.engine.core import Engine, open_engine
from emulator.engine.logs import LogConfig, LoggingError
from emulator.engine.processes import PluginStartError
from emulator.errors import ConfigurationError
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


def serve_main(options: ServeOptions) -> None:
    """``plugin-emulator serve`` once its command line is parsed (see :mod:`emulator.cli.serve`)."""
    setup_logging(options.log_level, options.log_format)
    parsed = _plugin_specs(options.mocks, options.plugin, options.command, options.plugins_file)
    try:
        registries = RegistryConfig.load(options.insecure_registries, options.registry_mirrors)
    except RegistryConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    temporary: Path | None = None
    root = options.root
    if root is None:
        if parsed:
            temporary = Path(tempfile.mkdtemp(prefix="pe-serve-", dir="/tmp"))
            root = temporary
        else:
            root = Path("/")
    tls = _server_tls(
        options.tlsverify or options.tls_only, options.tlscacert, options.tlscert, options.tlskey
    )
    if options.tcp is not None and tls is None and not options.tcp_insecure:
        click.echo(f"error: {PLAIN_TCP_REFUSED.format(host='tcp://' + options.tcp)}", err=True)
        sys.exit(2)
    setup = _ServeSetup(
        socket_path=options.engine_socket or default_socket_path(),
        tcp=options.tcp,
        tls=tls,
        insecure=options.tcp_insecure,
        reset_state=options.reset_state,
        durable=options.durable,
        root=root,
        data_root=options.data_root,
        plugins=tuple(parsed),
        profile=options.profile,
        registries=registries,
        authorization_plugins=options.authorization_plugins,
        containers=options.containers,
        network_namespace=str(options.network_namespace) if options.network_namespace else None,
        log_config=LogConfig(options.log_driver, options.log_opts),
    )
    try:
        _serve_until_stopped(setup, _Daemon(options.shutdown_timeout))
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
