"""Run the catalogue against one plugin, through one emulated daemon, on virtual time.

:func:`run_checks` (trio) places or starts the plugin (:mod:`emulator.check.target`), opens
an engine whose root finds it, learns what the plugin implements (``Plugin.Activate``, or a
managed plugin's ``config.json``), then runs the selected checks one after the other.  Each
check gets a fresh :class:`~emulator.check.context.CheckContext`; what it made is removed
after it and the faults it added are cleared.  :func:`run_checks_sync` runs it all under a
:class:`~emulator.clock.VirtualClock`, so every wait a check makes (dockerd's retries and
deadlines, slow answers) costs no wall time.
"""

from __future__ import annotations

import logging
import random
import secrets
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import trio

from emulator.check.catalogue import CATALOGUE, KINDS, kind_for_interface, selection
from emulator.check.context import CheckContext, Settings
from emulator.check.model import Check, CheckResult, Problem, Skipped, Verdict
from emulator.check.netns import NetnsError, NetworkNamespace, netns_support
from emulator.check.target import Target
from emulator.clock import VirtualClock
from emulator.engine.core import Engine, open_engine
from emulator.engine.processes import PluginProcess, ProcessSpec
from emulator.errors import EmulatorError, EngineError, PluginLookupError
from emulator.tempdirs import temp_base

__all__ = ["CheckOptions", "CheckRun", "run_checks", "run_checks_sync"]

LOG = logging.getLogger("emulator.check")

#: Engine seconds one check may take before it is stopped (the plugin hangs).
CHECK_BUDGET = 900.0


@attrs.frozen
class CheckOptions:
    """How to run the catalogue (the ``check`` command's options)."""

    kinds: tuple[str, ...] = ()
    """The types to check; empty: every type the plugin implements that has checks."""
    select: str = ""
    """``-k`` expression."""
    seed: int | None = None
    volume_opts: Mapping[str, str] | None = None
    parallel: int = 8
    netns: bool | None = None
    """Start a command plugin in a network namespace of the check's (None: for network and
    IPAM types)."""
    profile: str = "28"
    grace: float = 30.0
    """Real seconds a real plugin's answer may take before it counts as hung."""
    startup_timeout: float = 30.0


