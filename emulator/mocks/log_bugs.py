"""Deliberate bugs of the mock logging plugin: one per bug class the log checks of
``plugin-emulator check`` must catch.

Some come from following the plugin docs where dockerd's code differs (a top-level
``{"ReadLogs": true}``), most from plugins meeting what dockerd does with a FIFO: it
holds its end open read-write (no EOF before ``StopLogging`` is answered), splits long
lines into partial records, logs the same container again on a restart, writes several
FIFOs at once, and reads logs back expecting framed records with their newline.
:class:`LogBugs` holds the chosen ones for :class:`~emulator.mocks.log.MockLogDriver`
(``bugs=``), which consults it where each bug acts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Final

import trio

from emulator.mocks.bugs import HANDLER_BUGS, Handler, with_bugs
from emulator.mocks.host import PLUGIN_CONTENT_TYPE, RecordedRequest, Reply
from emulator.protocol.logdriver.entry import LogRecord

__all__ = [
    "EOF_WAIT",
    "LAG_PER_RECORD",
    "LOG_BUGS",
    "SLOW_ANSWER",
    "LogBugs",
    "json_lines",
]

LOG_BUGS: Final = {
    "implements_lowercase": 'answer Plugin.Activate with "Implements": ["logdriver"]',
    "require_content_type": HANDLER_BUGS["require_content_type"],
    "strict_keys": HANDLER_BUGS["strict_keys"],
    "errors_under_other_key": 'answer errors 200 {"Error": ...} (dockerd reads Err)',
    "html_errors": HANDLER_BUGS["html_errors"],
    "crash_on_empty_body": HANDLER_BUGS["crash_on_empty_body"],
    "flat_capabilities": 'answer Capabilities {"ReadLogs": true} (as the plugin docs print it)',
    "refuse_unknown_opts": "refuse StartLogging when Info.Config has options it does not know "
    "(dockerd passes its own: mode, max-buffer-size, cache-*)",
    "never_reads": "open the FIFO at StartLogging but never read it",
    "drop_partial": "drop the records that carry PartialLogEntryMetadata (lines over 16 KiB)",
    "stop_without_drain": "read one record at a time (a backend call each) and close the FIFO "
    "at StopLogging without reading what is left",
    "stop_waits_for_eof": "answer StopLogging only after reading the FIFO to EOF (which "
    "dockerd gives after the answer), giving up after a minute",
    "keep_fifo_open": "never close the FIFO it read (one file descriptor leaked per container)",
    "one_start_per_container": "refuse StartLogging for a container it has logged before",
    "misfiled_records": "file every record under the container that started logging last",
    "slow_answers": "take 1.5 s over every LogDriver call",
    "activate_once": "answer Plugin.Activate once, then 500 (a restarted dockerd is refused)",
    "unframed_read_logs": "answer ReadLogs with JSON lines instead of framed LogEntry records",
    "no_newlines": "answer ReadLogs with the lines as the FIFO gave them (no newline)",
    "ignore_tail": "answer ReadLogs with every record whatever Tail says",
    "ignore_since": "answer ReadLogs with every record whatever Since and Until say",
    "ignore_follow": "end a ReadLogs answer after the stored records even with Follow",
}

#: Engine seconds ``slow_answers`` takes over each call.
SLOW_ANSWER: Final = 1.5
#: Engine seconds ``stop_without_drain``'s backend takes per record.
LAG_PER_RECORD: Final = 0.01
#: Engine seconds ``stop_waits_for_eof`` waits for an EOF before answering anyway.
EOF_WAIT: Final = 60.0

#: Top-level keys of each request (daemon/logger/proxy.go), for ``strict_keys``.
_KNOWN_KEYS: Final = {
    "LogDriver.StartLogging": ("File", "Info"),
    "LogDriver.StopLogging": ("File",),
    "LogDriver.ReadLogs": ("Info", "Config"),
}


class LogBugs:
    """The chosen bugs (``in`` tells whether one is on) and the wrappers they need."""

    def __init__(self, bugs: frozenset[str]) -> None:
        self.bugs = bugs
        self._activations = 0

    def __contains__(self, bug: str) -> bool:
        return bug in self.bugs

    @property
    def implements(self) -> tuple[str, ...]:
        """What ``Plugin.Activate`` lists."""
        return ("logdriver",) if "implements_lowercase" in self else ("LogDriver",)

    def activation(self) -> Handler:
        """``Plugin.Activate``'s handler."""
        answer = Reply(body={"Implements": list(self.implements)}, content_type=PLUGIN_CONTENT_TYPE)

        def activate(_recorded: RecordedRequest) -> Reply:
            self._activations += 1
            if "activate_once" in self and self._activations > 1:
                return Reply(status=500, body={"Err": "plugin already activated"})
            return answer

        return activate

    def capabilities(self, read_logs: bool) -> dict[str, Any]:
        """The ``Capabilities`` answer."""
        if "flat_capabilities" in self:
            return {"ReadLogs": read_logs}
        return {"Cap": {"ReadLogs": read_logs}}

    def wrap(self, method: str, handler: Handler) -> Callable[[RecordedRequest], Awaitable[Reply]]:
        """``handler`` with the bugs every method shares (content type, keys, error
        answers, crashes, slowness)."""
        shared = with_bugs(
            method,
            handler,
            self.bugs & HANDLER_BUGS.keys(),
            error_key="Err",
            known_keys=_KNOWN_KEYS.get(method),
        )
        if "slow_answers" not in self:
            return shared

        async def slow(recorded: RecordedRequest) -> Reply:
            await trio.sleep(SLOW_ANSWER)
            return await shared(recorded)

        return slow

    def start_refusal(self, info: dict[str, Any], logged: Iterable[str]) -> Reply | None:
        """What ``StartLogging`` answers before opening the FIFO, if the bugs refuse it."""
        config = info.get("Config") or {}
        if "refuse_unknown_opts" in self and config:
            return Reply(status=500, body={"Err": f"unknown log opt(s) {sorted(config)}"})
        container = str(info.get("ContainerID", ""))
        if "one_start_per_container" in self and container in set(logged):
            return Reply(status=500, body={"Err": f"already logging container {container}"})
        return None

    def kept(self, records: list[LogRecord]) -> list[LogRecord]:
        """The records a stream keeps of those it read."""
        if "drop_partial" in self:
            return [r for r in records if r.partial is None]
        return records


async def json_lines(records: AsyncIterator[LogRecord]) -> AsyncIterator[bytes]:
    """``unframed_read_logs``: each record as a JSON line (what a plugin author who never
    read io.go might send)."""
    async for record in records:
        yield (json.dumps(record.to_json(), separators=(",", ":")) + "\n").encode()
