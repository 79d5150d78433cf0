"""Does this call match?  One set of rules for every place that asks (docs/matching.md).

Scenario ``expect.calls`` / ``expect.no_calls``, the pytest ``assert_called`` family and
fault ``match`` (``call`` and ``body``) all decide with these functions:

* a **method pattern** (:func:`call_matches`) is ``Iface.Method`` exactly, a shell-style
  glob of one (``VolumeDriver.*``; ``*``, ``?`` and ``[…]``), just the method
  (``"Mount"``: any interface), or None for any call;
* a **field** names a key of the request body (``Name``, ``Opts`` …), or one of the
  journal entry's own attributes (:data:`ENTRY_FIELDS`), or a decoded body
  (:data:`BODY_FIELDS`); fault ``match.body`` only ever looks at the request body;
* a **value** (:func:`value_matches`) compares with ``==``, except that a mapping matches a
  mapping holding at least its keys with matching values (recursively), and, from Python,
  a compiled regular expression matches a string it finds in and a callable is a predicate;
* a **body** is read as JSON (:func:`decode_body`); an empty body, or one that is not JSON,
  reads as None, which no field is found in.

Every named field must be present and match; no fields match any call of the method.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs

if TYPE_CHECKING:
    from emulator.journal import JournalEntry

__all__ = [
    "BODY_FIELDS",
    "ENTRY_FIELDS",
    "MISSING",
    "CallSpec",
    "as_spec",
    "body_matches",
    "call",
    "call_matches",
    "clip",
    "decode_body",
    "entry_field",
    "show_value",
    "value_matches",
]

#: Fields compared with the journal entry's attribute of the same name.
ENTRY_FIELDS: Final = frozenset(
    {"plugin", "status", "error", "fault", "attempt", "address", "call_id", "ok"}
)
#: Fields compared with the decoded bodies.
BODY_FIELDS: Final = frozenset({"request", "response"})
#: What :func:`entry_field` gives for a field the call does not have.
MISSING: Final = object()
_SHORT = 120


def decode_body(body: bytes | None) -> Any:
    """A request or response body as JSON data, or None (absent, empty or not JSON)."""
    if body is None or not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def call_matches(pattern: str | None, method: str) -> bool:
    """Whether ``method`` (``Iface.Method``) fits the method pattern (see the module doc)."""
    if pattern is None:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(method, pattern)
    if "." not in pattern:
        return method.partition(".")[2] == pattern
    return method == pattern


def value_matches(expected: Any, actual: Any) -> bool:
    """Compare one expected value with the one the call has (see the module doc)."""
    if isinstance(expected, re.Pattern):
        return isinstance(actual, str) and expected.search(actual) is not None
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and value_matches(v, actual[k]) for k, v in expected.items()
        )
    if callable(expected) and not isinstance(expected, type):
        return bool(expected(actual))
    return bool(expected == actual)


def body_matches(fields: Mapping[str, Any], body: Any) -> bool:
    """Whether a request body holds every field with a matching value (fault ``match.body``)."""
    return all(
        isinstance(body, Mapping) and key in body and value_matches(expected, body[key])
        for key, expected in fields.items()
    )


def entry_field(entry: JournalEntry, key: str) -> Any:
    """The value a field names in a journal entry, or :data:`MISSING`."""
    if key in ENTRY_FIELDS:
        return getattr(entry, key)
    if key in BODY_FIELDS:
        return entry.request if key == "request" else entry.response
    request = entry.request
    if isinstance(request, Mapping) and key in request:
        return request[key]
    return MISSING


@attrs.frozen
class CallSpec:
    """An expected call: a method pattern (None: any) and fields; see the module doc."""

    method: str | None = None
    fields: Mapping[str, Any] = attrs.field(factory=dict)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={show_value(v)}" for k, v in self.fields.items())
        return f"{self.method or '*'}({args})"

    def method_matches(self, entry: JournalEntry) -> bool:
        """True when the entry's method fits the pattern."""
        return call_matches(self.method, entry.method)

    def field_matches(self, entry: JournalEntry, key: str) -> bool:
        """True when the entry has field ``key`` with a matching value."""
        actual = entry_field(entry, key)
        return actual is not MISSING and value_matches(self.fields[key], actual)

    def matches(self, entry: JournalEntry) -> bool:
        """True when the entry is this call with these fields."""
        return self.method_matches(entry) and all(
            self.field_matches(entry, key) for key in self.fields
        )

    def mismatches(self, entry: JournalEntry) -> list[str]:
        """Why the entry is not this call, one line per difference ([] when it is)."""
        found = []
        if not self.method_matches(entry):
            found.append(f"call: {entry.method} is not {self.method}")
        for key, expected in self.fields.items():
            actual = entry_field(entry, key)
            if actual is MISSING:
                found.append(f"{key}: absent from the request (expected {show_value(expected)})")
            elif not value_matches(expected, actual):
                found.append(f"{key}: {show_value(actual)} != expected {show_value(expected)}")
        return found

    def score(self, entry: JournalEntry) -> int:
        """How close the entry is: the method counts most, then each matching field."""
        return (len(self.fields) + 1) * self.method_matches(entry) + sum(
            self.field_matches(entry, key) for key in self.fields
        )


def call(method: str | None = None, /, **fields: Any) -> CallSpec:
    """``call("VolumeDriver.Mount", Name="v1")``: an expected call for ``assert_calls``."""
    return CallSpec(method, dict(fields))


def as_spec(item: CallSpec | str | tuple[str, Mapping[str, Any]]) -> CallSpec:
    """A spec from a :class:`CallSpec`, a method name, or ``(method, {fields})``."""
    if isinstance(item, CallSpec):
        return item
    if isinstance(item, str):
        return CallSpec(item, {})
    method, fields = item
    return CallSpec(method, dict(fields))


def show_value(value: Any) -> str:
    """An expected or actual value as failure messages show it (clipped)."""
    if isinstance(value, re.Pattern):
        return f"re({value.pattern!r})"
    if callable(value) and not isinstance(value, type):
        return getattr(value, "__name__", repr(value))
    return clip(repr(value))


def clip(text: str) -> str:
    """``text``, cut to 120 characters with an ellipsis."""
    return text if len(text) <= _SHORT else text[: _SHORT - 1] + "…"
