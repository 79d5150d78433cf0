"""The call journal: every HTTP attempt the engine makes to a plugin, in order.

One :class:`JournalEntry` per attempt (a call retried after connection errors has
several, numbered by ``attempt`` and sharing ``call_id``).  Times come from trio's
clock, so they are virtual under ``trio.testing.MockClock``.  A journal made with a
``limit`` keeps only that many of the latest attempts (``plugin-emulator serve`` keeps
1,000, so a daemon that runs for days does not grow); ``seq`` keeps counting.
"""

from __future__ import annotations

import collections
import contextlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs

from emulator.matching import decode_body
from emulator.protocol.authz import AUTHZ_REQ, AUTHZ_RES, readable

if TYPE_CHECKING:
    from emulator.journal_assertions import JournalWindow


@attrs.frozen
class JournalEntry:
    """One HTTP attempt from the engine to a plugin, with its outcome."""

    seq: int
    """Position in the journal, from 0."""
    call_id: int
    """Shared by the attempts of one logical call."""
    attempt: int
    """1 for the first attempt, 2 … for retries after connection errors."""
    plugin: str
    """The plugin's name (``name:tag`` for a managed plugin)."""
    method: str
    """``Iface.Method`` as dockerd names it (``Plugin.Activate``, ``VolumeDriver.Mount``)."""
    address: str
    """Where it was sent (``unix:///…/NAME.sock``, ``tcp://127.0.0.1:PORT``)."""
    started: float
    """trio clock time when the attempt started."""
    duration: float
    """Engine seconds until the answer, the error or the deadline (virtual under a
    virtual clock)."""
    request_body: bytes
    """The bytes sent (Go's ``json.Encoder`` output: compact, trailing newline)."""
    status: int | None
    """HTTP status, or None when no answer came."""
    response_body: bytes | None
    """The answer's body, or None when no answer came."""
    error: str | None
    """dockerd's text for the failure of this attempt, or None."""
    fault: str | None = None
    """The injected fault that shaped this attempt, if any."""

    @property
    def request(self) -> Any:
        """The request body decoded as JSON (None when empty or not JSON: :func:`decode_body`)."""
        return decode_body(self.request_body)

    @property
    def shown_request(self) -> Any:
        """The request as reports show it: JSON data (an ``AuthZReq``/``AuthZRes``
        request with its base64 bodies decoded), else the body as text."""
        data = self.request
        if data is None:
            return self.request_body.decode("utf-8", "replace")
        return readable(data) if self.method in (AUTHZ_REQ, AUTHZ_RES) else data

    @property
    def request_text(self) -> str:
        """:attr:`shown_request` on one line (``(empty)`` for an empty body)."""
        shown = self.shown_request
        if isinstance(shown, str):
            return shown.strip() or "(empty)"
        return json.dumps(shown, separators=(",", ":"), ensure_ascii=False)

    @property
    def response(self) -> Any:
        """The response body decoded as JSON (None when absent or not JSON)."""
        return decode_body(self.response_body)

    @property
    def ok(self) -> bool:
        """True when the attempt got a 200 answer."""
        return self.status == 200 and self.error is None


class Journal:
    """An append-only, queryable record of plugin calls (the latest ``limit`` if given)."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self._entries: collections.deque[JournalEntry] = collections.deque(maxlen=limit)
        self._recorded = 0
        self._next_call_id = 0
        self._clears = 0

    def new_call_id(self) -> int:
        """Reserve an id for a logical call (shared by its attempts)."""
        self._next_call_id += 1
        return self._next_call_id

    def record(self, **fields: Any) -> JournalEntry:
        """Append one attempt; ``seq`` is assigned here."""
        entry = JournalEntry(seq=self._recorded, **fields)
        self._recorded += 1
        self._entries.append(entry)
        return entry

    def since(self, seq: int) -> list[JournalEntry]:
        """The kept attempts whose ``seq`` is ``seq`` or more, oldest first (newest walked)."""
        found = []
        for entry in reversed(self._entries):
            if entry.seq < seq:
                break
            found.append(entry)
        found.reverse()
        return found

    @property
    def recorded(self) -> int:
        """How many attempts were recorded since the last :meth:`clear` (kept or not)."""
        return self._recorded

    @property
    def entries(self) -> tuple[JournalEntry, ...]:
        """Every attempt so far, oldest first."""
        return tuple(self._entries)

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def calls(self, method: str | None = None, *, plugin: str | None = None) -> list[JournalEntry]:
        """Attempts filtered by method and/or plugin name."""
        return [
            e
            for e in self._entries
            if (method is None or e.method == method) and (plugin is None or e.plugin == plugin)
        ]

    def count(self, method: str | None = None, *, plugin: str | None = None) -> int:
        """How many attempts match."""
        return len(self.calls(method, plugin=plugin))

    def clear(self) -> None:
        """Forget every entry (call ids keep increasing)."""
        self._entries.clear()
        self._recorded = 0
        self._clears += 1

    @contextlib.contextmanager
    def window(self) -> Iterator[JournalWindow]:
        """The calls made from here to the end of the ``with`` block::

            with engine.journal.window() as w:
                await engine.containers.run(ContainerSpec(volumes=["v1:/data"], detach=True))
            w.assert_calls(["VolumeDriver.Get", "VolumeDriver.Mount"])
            assert len(w.entries) == 2

        The :class:`~emulator.journal_assertions.JournalWindow` has ``entries`` (every
        attempt in the window, oldest first: live inside the block, fixed after it),
        ``calls()`` and the journal assertions (``assert_called``, ``assert_calls``, …),
        all limited to the window.
        """
        from emulator.journal_assertions import JournalWindow

        window = JournalWindow(self)
        try:
            yield window
        finally:
            window.close()

    @property
    def clears(self) -> int:
        """How many times :meth:`clear` ran (a window spanning one is refused)."""
        return self._clears
