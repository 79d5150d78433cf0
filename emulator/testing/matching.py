"""Call patterns for journal assertions: what a test expects a plugin to have been asked.

A :class:`CallSpec` names a call (``"VolumeDriver.Mount"``, just ``"Mount"``, or a glob
such as ``"VolumeDriver.*"``) and fields that the journal entry must have:

* ``plugin``, ``status``, ``error``, ``fault``, ``attempt``, ``address``, ``call_id`` and
  ``ok`` are compared with the :class:`~emulator.journal.JournalEntry` attribute;
* ``request`` and ``response`` with the decoded JSON bodies;
* any other name (``Name``, ``Opts``, ``ID`` …) with that key of the request body.

Expected values compare with ``==``, except that a dict matches when every key it names
matches (the entry may have more), a compiled regular expression matches a string it
finds in, and a callable is a predicate (``status=lambda s: s != 200``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from emulator.journal import JournalEntry

__all__ = ["CallSpec", "as_spec", "call", "describe_entry", "nearest"]

#: Fields compared with the journal entry's attribute of the same name.
ENTRY_FIELDS = frozenset(
    {"plugin", "status", "error", "fault", "attempt", "address", "call_id", "ok"}
)
#: Fields compared with the decoded bodies.
BODY_FIELDS = frozenset({"request", "response"})
_MISSING = object()
_SHORT = 120


@attrs.frozen
class CallSpec:
    """An expected call: a method pattern (None: any) and fields; see the module docstring."""

    method: str | None = None
    fields: Mapping[str, Any] = attrs.field(factory=dict)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={_show(v)}" for k, v in self.fields.items())
        return f"{self.method or '*'}({args})"

    def method_matches(self, entry: JournalEntry) -> bool:
        """True when the entry's method fits the pattern."""
        pattern = self.method
        if pattern is None:
            return True
        if any(c in pattern for c in "*?["):
            return fnmatch.fnmatchcase(entry.method, pattern)
        if "." not in pattern:
            return entry.method.partition(".")[2] == pattern
        return entry.method == pattern

    def mismatches(self, entry: JournalEntry) -> list[str]:
        """Why the entry is not this call, one line per difference ([] when it is)."""
        found = []
        if not self.method_matches(entry):
            found.append(f"call: {entry.method} is not {self.method}")
        for key, expected in self.fields.items():
            actual = _actual(entry, key)
            if actual is _MISSING:
                found.append(f"{key}: absent from the request (expected {_show(expected)})")
            elif not value_matches(expected, actual):
                found.append(f"{key}: {_show(actual)} != expected {_show(expected)}")
        return found

    def matches(self, entry: JournalEntry) -> bool:
        """True when the entry is this call with these fields."""
        return self.method_matches(entry) and all(
            (actual := _actual(entry, key)) is not _MISSING and value_matches(expected, actual)
            for key, expected in self.fields.items()
        )

    def score(self, entry: JournalEntry) -> int:
        """How close the entry is: the method counts most, then each matching field."""
        return (len(self.fields) + 1) * self.method_matches(entry) + sum(
            (actual := _actual(entry, key)) is not _MISSING and value_matches(expected, actual)
            for key, expected in self.fields.items()
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


def value_matches(expected: Any, actual: Any) -> bool:
    """Compare one expected value with what the journal holds (see the module docstring)."""
    if isinstance(expected, re.Pattern):
        return isinstance(actual, str) and expected.search(actual) is not None
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and value_matches(v, actual[k]) for k, v in expected.items()
        )
    if callable(expected) and not isinstance(expected, type):
        return bool(expected(actual))
    return bool(expected == actual)


def _actual(entry: JournalEntry, key: str) -> Any:
    if key in ENTRY_FIELDS:
        return getattr(entry, key)
    if key in BODY_FIELDS:
        return entry.request if key == "request" else entry.response
    request = entry.request
    if isinstance(request, Mapping) and key in request:
        return request[key]
    return _MISSING


def _show(value: Any) -> str:
    if isinstance(value, re.Pattern):
        return f"re({value.pattern!r})"
    if callable(value) and not isinstance(value, type):
        return getattr(value, "__name__", repr(value))
    return _clip(repr(value))


def _clip(text: str) -> str:
    return text if len(text) <= _SHORT else text[: _SHORT - 1] + "…"


def describe_entry(entry: JournalEntry) -> str:
    """One line: ``#4 rclone VolumeDriver.Mount {"Name":"v1"} -> 200 {"Mountpoint":…}``."""
    request = entry.request_body.decode("utf-8", "replace").strip() or "(empty)"
    if entry.status is None:
        outcome = "no answer"
    else:
        answer = (entry.response_body or b"").decode("utf-8", "replace").strip()
        outcome = f"{entry.status} {_clip(answer)}".rstrip()
    if entry.error:
        outcome += f" error={_clip(entry.error)!r}"
    retry = f" (attempt {entry.attempt})" if entry.attempt > 1 else ""
    fault = f" [fault: {entry.fault}]" if entry.fault else ""
    return f"#{entry.seq} {entry.plugin} {entry.method}{retry} {_clip(request)} -> {outcome}{fault}"


def nearest(spec: CallSpec, entries: Sequence[JournalEntry], limit: int = 5) -> list[str]:
    """The entries closest to ``spec``, each with what differs, closest first."""
    ranked = sorted(entries, key=lambda e: (-spec.score(e), -e.seq))[:limit]
    lines = []
    for entry in ranked:
        lines.append("  " + describe_entry(entry))
        why = spec.mismatches(entry)
        lines.extend(
            f"      {line}"
            for line in (why[:1] if why[0:1] and why[0].startswith("call:") else why)
        )
    return lines
