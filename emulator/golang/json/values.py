"""What ``encoding/json`` values are in Python, and its error type.

Decoded values are plain JSON data (``dict``, ``list``, ``str``, ``int``, ``float``,
``bool``, ``None``).  Some are subclasses that remember what Go would still know: a
:class:`GoFloat` keeps its literal text, :class:`NegZero` is the integer ``-0`` (a float
field gets ``-0.0``), a :class:`RawStr` keeps the bytes between its quotes (Go's
``time.Time`` parses those), and an object with duplicate keys is a :class:`PairsDict`
(last value wins) that keeps every pair in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

__all__ = [
    "GoFloat",
    "GoJSONError",
    "GoType",
    "NegZero",
    "PairsDict",
    "RawStr",
    "make_object",
    "pairs",
    "parse_int",
]


class GoJSONError(Exception):
    """A JSON error whose ``str()`` is the text Go's ``encoding/json`` gives."""


@attrs.frozen
class GoType:
    """Marks the Go integer type of a field: ``Annotated[int, GoType("uint16")]``.

    ``name`` is what error texts print; ``kind`` is the underlying integer kind
    when ``name`` is a named type, e.g. ``GoType("tls.ClientAuthType", "int")``.
    """

    name: str
    kind: str | None = None


class GoFloat(float):
    """A JSON number that is not an integer in the text; keeps the literal."""

    __slots__ = ("literal",)
    literal: str

    def __new__(cls, literal: str) -> GoFloat:
        """Parse ``literal`` (valid JSON number text)."""
        self = super().__new__(cls, literal)
        self.literal = literal
        return self


class NegZero(int):
    """The JSON integer ``-0``: zero, but a float64 field gets ``-0.0``."""

    __slots__ = ()

    def __new__(cls) -> NegZero:
        """The only value: 0."""
        return super().__new__(cls, 0)


class RawStr(str):
    """A decoded string that also keeps its bytes as written between the quotes.

    Go's ``time.Time`` parses those raw bytes (no unescaping), so a time field
    needs them when the text had escapes or invalid UTF-8.
    """

    __slots__ = ("raw",)
    raw: bytes

    def __new__(cls, text: str, raw: bytes) -> RawStr:
        """Wrap ``text`` decoded from ``raw``."""
        self = super().__new__(cls, text)
        self.raw = raw
        return self


class PairsDict(dict[str, Any]):
    """An object with a repeated key: a dict (last wins) that keeps all pairs in order."""

    __slots__ = ("pairs",)
    pairs: list[tuple[str, Any]]


def make_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build the dict for a JSON object, keeping the pairs when a key repeats."""
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    dup = PairsDict(pairs)
    dup.pairs = pairs
    return dup


def pairs(value: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    """The key/value pairs of a decoded object in text order, repeats included."""
    return value.pairs if isinstance(value, PairsDict) else value.items()


def parse_int(literal: str) -> object:
    """An integer literal as a Python value (too long for ``int()``: a float)."""
    if literal == "-0":
        return NegZero()
    try:
        return int(literal)
    except ValueError:  # beyond sys.get_int_max_str_digits()
        return GoFloat(literal)
