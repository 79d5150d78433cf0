"""Running a scenario: plugins up, faults armed, steps in order, expectations checked.

The runner drives the same engine API as every other front (``engine.volumes``,
``engine.containers``, ``engine.faults``, ``engine.restart``); it only adds plugin
lifecycle control and the checks.  Step arguments are read by the field names of
``docs/scenario-format.md``.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio
import trio.lowlevel

from emulator.api.clients import ApiEndpoint
from emulator.clock import VirtualClock
from emulator.engine.authz import AuthorizationStartError
from emulator.engine.container_model import ContainerSpec, RunConfig
from emulator.engine.core import Engine, open_engine
from emulator.engine.network_model import NetworkSpec
from emulator.engine.networks import IpamConfig
from emulator.errors import EmulatorError
from emulator.faults import FiredFault
from emulator.journal import JournalEntry
from emulator.matching import CallSpec, call_matches, value_matches
from emulator.scenario.api_steps import (
    StepFailure,
    api_step,
    check_status_and_output,
    docker_step,
)
from emulator.scenario.model import CallPattern, Scenario, Step
from emulator.scenario.plugins import BuiltinPlugin, NoSuchPlugin, PluginSet, ProcessPlugin
from emulator.tempdirs import temp_base

if TYPE_CHECKING:
    from emulator.mocks.log import MockLogDriver

Progress = Callable[["StepResult"], None]


@attrs.frozen
class StepResult:
    """The outcome of one step."""

    index: str
    """``3`` or ``3.1`` for a step inside a ``parallel`` group."""
    label: str
    line: int
    passed: bool
    message: str = ""
    error: str | None = None
    """The engine's error text, when the step's action failed."""
    engine_seconds: float = 0.0
    wall_seconds: float = 0.0


@attrs.frozen
class ScenarioResult:
    """The outcome of a scenario run."""

    name: str
    path: str | None
    seed: int
    passed: bool
    steps: tuple[StepResult, ...]
    faults_fired: tuple[FiredFault, ...]
    engine_seconds: float
    wall_seconds: float
    journal: tuple[JournalEntry, ...]
    setup_error: str | None = None
    plugin_output: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """What each ``command:`` plugin wrote (stdout and stderr interleaved), by name."""
    notes: tuple[str, ...] = ()
    """What the run could not do as asked and did otherwise (containers that followed
    the command table, and why)."""

    def journal_excerpt(self, limit: int = 15) -> list[str]:
        """The last calls, one line each, for failure reports."""
        return [_entry_line(e) for e in self.journal[-limit:]]


class StepFailed(Exception):
    """An expectation did not hold; the message says what was expected and what was seen."""


def _entry_line(e: JournalEntry) -> str:
    outcome = f"HTTP {e.status}" if e.status is not None else "no answer"
    if e.error:
        outcome += f" error={e.error!r}"
    fault = f" [fault: {e.fault}]" if e.fault else ""
    body = e.request_text
    return f"t={e.started:9.3f}s {e.plugin} {e.method} #{e.attempt} {body} -> {outcome}{fault}"


# -- the run ----------------------------------------------------------------------------


class Run:
    """One scenario run: its engine, plugins and results."""

    def __init__(
        self,
        scenario: Scenario,
        engine: Engine,
        plugins: PluginSet,
        progress: Progress | None,
    ) -> None:
        self.scenario = scenario
        self.engine = engine
        self.plugins = plugins
        self.root = plugins.root
        self.nursery = plugins.nursery
        self.progress = progress
        self.results: list[StepResult] = []
        self.last_step_seq = 0
        self.endpoint = ApiEndpoint(self.root / "docker.sock")
        """The engine's API, served from the first docker or api step."""

    def plugin(self, name: str) -> BuiltinPlugin | ProcessPlugin:
        try:
            return self.plugins.get(name)
        except NoSuchPlugin as exc:
            raise StepFailed(str(exc)) from None

    async def execute(self) -> None:
        """Faults armed, every step in order, then containers stopped and the API closed."""
        self.engine.faults.start_clock()
        for fault in self.scenario.faults:
            self.engine.faults.add(fault)
        try:
            await self.run_steps(self.scenario.steps)
        finally:
            with trio.CancelScope(shield=True):
                await self.endpoint.aclose()
        await self.engine.containers.shutdown()

    # steps

    async def run_steps(self, steps: Sequence[Step], prefix: str = "") -> None:
        for number, step in enumerate(steps, start=1):
            await self.run_step(step, f"{prefix}{number}")

    async def run_step(self, step: Step, index: str) -> None:
        label = step.name or _describe(step)
        t0, w0 = trio.current_time(), time.perf_counter()
        start_seq = len(self.engine.journal)
        passed, message, error = True, "", None
        try:
            if step.action == "parallel":
                async with trio.open_nursery() as group:
                    for number, inner in enumerate(step.args.steps, start=1):
                        group.start_soon(self.run_step, inner, f"{index}.{number}")
            else:
                result, error = await self._act(step)
                self._check(step, result, error, trio.current_time() - t0)
        except StepFailed as exc:
            passed, message = False, str(exc)
        outcome = StepResult(
            index=index,
            label=label,
            line=step.line,
            passed=passed,
            message=message,
            error=error,
            engine_seconds=trio.current_time() - t0,
            wall_seconds=time.perf_counter() - w0,
        )
        self.results.append(outcome)
        if self.progress is not None:
            self.progress(outcome)
        if not step.action.startswith("expect."):
            self.last_step_seq = start_seq  # `since: last_step` = calls of the last action step

    async def _act(self, step: Step) -> tuple[Any, str | None]:
        handler = ACTIONS.get(step.action)
        if handler is None:
            raise StepFailed(f"the runner does not know the action {step.action!r}")
        try:
            return await handler(self, step.args), None
        except StepFailure as exc:
            return exc.result, str(exc)
        except EmulatorError as exc:
            return None, str(exc)

    def _check(self, step: Step, result: Any, error: str | None, took: float) -> None:
        expect = step.expect
        wanted_error = expect.error if expect is not None else None
        if expect is not None and (expect.status is not None or expect.output is not None):
            if not isinstance(result, dict):  # the action failed before giving a status
                raise StepFailed(f"failed: {error}" if error else "no status or output to check")
            problem = check_status_and_output(expect, result)
            if problem is not None:
                raise StepFailed(problem)
            if expect.status is not None:
                error = None  # the expected status decides, not "must succeed"
        if error is not None and wanted_error is None:
            raise StepFailed(f"failed: {error}")
        if wanted_error is not None:
            if error is None:
                raise StepFailed(f"expected an error matching /{wanted_error}/, but it succeeded")
            if not re.search(wanted_error, error):
                raise StepFailed(f"error {error!r} does not match /{wanted_error}/")
        if expect is None:
            return
        if expect.result is not None:
            data = _as_data(result)
            if not value_matches(expect.result, data):
                raise StepFailed(f"result {data!r} does not contain {dict(expect.result)!r}")
        if expect.duration_max is not None and took > expect.duration_max + 1e-9:
            raise StepFailed(f"took {took:.3f}s of engine time, more than {expect.duration_max:g}s")
        if expect.duration_min is not None and took < expect.duration_min - 1e-9:
            raise StepFailed(f"took {took:.3f}s of engine time, less than {expect.duration_min:g}s")

    # journal expectations

    def entries(self, since: str, plugin: str | None) -> list[JournalEntry]:
        entries = list(self.engine.journal)
        if since == "last_step":
            entries = entries[self.last_step_seq :]
        if plugin is not None:
            entries = [e for e in entries if e.plugin == plugin]
        return entries


