"""Read scenario files (``docs/scenario-format.md``) into :mod:`emulator.scenario.model`.

The YAML is composed (safe loading only: no Python objects, no custom tags) into nodes that
keep their positions, and every value is checked by hand so that any mistake becomes one
:class:`ScenarioError` naming the file, line and column of the offending node, what was
expected there and, for an unknown key, the nearest valid one.
"""

from __future__ import annotations

import difflib
import functools
import re
import shlex
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, NoReturn

import attrs
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from emulator.errors import EmulatorError
from emulator.faults.model import FAULT_KINDS, Delay, Fault, Match, Respond, Window, Wire
from emulator.protocol.profiles import PROFILES
from emulator.scenario.model import (
    ACTIONS,
    CallPattern,
    EngineRestart,
    EngineSettings,
    ExpectCalls,
    ExpectNoCalls,
    FaultsAdd,
    Parallel,
    PluginSpec,
    Scenario,
    Sleep,
    Step,
    StepExpect,
)

__all__ = [
    "ARGUMENTS",
    "DURATION_PATTERN",
    "FAULT_KEYS",
    "MATCH_KEYS",
    "PLUGIN_KEYS",
    "STEP_KEYS",
    "TOP_KEYS",
    "Argument",
    "ScenarioError",
    "iter_steps",
    "load_scenario",
    "load_scenario_text",
    "parse_duration",
]


class ScenarioError(EmulatorError):
    """A scenario file that cannot be used.

    ``str()`` is one line: ``FILE:LINE:COLUMN: what is wrong``; ``path`` is the file name
    as shown, ``line`` and ``column`` are 1-based, ``message`` is the part after the
    position.
    """

    def __init__(self, message: str, *, path: str, line: int, column: int) -> None:
        super().__init__(f"{path}:{line}:{column}: {message}")
        self.message = message
        self.path = path
        self.line = line
        self.column = column


# -- the vocabulary (shared with emulator.scenario.schema) -------------------------------

TOP_KEYS: Final = ("version", "name", "description", "engine", "plugins", "faults", "steps")
ENGINE_KEYS: Final = ("profile", "clock", "seed", "hang_guard")
PLUGIN_KEYS: Final = (
    "name",
    "builtin",
    "command",
    "address",
    "appear_after",
    "env",
    "startup_timeout",
    "scope",
)
PLUGIN_KINDS: Final = ("builtin", "command", "address")
FAULT_KEYS: Final = ("match", "delay", "respond", "fault", "jitter", "rate", "name")
FAULT_ACTIONS: Final = ("delay", "respond", "fault")
MATCH_KEYS: Final = (
    "plugin",
    "call",
    "body",
    "nth",
    "first",
    "after",
    "times",
    "probability",
    "window",
)
WINDOW_KEYS: Final = ("from", "until")
DISTRIBUTIONS: Final = {
    "uniform": ("low", "high"),
    "normal": ("mean", "stddev"),
    "lognormal": ("mu", "sigma"),
}
DELAY_KEYS: Final = ("distribution", "low", "high", "mean", "stddev", "mu", "sigma", "jitter")
RESPOND_KEYS: Final = ("status", "body", "content_type", "err")
STEP_KEYS: Final = ("name", "expect")
EXPECT_KEYS: Final = ("error", "result", "duration")
DURATION_KEYS: Final = ("max", "min")
EXPECT_CALLS_KEYS: Final = ("calls", "since", "plugin")
SINCE: Final = ("start", "last_step")
CLOCKS: Final = ("virtual", "real")
SCOPES: Final = ("local", "global")
BUILTINS: Final = ("volume", "network", "ipam")

DURATION_PATTERN: Final = r"^([0-9]+(\.[0-9]+)?(ms|h|m|s))+$"
"""A duration string (``500ms``, ``15s``, ``2m``, ``1h``, ``1m30s``), as a JSON Schema
pattern; numbers are seconds."""
PLUGIN_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"

_DURATION_RE: Final = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|h|m|s))+")
_DURATION_PART_RE: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|h|m|s)")
_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_HELP: Final = (
    "a duration (seconds as a number, or a string such as 500ms, 15s, 2m, 1h, 1m30s)"
)
_PLUGIN_NAME_RE: Final = re.compile(PLUGIN_NAME_PATTERN.strip("^$"))
_METHOD_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*")
_GLOB_NAME_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
)

MAX_DEPTH: Final = 48
"""Deepest nesting of mappings and lists accepted."""
MAX_NODES: Final = 100_000
"""Most nodes a document may expand to (YAML aliases count each time they are used)."""


def parse_duration(text: str) -> float | None:
    """Seconds in a duration string such as ``1m30s``, or None if it is not one."""
    if not _DURATION_RE.fullmatch(text):
        return None
    return sum(float(n) * _UNITS[unit] for n, unit in _DURATION_PART_RE.findall(text))


@attrs.frozen
class Argument:
    """One key of a step action's arguments.

    ``kind`` says how the value is read: ``string`` (a YAML string), ``bool``, ``duration``,
    ``argv`` (a list of words, or one string split like a shell), ``words`` (a list of
    scalars, taken as written), ``textmap`` (a mapping of names to scalars, taken as
    written), ``filters`` (a mapping of names to one scalar or a list), ``exit_code``
    (an integer 0…255) or ``plugin`` (the name of a declared plugin).
    """

    key: str
    kind: str
    required: bool = False
    description: str = ""


def _container_args(*, detach: bool) -> tuple[Argument, ...]:
    args = [
        Argument("name", "string", description="Container name (random if not given)."),
        Argument("image", "string", description="Image name; nothing is pulled."),
        Argument("command", "argv", description="Command: a list, or a string split as a shell."),
        Argument("volumes", "words", description="-v specs: 'v1:/data', '/data', 'v1:/d:ro'."),
        Argument("volume_driver", "string", description="--volume-driver."),
        Argument("rm", "bool", description="--rm."),
        Argument("detach", "bool", description="-d: do not wait for the exit."),
        Argument("exit_code", "exit_code", description="Exit status of the fake process."),
        Argument("runs_for", "duration", description="How long the fake process runs."),
        Argument("networks", "words", description="--network: networks joined at start."),
    ]
    return tuple(a for a in args if detach or a.key != "detach")


