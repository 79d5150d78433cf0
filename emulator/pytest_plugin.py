"""pytest plugin (entry point ``pytest11: emulator``): test Docker plugins against the emulator.

Fixtures:

* ``plugin_engine``: a synchronous :class:`~emulator.testing.PluginEngine`; one engine per
  session (ini ``emulator_engine_scope = module`` for one per module) in a background
  thread, reset after every test (state, journal, faults, plugins, plugin files); on
  virtual time (ini ``emulator_clock``, marker ``@pytest.mark.emulator_clock("real")``);
* ``plugin_engine_async``: an :class:`~emulator.testing.AsyncPluginEngine` for trio tests
  (pytest-trio, or anyio's plugin with the trio backend), fresh for each test;
* ``plugin_process``: a factory ``plugin_process(ProcessSpec(name, argv, ...))`` that
  starts a plugin command and waits for its socket; stopped with the test;
* ``mock_volume_plugin``: the built-in mock volume plugin served as ``mockvol``;
* ``virtual_clock``: a :class:`~emulator.clock.VirtualClock`'s ``MockClock``, which
  pytest-trio runs a trio test on when the test asks for it;
* ``mock_authz_plugin``: the built-in mock authorization plugin served as ``mockauthz``
  (allows everything until given rules; records what it was asked);
* ``mock_log_driver``: the built-in mock logging plugin served as ``mocklog``.

``plugin_engine.docker(*args)`` runs the real docker CLI against the engine and
``plugin_engine.docker_client()`` gives a docker-py client: every request goes through
the Engine API, authorization chain included (docs/authz.md).

Markers: ``@pytest.mark.scenario("file.yaml")`` runs a scenario file before the test
body and fails the test with the failing steps; ``@pytest.mark.authorization_plugins(
"name", ...)`` restarts the test's ``plugin_engine`` with that ``--authorization-plugin``
list once the fixtures have started the plugins; ``@pytest.mark.faults(...)`` installs
faults in the test's engine: the fault words of scenario files (docs/faults.md), one mapping
per fault (nested or flat) or keywords for one, checked at setup.  Ini ``emulator_tmpdir``
(or env ``EMULATOR_TMPDIR``) is where the short temp roots go (default ``/dev/shm``, else
``/tmp``); ``emulator_profile`` picks the dockerd version.
See docs/pytest-plugin.md and docs/virtual-time.md.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from emulator.clock import VirtualClock
from emulator.engine.process_spec import ProcessSpec
from emulator.faults import Fault
from emulator.faults.vocabulary import read_fault
from emulator.tempdirs import temp_base
from emulator.testing.sync import PluginEngine, SyncPluginProcess
from emulator.testing.thread import EngineThread
from emulator.testing.trio_engine import AsyncPluginEngine, open_plugin_engine
from emulator.vocabulary.nodes import FaultSpecError

__all__ = [
    "mock_authz_plugin",
    "mock_log_driver",
    "mock_volume_plugin",
    "plugin_engine",
    "plugin_engine_async",
    "plugin_process",
    "virtual_clock",
]

#: The clocks the fixtures can run on (ini ``emulator_clock``, marker ``emulator_clock``).
CLOCKS = ("virtual", "real")
#: Real seconds one stretch of real plugin I/O may hold virtual time (docs/virtual-time.md).
DEFAULT_REAL_IO_GRACE = "5"

_MARKERS = (
    "scenario(path): run a scenario file (relative to the test file) as part of the test",
    "authorization_plugins(*names): restart plugin_engine with these authorization plugins "
    "(dockerd's --authorization-plugin) before the test body",
    "faults(*faults, **one_fault): install faults (the fault words, docs/faults.md) in the "
    "test's engine",
    "emulator_clock(mode): run the test's engine on 'virtual' time or on the 'real' clock "
    "(default: ini emulator_clock, virtual)",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """The plugin's ini settings."""
    parser.addini(
        "emulator_engine_scope",
        "scope of the engine behind plugin_engine: session (default) or module",
        default="session",
    )
    parser.addini(
        "emulator_tmpdir",
        "where the emulator's short temp roots go (default /dev/shm, else /tmp)",
        default="",
    )
    parser.addini("emulator_profile", "dockerd version emulated (default 28)", default="28")
    parser.addini(
        "emulator_containers",
        "containers' commands: auto (default: real processes where the host allows it, "
        "else the command table), processes or fake (docs/containers.md)",
        default="",
    )
    parser.addini(
        "emulator_clock",
        "time of plugin_engine and virtual_clock: virtual (default; deadlines and injected "
        "delays cost no wall time) or real",
        default="virtual",
    )
    parser.addini(
        "emulator_real_io_grace",
        "real seconds one round trip to a real plugin may hold virtual time still "
        f"(default {DEFAULT_REAL_IO_GRACE}; see docs/virtual-time.md)",
        default=DEFAULT_REAL_IO_GRACE,
    )
    group = parser.getgroup("emulator", "docker-plugin-emulator")
    group.addoption(
        "--emulator-check",
        dest="emulator_check",
        metavar="PLUGIN",
        help="run plugin-emulator check against PLUGIN as test items, one per check "
        "(docs/check.md)",
    )
    group.addoption(
        "--emulator-check-option",
        dest="emulator_check_options",
        action="append",
        metavar="OPTION",
        help="an option of plugin-emulator check for --emulator-check (repeatable)",
    )


