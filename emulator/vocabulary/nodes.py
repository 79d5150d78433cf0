"""Documents as YAML nodes that keep their positions, from YAML text or from Python values.

Scenario files, the control API's fault bodies and the fault words given from Python
(``engine.faults.add(...)``, ``@pytest.mark.faults(...)``) are all read the same way: as a
tree of PyYAML nodes (safe loading only: no Python objects, no custom tags), checked by
:class:`emulator.vocabulary.reader.Reader`.  A mistake becomes one :class:`ScenarioError`
naming where it is: ``FILE:LINE:COLUMN`` for text, the call that gave it for Python values.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Mapping
from typing import Any, Final

import attrs
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from emulator.errors import EmulatorError

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "TOO_DEEP",
    "FaultSpecError",
    "ScenarioError",
    "compose",
    "decode_text",
    "describe",
    "float_value",
    "from_python",
    "int_value",
    "kind_of",
    "line_of",
    "quote",
    "suggest",
    "too_big",
]

MAX_DEPTH: Final = 48
"""Deepest nesting of mappings and lists accepted."""
MAX_NODES: Final = 100_000
"""Most nodes a document may expand to (YAML aliases count each time they are used)."""
TOO_DEEP: Final = f"the YAML nests more than {MAX_DEPTH} levels deep"
TOO_MANY: Final = f"the document expands to more than {MAX_NODES} YAML nodes"
MAX_BYTES: Final = 4 << 20
"""Largest document (a scenario file, a fault list) read, in bytes: refused before parsing."""


def too_big(size: int) -> str | None:
    """Why a document of ``size`` bytes is refused before it is parsed (None: it is not)."""
    if size <= MAX_BYTES:
        return None
    return (
        f"the document is {size} bytes: plugin-emulator reads at most {MAX_BYTES} "
        "(split it into several documents)"
    )


TAG: Final = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (TAG + t for t in ("str", "int", "float", "bool", "null"))
MAP, SEQ, MERGE = TAG + "map", TAG + "seq", TAG + "merge"
TEXT_TAGS: Final = frozenset({STR, TAG + "timestamp", TAG + "value", MERGE})
SCALAR_TAGS: Final = TEXT_TAGS | {INT, FLOAT, BOOL, NULL}
_CONSTRUCTOR: Final = yaml.constructor.SafeConstructor()


class ScenarioError(EmulatorError):
    """A scenario file (or fault words) that cannot be used.

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


class FaultSpecError(ScenarioError, ValueError):
    """Fault words given from Python that cannot be used.

    ``str()`` is ``SOURCE: what is wrong``, where ``source`` names the call that gave them
    (``engine.faults.add()``, ``@pytest.mark.faults``); ``line`` and ``column`` are 0.
    """

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message, path=source, line=0, column=0)
        self.text = f"{source}: {message}"
        self.args = (self.text,)


@attrs.frozen
class PythonMark:
    """Where a node made from a Python value came from (in place of a YAML ``Mark``)."""

    source: str
    line: int = -1
    column: int = -1


# -- YAML text -> nodes ---------------------------------------------------------------