_NAME: Final = Argument("name", "string", required=True)
_PLUGIN: Final = Argument("name", "plugin", required=True, description="A declared plugin.")
_NETWORK_CONTAINER: Final = (
    Argument("network", "string", required=True, description="Network name or ID."),
    Argument("container", "string", required=True, description="Container name or ID."),
)

ARGUMENTS: Final[dict[str, tuple[Argument, ...]]] = {
    "volume.create": (
        _NAME,
        Argument("driver", "string", description="Volume driver (default local)."),
        Argument("opts", "textmap", description="Driver options (-o)."),
        Argument("labels", "textmap", description="Labels."),
    ),
    "volume.inspect": (_NAME,),
    "volume.ls": (Argument("filters", "filters", description="--filter: name → value(s)."),),
    "volume.rm": (_NAME, Argument("force", "bool")),
    "volume.prune": (Argument("all", "bool", description="Also named volumes (--all)."),),
    "network.create": (
        _NAME,
        Argument("driver", "string", description="Network driver (-d; default bridge)."),
        Argument("ipam_driver", "string", description="--ipam-driver (default: default)."),
        Argument("subnet", "string", description="--subnet (CIDR)."),
        Argument("gateway", "string", description="--gateway."),
        Argument("ip_range", "string", description="--ip-range (CIDR inside the subnet)."),
        Argument("options", "textmap", description="Driver options (-o)."),
        Argument("labels", "textmap", description="Labels."),
        Argument("internal", "bool", description="--internal."),
    ),
    "network.rm": (_NAME,),
    "network.connect": _NETWORK_CONTAINER,
    "network.disconnect": _NETWORK_CONTAINER,
    "container.run": _container_args(detach=True),
    "container.create": _container_args(detach=False),
    "container.start": (_NAME,),
    "container.stop": (_NAME,),
    "container.kill": (_NAME,),
    "container.rm": (
        _NAME,
        Argument("force", "bool"),
        Argument("volumes", "bool", description="-v: remove anonymous volumes."),
    ),
    "container.cp": (
        _NAME,
        Argument("path", "string", required=True, description="Path in the container."),
        Argument("host_path", "string", required=True, description="Path on the host."),
        Argument("into", "bool", description="Copy from the host into the container."),
    ),
    "plugin.kill": (_PLUGIN,),
    "plugin.stop": (_PLUGIN,),
    "plugin.continue": (_PLUGIN,),
    "plugin.restart": (_PLUGIN,),
    "plugin.remove_socket": (_PLUGIN,),
    "plugin.start": (_PLUGIN,),
    "engine.restart": (Argument("crash", "bool", description="Containers die, no unmounts."),),
    "engine.crash": (),
    "faults.clear": (),
}
"""The actions whose arguments are a plain mapping (the others — ``faults.add``, ``sleep``,
``parallel``, ``expect.calls``, ``expect.no_calls`` — have a shape of their own)."""

_TAG: Final = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _MERGE = _TAG + "map", _TAG + "seq", _TAG + "merge"
_TEXT_TAGS: Final = frozenset({_STR, _TAG + "timestamp", _TAG + "value", _MERGE})
_SCALAR_TAGS: Final = _TEXT_TAGS | {_INT, _FLOAT, _BOOL, _NULL}
_CONSTRUCTOR: Final = yaml.constructor.SafeConstructor()

# -- entry points ---------------------------------------------------------------------


