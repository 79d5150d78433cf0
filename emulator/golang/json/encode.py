"""``json.NewEncoder(w).Encode(v)`` as dockerd sends plugin requests.

Compact output and one ``\\n``, HTML-safe string escaping, sorted map keys, Go's float
formatting (ES6 style), ``[]byte`` as base64 and ``time.Time`` as RFC 3339.  Encoding follows
the Python type of each value (an ``int`` in a float field is written as an integer).
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
from collections.abc import Iterable
from typing import Any, Final

import attrs

from emulator.golang.json.fields import struct_fields
from emulator.golang.json.values import GoJSONError
from emulator.golang.time import format_rfc3339

__all__ = ["encode", "encode_or_empty", "format_float", "quote"]


_HTML_UNSAFE = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')
_SHORT_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _escape(match: re.Match[str]) -> str:
    """The escape Go's encoder writes for one unsafe character."""
    char = match.group()
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:  # cannot be UTF-8: Go writes the replacement
        return "\\ufffd"
    return f"\\u{code:04x}"


def quote(text: str) -> str:
    """``text`` as a JSON string the way Go's ``Encoder`` (HTML escaping on) writes it."""
    if _HTML_UNSAFE.search(text) is None:
        return f'"{text}"'
    return '"' + _HTML_UNSAFE.sub(_escape, text) + '"'


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of ``abs(value)`` and the point position.

    ``value == 0.<digits> * 10**point``; ``value`` is finite and not zero.
    """
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    return stripped.rstrip("0"), point


def format_float(value: float) -> str:
    """A float64 as Go's encoder writes it (ES6 number formatting)."""
    if math.isnan(value) or math.isinf(value):
        text = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        raise GoJSONError(f"json: unsupported value: {text}")
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    digits, point = _shortest_digits(value)
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        exponent = point - 1
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        if exponent < 0:  # Go trims e-07 to e-7
            return f"{sign}{mantissa}e-{-exponent}"
        return f"{sign}{mantissa}e+{exponent:02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _is_empty(value: object) -> bool:
    """Go's ``isEmptyValue`` for ``omitempty``: false, 0, "", nil, empty slice/map."""
    if value is None or value is False:
        return True
    if isinstance(value, str | bytes | bytearray | list | tuple | dict):
        return len(value) == 0
    if isinstance(value, float):  # -0.0 is not the zero value (its bits differ)
        return value == 0 and math.copysign(1.0, value) > 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value == 0
    return False


_PREFIXES: dict[type, tuple[tuple[str, str, bool], ...]] = {}


def _struct_plan(cls: type) -> tuple[tuple[str, str, bool], ...]:
    """Per field: its attribute, ``"key":`` ready to write, and whether it is omitempty."""
    plan = _PREFIXES.get(cls)
    if plan is None:
        plan = _PREFIXES[cls] = tuple(
            (spec.attr, quote(spec.key) + ":", spec.omitempty) for spec in struct_fields(cls)
        )
    return plan


def _encode_struct(value: object, out: list[str]) -> None:
    """Append an attrs instance as a JSON object, fields in declaration order."""
    out.append("{")
    first = True
    for attr, prefix, omitempty in _struct_plan(type(value)):
        field_value = getattr(value, attr)
        if omitempty and _is_empty(field_value):
            continue
        if not first:
            out.append(",")
        first = False
        out.append(prefix)
        _encode_into(field_value, out)
    out.append("}")


def _encode_map(value: dict[Any, Any], out: list[str]) -> None:
    """Append a dict as a JSON object with keys sorted like Go's ``sort.Strings``."""
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"gojson: map keys must be str, not {type(key).__name__}")
    out.append("{")
    for index, key in enumerate(sorted(value)):
        if index:
            out.append(",")
        out.append(quote(key))
        out.append(":")
        _encode_into(value[key], out)
    out.append("}")


def _encode_array(value: Iterable[object], out: list[str]) -> None:
    """Append a list or tuple as a JSON array."""
    out.append("[")
    for index, item in enumerate(value):
        if index:
            out.append(",")
        _encode_into(item, out)
    out.append("]")


def _encode_into(value: object, out: list[str]) -> None:
    """Append the JSON text of ``value`` to ``out``."""
    if value is None:
        out.append("null")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, str):
        out.append(quote(value))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(format_float(value))
    elif attrs.has(type(value)):
        _encode_struct(value, out)
    elif isinstance(value, dict):
        _encode_map(value, out)
    elif isinstance(value, list | tuple):
        _encode_array(value, out)
    elif isinstance(value, bytes | bytearray | memoryview):
        out.append('"' + base64.b64encode(value).decode("ascii") + '"')
    elif isinstance(value, dt.datetime):
        out.append('"' + format_rfc3339(value) + '"')
    else:
        raise TypeError(f"gojson: cannot encode a value of type {type(value).__name__}")


def encode(value: object) -> bytes:
    """What Go's ``json.NewEncoder(w).Encode(value)`` writes: compact JSON and ``\\n``.

    Raises :class:`GoJSONError` for NaN and infinities (Go's
    ``json: unsupported value: NaN``), ``TypeError`` for a value with no Go
    counterpart and ``ValueError`` for a naive datetime.
    """
    out: list[str] = []
    _encode_into(value, out)
    out.append("\n")
    return "".join(out).encode("utf-8")


def encode_or_empty(value: object) -> bytes:
    """The request body dockerd sends: empty for ``None`` (``args == nil``), else :func:`encode`."""
    return b"" if value is None else encode(value)