def pytest_collection_modifyitems(session: pytest.Session, items: list[pytest.Item]) -> None:
    """Add the ``--emulator-check`` items."""
    from emulator.check.pytest_items import add_items

    add_items(session, items)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers (so ``--strict-markers`` accepts them)."""
    for line in _MARKERS:
        config.addinivalue_line("markers", line)
    _ini_clock(config)
    _real_io_grace(config)


def _containers(config: pytest.Config) -> str | None:
    """Ini ``emulator_containers`` (None: ``EMULATOR_CONTAINERS``, else auto)."""
    value = str(config.getini("emulator_containers")).strip()
    return value or None


def _tmp_base(config: pytest.Config) -> str:
    """Where temp roots go: ``EMULATOR_TMPDIR``, ini ``emulator_tmpdir``, /dev/shm, /tmp.

    /dev/shm (tmpfs) is preferred: the engine commits its state with fsync, which costs
    milliseconds per volume on a busy disk and nothing on tmpfs.
    """
    return temp_base(os.environ.get("EMULATOR_TMPDIR") or str(config.getini("emulator_tmpdir")))


def _engine_scope(fixture_name: str, config: pytest.Config) -> Any:
    scope = str(config.getini("emulator_engine_scope"))
    if scope not in ("session", "module"):
        raise pytest.UsageError(f"emulator_engine_scope must be session or module, not {scope!r}")
    return scope


def clock_mode(node: pytest.Item, config: pytest.Config) -> str:
    """``virtual`` or ``real``: the ``emulator_clock`` marker, else ini ``emulator_clock``."""
    marker = node.get_closest_marker("emulator_clock")
    if marker is not None:
        if len(marker.args) != 1 or marker.kwargs or marker.args[0] not in CLOCKS:
            pytest.fail(
                "@pytest.mark.emulator_clock takes one argument, 'virtual' or 'real'; got "
                f"{marker.args!r}{' ' + repr(marker.kwargs) if marker.kwargs else ''}",
                pytrace=False,
            )
        return str(marker.args[0])
    return _ini_clock(config)


def _ini_clock(config: pytest.Config) -> str:
    mode = str(config.getini("emulator_clock")).strip()
    if mode not in CLOCKS:
        raise pytest.UsageError(f"ini emulator_clock must be virtual or real, not {mode!r}")
    return mode


def _real_io_grace(config: pytest.Config) -> float:
    text = str(config.getini("emulator_real_io_grace")).strip()
    try:
        grace = float(text)
    except ValueError:
        grace = -1.0
    if not grace >= 0:
        raise pytest.UsageError(
            f"ini emulator_real_io_grace must be a number of seconds >= 0 (or inf), not {text!r}"
        )
    return grace


def marked_faults(node: pytest.Item) -> list[Fault]:
    """The faults that ``@pytest.mark.faults`` markers on ``node`` ask for, checked.

    Each positional argument is one fault (a mapping of fault words, or a ``Fault``); the
    keywords of a marker are one more.  A mistake fails the test at setup with the scenario
    loader's message, without a traceback.
    """
    given: list[Any] = []
    for marker in reversed(list(node.iter_markers("faults"))):
        given.extend(marker.args)
        if marker.kwargs:
            given.append(dict(marker.kwargs))
    faults = []
    for index, fault in enumerate(given, 1):
        source = "@pytest.mark.faults" + (f", fault {index}" if len(given) > 1 else "")
        try:
            faults.append(read_fault(fault, source=source))
        except FaultSpecError as error:
            pytest.fail(str(error), pytrace=False)
    return faults


@pytest.fixture(scope=_engine_scope)
def _emulator_engine_thread(request: pytest.FixtureRequest) -> Iterator[EngineThread]:
    """The engine thread shared by the tests of a session (or module)."""
    root = Path(tempfile.mkdtemp(prefix="pe-", dir=_tmp_base(request.config)))
    thread = EngineThread(
        root,
        clock=VirtualClock(autojump_threshold=0, grace=_real_io_grace(request.config)),
        profile=str(request.config.getini("emulator_profile")),
        containers=_containers(request.config),
    )
    try:
        thread.start()
        yield thread
    finally:
        thread.close()
        shutil.rmtree(root, ignore_errors=True)


#: The fixture engines a test uses (their plugin processes' output goes to its report).
_ENGINES = pytest.StashKey[list[Any]]()
#: Per test: how many lines of each plugin's output are in its report already.
_OUTPUT_SHOWN = pytest.StashKey[dict[int, int]]()


def _register(node: pytest.Item, engine: PluginEngine | AsyncPluginEngine) -> None:
    node.stash.setdefault(_ENGINES, []).append(engine)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """Put what the test's plugin processes wrote in this phase into the test's report,
    as a section beside pytest's captured output (shown when the test fails, or with -rP)."""
    shown = item.stash.setdefault(_OUTPUT_SHOWN, {})
    for engine in item.stash.get(_ENGINES, []):
        if isinstance(engine, PluginEngine) and call.when != "teardown":
            engine.settle_output()  # (at teardown the processes have ended, drained)
        for process in engine.processes:
            output = process.output_log
            text = output.report(since=shown.get(id(output), 0))
            shown[id(output)] = output.count
            item.add_report_section(call.when, f"output of plugin {process.name}", text)