def decode_text(data: bytes, filename: str) -> str:
    """``data`` as UTF-8 text (a BOM is dropped); anything else (or too much) is a
    ScenarioError."""
    problem = too_big(len(data))
    if problem is not None:
        raise ScenarioError(problem, path=filename, line=1, column=1)
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
    level of nesting, so nesting is bounded before Python's recursion limit is near,
    and it stops at MAX_NODES nodes, before a huge document fills memory."""

    depth = 0
    nodes = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self.depth += 1
        self.nodes += 1
        try:
            event: Any = self.peek_event()  # type: ignore[no-untyped-call]
            mark: Any = event.start_mark
            if self.depth > MAX_DEPTH and isinstance(event, yaml.CollectionStartEvent):
                raise _TooDeep(problem=TOO_DEEP, problem_mark=mark)
            if self.nodes > MAX_NODES:
                raise _TooDeep(problem=TOO_MANY, problem_mark=mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    """One line saying what PyYAML found wrong."""
    problem, context = exc.problem or "", exc.context or ""
    if isinstance(exc, _TooDeep):
        return problem
    if isinstance(exc, yaml.composer.ComposerError) and "another document" in problem:
        return "a scenario file holds one YAML document: remove the '---' (or split the file)"
    if context and problem.startswith("but "):
        return f"invalid YAML: {context}, {problem}"
    if context and problem and exc.context_mark is not None:
        where = f"{exc.context_mark.line + 1}:{exc.context_mark.column + 1}"
        return f"invalid YAML: {problem} ({context} at {where})"
    return f"invalid YAML: {problem or context or 'syntax error'}"


def compose(text: str, filename: str) -> Node | None:
    """The YAML's node tree; syntax errors, too much text, too many nodes and too deep
    nesting become ScenarioErrors."""
    problem = too_big(len(text.encode("utf-8", "surrogatepass")))
    if problem is not None:
        raise ScenarioError(problem, path=filename, line=1, column=1)
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        return loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise ScenarioError(_yaml_message(exc), path=filename, line=line, column=column) from None
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


# -- Python values -> nodes -------------------------------------------------------------


def from_python(value: object, source: str) -> Node:
    """A node tree for plain Python data (mappings with string keys, lists, tuples, str,
    int, float, bool, None); every node's mark is ``source``.  Anything else is a
    :class:`FaultSpecError` saying so."""
    mark: Any = PythonMark(source)
    if isinstance(value, Mapping):
        pairs = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise FaultSpecError(
                    f"a key must be a string, got {key!r} ({type(key).__name__})", source=source
                )
            pairs.append((ScalarNode(STR, key, mark, mark), from_python(item, source)))
        return MappingNode(MAP, pairs, mark, mark)
    if isinstance(value, list | tuple):
        return SequenceNode(SEQ, [from_python(item, source) for item in value], mark, mark)
    if value is None:
        return ScalarNode(NULL, "null", mark, mark)
    if isinstance(value, bool):
        return ScalarNode(BOOL, "true" if value else "false", mark, mark)
    if isinstance(value, int):
        return ScalarNode(INT, str(value), mark, mark)
    if isinstance(value, float):
        text = ".nan" if math.isnan(value) else repr(value).replace("inf", ".inf")
        return ScalarNode(FLOAT, text, mark, mark)
    if isinstance(value, str):
        return ScalarNode(STR, value, mark, mark)
    raise FaultSpecError(
        f"{value!r} is not data the fault words take ({type(value).__name__}): use "
        "strings, numbers, booleans, None, lists and dicts",
        source=source,
    )


# -- looking at nodes -----------------------------------------------------------------


def quote(text: str) -> str:
    """``'text'`` for messages (long text cut, line breaks shown as ``\\n``)."""
    text = text if len(text) <= 60 else text[:57] + "..."
    return "'" + text.replace("\n", "\\n") + "'"


def kind_of(node: Node) -> str:
    """What a node is: ``mapping``, ``list``, ``null``, ``bool``, ``int``, ``float``, ``str``.

    YAML 1.1's ``yes``/``no``/``on``/``off`` and timestamps count as strings.
    """
    if isinstance(node, MappingNode):
        return "mapping"
    if isinstance(node, SequenceNode):
        return "list"
    tag = node.tag
    if tag == NULL:
        return "null"
    if tag == BOOL:
        return "bool" if str(node.value).lower() in ("true", "false") else "str"
    if tag == INT:
        return "int"
    if tag == FLOAT:
        return "float"
    return "str"


def int_value(node: Node) -> int:
    """The integer a scalar tagged int stands for (``0x1f``, ``1_000`` …)."""
    assert isinstance(node, ScalarNode)
    return _CONSTRUCTOR.construct_yaml_int(node)


def float_value(node: Node) -> float:
    """The float a scalar tagged float stands for (``1e3``, ``.inf`` …)."""
    assert isinstance(node, ScalarNode)
    return _CONSTRUCTOR.construct_yaml_float(node)


def describe(node: Node) -> str:
    """A node as messages show what was found: ``a mapping``, ``'text'``, ``5`` …"""
    kind = kind_of(node)
    if kind == "mapping":
        return "a mapping"
    if kind == "list":
        return "a list"
    if kind == "null":
        return "nothing (null)"
    if kind == "str":
        return quote(str(node.value))
    return str(node.value)


def suggest(word: str, choices: Collection[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest valid word, else the list of them."""
    if not choices:
        return " (it takes no keys)"
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {quote(close[0])}?)"
    return " (expected one of: " + ", ".join(choices) + ")"


def line_of(node: Node) -> int:
    """The 1-based line a node starts on."""
    return int(node.start_mark.line) + 1