def load_scenario(path: str | Path) -> Scenario:
    """Read and check the scenario file at ``path``.

    Raises :class:`ScenarioError` for anything wrong with the file, including that it
    cannot be read.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ScenarioError(
            f"cannot read the scenario file: {reason}", path=str(path), line=1, column=1
        ) from None
    scenario = load_scenario_text(data, filename=str(path))
    return attrs.evolve(scenario, path=path)


def load_scenario_text(text: str | bytes, *, filename: str = "<string>") -> Scenario:
    """Check a scenario given as text (bytes must be UTF-8); ``filename`` names it in errors.

    Raises :class:`ScenarioError` for anything wrong with it.
    """
    if isinstance(text, bytes):
        text = _decode(text, filename)
    root = _compose(text, filename)
    reader = _Reader(filename)
    if root is None:
        raise ScenarioError(
            "the scenario is empty: it is a mapping with at least 'version', 'name' and 'steps'",
            path=filename,
            line=1,
            column=1,
        )
    reader.check_graph(root)
    return reader.scenario(root)


def _decode(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioError(
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x}): save it as UTF-8",
            path=filename,
            line=line,
            column=column,
        ) from None


class _TooDeep(yaml.MarkedYAMLError):
    """Raised while composing a collection nested deeper than MAX_DEPTH."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, used only to compose nodes; its composer recurses once per
    level of nesting, so nesting is bounded before Python's recursion limit is near."""

    depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self.depth += 1
        try:
            event: Any = self.peek_event()  # type: ignore[no-untyped-call]
            if self.depth > MAX_DEPTH and isinstance(event, yaml.CollectionStartEvent):
                mark: Any = event.start_mark
                raise _TooDeep(problem=_TOO_DEEP, problem_mark=mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_TOO_DEEP: Final = f"the YAML nests more than {MAX_DEPTH} levels deep"


def _compose(text: str, filename: str) -> Node | None:
    """The YAML's node tree; syntax errors and too deep nesting become ScenarioErrors."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        return loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem, context = exc.problem or "", exc.context or ""
        if isinstance(exc, _TooDeep):
            message = problem
        elif isinstance(exc, yaml.composer.ComposerError) and "another document" in problem:
            message = (
                "a scenario file holds one YAML document: remove the '---' (or split the file)"
            )
        elif context and problem.startswith("but "):
            message = f"invalid YAML: {context}, {problem}"
        elif context and problem and exc.context_mark is not None:
            where = f"{exc.context_mark.line + 1}:{exc.context_mark.column + 1}"
            message = f"invalid YAML: {problem} ({context} at {where})"
        else:
            message = f"invalid YAML: {problem or context or 'syntax error'}"
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise ScenarioError(message, path=filename, line=line, column=column) from None
    except yaml.reader.ReaderError as exc:
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        line, column = _line_column(text, exc.position)
        raise ScenarioError(
            f"invalid YAML: character U+{char:04X} is not allowed in a YAML file",
            path=filename,
            line=line,
            column=column,
        ) from None
    except yaml.YAMLError as exc:  # pragma: no cover - every PyYAML error is one of the above
        raise ScenarioError(f"invalid YAML: {exc}", path=filename, line=1, column=1) from None
    finally:
        if loader is not None:
            loader.dispose()


def _line_column(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``, counting line breaks as PyYAML does."""
    line, start = 1, 0
    i = 0
    while i < min(index, len(text)):
        ch = text[i]
        if ch in "\n\x85\u2028\u2029" or (ch == "\r" and text[i + 1 : i + 2] != "\n"):
            line, start = line + 1, i + 1
        i += 1
    return line, index - start + 1


# -- helpers ----------------------------------------------------------------------------


def _quote(text: str) -> str:
    text = text if len(text) <= 60 else text[:57] + "..."
    return "'" + text.replace("\n", "\\n") + "'"


def _kind(node: Node) -> str:
    """What a node is: ``mapping``, ``list``, ``null``, ``bool``, ``int``, ``float``, ``str``.

    YAML 1.1's ``yes``/``no``/``on``/``off`` and timestamps count as strings.
    """
    if isinstance(node, MappingNode):
        return "mapping"
    if isinstance(node, SequenceNode):
        return "list"
    tag = node.tag
    if tag == _NULL:
        return "null"
    if tag == _BOOL:
        return "bool" if str(node.value).lower() in ("true", "false") else "str"
    if tag == _INT:
        return "int"
    if tag == _FLOAT:
        return "float"
    return "str"


def _int_value(node: Node) -> int:
    """The integer a scalar tagged int stands for (``0x1f``, ``1_000`` …)."""
    assert isinstance(node, ScalarNode)
    return _CONSTRUCTOR.construct_yaml_int(node)


def _float_value(node: Node) -> float:
    """The float a scalar tagged float stands for (``1e3``, ``.inf`` …)."""
    assert isinstance(node, ScalarNode)
    return _CONSTRUCTOR.construct_yaml_float(node)


def _describe(node: Node) -> str:
    kind = _kind(node)
    if kind == "mapping":
        return "a mapping"
    if kind == "list":
        return "a list"
    if kind == "null":
        return "nothing (null)"
    if kind == "str":
        return _quote(str(node.value))
    return str(node.value)


def _suggest(word: str, choices: Collection[str]) -> str:
    if not choices:
        return " (it takes no keys)"
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {_quote(close[0])}?)"
    return " (expected one of: " + ", ".join(choices) + ")"


def _glob_problem(text: str) -> str:
    """What is wrong with a glob of a method name, or "" if nothing is."""
    i = 0
    while i < len(text):
        ch, where = text[i], f"(character {i + 1})"
        if ch == "[":
            close = text.find("]", i + 1)
            if close < 0:
                return f"'[' {where} is never closed"
            inside = text[i + 1 : close].removeprefix("!")
            if not inside or not set(inside) <= _GLOB_NAME_CHARS:
                return (
                    f"'[…]' {where} must list letters, digits, '_', '.' or '-' (after '!' or not)"
                )
            i = close + 1
            continue
        if ch == "]":
            return f"']' {where} has no '['"
        if ch not in _GLOB_NAME_CHARS and ch not in "*?":
            return f"{_quote(ch)} {where} cannot appear in a method name"
        i += 1
    return ""


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


Pairs = dict[str, tuple[ScalarNode, Node]]