def _describe(step: Step) -> str:
    args = step.args
    for attribute in ("name", "seconds"):
        value = getattr(args, attribute, None)
        if value is not None:
            return (
                f"{step.action} {value:g}s" if attribute == "seconds" else f"{step.action} {value}"
            )
    return step.action


def _as_data(result: Any) -> Any:
    if result is None:
        return None
    to_api = getattr(result, "to_api", None)
    if callable(to_api):
        return to_api()
    to_json = getattr(result, "to_json", None)
    if callable(to_json):
        return to_json()
    if attrs.has(type(result)):
        return attrs.asdict(result)
    if isinstance(result, tuple) and len(result) == 2:
        volumes, warnings = result
        return {"Volumes": [_as_data(v) for v in volumes], "Warnings": list(warnings)}
    return result


def _call_pattern_matches(pattern: CallPattern, entry: JournalEntry) -> bool:
    """The rules of every matcher (emulator.matching): method pattern, then each field."""
    return CallSpec(pattern.method, pattern.fields or {}).matches(entry)


def _pattern_text(pattern: CallPattern) -> str:
    return pattern.method + (f" {dict(pattern.fields)}" if pattern.fields else "")


# -- actions ------------------------------------------------------------------------------


async def _volume_create(run: Run, a: Any) -> Any:
    return await run.engine.volumes.create(a.name, driver=a.driver, opts=a.opts, labels=a.labels)


