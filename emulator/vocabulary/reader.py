"""Reading a node tree value by value, so that every mistake is one clear error.

:class:`Reader` holds the primitive readers (a string, a duration, a list of words …);
each says what was expected where and what was found.  The tables of
:mod:`emulator.vocabulary.kinds` are read with them, and so are the scenario's and the
fault words' tables built from those.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection, Sequence
from typing import Any, Final, NoReturn

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from emulator.vocabulary.nodes import (
    FLOAT,
    INT,
    MAP,
    MAX_DEPTH,
    MAX_NODES,
    MERGE,
    SCALAR_TAGS,
    SEQ,
    TAG,
    TOO_DEEP,
    FaultSpecError,
    PythonMark,
    ScenarioError,
    describe,
    float_value,
    int_value,
    kind_of,
    line_of,
    quote,
    suggest,
)

__all__ = [
    "DURATION_HELP",
    "DURATION_PATTERN",
    "METHOD_PATTERN",
    "PLUGIN_NAME_PATTERN",
    "Pairs",
    "Reader",
    "parse_duration",
]

DURATION_PATTERN: Final = r"^([0-9]+(\.[0-9]+)?(ms|h|m|s))+$"
"""A duration string (``500ms``, ``15s``, ``2m``, ``1h``, ``1m30s``), as a JSON Schema
pattern; numbers are seconds."""
PLUGIN_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
METHOD_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$"
DURATION_HELP: Final = (
    "a duration (seconds as a number, or a string such as 500ms, 15s, 2m, 1h, 1m30s)"
)

_DURATION_RE: Final = re.compile(DURATION_PATTERN.strip("^$"))
_DURATION_PART_RE: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|h|m|s)")
_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_METHOD_RE: Final = re.compile(METHOD_PATTERN.strip("^$"))
GLOB_NAME_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
)

Pairs = dict[str, tuple[ScalarNode, Node]]


def parse_duration(text: str) -> float | None:
    """Seconds in a duration string such as ``1m30s``, or None if it is not one."""
    if not _DURATION_RE.fullmatch(text):
        return None
    return sum(float(n) * _UNITS[unit] for n, unit in _DURATION_PART_RE.findall(text))


def glob_problem(text: str) -> str:
    """What is wrong with a glob of a method name, or "" if nothing is."""
    i = 0
    while i < len(text):
        ch, where = text[i], f"(character {i + 1})"
        if ch == "[":
            close = text.find("]", i + 1)
            if close < 0:
                return f"'[' {where} is never closed"
            inside = text[i + 1 : close].removeprefix("!")
            if not inside or not set(inside) <= GLOB_NAME_CHARS:
                return (
                    f"'[…]' {where} must list letters, digits, '_', '.' or '-' (after '!' or not)"
                )
            i = close + 1
            continue
        if ch == "]":
            return f"']' {where} has no '['"
        if ch not in GLOB_NAME_CHARS and ch not in "*?":
            return f"{quote(ch)} {where} cannot appear in a method name"
        i += 1
    return ""


def whole_number(node: Node) -> int | None:
    """The integer a node holds: an int, or a float with no fraction (``2.0``, as JSON
    Schema counts it); else None."""
    kind = kind_of(node)
    if kind == "int":
        return int_value(node)
    if kind == "float":
        number = float_value(node)
        if number.is_integer():
            return int(number)
    return None


def _wanted(noun: str, unbounded: str, minimum: float | None, maximum: float | None) -> str:
    """What a bounded number must be, in words: ``an integer from 1 to 5`` …"""
    if minimum is not None and maximum is not None:
        return f"{noun} from {minimum:g} to {maximum:g}"
    if minimum is not None:
        return f"{noun} of at least {minimum:g}"
    return unbounded


class Reader:
    """Reads nodes of one document; every problem is a :class:`ScenarioError`.

    ``filename`` names the document in errors.  ``plugins`` holds the names (and lines)
    of the plugins a scenario declared; None where names are not declared (fault words
    from Python or the control API), so any plugin name is taken.
    """

    def __init__(self, filename: str, *, plugins: dict[str, int] | None = None) -> None:
        self.filename = filename
        self.plugins = plugins

    def fail(self, node: Node, message: str) -> NoReturn:
        """Stop with ``message`` at ``node``'s position."""
        mark = node.start_mark
        if isinstance(mark, PythonMark):
            raise FaultSpecError(message, source=mark.source)
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
                self.fail(node, TOO_DEEP)
            expected = MAP if isinstance(node, MappingNode) else SEQ
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
        if node.tag not in SCALAR_TAGS:
            self._bad_tag(node)
        try:
            if node.tag == INT:
                int_value(node)
            elif node.tag == FLOAT:
                float_value(node)
        except (ValueError, IndexError):
            self.fail(node, f"{quote(node.value)} is tagged {node.tag} but is not one")

    def _bad_tag(self, node: Node) -> NoReturn:
        tag = quote(str(node.tag).replace(TAG, "!!"))
        self.fail(
            node,
            f"unsupported YAML tag {tag}: scenario files use plain mappings, lists, strings, "
            "numbers, booleans and null",
        )

    # -- mappings and lists -------------------------------------------------------------

    def pairs(self, node: MappingNode, what: str) -> list[tuple[ScalarNode, Node]]:
        """The key/value pairs of a mapping with ``<<`` merges applied; explicit keys must
        be unique and win over merged ones."""
        explicit: list[tuple[ScalarNode, Node]] = []
        merged: list[tuple[ScalarNode, Node]] = []
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.tag == MERGE:
                sources = value.value if isinstance(value, SequenceNode) else [value]
                for source in sources:
                    if not isinstance(source, MappingNode):
                        self.fail(
                            source, f"a '<<' merge in {what} takes a mapping or a list of them"
                        )
                    merged += self.pairs(source, what)
                continue
            if not isinstance(key, ScalarNode) or kind_of(key) == "null":
                self.fail(key, f"a key in {what} must be a plain string, got {describe(key)}")
            explicit.append((key, value))
        seen: dict[str, ScalarNode] = {}
        for key, _ in explicit:
            if key.value in seen:
                first = line_of(seen[key.value])
                self.fail(
                    key, f"duplicate key {quote(key.value)} in {what} (first at line {first})"
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
            self.fail(node, f"{label or what} must be a mapping, got {describe(node)}")
        found: Pairs = {}
        for key, value in self.pairs(node, what):
            if key.value not in keys:
                self.fail(
                    key, f"unknown key {quote(key.value)} in {what}{suggest(key.value, keys)}"
                )
            found[key.value] = (key, value)
        for name in required:
            if name not in found:
                self.fail(node, f"{what} is missing the required key {quote(name)}")
        return found

    def mapping_keys(self, node: Node) -> set[str]:
        """The keys of ``node`` if it is a mapping (already checked), else nothing."""
        if not isinstance(node, MappingNode):
            return set()
        return {key.value for key, _ in self.pairs(node, "a mapping")}

    def sequence(self, node: Node, label: str, *, nonempty: bool = False) -> list[Node]:
        """The items of a list."""
        if not isinstance(node, SequenceNode):
            self.fail(node, f"{label} must be a list, got {describe(node)}")
        if nonempty and not node.value:
            self.fail(node, f"{label} must not be empty")
        return list(node.value)

    # -- scalars ------------------------------------------------------------------------

    def string(self, node: Node, label: str, *, nonempty: bool = False) -> str:
        """A YAML string (a number or boolean is refused: quote it)."""
        kind = kind_of(node)
        if kind != "str":
            hint = f" (quote it: '{node.value}')" if kind in ("int", "float", "bool") else ""
            self.fail(node, f"{label} must be a string, got {describe(node)}{hint}")
        if nonempty and not node.value:
            self.fail(node, f"{label} must not be empty")
        return str(node.value)

    def choice(self, node: Node, label: str, choices: Collection[str]) -> str:
        """One of ``choices``."""
        if kind_of(node) != "str" or node.value not in choices:
            options = ", ".join(choices)
            hint = suggest(str(node.value), choices) if kind_of(node) == "str" else ""
            hint = hint if "did you mean" in hint else ""
            self.fail(node, f"{label} must be one of {options}; got {describe(node)}{hint}")
        return str(node.value)

    def text(self, node: Node, label: str) -> str:
        """Any scalar but null, exactly as written."""
        if kind_of(node) in ("mapping", "list", "null"):
            self.fail(node, f"{label} must be a string or number, got {describe(node)}")
        return str(node.value)

    def boolean(self, node: Node, label: str) -> bool:
        """``true`` or ``false``."""
        if kind_of(node) != "bool":
            self.fail(node, f"{label} must be true or false, got {describe(node)}")
        return str(node.value).lower() == "true"

    def integer(
        self, node: Node, label: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        """A whole number within bounds."""
        value = whole_number(node)
        if (
            value is None
            or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)
        ):
            wanted = _wanted("an integer", "an integer", minimum, maximum)
            self.fail(node, f"{label} must be {wanted}, got {describe(node)}")
        return value

    def number(
        self, node: Node, label: str, *, minimum: float | None = None, maximum: float | None = None
    ) -> float:
        """A finite number within bounds."""
        value = float("nan")
        if kind_of(node) == "int":
            value = float(int_value(node))
        elif kind_of(node) == "float":
            value = float_value(node)
        low = float("-inf") if minimum is None else minimum
        high = float("inf") if maximum is None else maximum
        if not (low <= value <= high) or value in (float("inf"), float("-inf")):
            wanted = _wanted("a number", "a finite number", minimum, maximum)
            self.fail(node, f"{label} must be {wanted}, got {describe(node)}")
        return value

    def duration(self, node: Node, label: str, *, expected: str = DURATION_HELP) -> float:
        """Seconds: a number, or a string with units."""
        kind = kind_of(node)
        seconds: float | None = None
        if kind in ("int", "float"):
            number = float(int_value(node)) if kind == "int" else float_value(node)
            if 0 <= number < float("inf"):
                seconds = number
        elif kind == "str":
            seconds = parse_duration(str(node.value))
        if seconds is None:
            self.fail(node, f"{label} must be {expected}, got {describe(node)}")
        return seconds

    def optional_duration(self, node: Node, label: str) -> float | None:
        """A duration, or null (None)."""
        if kind_of(node) == "null":
            return None
        return self.duration(node, label, expected=DURATION_HELP + " or null")

    # -- free-form data -------------------------------------------------------------------

    def plain(self, node: Node) -> Any:
        """A free-form value (request bodies, results) as JSON-like Python data."""
        kind = kind_of(node)
        if isinstance(node, MappingNode):
            return {key.value: self.plain(value) for key, value in self.pairs(node, "a mapping")}
        if isinstance(node, SequenceNode):
            return [self.plain(item) for item in node.value]
        if kind == "null":
            return None
        if kind == "bool":
            return str(node.value).lower() == "true"
        if kind == "int":
            return int_value(node)
        if kind == "float":
            return float_value(node)
        return str(node.value)

    def json_object(self, node: Node, label: str) -> dict[str, Any]:
        """A mapping of free-form data."""
        if not isinstance(node, MappingNode):
            self.fail(node, f"{label} must be a mapping, got {describe(node)}")
        value: dict[str, Any] = self.plain(node)
        return value

    def text_map(self, node: Node, label: str) -> dict[str, str]:
        """A mapping of names to scalars, taken as written."""
        if not isinstance(node, MappingNode):
            self.fail(node, f"{label} must be a mapping of names to values, got {describe(node)}")
        return {
            key.value: self.text(value, f"{quote(key.value)} in {label}")
            for key, value in self.pairs(node, label)
        }

    def words(self, node: Node, label: str) -> tuple[str, ...]:
        """A list of scalars, taken as written."""
        return tuple(
            self.text(item, f"item {i} of {label}")
            for i, item in enumerate(self.sequence(node, label), 1)
        )

    def argv(self, node: Node, label: str) -> tuple[str, ...]:
        """A list of words, or a string split as a POSIX shell would."""
        if isinstance(node, SequenceNode):
            return self.words(node, label)
        if kind_of(node) != "str":
            self.fail(node, f"{label} must be a list of words or a string, got {describe(node)}")
        try:
            return tuple(shlex.split(str(node.value)))
        except ValueError as exc:
            self.fail(node, f"{label} cannot be split into words: {exc}")

    def filters(self, node: Node, label: str) -> dict[str, tuple[str, ...]]:
        """Filter names to one scalar or a list of them."""
        if not isinstance(node, MappingNode):
            self.fail(
                node, f"{label} must be a mapping of filter names to values, got {describe(node)}"
            )
        result: dict[str, tuple[str, ...]] = {}
        for key, value in self.pairs(node, label):
            what = f"filter {quote(key.value)}"
            if isinstance(value, SequenceNode):
                result[key.value] = self.words(value, what)
            else:
                result[key.value] = (self.text(value, what),)
        return result

    # -- names ------------------------------------------------------------------------------

    def plugin_ref(self, node: Node, label: str) -> str:
        """A plugin's name; in a scenario, one it declared."""
        name = self.string(node, label)
        if self.plugins is not None and name not in self.plugins:
            hint = (
                suggest(name, self.plugins).replace("expected one of", "declared")
                if self.plugins
                else " (no plugins are declared)"
            )
            self.fail(node, f"{label} names plugin {quote(name)}, which is not in 'plugins'{hint}")
        return name

    def call_pattern(self, node: Node, label: str) -> str:
        """``Iface.Method`` or a shell-style glob of one."""
        text = self.string(node, label)
        if not any(c in text for c in "*?["):
            if not _METHOD_RE.fullmatch(text):
                self.fail(
                    node,
                    f"{label} must be Iface.Method (such as VolumeDriver.Mount) or a glob "
                    f"(such as VolumeDriver.*), got {quote(text)}",
                )
            return text
        problem = glob_problem(text)
        if problem:
            self.fail(node, f"bad glob {quote(text)} in {label}: {problem}")
        return text