class _Reader:
    """Turns a checked node tree into a Scenario; every problem is a ScenarioError."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.plugins: dict[str, int] = {}
        """Declared plugin names and their lines."""

    def fail(self, node: Node, message: str) -> NoReturn:
        mark = node.start_mark
        raise ScenarioError(message, path=self.filename, line=mark.line + 1, column=mark.column + 1)

    # -- the node graph ---------------------------------------------------------------

    def check_graph(self, root: Node) -> None:
        """Reject alias cycles, documents that expand enormously, deep nesting and tags
        other than YAML's plain ones; afterwards every walk of the tree terminates."""
        visits = 0
        on_path: set[int] = set()
        stack: list[tuple[Node, int, bool]] = [(root, 1, False)]
        while stack:
            node, depth, leaving = stack.pop()
            if leaving:
                on_path.discard(id(node))
                continue
            if id(node) in on_path:
                self.fail(node, "a YAML alias refers to a mapping or list that contains it")
            visits += 1
            if visits > MAX_NODES:
                self.fail(root, f"the document expands to more than {MAX_NODES} YAML nodes")
            if isinstance(node, ScalarNode):
                self._check_scalar(node)
                continue
            if depth > MAX_DEPTH:
                self.fail(node, _TOO_DEEP)
            expected = _MAP if isinstance(node, MappingNode) else _SEQ
            if node.tag != expected:
                self._bad_tag(node)
            on_path.add(id(node))
            stack.append((node, depth, True))
            children: list[Node] = []
            if isinstance(node, MappingNode):
                for key, value in node.value:
                    children += (key, value)
            else:
                children += node.value
            stack.extend((child, depth + 1, False) for child in reversed(children))

    def _check_scalar(self, node: ScalarNode) -> None:
        if node.tag not in _SCALAR_TAGS:
            self._bad_tag(node)
        try:
            if node.tag == _INT:
                _int_value(node)
            elif node.tag == _FLOAT:
                _float_value(node)
        except (ValueError, IndexError):
            self.fail(node, f"{_quote(node.value)} is tagged {node.tag} but is not one")

    def _bad_tag(self, node: Node) -> NoReturn:
        tag = _quote(str(node.tag).replace(_TAG, "!!"))
        self.fail(
            node,
            f"unsupported YAML tag {tag}: scenario files use plain mappings, lists, strings, "
            "numbers, booleans and null",
        )

    # -- generic readers -----------------------------------------------------------

    def pairs(self, node: MappingNode, what: str) -> list[tuple[ScalarNode, Node]]:
        """The key/value pairs of a mapping with ``<<`` merges applied; explicit keys must
        be unique and win over merged ones."""
        explicit: list[tuple[ScalarNode, Node]] = []
        merged: list[tuple[ScalarNode, Node]] = []
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.tag == _MERGE:
                sources = value.value if isinstance(value, SequenceNode) else [value]
                for source in sources:
                    if not isinstance(source, MappingNode):
                        self.fail(
                            source, f"a '<<' merge in {what} takes a mapping or a list of them"
                        )
                    merged += self.pairs(source, what)
                continue
            if not isinstance(key, ScalarNode) or _kind(key) == "null":
                self.fail(key, f"a key in {what} must be a plain string, got {_describe(key)}")
            explicit.append((key, value))
        seen: dict[str, ScalarNode] = {}
        for key, _ in explicit:
            if key.value in seen:
                first = _line(seen[key.value])
                self.fail(
                    key, f"duplicate key {_quote(key.value)} in {what} (first at line {first})"
                )
            seen[key.value] = key
        result = list(explicit)
        for key, value in merged:
            if key.value not in seen:
                seen[key.value] = key
                result.append((key, value))
        return result

    def mapping(
        self,
        node: Node,
        what: str,
        keys: Collection[str],
        *,
        required: Sequence[str] = (),
        label: str | None = None,
    ) -> Pairs:
        """A mapping with only ``keys``, among them ``required``."""
        if not isinstance(node, MappingNode):
            self.fail(node, f"{label or what} must be a mapping, got {_describe(node)}")
        found: Pairs = {}
        for key, value in self.pairs(node, what):
            if key.value not in keys:
                self.fail(
                    key, f"unknown key {_quote(key.value)} in {what}{_suggest(key.value, keys)}"
                )
            found[key.value] = (key, value)
        for name in required:
            if name not in found:
                self.fail(node, f"{what} is missing the required key {_quote(name)}")
        return found

    def mapping_keys(self, node: Node) -> set[str]:
        """The keys of ``node`` if it is a mapping (already checked), else nothing."""
        if not isinstance(node, MappingNode):
            return set()
        return {key.value for key, _ in self.pairs(node, "a mapping")}

    def sequence(self, node: Node, label: str, *, nonempty: bool = False) -> list[Node]:
        if not isinstance(node, SequenceNode):
            self.fail(node, f"{label} must be a list, got {_describe(node)}")
        if nonempty and not node.value:
            self.fail(node, f"{label} must not be empty")
        return list(node.value)

    def string(self, node: Node, label: str, *, nonempty: bool = False) -> str:
        kind = _kind(node)
        if kind != "str":
            hint = f" (quote it: '{node.value}')" if kind in ("int", "float", "bool") else ""
            self.fail(node, f"{label} must be a string, got {_describe(node)}{hint}")
        if nonempty and not node.value:
            self.fail(node, f"{label} must not be empty")
        return str(node.value)

    def choice(self, node: Node, label: str, choices: Collection[str]) -> str:
        if _kind(node) != "str" or node.value not in choices:
            options = ", ".join(choices)
            hint = _suggest(str(node.value), choices) if _kind(node) == "str" else ""
            hint = hint if "did you mean" in hint else ""
            self.fail(node, f"{label} must be one of {options}; got {_describe(node)}{hint}")
        return str(node.value)

    def text(self, node: Node, label: str) -> str:
        """Any scalar but null, exactly as written."""
        if _kind(node) in ("mapping", "list", "null"):
            self.fail(node, f"{label} must be a string or number, got {_describe(node)}")
        return str(node.value)

    def boolean(self, node: Node, label: str) -> bool:
        if _kind(node) != "bool":
            self.fail(node, f"{label} must be true or false, got {_describe(node)}")
        return str(node.value).lower() == "true"

    def integer(
        self, node: Node, label: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = _int_value(node) if isinstance(node, ScalarNode) and _kind(node) == "int" else None
        if (
            value is None
            or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)
        ):
            if minimum is not None and maximum is not None:
                wanted = f"an integer from {minimum} to {maximum}"
            elif minimum is not None:
                wanted = f"an integer of at least {minimum}"
            else:
                wanted = "an integer"
            self.fail(node, f"{label} must be {wanted}, got {_describe(node)}")
        return value

    def number(
        self, node: Node, label: str, *, minimum: float | None = None, maximum: float | None = None
    ) -> float:
        value = float("nan")
        if _kind(node) == "int":
            value = float(_int_value(node))
        elif _kind(node) == "float":
            value = _float_value(node)
        low = float("-inf") if minimum is None else minimum
        high = float("inf") if maximum is None else maximum
        if not (low <= value <= high) or value in (float("inf"), float("-inf")):
            if minimum is not None and maximum is not None:
                wanted = f"a number from {minimum:g} to {maximum:g}"
            elif minimum is not None:
                wanted = f"a number of at least {minimum:g}"
            else:
                wanted = "a finite number"
            self.fail(node, f"{label} must be {wanted}, got {_describe(node)}")
        return value

    def duration(self, node: Node, label: str, *, expected: str = _DURATION_HELP) -> float:
        kind = _kind(node)
        seconds: float | None = None
        if kind in ("int", "float"):
            number = float(_int_value(node)) if kind == "int" else _float_value(node)
            if 0 <= number < float("inf"):
                seconds = number
        elif kind == "str":
            seconds = parse_duration(str(node.value))
        if seconds is None:
            self.fail(node, f"{label} must be {expected}, got {_describe(node)}")
        return seconds

    def optional_duration(self, node: Node, label: str) -> float | None:
        if _kind(node) == "null":
            return None
        return self.duration(node, label, expected=_DURATION_HELP + " or null")

    def plain(self, node: Node) -> Any:
        """A free-form value (request bodies, results) as JSON-like Python data."""
        kind = _kind(node)
        if isinstance(node, MappingNode):
            return {key.value: self.plain(value) for key, value in self.pairs(node, "a mapping")}
        if isinstance(node, SequenceNode):
            return [self.plain(item) for item in node.value]
        if kind == "null":
            return None
        if kind == "bool":
            return str(node.value).lower() == "true"
        if kind == "int":
            return _int_value(node)
        if kind == "float":
            return _float_value(node)
        return str(node.value)

    def json_object(self, node: Node, label: str) -> dict[str, Any]:
        if not isinstance(node, MappingNode):
            self.fail(node, f"{label} must be a mapping, got {_describe(node)}")
        value: dict[str, Any] = self.plain(node)
        return value

    def text_map(self, node: Node, label: str) -> dict[str, str]:
        if not isinstance(node, MappingNode):
            self.fail(node, f"{label} must be a mapping of names to values, got {_describe(node)}")
        return {
            key.value: self.text(value, f"{_quote(key.value)} in {label}")
            for key, value in self.pairs(node, label)
        }

    def words(self, node: Node, label: str) -> tuple[str, ...]:
        return tuple(
            self.text(item, f"item {i} of {label}")
            for i, item in enumerate(self.sequence(node, label), 1)
        )

    def argv(self, node: Node, label: str) -> tuple[str, ...]:
        """A list of words, or a string split as a POSIX shell would."""
        if isinstance(node, SequenceNode):
            return self.words(node, label)
        if _kind(node) != "str":
            self.fail(node, f"{label} must be a list of words or a string, got {_describe(node)}")
        try:
            return tuple(shlex.split(str(node.value)))
        except ValueError as exc:
            self.fail(node, f"{label} cannot be split into words: {exc}")

    def filters(self, node: Node, label: str) -> dict[str, tuple[str, ...]]:
        if not isinstance(node, MappingNode):
            self.fail(
                node, f"{label} must be a mapping of filter names to values, got {_describe(node)}"
            )
        result: dict[str, tuple[str, ...]] = {}
        for key, value in self.pairs(node, label):
            what = f"filter {_quote(key.value)}"
            if isinstance(value, SequenceNode):
                result[key.value] = self.words(value, what)
            else:
                result[key.value] = (self.text(value, what),)
        return result

    def plugin_ref(self, node: Node, label: str) -> str:
        name = self.string(node, label)
        if name not in self.plugins:
            hint = (
                _suggest(name, self.plugins).replace("expected one of", "declared")
                if self.plugins
                else " (no plugins are declared)"
            )
            self.fail(node, f"{label} names plugin {_quote(name)}, which is not in 'plugins'{hint}")
        return name

    def call_pattern(self, node: Node, label: str) -> str:
        """``Iface.Method`` or a shell-style glob of one."""
        text = self.string(node, label)
        if not any(c in text for c in "*?["):
            if not _METHOD_RE.fullmatch(text):
                self.fail(
                    node,
                    f"{label} must be Iface.Method (such as VolumeDriver.Mount) or a glob "
                    f"(such as VolumeDriver.*), got {_quote(text)}",
                )
            return text
        problem = _glob_problem(text)
        if problem:
            self.fail(node, f"bad glob {_quote(text)} in {label}: {problem}")
        return text

    # -- the scenario -------------------------------------------------------------------

    def scenario(self, root: Node) -> Scenario:
        top = self.mapping(root, "the scenario", TOP_KEYS, required=("version", "name", "steps"))
        version = top["version"][1]
        if _kind(version) != "int" or _int_value(version) != 1:
            self.fail(
                version, f"'version' must be 1 (the only format version), got {_describe(version)}"
            )
        name = self.string(top["name"][1], "'name' of the scenario", nonempty=True)
        description = (
            self.string(top["description"][1], "'description' of the scenario")
            if "description" in top
            else None
        )
        engine = EngineSettings()
        if "engine" in top and _kind(top["engine"][1]) != "null":
            engine = self.engine(top["engine"][1])
        plugins: tuple[PluginSpec, ...] = ()
        if "plugins" in top and _kind(top["plugins"][1]) != "null":
            plugins = tuple(self.plugin(n) for n in self.sequence(top["plugins"][1], "'plugins'"))
        faults: tuple[Fault, ...] = ()
        if "faults" in top and _kind(top["faults"][1]) != "null":
            faults = tuple(self.fault(n) for n in self.sequence(top["faults"][1], "'faults'"))
        steps_node = top["steps"][1]
        steps = tuple(self.step(n) for n in self.sequence(steps_node, "'steps'", nonempty=True))
        return Scenario(
            version=1,
            name=name,
            description=description,
            engine=engine,
            plugins=plugins,
            faults=faults,
            steps=steps,
        )

    def engine(self, node: Node) -> EngineSettings:
        m = self.mapping(node, "engine", ENGINE_KEYS, label="'engine'")
        kwargs: dict[str, Any] = {}
        if "profile" in m:
            value = m["profile"][1]
            if _kind(value) not in ("str", "int") or str(value.value) not in PROFILES:
                profiles = ", ".join(f'"{p}"' for p in sorted(PROFILES))
                self.fail(
                    value,
                    f"'profile' in engine must be one of {profiles} (dockerd's major version), "
                    f"got {_describe(value)}",
                )
            kwargs["profile"] = str(value.value)
        if "clock" in m:
            kwargs["clock"] = self.choice(m["clock"][1], "'clock' in engine", CLOCKS)
        if "seed" in m and _kind(m["seed"][1]) != "null":
            kwargs["seed"] = self.integer(m["seed"][1], "'seed' in engine", minimum=0)
        if "hang_guard" in m:
            kwargs["hang_guard"] = self.optional_duration(
                m["hang_guard"][1], "'hang_guard' in engine"
            )
        return EngineSettings(**kwargs)

    def plugin(self, node: Node) -> PluginSpec:
        m = self.mapping(node, "plugin", PLUGIN_KEYS, required=("name",))
        name_node = m["name"][1]
        name = self.string(name_node, "'name' of a plugin")
        if not _PLUGIN_NAME_RE.fullmatch(name):
            self.fail(
                name_node,
                f"plugin name {_quote(name)} must be letters, digits, '_', '.' and '-', starting "
                "with a letter or digit (it becomes a socket or spec file name)",
            )
        if name in self.plugins:
            self.fail(
                name_node,
                f"duplicate plugin name {_quote(name)} (first at line {self.plugins[name]})",
            )
        kinds = [k for k in PLUGIN_KINDS if k in m]
        if not kinds:
            self.fail(
                node, f"plugin {_quote(name)} needs exactly one of 'builtin', 'command', 'address'"
            )
        if len(kinds) > 1:
            self.fail(
                m[kinds[1]][0],
                f"plugin {_quote(name)} has both {_quote(kinds[0])} and {_quote(kinds[1])}: "
                "give exactly one of 'builtin', 'command', 'address'",
            )
        kind = kinds[0]
        only = {"env": "command", "startup_timeout": "command", "scope": "builtin"}
        for key, owner in only.items():
            if key in m and kind != owner:
                self.fail(m[key][0], f"{_quote(key)} applies only to a plugin with {_quote(owner)}")
        kwargs: dict[str, Any] = {"name": name}
        if kind == "builtin":
            kwargs["builtin"] = self.choice(m["builtin"][1], "'builtin' in plugin", BUILTINS)
            if "scope" in m:
                kwargs["scope"] = self.choice(m["scope"][1], "'scope' in plugin", SCOPES)
        elif kind == "command":
            argv = self.argv(m["command"][1], "'command' in plugin")
            if not argv:
                self.fail(m["command"][1], "'command' in plugin must name a program")
            kwargs["command"] = argv
            if "env" in m:
                kwargs["env"] = self.text_map(m["env"][1], "'env' in plugin")
            if "startup_timeout" in m:
                kwargs["startup_timeout"] = self.duration(
                    m["startup_timeout"][1], "'startup_timeout' in plugin"
                )
        else:
            kwargs["address"] = self.string(m["address"][1], "'address' in plugin", nonempty=True)
        if "appear_after" in m:
            kwargs["appear_after"] = self.optional_duration(
                m["appear_after"][1], "'appear_after' in plugin"
            )
        self.plugins[name] = _line(name_node)
        return PluginSpec(**kwargs)

    # -- faults ---------------------------------------------------------------------

    def fault(self, node: Node) -> Fault:
        m = self.mapping(node, "fault", FAULT_KEYS, required=("match",))
        actions = [k for k in FAULT_ACTIONS if k in m]
        if not actions:
            self.fail(node, "fault has no action: give exactly one of 'delay', 'respond', 'fault'")
        if len(actions) > 1:
            self.fail(
                m[actions[1]][0],
                f"fault has two actions, {_quote(actions[0])} and {_quote(actions[1])}: give "
                "exactly one (write two faults to do both)",
            )
        if "jitter" in m and actions[0] != "delay":
            self.fail(m["jitter"][0], "'jitter' applies only to a fault with 'delay'")
        kind = self.choice(m["fault"][1], "'fault' in fault", FAULT_KINDS) if "fault" in m else ""
        if "rate" in m and kind != "drip":
            self.fail(m["rate"][0], "'rate' applies only to 'fault: drip'")
        match = self.match(m["match"][1])
        action: Delay | Respond | Wire
        if actions[0] == "delay":
            action = self.delay(m["delay"][1])
            if "jitter" in m:
                if "jitter" in self.mapping_keys(m["delay"][1]):
                    self.fail(m["jitter"][0], "'jitter' is given twice: in 'delay' and beside it")
                jitter = self.duration(m["jitter"][1], "'jitter' in fault")
                action = attrs.evolve(action, jitter=jitter)
        elif actions[0] == "respond":
            action = self.respond(m["respond"][1])
        else:
            action = Wire(kind=kind)  # type: ignore[arg-type]
            if "rate" in m:
                rate = self.number(m["rate"][1], "'rate' in fault", minimum=0.001)
                action = attrs.evolve(action, rate=rate)
        name = self.string(m["name"][1], "'name' of a fault") if "name" in m else ""
        return Fault(match=match, action=action, name=name)

    def match(self, node: Node) -> Match:
        m = self.mapping(node, "match", MATCH_KEYS, label="'match' in fault")
        kwargs: dict[str, Any] = {}
        if "plugin" in m:
            kwargs["plugin"] = self.plugin_ref(m["plugin"][1], "match")
        if "call" in m:
            kwargs["call"] = self.call_pattern(m["call"][1], "'call' in match")
        if "body" in m:
            kwargs["body"] = self.json_object(m["body"][1], "'body' in match")
        for key, minimum in (("nth", 1), ("first", 1), ("after", 0), ("times", 1)):
            if key in m:
                kwargs[key] = self.integer(m[key][1], f"{_quote(key)} in match", minimum=minimum)
        if "nth" in m:
            for other in ("first", "after"):
                if other in m:
                    self.fail(
                        m[other][0],
                        f"'nth' and {_quote(other)} exclude each other in match: "
                        "'nth' picks one call",
                    )
        if "probability" in m:
            kwargs["probability"] = self.number(
                m["probability"][1], "'probability' in match", minimum=0, maximum=1
            )
        if "window" in m:
            kwargs["window"] = self.window(m["window"][1])
        return Match(**kwargs)

    def window(self, node: Node) -> Window:
        m = self.mapping(node, "window", WINDOW_KEYS, label="'window' in match")
        start = self.duration(m["from"][1], "'from' in window") if "from" in m else 0.0
        until = self.optional_duration(m["until"][1], "'until' in window") if "until" in m else None
        if until is not None and until <= start:
            self.fail(
                m["until"][1],
                f"'until' in window ({until:g}s) must be later than 'from' ({start:g}s)",
            )
        return Window(start=start, until=until)

    def delay(self, node: Node) -> Delay:
        if not isinstance(node, MappingNode):
            seconds = self.duration(
                node,
                "'delay' in fault",
                expected=_DURATION_HELP + " or a mapping with 'distribution'",
            )
            return Delay(seconds=seconds)
        m = self.mapping(node, "delay", DELAY_KEYS, required=("distribution",))
        distribution = self.choice(m["distribution"][1], "'distribution' in delay", DISTRIBUTIONS)
        params = DISTRIBUTIONS[distribution]
        for key in DELAY_KEYS[1:-1]:
            if key in m and key not in params:
                self.fail(
                    m[key][0],
                    f"{_quote(key)} does not apply to distribution {distribution} "
                    f"(it takes {params[0]!r} and {params[1]!r})",
                )
        for key in params:
            if key not in m:
                self.fail(
                    node,
                    f"delay with distribution {distribution} is missing the required key "
                    f"{_quote(key)}",
                )
        kwargs: dict[str, Any] = {"distribution": distribution}
        if distribution == "lognormal":
            kwargs["mu"] = self.number(m["mu"][1], "'mu' in delay")
            kwargs["sigma"] = self.number(m["sigma"][1], "'sigma' in delay", minimum=0)
        else:
            for key in params:
                kwargs[key] = self.duration(m[key][1], f"{_quote(key)} in delay")
        if distribution == "uniform" and kwargs["high"] < kwargs["low"]:
            self.fail(m["high"][1], "'high' in delay must not be less than 'low'")
        if "jitter" in m:
            kwargs["jitter"] = self.duration(m["jitter"][1], "'jitter' in delay")
        return Delay(**kwargs)

    def respond(self, node: Node) -> Respond:
        m = self.mapping(node, "respond", RESPOND_KEYS, label="'respond' in fault")
        if not any(k in m for k in ("status", "body", "err")):
            self.fail(node, "respond needs at least one of 'status', 'body', 'err'")
        if "err" in m and "body" in m:
            self.fail(
                m["body"][0], "'body' and 'err' exclude each other in respond: 'err' is the body"
            )
        kwargs: dict[str, Any] = {}
        if "status" in m:
            kwargs["status"] = self.integer(
                m["status"][1], "'status' in respond", minimum=100, maximum=599
            )
        if "body" in m:
            body = m["body"][1]
            if isinstance(body, MappingNode):
                kwargs["body"] = self.json_object(body, "'body' in respond")
            elif _kind(body) != "null":
                kwargs["body"] = self.string(body, "'body' in respond")
        if "content_type" in m:
            value = m["content_type"][1]
            kwargs["content_type"] = (
                None if _kind(value) == "null" else self.string(value, "'content_type' in respond")
            )
        if "err" in m:
            kwargs["err"] = self.string(m["err"][1], "'err' in respond")
        return Respond(**kwargs)

    # -- steps --------------------------------------------------------------------------

    def step(self, node: Node) -> Step:
        if not isinstance(node, MappingNode):
            self.fail(
                node,
                "a step must be a mapping with one action key, such as "
                f"'- volume.create: {{name: v1}}', got {_describe(node)}",
            )
        pairs = self.pairs(node, "step")
        actions = [(k, v) for k, v in pairs if k.value in ACTIONS]
        for key, _ in pairs:
            if key.value in ACTIONS or key.value in STEP_KEYS:
                continue
            if not actions:
                self.fail(
                    key, f"unknown action {_quote(key.value)} in step{_suggest(key.value, ACTIONS)}"
                )
            self.fail(
                key,
                f"unknown key {_quote(key.value)} in step"
                + _suggest(key.value, (*STEP_KEYS, *ACTIONS)),
            )
        if not actions:
            self.fail(
                node,
                "step has no action: give one action key such as volume.create, container.run, "
                "sleep or expect.calls (see docs/scenario-format.md)",
            )
        if len(actions) > 1:
            self.fail(
                actions[1][0],
                f"step has two actions, {_quote(actions[0][0].value)} and "
                f"{_quote(actions[1][0].value)}: give each its own step (or use 'parallel')",
            )
        key, value = actions[0]
        action = str(key.value)
        args = self.arguments(action, value)
        others = {k.value: v for k, v in pairs}
        expect = self.step_expect(others["expect"]) if "expect" in others else None
        name = self.string(others["name"], "'name' of a step") if "name" in others else None
        return Step(action=action, args=args, expect=expect, name=name, line=_line(node))

    def arguments(self, action: str, node: Node) -> Any:
        special: dict[str, Callable[[Node], Any]] = {
            "faults.add": self.faults_add,
            "sleep": lambda n: Sleep(seconds=self.duration(n, "'sleep'")),
            "parallel": self.parallel,
            "expect.calls": lambda n: self.expect_calls(n, "expect.calls"),
            "expect.no_calls": lambda n: self.expect_calls(n, "expect.no_calls"),
        }
        if action in special:
            return special[action](node)
        cls: Callable[..., Any] = ACTIONS[action]
        if action == "engine.crash":
            cls = functools.partial(EngineRestart, crash=True)
        spec = {a.key: a for a in ARGUMENTS[action]}
        required = [a.key for a in spec.values() if a.required]
        if isinstance(node, ScalarNode) and _kind(node) != "null" and required == ["name"]:
            return cls(**{"name": self.read_argument(spec["name"], node, action)})
        if _kind(node) == "null":
            if required:
                self.fail(node, f"{action} is missing the required key {_quote(required[0])}")
            return cls()
        shorthand = " (or the name as a string)" if required == ["name"] else ""
        m = self.mapping(
            node,
            action,
            spec,
            required=required,
            label=f"the arguments of {action}{shorthand}",
        )
        defaults = {f.name: f.default for f in attrs.fields(ACTIONS[action])}
        kwargs: dict[str, Any] = {}
        for key, (_, value) in m.items():
            if _kind(value) == "null" and key in defaults and defaults[key] is None:
                kwargs[key] = None
            else:
                kwargs[key] = self.read_argument(spec[key], value, action)
        return cls(**kwargs)

    def read_argument(self, arg: Argument, node: Node, action: str) -> Any:
        label = f"{_quote(arg.key)} in {action}"
        match arg.kind:
            case "string":
                return self.string(node, label)
            case "bool":
                return self.boolean(node, label)
            case "duration":
                return self.duration(node, label)
            case "argv":
                return self.argv(node, label)
            case "words":
                return self.words(node, label)
            case "textmap":
                return self.text_map(node, label)
            case "filters":
                return self.filters(node, label)
            case "exit_code":
                return self.integer(node, label, minimum=0, maximum=255)
            case "plugin":
                return self.plugin_ref(node, action)
        raise AssertionError(arg.kind)  # pragma: no cover

    def faults_add(self, node: Node) -> FaultsAdd:
        items = self.sequence(node, "'faults.add' (a list of faults)", nonempty=True)
        return FaultsAdd(faults=tuple(self.fault(item) for item in items))

    def parallel(self, node: Node) -> Parallel:
        items = self.sequence(node, "'parallel' (a list of steps)", nonempty=True)
        return Parallel(steps=tuple(self.step(item) for item in items))

    def expect_calls(self, node: Node, action: str) -> ExpectCalls | ExpectNoCalls:
        since = "start"
        plugin: str | None = None
        if isinstance(node, MappingNode):
            m = self.mapping(node, action, EXPECT_CALLS_KEYS, required=("calls",))
            items_node = m["calls"][1]
            if "since" in m:
                since = self.choice(m["since"][1], f"'since' in {action}", SINCE)
            if "plugin" in m:
                plugin = self.plugin_ref(m["plugin"][1], action)
        elif isinstance(node, SequenceNode):
            items_node = node
        else:
            self.fail(
                node,
                f"{action} must be a list of calls, or a mapping with 'calls' (and optionally "
                f"'since', 'plugin'), got {_describe(node)}",
            )
        items = self.sequence(items_node, f"the calls of {action}", nonempty=True)
        calls = tuple(self.call_item(item, action) for item in items)
        cls = ExpectCalls if action == "expect.calls" else ExpectNoCalls
        return cls(calls=calls, since=since, plugin=plugin)  # type: ignore[arg-type]

    def call_item(self, node: Node, action: str) -> CallPattern:
        label = f"a call in {action}"
        if isinstance(node, ScalarNode):
            return CallPattern(method=self.call_pattern(node, label))
        if not isinstance(node, MappingNode):
            self.fail(
                node,
                f"{label} must be a method name or '{{Iface.Method: {{field: value}}}}', "
                f"got {_describe(node)}",
            )
        pairs = self.pairs(node, label)
        if len(pairs) != 1:
            names = ", ".join(_quote(k.value) for k, _ in pairs) or "none"
            self.fail(
                node,
                f"{label} must have exactly one key, the method; this one has {names} "
                "(write one list item per call)",
            )
        key, value = pairs[0]
        method = self.call_pattern(key, label)
        if _kind(value) == "null":
            return CallPattern(method=method)
        return CallPattern(
            method=method, fields=self.json_object(value, f"the fields of {method} in {action}")
        )

    def step_expect(self, node: Node) -> StepExpect:
        m = self.mapping(node, "expect", EXPECT_KEYS, label="'expect' of a step")
        kwargs: dict[str, Any] = {}
        if "error" in m and "result" in m:
            self.fail(
                m["result"][0],
                "'error' and 'result' exclude each other in expect: a failing step has no result",
            )
        if "error" in m:
            value = m["error"][1]
            pattern = self.string(value, "'error' in expect")
            try:
                re.compile(pattern)
            except re.error as exc:
                self.fail(value, f"'error' in expect is not a valid regular expression: {exc}")
            kwargs["error"] = pattern
        if "result" in m:
            kwargs["result"] = self.json_object(m["result"][1], "'result' in expect")
        if "duration" in m:
            d = self.mapping(
                m["duration"][1], "duration", DURATION_KEYS, label="'duration' in expect"
            )
            if not d:
                self.fail(m["duration"][1], "'duration' in expect needs 'max', 'min' or both")
            if "max" in d:
                kwargs["duration_max"] = self.duration(d["max"][1], "'max' in duration")
            if "min" in d:
                kwargs["duration_min"] = self.duration(d["min"][1], "'min' in duration")
            if "max" in d and "min" in d and kwargs["duration_min"] > kwargs["duration_max"]:
                self.fail(d["min"][1], "'min' in duration must not be more than 'max'")
        return StepExpect(**kwargs)


def iter_steps(steps: Sequence[Step]) -> Iterator[Step]:
    """Every step, with the steps inside ``parallel`` after their parent."""
    for step in steps:
        yield step
        if isinstance(step.args, Parallel):
            yield from iter_steps(step.args.steps)
