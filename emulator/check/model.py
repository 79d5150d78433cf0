"""What a conformance check is: a declaration a reader (and docs/check.md) can read, a body
that drives the plugin through the emulated daemon, and the verdict it reaches.

A check's *class* (:attr:`Check.severity`) is what it reports when the plugin misbehaves:
``fail`` when dockerd breaks on that behaviour, ``warn`` when dockerd copes but the plugin
is fragile.  The body raises :class:`Problem` to report the misbehaviour (the class turns it
into ``fail`` or ``warn``) or :class:`Skipped` when the check cannot run here; otherwise it
returns what the plugin did, in a sentence.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from emulator.journal import JournalEntry

if TYPE_CHECKING:
    from emulator.check.context import CheckContext

__all__ = ["Check", "CheckBody", "CheckResult", "Problem", "Skipped", "Verdict"]


class Verdict(enum.Enum):
    """What a check concluded."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"


class Problem(Exception):
    """The plugin did something dockerd trips on (or is fragile against); ``str()`` says what."""


class Skipped(Exception):
    """The check cannot run against this plugin here; ``str()`` says why and what would help."""


#: A check's body: drive the plugin through ``ctx.engine``; return what the plugin did.
CheckBody = Callable[["CheckContext"], Awaitable[str]]


@attrs.frozen
class Check:
    """One declared check.  Everything but ``body`` is shown to plugin authors."""

    id: str
    """``KIND.NAME``, e.g. ``volume.mount-id-resent`` (what ``-k`` matches)."""
    kind: str
    """The plugin type it applies to: ``volume``, ``network``, ``ipam`` (``authz``, ``log``)."""
    title: str
    severity: Verdict
    """:attr:`Verdict.FAIL` (breaks with dockerd) or :attr:`Verdict.WARN` (robustness)."""
    rule: str
    """The dockerd behaviour or protocol rule the check protects."""
    source: str
    """Where that rule lives: a moby source path (v28.5.2) or a docs section."""
    dockerd: str
    """What dockerd does, in the words a plugin author needs."""
    hint: str
    """What to change in the plugin when the check does not pass."""
    body: CheckBody = attrs.field(eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.severity not in (Verdict.FAIL, Verdict.WARN):
            raise ValueError(f"check {self.id}: severity must be FAIL or WARN")
        if not self.id.startswith(self.kind + "."):
            raise ValueError(f"check {self.id}: the id must start with its kind {self.kind!r}")


@attrs.frozen
class CheckResult:
    """What one check concluded, with the calls it exchanged with the plugin."""

    check: Check
    verdict: Verdict
    did: str
    """What the plugin did (or why the check was skipped)."""
    calls: tuple[JournalEntry, ...]
    """Every attempt the emulated daemon made to the plugin during the check."""
    engine_seconds: float
    wall_seconds: float

    @property
    def hint(self) -> str:
        """The check's hint when it did not pass, else ``""``."""
        return self.check.hint if self.verdict in (Verdict.FAIL, Verdict.WARN) else ""

    def to_json(self) -> dict[str, Any]:
        """The result as JSON data (the ``--json`` report)."""
        return {
            "id": self.check.id,
            "kind": self.check.kind,
            "title": self.check.title,
            "class": self.check.severity.value,
            "verdict": self.verdict.value,
            "rule": self.check.rule,
            "source": self.check.source,
            "dockerd": self.check.dockerd,
            "did": self.did,
            "hint": self.hint,
            "engine_seconds": round(self.engine_seconds, 6),
            "wall_seconds": round(self.wall_seconds, 6),
            "calls": [_entry_json(e) for e in self.calls],
        }


def _entry_json(entry: JournalEntry) -> dict[str, Any]:
    return {
        "time": round(entry.started, 6),
        "method": entry.method,
        "attempt": entry.attempt,
        "request": entry.request_body.decode("utf-8", "replace"),
        "status": entry.status,
        "response": (
            entry.response_body.decode("utf-8", "replace")
            if entry.response_body is not None
            else None
        ),
        "error": entry.error,
        "fault": entry.fault,
        "duration": round(entry.duration, 6),
    }
