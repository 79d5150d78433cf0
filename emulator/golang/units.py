"""docker/go-units' size parsing (``size.go``, as vendored in moby/moby v28.5.2), and the
``strconv`` number parsers it and dockerd's log options rely on.

``RAMInBytes`` reads binary units (``1k`` = 1024), ``FromHumanSize`` decimal ones
(``1k`` = 1000); both take an optional ``b``/``ib`` and one space before the unit.
Errors carry Go's texts.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["UnitsError", "from_human_size", "parse_bool", "parse_float", "ram_in_bytes"]

_DECIMAL: Final = {"k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4, "p": 1000**5}
_BINARY: Final = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_GO_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?i:inf|infinity|nan)")
_TRUE: Final = ("1", "t", "T", "TRUE", "true", "True")
_FALSE: Final = ("0", "f", "F", "FALSE", "false", "False")


class UnitsError(ValueError):
    """A value Go would refuse; ``str()`` is Go's text."""


def parse_float(text: str) -> float:
    """``strconv.ParseFloat(text, 64)`` for decimal texts (hex floats are not read)."""
    if _GO_FLOAT.fullmatch(text) is None:
        raise UnitsError(f'strconv.ParseFloat: parsing "{text}": invalid syntax')
    return float(text)


def parse_bool(text: str) -> bool:
    """``strconv.ParseBool``."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UnitsError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def _parse_size(text: str, units: dict[str, int]) -> int:
    sep = max(text.rfind(c) for c in "01234567890. ")
    if sep == -1:
        raise UnitsError(f"invalid size: '{text}'")
    if text[sep] != " ":
        number, suffix = text[: sep + 1], text[sep + 1 :]
    else:
        number, suffix = text[:sep], text[sep + 1 :]
    size = parse_float(number)
    if size < 0:
        raise UnitsError(f"invalid size: '{text}'")
    if not suffix:
        return int(size)
    lowered = suffix.lower()
    bad = UnitsError(f"invalid suffix: '{lowered if len(suffix) <= 3 else suffix}'")
    if len(suffix) > 3:
        raise bad
    if lowered[0] == "b":
        if len(lowered) > 1:
            raise bad
        return int(size)
    multiplier = units.get(lowered[0])
    if multiplier is None:
        raise bad
    if (len(lowered) == 2 and lowered[1] != "b") or (len(lowered) == 3 and lowered[1:] != "ib"):
        raise bad
    return int(size * multiplier)


def ram_in_bytes(text: str) -> int:
    """``units.RAMInBytes``: ``1m`` is 1048576."""
    return _parse_size(text, _BINARY)


def from_human_size(text: str) -> int:
    """``units.FromHumanSize``: ``1m`` is 1000000."""
    return _parse_size(text, _DECIMAL)
