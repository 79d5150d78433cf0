"""Journal assertions with messages that show the nearest calls seen.

:class:`JournalAssertions` is mixed into the sync and async fixtures; each method takes a
call pattern and fields matched by the rules of :mod:`emulator.matching`
(docs/matching.md)::

    plugin_engine.assert_called("VolumeDriver.Mount", Name="v1", plugin="myvol")
    plugin_engine.assert_calls(["Create", "Mount", "Unmount"], ordered=True)

A failure is an ``AssertionError`` whose message lists the closest calls in the
journal and, under each, what differs from the expectation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from emulator.journal import Journal, JournalEntry
from emulator.matching import CallSpec, as_spec, clip

__all__ = [
    "JournalAssertions",
    "JournalWindow",
    "describe_entry",
    "nearest",
    "not_found_message",
]

CallLike = CallSpec | str | tuple[str, dict[str, Any]]


def describe_entry(entry: JournalEntry) -> str:
    """One line: ``#4 rclone VolumeDriver.Mount {"Name":"v1"} -> 200 {"Mountpoint":…}``."""
    request = entry.request_text
    if entry.status is None:
        outcome = "no answer"
    else:
        answer = (entry.response_body or b"").decode("utf-8", "replace").strip()
        outcome = f"{entry.status} {clip(answer)}".rstrip()
    if entry.error:
        outcome += f" error={clip(entry.error)!r}"
    retry = f" (attempt {entry.attempt})" if entry.attempt > 1 else ""
    fault = f" [fault: {entry.fault}]" if entry.fault else ""
    return f"#{entry.seq} {entry.plugin} {entry.method}{retry} {clip(request)} -> {outcome}{fault}"


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


def not_found_message(spec: CallSpec, entries: Sequence[JournalEntry], headline: str) -> str:
    """``headline``, then the nearest calls seen (or that the journal is empty)."""
    if not entries:
        return f"{headline}\nthe journal is empty: the engine made no plugin call"
    return "\n".join(
        [f"{headline}\nnearest of the {len(entries)} calls seen:", *nearest(spec, entries)]
    )


class JournalAssertions:
    """Assertions over ``self.journal_entries()`` (implemented by the fixture classes)."""

    def journal_entries(self) -> tuple[JournalEntry, ...]:
        """A snapshot of the journal, oldest first."""
        raise NotImplementedError

    def calls(self, method: str | None = None, /, **fields: Any) -> list[JournalEntry]:
        """Journal entries (attempts) matching the pattern, oldest first."""
        spec = CallSpec(method, fields)
        return [e for e in self.journal_entries() if spec.matches(e)]

    def assert_called(self, method: str, /, **fields: Any) -> JournalEntry:
        """The plugin was called so; returns the first matching entry."""
        __tracebackhide__ = True
        spec = CallSpec(method, fields)
        entries = self.journal_entries()
        for entry in entries:
            if spec.matches(entry):
                return entry
        raise AssertionError(not_found_message(spec, entries, f"expected a call {spec}"))

    def assert_called_once(self, method: str, /, **fields: Any) -> JournalEntry:
        """Exactly one logical call matches (its retried attempts count once)."""
        __tracebackhide__ = True
        spec = CallSpec(method, fields)
        entries = self.journal_entries()
        matching = [e for e in entries if spec.matches(e)]
        calls = {e.call_id for e in matching}
        if len(calls) == 1:
            return matching[0]
        if not calls:
            raise AssertionError(
                not_found_message(spec, entries, f"expected exactly one call {spec}, got none")
            )
        raise AssertionError(
            "\n".join(
                [
                    f"expected exactly one call {spec}, got {len(calls)}:",
                    *("  " + describe_entry(e) for e in matching),
                ]
            )
        )

    def assert_not_called(self, method: str | None = None, /, **fields: Any) -> None:
        """No call matches."""
        __tracebackhide__ = True
        spec = CallSpec(method, fields)
        matching = [e for e in self.journal_entries() if spec.matches(e)]
        if matching:
            raise AssertionError(
                "\n".join(
                    [
                        f"expected no call {spec}, got {len(matching)}:",
                        *("  " + describe_entry(e) for e in matching),
                    ]
                )
            )

    def assert_calls(self, expected: Iterable[CallLike], *, ordered: bool = True) -> None:
        """Every expected call happened; with ``ordered``, in that order (others may interleave).

        Items are :func:`~emulator.matching.call` objects, method names, or
        ``(method, {fields})`` pairs.  Each item needs its own journal entry.
        """
        __tracebackhide__ = True
        specs = [as_spec(item) for item in expected]
        entries = self.journal_entries()
        used: set[int] = set()
        position = 0
        for index, spec in enumerate(specs, 1):
            pool = entries[position:] if ordered else entries
            found = next((e for e in pool if e.seq not in used and spec.matches(e)), None)
            if found is None:
                raise AssertionError(_sequence_failure(specs, index, entries, used, ordered))
            used.add(found.seq)
            if ordered:
                position = entries.index(found) + 1


class JournalWindow(JournalAssertions):
    """The calls of one stretch of a test: ``with engine.journal.window() as w:``.

    ``entries`` are the attempts recorded since the window opened (until it closed); the
    assertions and ``calls()`` look at those only.  A :meth:`Journal.clear` inside the
    window (an engine reset) makes it an error to read, rather than silently empty.
    """

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._start = journal.recorded
        self._clears = journal.clears
        self._closed: tuple[JournalEntry, ...] | None = None
        self._cleared = False

    def __repr__(self) -> str:
        state = "closed" if self._closed is not None else "open"
        return f"<JournalWindow from #{self._start}, {len(self.entries)} entries, {state}>"

    @property
    def entries(self) -> tuple[JournalEntry, ...]:
        """The attempts in the window, oldest first."""
        if self._cleared or self._journal.clears != self._clears:
            self._cleared = True
            raise RuntimeError(
                "the journal was cleared (an engine reset) inside this window: its calls "
                "are gone; open the window after the reset"
            )
        if self._closed is not None:
            return self._closed
        return tuple(self._journal.since(self._start))

    def journal_entries(self) -> tuple[JournalEntry, ...]:
        """:attr:`entries` (what the assertions look at)."""
        return self.entries

    def close(self) -> None:
        """Fix the window's entries (done when the ``with`` block ends)."""
        if self._closed is None:
            self._cleared = self._cleared or self._journal.clears != self._clears
            self._closed = () if self._cleared else tuple(self._journal.since(self._start))


def _sequence_failure(
    specs: Sequence[CallSpec],
    index: int,
    entries: Sequence[JournalEntry],
    used: set[int],
    ordered: bool,
) -> str:
    spec = specs[index - 1]
    lines = [f"expected calls{' in order' if ordered else ''}:"]
    for i, s in enumerate(specs, 1):
        mark = "ok  " if i < index else ("MISSING" if i == index else "    ")
        lines.append(f"  {mark:7} {i}. {s}")
    if ordered and used:
        last = max(used)
        earlier = [e for e in entries if e.seq <= last and spec.matches(e)]
        if earlier:
            lines.append(
                f"call {index} was seen, but not after #{last} "
                f"(where call {index - 1} matched): at " + ", ".join(f"#{e.seq}" for e in earlier)
            )
    lines.append(not_found_message(spec, entries, f"call {index}, {spec}, was not found"))
    return "\n".join(lines)
