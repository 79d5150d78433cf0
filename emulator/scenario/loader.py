"""Read scenario files (``docs/scenario-format.md``) into :mod:`emulator.scenario.model`.

The YAML is composed (safe loading only: no Python objects, no custom tags) into nodes that
keep their positions (:mod:`emulator.vocabulary.nodes`), then checked against the format's
tables (:mod:`emulator.scenario.vocabulary`, the fault words' in
:mod:`emulator.faults.vocabulary`), the same tables the JSON Schema is generated from.  Any
mistake becomes one :class:`ScenarioError` naming the file, line and column of the
offending node, what was expected there and, for an unknown key, the nearest valid one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import attrs

from emulator.faults.vocabulary import FAULT, MATCH, RESPOND
from emulator.scenario.arguments import ARGUMENTS, Argument
from emulator.scenario.model import Parallel, PluginSpec, Scenario, Step
from emulator.scenario.vocabulary import ENGINE, PLUGIN, PLUGINS_FILE, STEP_KEYS, TOP
from emulator.vocabulary.nodes import MAX_BYTES, ScenarioError, compose, decode_text, too_big
from emulator.vocabulary.reader import DURATION_PATTERN, Reader, parse_duration

__all__ = [
    "ARGUMENTS",
    "DURATION_PATTERN",
    "ENGINE_KEYS",
    "FAULT_KEYS",
    "MATCH_KEYS",
    "PLUGIN_KEYS",
    "RESPOND_KEYS",
    "STEP_KEYS",
    "TOP_KEYS",
    "Argument",
    "ScenarioError",
    "iter_steps",
    "load_plugins_file",
    "load_scenario",
    "load_scenario_text",
    "parse_duration",
]

TOP_KEYS: Final = TOP.keys
ENGINE_KEYS: Final = ENGINE.keys
PLUGIN_KEYS: Final = PLUGIN.keys
FAULT_KEYS: Final = FAULT.keys
"""A fault's keys: its own and, for the flat form, the match words."""
MATCH_KEYS: Final = MATCH.keys
RESPOND_KEYS: Final = RESPOND.keys


def load_scenario(path: str | Path) -> Scenario:
    """Read and check the scenario file at ``path``.

    Raises :class:`ScenarioError` for anything wrong with the file, including that it
    cannot be read.
    """
    path = Path(path)
    scenario = load_scenario_text(_read(path, "scenario file"), filename=str(path))
    return attrs.evolve(scenario, path=path)


def _read(path: Path, what: str) -> bytes:
    """The bytes of ``path``; a file too big is refused before a byte is read."""
    try:
        problem = too_big(path.stat().st_size)
        if problem is not None:
            raise ScenarioError(problem, path=str(path), line=1, column=1)
        with path.open("rb") as file:
            return file.read(MAX_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ScenarioError(
            f"cannot read the {what}: {reason}", path=str(path), line=1, column=1
        ) from None


def load_scenario_text(text: str | bytes, *, filename: str = "<string>") -> Scenario:
    """Check a scenario given as text (bytes must be UTF-8); ``filename`` names it in errors.

    Raises :class:`ScenarioError` for anything wrong with it.
    """
    if isinstance(text, bytes):
        text = decode_text(text, filename)
    root = compose(text, filename)
    if root is None:
        raise ScenarioError(
            "the scenario is empty: it is a mapping with at least 'version', 'name' and 'steps'",
            path=filename,
            line=1,
            column=1,
        )
    reader = Reader(filename, plugins={})
    reader.check_graph(root)
    scenario: Scenario = TOP.read(reader, root)
    return scenario


def load_plugins_file(path: str | Path) -> tuple[PluginSpec, ...]:
    """Read a file holding a ``plugins:`` list in the scenario format (``serve``'s
    ``--plugins-file``); raises :class:`ScenarioError` as :func:`load_scenario` does."""
    path = Path(path)
    text = decode_text(_read(path, "plugins file"), str(path))
    root = compose(text, str(path))
    if root is None:
        raise ScenarioError(
            "the plugins file is empty: it is a mapping with a 'plugins' list",
            path=str(path),
            line=1,
            column=1,
        )
    reader = Reader(str(path), plugins={})
    reader.check_graph(root)
    plugins: tuple[PluginSpec, ...] = PLUGINS_FILE.read(reader, root)
    return plugins


def iter_steps(steps: Sequence[Step]) -> Iterator[Step]:
    """Every step, with the steps inside ``parallel`` after their parent."""
    for step in steps:
        yield step
        if isinstance(step.args, Parallel):
            yield from iter_steps(step.args.steps)
