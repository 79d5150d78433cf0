"""What a plugin process printed: kept per plugin, shown where it helps, never logged as errors.

A plugin the emulator starts (``plugin_process``, a scenario's ``command:`` plugin, a
``serve --plugin``) writes its own log to stdout and stderr: a Python plugin's INFO lines
go to stderr by default.  Those lines are the plugin's, not the emulator's, so they are
not emulator log records at ERROR: :class:`PluginOutput` keeps them (stream, text, a
running number), the fronts show them where they help (pytest's report of a failed test,
``plugin-emulator run``'s report of a failed scenario, serve's control API), and each line
is also logged at DEBUG to the ``emulator.plugin.output`` logger for whoever wants them
live (``--log-level debug``, pytest's ``--log-level=DEBUG``).

Managed plugins are different: dockerd itself logs their stdout at INFO and their stderr
at ERROR (moby/moby ``plugin/manager.go``, ``makeLoggerStreams``, v28.5.2), and so does
the emulator for them (``PluginProcess(log_output=True)``).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterable

import attrs

__all__ = ["OUTPUT_LOG", "OutputLine", "PluginOutput", "format_output"]

#: The logger a started plugin's lines go to, at DEBUG.
OUTPUT_LOG = logging.getLogger("emulator.plugin.output")

#: Lines kept per plugin (older ones are dropped and counted).
KEPT_LINES = 10_000


@attrs.frozen
class OutputLine:
    """One line a plugin wrote."""

    number: int
    """Its position in everything the plugin wrote, from 1."""
    stream: str
    """``stdout`` or ``stderr``."""
    text: str


class PluginOutput:
    """The lines one plugin process (and its restarts) wrote, oldest first.

    Thread-safe: the engine's thread appends while a test's thread reads.
    """

    def __init__(self, name: str, *, keep: int = KEPT_LINES) -> None:
        self.name = name
        self._lines: collections.deque[OutputLine] = collections.deque(maxlen=keep)
        self._count = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<PluginOutput {self.name!r} lines={self._count}>"

    @property
    def count(self) -> int:
        """How many lines the plugin wrote so far (dropped ones included)."""
        return self._count

    def add(self, stream: str, text: str) -> OutputLine:
        """Keep one line (and log it at DEBUG to ``emulator.plugin.output``)."""
        with self._lock:
            self._count += 1
            line = OutputLine(self._count, stream, text)
            self._lines.append(line)
        OUTPUT_LOG.debug(
            "%s plugin=%s",
            text,
            self.name,
            extra={"plugin": self.name, "fields": {"plugin": self.name, "stream": stream}},
        )
        return line

    def lines(self, since: int = 0) -> list[OutputLine]:
        """The kept lines numbered above ``since`` (a former :attr:`count`)."""
        with self._lock:
            return [line for line in self._lines if line.number > since]

    def texts(self, since: int = 0) -> list[str]:
        """The texts of :meth:`lines`."""
        return [line.text for line in self.lines(since)]

    def report(self, since: int = 0) -> str:
        """:meth:`lines` as a block of text, noting lines dropped before the first kept one."""
        lines = self.lines(since)
        first = lines[0].number if lines else self._count + 1
        dropped = first - since - 1
        head = [f"({dropped} earlier lines not kept)"] if dropped > 0 else []
        return format_output([*head, *(line.text for line in lines)])


def format_output(lines: Iterable[str]) -> str:
    """Lines joined for a report, with a final newline (empty when there are none)."""
    text = "\n".join(lines)
    return text + "\n" if text else ""