async def _volume_inspect(run: Run, a: Any) -> Any:
    return await run.engine.volumes.inspect(a.name)


async def _volume_ls(run: Run, a: Any) -> Any:
    return await run.engine.volumes.list(getattr(a, "filters", None))


async def _volume_rm(run: Run, a: Any) -> Any:
    await run.engine.volumes.remove(a.name, force=getattr(a, "force", False))


async def _volume_prune(run: Run, a: Any) -> Any:
    return await run.engine.volumes.prune(all=getattr(a, "all", False))


def _container_spec(a: Any, *, detach: bool) -> ContainerSpec:
    return ContainerSpec(
        a.image,
        a.command,
        name=a.name,
        volumes=a.volumes,
        volume_driver=a.volume_driver,
        auto_remove=a.rm,
        detach=detach,
        exit_code=a.exit_code,
        runs_for=a.runs_for,
        networks=a.networks,
        config=RunConfig(env=a.env, working_dir=a.workdir, user=a.user),
        log_config=(
            {"Type": a.log_driver, "Config": dict(a.log_opts)}
            if a.log_driver or a.log_opts
            else None
        ),
    )


async def _container_run(run: Run, a: Any) -> Any:
    return await run.engine.containers.run(_container_spec(a, detach=a.detach))


async def _container_create(run: Run, a: Any) -> Any:
    return await run.engine.containers.create(_container_spec(a, detach=getattr(a, "detach", True)))


async def _container_exec(run: Run, a: Any) -> Any:
    stdin = a.stdin.encode() if a.stdin is not None else None
    result = await run.engine.containers.exec(
        a.name, a.command, env=a.env, user=a.user, working_dir=a.workdir, stdin=stdin
    )
    return {
        "status": result.exit_code,
        "output": result.output,
        "stdout": result.stdout.decode(errors="replace"),
        "stderr": result.stderr.decode(errors="replace"),
    }


async def _container_logs(run: Run, a: Any) -> Any:
    tail = -1 if a.tail is None else a.tail
    output = await run.engine.containers.logs(a.name, stdout=a.stdout, stderr=a.stderr, tail=tail)
    return {"output": output}


async def _network_create(run: Run, a: Any) -> Any:
    config = (
        [IpamConfig(subnet=a.subnet, gateway=a.gateway, ip_range=a.ip_range)]
        if a.subnet or a.gateway or a.ip_range
        else []
    )
    return await run.engine.networks.create(
        NetworkSpec(
            a.name,
            driver=a.driver,
            ipam_driver=a.ipam_driver,
            ipam_config=config,
            options=a.options,
            labels=a.labels,
            internal=a.internal,
        )
    )


async def _network_rm(run: Run, a: Any) -> Any:
    await run.engine.networks.remove(a.name)


async def _network_connect(run: Run, a: Any) -> Any:
    return await run.engine.networks.connect(a.network, a.container)


async def _network_disconnect(run: Run, a: Any) -> Any:
    await run.engine.networks.disconnect(a.network, a.container)


async def _container_start(run: Run, a: Any) -> Any:
    return await run.engine.containers.start(a.name)


async def _container_stop(run: Run, a: Any) -> Any:
    return await run.engine.containers.stop(a.name)


async def _container_kill(run: Run, a: Any) -> Any:
    return await run.engine.containers.kill(a.name)


async def _container_rm(run: Run, a: Any) -> Any:
    await run.engine.containers.remove(
        a.name, force=getattr(a, "force", False), volumes=getattr(a, "volumes", False)
    )


async def _container_cp(run: Run, a: Any) -> Any:
    host = Path(a.host_path)
    if not host.is_absolute():
        host = run.root / host
    await run.engine.containers.copy(a.name, a.path, host, into=getattr(a, "into", False))


async def _plugin_kill(run: Run, a: Any) -> Any:
    await run.plugin(a.name).kill()