@attrs.frozen
class CheckRun:
    """Everything one ``check`` run found."""

    target: str
    plugin: str
    kinds: tuple[str, ...]
    seed: int
    results: tuple[CheckResult, ...]
    setup_error: str | None = None
    notes: tuple[str, ...] = ()
    engine_seconds: float = 0.0
    wall_seconds: float = 0.0

    def count(self, verdict: Verdict) -> int:
        """How many checks reached ``verdict``."""
        return sum(1 for r in self.results if r.verdict is verdict)

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 1 otherwise."""
        return 1 if self.setup_error or self.count(Verdict.FAIL) else 0


async def _discover(
    engine: Engine, name: str, managed: bool
) -> tuple[list[str], list[str], str | None]:
    """(kinds, raw interface names, activation error) of plugin ``name``."""
    if managed:
        config = engine.managed_plugins.inspect(name).Config
        interfaces = [str(t) for t in config.types]
    else:
        try:
            await engine.plugins.get(name, KINDS["volume"].interface)
        except PluginLookupError as exc:
            held = [p for p in engine.plugins.cached() if p.name == name and p.activated]
            if not held:
                return [], [], str(exc)
        held = [p for p in engine.plugins.cached() if p.name == name]
        interfaces = list(held[0].implements)
    kinds = [k.name for i in interfaces if (k := kind_for_interface(i)) is not None]
    return kinds, interfaces, None


async def _run_one(check: Check, ctx: CheckContext, skip: str | None) -> CheckResult:
    engine = ctx.engine
    started, wall = trio.current_time(), time.perf_counter()
    verdict, did = Verdict.PASS, ""
    try:
        if skip is not None:
            raise Skipped(skip)  # noqa: TRY301 (one path for every skip)
        with trio.fail_after(CHECK_BUDGET):
            did = await check.body(ctx)
    except Problem as exc:
        verdict, did = check.severity, str(exc)
    except Skipped as exc:
        verdict, did = Verdict.SKIP, str(exc)
    except trio.TooSlowError:
        verdict = check.severity
        did = f"the check did not end within {CHECK_BUDGET:g} s of engine time: the plugin hangs"
    except EngineError as exc:
        verdict, did = check.severity, f"an operation dockerd needs failed: {exc}"
    finally:
        await ctx.cleanup()
        engine.faults.clear()
    calls = tuple(e for e in engine.journal.entries[ctx.mark :] if e.plugin == ctx.plugin)
    return CheckResult(
        check=check,
        verdict=verdict,
        did=did,
        calls=calls,
        engine_seconds=trio.current_time() - started,
        wall_seconds=time.perf_counter() - wall,
    )


def _plan(
    options: CheckOptions, implemented: list[str], interfaces: list[str]
) -> tuple[list[str], list[str]]:
    """The kinds to check and notes about the ones left out."""
    notes = []
    available = CATALOGUE.kinds()
    wanted = list(options.kinds) or [k for k in implemented if k in available]
    for kind in implemented:
        if kind not in available:
            notes.append(
                f"the plugin implements {KINDS[kind].interface}; no {kind} checks exist yet"
            )
    unknown = [i for i in interfaces if kind_for_interface(i) is None]
    if unknown:
        notes.append(f"Implements also lists {unknown}, which dockerd knows no type for")
    return wanted, notes


async def _start(
    target: Target, options: CheckOptions, root: Path, nursery: trio.Nursery
) -> tuple[NetworkNamespace | None, str, PluginProcess | None]:
    """Place or start the plugin; the network namespace it runs in and why not, and the
    process when the check started one."""
    if target.mode in ("socket", "url"):
        specs = root / "etc/docker/plugins"
        specs.mkdir(parents=True, exist_ok=True)
        (specs / f"{target.name}.spec").write_text(target.address + "\n")
    if target.mode != "command":
        return (
            None,
            (
                "the check did not start this plugin, so it cannot see its interfaces: give "
                "PLUGIN as a command (the check then starts it in a network namespace of its "
                "own)"
            ),
            None,
        )
    wanted = options.netns
    if wanted is None:
        wanted = bool({"network", "ipam"} & set(options.kinds))
    namespace, reason = None, ""
    if not wanted:
        reason = "the plugin was started without a namespace: use --type network or --netns"
    elif (why := netns_support()) is not None:
        reason = why
    else:
        try:
            namespace = await NetworkNamespace.create()
        except NetnsError as exc:
            reason = str(exc)
    argv = list(target.argv)
    spec = ProcessSpec(
        target.name,
        namespace.wrap(argv) if namespace is not None else argv,
        socket=root / "run/docker/plugins" / f"{target.name}.sock",
        startup_timeout=options.startup_timeout,
        private_run=False,
    )
    process = PluginProcess(spec, root=root)
    try:
        await nursery.start(process.run)
    except BaseException:
        if namespace is not None:
            with trio.CancelScope(shield=True):
                await namespace.delete()
        raise
    return namespace, reason, process


async def run_checks(target: Target, options: CheckOptions) -> CheckRun:
    """Run the catalogue against ``target`` in the current trio run."""
    seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
    run_id = f"{random.Random(seed).randrange(16**4):04x}"
    work = Path(tempfile.mkdtemp(prefix="pe-check-", dir=temp_base()))
    started, wall = trio.current_time(), time.perf_counter()
    namespace: NetworkNamespace | None = None
    plugin = target.name
    kinds: list[str] = []
    notes: list[str] = []
    results: list[CheckResult] = []
    reason = ""
    process: PluginProcess | None = None
    setup_error: str | None = None
    try:
        async with trio.open_nursery() as nursery:
            root = target.root if target.mode == "name" and target.root else work / "root"
            try:
                namespace, reason, process = await _start(target, options, root, nursery)
            except (EmulatorError, OSError) as exc:
                setup_error = f"the plugin could not be started: {exc}"
            if setup_error is None:
                # The checks watch plugin calls and the plugin's own namespace: fake
                # containers, so no container takes an interface out of it.
                async with open_engine(
                    root=root,
                    data_root=work / "data",
                    profile=options.profile,
                    seed=seed,
                    containers="fake",
                ) as engine:
                    settings = Settings(
                        volume_opts=options.volume_opts,
                        parallel=options.parallel,
                        paths_visible=target.mode != "managed",
                        netns=namespace,
                        netns_reason=reason,
                        managed=target.mode == "managed",
                        process=process,
                    )
                    plugin, kinds, notes, results, setup_error = await _run_all(
                        engine, target, options, settings, run_id, work
                    )
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            if namespace is not None:
                try:
                    await namespace.delete()
                except NetnsError as exc:
                    LOG.error("%s", exc)
        shutil.rmtree(work, ignore_errors=True)
    return CheckRun(
        target=target.describe(),
        plugin=plugin,
        kinds=tuple(kinds),
        seed=seed,
        results=tuple(results),
        setup_error=setup_error,
        notes=tuple(notes),
        engine_seconds=trio.current_time() - started,
        wall_seconds=time.perf_counter() - wall,
    )


async def _install(engine: Engine, target: Target) -> str:
    """``docker plugin create`` and ``enable`` for a managed plugin directory: its name."""
    assert target.directory is not None
    engine.managed_plugins.create(target.name, target.directory)
    await engine.managed_plugins.enable(target.name)
    return engine.managed_plugins.resolve(target.name).name


async def _run_all(
    engine: Engine,
    target: Target,
    options: CheckOptions,
    settings: Settings,
    run_id: str,
    work: Path,
) -> tuple[str, list[str], list[str], list[CheckResult], str | None]:
    plugin = target.name
    try:
        if target.mode == "managed":
            plugin = await _install(engine, target)
        implemented, interfaces, failure = await _discover(engine, plugin, settings.managed)
    except EngineError as exc:
        return plugin, [], [], [], f"the plugin could not be enabled: {exc}"
    kinds, notes = _plan(options, implemented, interfaces)
    if failure is not None and not options.kinds:
        return plugin, [], notes, [], f"the plugin did not activate: {failure}"
    if not kinds:
        return (
            plugin,
            [],
            notes,
            [],
            (
                f"the plugin implements {interfaces}: none of these has checks "
                f"(types with checks: {', '.join(CATALOGUE.kinds())})"
            ),
        )
    chosen = selection(options.select)
    results = []
    for check in CATALOGUE.checks(kinds):
        if not chosen(check):
            continue
        skip = None
        if not check.id.endswith(".activate"):
            if failure is not None:
                skip = "the plugin did not activate (see the activate check)"
            elif check.kind not in implemented:
                skip = f"the plugin does not implement {KINDS[check.kind].interface}"
        ctx = CheckContext(engine, plugin, KINDS[check.kind], settings, run_id=run_id, workdir=work)
        results.append(await _run_one(check, ctx, skip))
    return plugin, kinds, notes, results, None


def run_checks_sync(target: Target, options: CheckOptions) -> CheckRun:
    """:func:`run_checks` in its own trio run, on virtual time (see the module docstring)."""
    clock = VirtualClock(autojump_threshold=0, grace=options.grace)
    return trio.run(run_checks, target, options, clock=clock.clock)


def known_kinds() -> Sequence[str]:
    """Every type ``--type`` accepts."""
    return list(KINDS)