@pytest.fixture
def plugin_engine(
    request: pytest.FixtureRequest, _emulator_engine_thread: EngineThread
) -> Iterator[PluginEngine]:
    """An emulated dockerd for sync tests, reset after the test (see the module docstring)."""
    real = clock_mode(request.node, request.config) == "real"
    _emulator_engine_thread.use_real_time(real)
    engine = PluginEngine(_emulator_engine_thread)
    _register(request.node, engine)
    try:
        engine.add_faults(marked_faults(request.node))
        yield engine
    finally:
        engine.end_test()


@pytest.fixture
def plugin_process(plugin_engine: PluginEngine) -> Callable[[ProcessSpec], SyncPluginProcess]:
    """``plugin_process(ProcessSpec(name, argv, socket=, env=, startup_timeout=30, grace=5,
    private_run=True, propagated_mount=None))``: start a plugin command (``{socket}``,
    ``{root}``, ``{name}`` in ``argv`` are replaced) and wait for its socket; its process
    group is killed at teardown.  What it writes goes to the test's report on failure.
    """
    return plugin_engine.start_process


@pytest.fixture
def mock_log_driver(plugin_engine: PluginEngine) -> Any:
    """The built-in mock logging plugin, served as ``mocklog`` for the test."""
    return plugin_engine.mock_log_driver("mocklog")