async def _plugin_stop(run: Run, a: Any) -> Any:
    await run.plugin(a.name).stop()


async def _plugin_continue(run: Run, a: Any) -> Any:
    await run.plugin(a.name).cont()


async def _plugin_restart(run: Run, a: Any) -> Any:
    await run.plugin(a.name).restart()


async def _plugin_remove_socket(run: Run, a: Any) -> Any:
    run.plugin(a.name).remove_socket()


async def _plugin_start(run: Run, a: Any) -> Any:
    await run.plugin(a.name).start(run.nursery)


async def _plugin_stall(run: Run, a: Any) -> Any:
    await trio.lowlevel.checkpoint()
    _log_mock(run, a.name).stall()


async def _plugin_resume(run: Run, a: Any) -> Any:
    await trio.lowlevel.checkpoint()
    _log_mock(run, a.name).resume()


def _log_mock(run: Run, name: str) -> MockLogDriver:
    # Imported here, as scenario.plugins imports each mock: only log scenarios need it.
    from emulator.mocks.log import MockLogDriver

    plugin = run.plugin(name)
    if not isinstance(plugin, BuiltinPlugin) or not isinstance(plugin.mock, MockLogDriver):
        raise StepFailed(f"plugin {name!r} is not a builtin log plugin")
    return plugin.mock


async def _expect_logs(run: Run, a: Any) -> Any:
    await trio.lowlevel.checkpoint()
    container = run.engine.containers.get(a.container)
    lines = [
        r.text
        for r in run.engine.logs.entries(container.id)
        if not a.source or r.source == a.source
    ]
    if lines != list(a.lines):
        raise StepFailed(f"log lines of {a.container}: expected {list(a.lines)!r}, got {lines!r}")


async def _engine_restart(run: Run, a: Any) -> Any:
    await run.engine.restart(crash=getattr(a, "crash", False))


async def _engine_crash(run: Run, a: Any) -> Any:
    await run.engine.restart(crash=True)


async def _docker(run: Run, a: Any) -> Any:
    return await docker_step(run.endpoint, run.engine, run.root, a)


async def _api(run: Run, a: Any) -> Any:
    return await api_step(run.endpoint, run.engine, a)


async def _faults_add(run: Run, a: Any) -> Any:
    for fault in a.faults:
        run.engine.faults.add(fault)


async def _faults_clear(run: Run, a: Any) -> Any:
    run.engine.faults.clear()


async def _sleep(run: Run, a: Any) -> Any:
    await trio.sleep(a.seconds)


async def _expect_calls(run: Run, a: Any) -> Any:
    entries = run.entries(getattr(a, "since", "start"), getattr(a, "plugin", None))
    position = 0
    matched: list[str] = []
    for pattern in a.calls:
        while position < len(entries) and not _call_pattern_matches(pattern, entries[position]):
            position += 1
        if position == len(entries):
            seen = "\n".join("    " + _entry_line(e) for e in entries[-12:]) or "    (no calls)"
            near = [e for e in entries if call_matches(pattern.method, e.method)]
            hint = ""
            if near:
                hint = "\n  nearest calls of that method:\n" + "\n".join(
                    "    " + _entry_line(e) for e in near[-3:]
                )
            raise StepFailed(
                f"expected call {_pattern_text(pattern)} "
                + (f"after {' → '.join(matched)} " if matched else "")
                + f"was not seen.\n  calls seen:\n{seen}{hint}"
            )
        matched.append(pattern.method)
        position += 1


async def _expect_no_calls(run: Run, a: Any) -> Any:
    entries = run.entries(getattr(a, "since", "start"), getattr(a, "plugin", None))
    for pattern in a.calls:
        hits = [e for e in entries if _call_pattern_matches(pattern, e)]
        if hits:
            raise StepFailed(
                f"expected no call {_pattern_text(pattern)}, but saw {len(hits)}:\n"
                + "\n".join("    " + _entry_line(e) for e in hits[:5])
            )


ACTIONS: Mapping[str, Callable[[Run, Any], Awaitable[Any]]] = {
    "volume.create": _volume_create,
    "volume.inspect": _volume_inspect,
    "volume.ls": _volume_ls,
    "volume.rm": _volume_rm,
    "volume.prune": _volume_prune,
    "container.run": _container_run,
    "container.create": _container_create,
    "network.create": _network_create,
    "network.rm": _network_rm,
    "network.connect": _network_connect,
    "network.disconnect": _network_disconnect,
    "container.start": _container_start,
    "container.stop": _container_stop,
    "container.kill": _container_kill,
    "container.rm": _container_rm,
    "container.cp": _container_cp,
    "container.exec": _container_exec,
    "container.logs": _container_logs,
    "plugin.kill": _plugin_kill,
    "plugin.stop": _plugin_stop,
    "plugin.continue": _plugin_continue,
    "plugin.restart": _plugin_restart,
    "plugin.remove_socket": _plugin_remove_socket,
    "plugin.start": _plugin_start,
    "plugin.stall": _plugin_stall,
    "plugin.resume": _plugin_resume,
    "engine.restart": _engine_restart,
    "engine.crash": _engine_crash,
    "docker": _docker,
    "api": _api,
    "faults.add": _faults_add,
    "faults.clear": _faults_clear,
    "sleep": _sleep,
    "expect.calls": _expect_calls,
    "expect.no_calls": _expect_no_calls,
    "expect.logs": _expect_logs,
}


async def run_scenario(
    scenario: Scenario,
    *,
    seed: int | None = None,
    root: Path | None = None,
    progress: Progress | None = None,
) -> ScenarioResult:
    """Run ``scenario`` in the current trio run; the root is a fresh temp dir unless given."""
    seed = seed if seed is not None else scenario.engine.seed
    if seed is None:
        seed = secrets.randbelow(2**31)
    own_root = root is None
    work = root or Path(tempfile.mkdtemp(prefix="pe-sc-", dir=temp_base()))
    t0, w0 = trio.current_time(), time.perf_counter()
    run: Run | None = None
    setup_error: str | None = None
    journal: tuple[JournalEntry, ...] = ()
    fired: tuple[FiredFault, ...] = ()
    output: tuple[tuple[str, tuple[str, ...]], ...] = ()
    notes: tuple[str, ...] = ()
    try:
        async with trio.open_nursery() as nursery:
            plugins = PluginSet(scenario.plugins, work, nursery)
            try:
                await plugins.start()
            except (EmulatorError, OSError) as exc:
                setup_error = f"plugins could not start: {exc}"
            try:
                if setup_error is None:
                    async with open_engine(
                        root=work,
                        profile=scenario.engine.profile,
                        hang_guard=scenario.engine.hang_guard,
                        seed=seed,
                        authorization_plugins=scenario.engine.authorization_plugins,
                        containers=scenario.engine.containers,
                    ) as engine:
                        run = Run(scenario, engine, plugins, progress)
                        await run.execute()
                        journal = engine.journal.entries
                        fired = tuple(engine.faults.fired)
                        notes = engine.runtime.fallbacks
            except AuthorizationStartError as exc:
                setup_error = f"the engine could not start: {exc}"
            nursery.cancel_scope.cancel()
        # after the nursery: the plugins' last lines are drained
        output = tuple((name, tuple(o.texts())) for name, o in plugins.outputs().items())
    finally:
        if own_root:
            shutil.rmtree(work, ignore_errors=True)
    steps = tuple(run.results) if run is not None else ()
    return ScenarioResult(
        name=scenario.name,
        path=str(scenario.path) if scenario.path else None,
        seed=seed,
        passed=setup_error is None and all(s.passed for s in steps),
        steps=steps,
        faults_fired=fired,
        engine_seconds=trio.current_time() - t0,
        wall_seconds=time.perf_counter() - w0,
        journal=journal,
        setup_error=setup_error,
        plugin_output=output,
        notes=notes,
    )


def run_scenario_sync(
    scenario: Scenario,
    *,
    seed: int | None = None,
    root: Path | None = None,
    progress: Progress | None = None,
) -> ScenarioResult:
    """Run ``scenario`` in its own trio run, on the virtual clock unless it asks for real time."""
    clock: trio.abc.Clock | None = None
    if scenario.engine.clock == "virtual":
        clock = _virtual_clock()
    return trio.run(
        lambda: run_scenario(scenario, seed=seed, root=root, progress=progress), clock=clock
    )


def _virtual_clock() -> trio.abc.Clock:
    """trio's MockClock with autojump, guarded against real plugin I/O (docs/virtual-time.md)."""
    return VirtualClock(autojump_threshold=0).clock