@pytest.fixture
def mock_volume_plugin(plugin_engine: PluginEngine) -> Any:
    """The built-in mock volume plugin, served as ``mockvol`` on ``plugin_engine``."""
    return plugin_engine.mock_volume_plugin("mockvol")


@pytest.fixture
def mock_authz_plugin(plugin_engine: PluginEngine) -> Any:
    """The built-in mock authz plugin, served as ``mockauthz`` on ``plugin_engine``."""
    return plugin_engine.mock_authz_plugin("mockauthz")


@pytest.fixture
def virtual_clock(request: pytest.FixtureRequest) -> Any:
    """The clock for a trio test: ask for it and pytest-trio runs the test on it.

    A :class:`~emulator.clock.VirtualClock` (virtual time that waits for real plugin
    I/O), or the same clock running at the wall clock's rate under
    ``@pytest.mark.emulator_clock("real")`` or ini ``emulator_clock = real``.
    """
    clock = VirtualClock(autojump_threshold=0, grace=_real_io_grace(request.config))
    clock.real_time = clock_mode(request.node, request.config) == "real"
    return clock.clock


@pytest.fixture
async def plugin_engine_async(request: pytest.FixtureRequest) -> AsyncIterator[AsyncPluginEngine]:
    """A fresh emulated dockerd in the test's trio run (pytest-trio or anyio on trio)."""
    async with open_plugin_engine(
        _tmp_base(request.config),
        profile=str(request.config.getini("emulator_profile")),
        containers=_containers(request.config),
    ) as engine:
        _register(request.node, engine)
        engine.add_faults(marked_faults(request.node))
        yield engine


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> None:
    """Apply ``@pytest.mark.authorization_plugins``, run ``@pytest.mark.scenario`` files,
    before the test body."""
    for marker in pyfuncitem.iter_markers("authorization_plugins"):
        engine = pyfuncitem.funcargs.get("plugin_engine")
        if not isinstance(engine, PluginEngine):
            pytest.fail(
                "@pytest.mark.authorization_plugins needs the plugin_engine fixture", pytrace=False
            )
        engine.restart(authorization_plugins=[str(name) for name in marker.args])
    for marker in pyfuncitem.iter_markers("scenario"):
        for path in marker.args:
            _run_scenario(pyfuncitem, str(path), marker.kwargs)


def _run_scenario(item: pytest.Function, path: str, options: Mapping[str, Any]) -> None:
    from emulator.scenario.loader import ScenarioError, load_scenario
    from emulator.scenario.runner import run_scenario_sync

    file = Path(path)
    if not file.is_absolute():
        near = item.path.parent / file
        file = near if near.exists() else Path(item.config.rootpath) / file
    try:
        scenario = load_scenario(file)
    except ScenarioError as error:  # the loader's message says what and where
        pytest.fail(f"@pytest.mark.scenario: {error}", pytrace=False)
    result = run_scenario_sync(scenario, seed=options.get("seed"))
    if result.passed:
        return
    lines = [f"scenario {result.name} ({file}) failed, seed {result.seed}:"]
    if result.setup_error:
        lines.append(f"  {result.setup_error}")
    for step in result.steps:
        if not step.passed:
            lines.append(f"  step {step.index} (line {step.line}) {step.label}:")
            lines.extend(f"    {line}" for line in step.message.splitlines())
    lines.append("last calls:")
    lines.extend(f"  {line}" for line in result.journal_excerpt())
    for name, output in result.plugin_output:
        lines.append(f"output of plugin {name} (last {min(len(output), 50)} lines):")
        lines.extend(f"  {line}" for line in output[-50:])
    pytest.fail("\n".join(lines), pytrace=False)
