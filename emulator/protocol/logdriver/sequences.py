"""dockerd's LogDriver and MetricsCollector call sequences, as data (moby/moby v28.5.2).

Each entry is what one user-level operation makes a logging (or metrics) plugin see,
read from moby's code.  The engine does not read this table (the sequences fall out of
``emulator.engine.logs`` and ``emulator.engine.metrics``, as in dockerd);
``tests/test_logdriver_sequences.py`` runs every operation against the built-in mock
and compares what it received with the table, so the table is the reviewable
statement of what the emulator does.  ``LogDriver.`` / ``MetricsCollector.`` are left out.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

import attrs


@attrs.frozen
class Sequence:
    """The calls one operation sends, and where in moby that comes from."""

    operation: str
    calls: tuple[str, ...]
    source: str


LOG_SEQUENCES: Final = MappingProxyType(
    {
        s.operation: s
        for s in (
            Sequence(
                "create --log-driver P",
                (),
                "daemon/logs.go mergeAndVerifyLogConfig: ValidateLogOpts looks P up "
                "(plugingetter.Lookup), no LogDriver call",
            ),
            Sequence(
                "run --log-driver P (exits)",
                ("Capabilities", "StartLogging", "StopLogging"),
                "container/container.go startLogging/StartLogger, daemon/logger/plugin.go "
                "makePluginCreator (Capabilities, FIFO, StartLogging); container/monitor.go "
                "Reset (copier ≤ 10 s, then adapter.go Close: StopLogging)",
            ),
            Sequence(
                "logs (running container)",
                ("ReadLogs",),
                "daemon/logs.go getLogger: the running container's logger; "
                "adapter.go pluginAdapterWithRead.ReadLogs",
            ),
            Sequence(
                "logs (stopped container)",
                ("Capabilities", "StartLogging", "ReadLogs", "StopLogging"),
                "daemon/logs.go getLogger: StartLogger makes a fresh logger; "
                "Follow forced off; closed when the read ends",
            ),
            Sequence(
                "logs (stopped, no ReadLogs capability)",
                ("Capabilities", "StartLogging", "StopLogging"),
                "container.go StartLogger wraps the plugin in the local cache "
                "(loggerutils/cache), which answers",
            ),
            Sequence(
                "logs (stopped, no ReadLogs, cache-disabled=true)",
                ("Capabilities", "StartLogging", "StopLogging"),
                "daemon/logs.go: not a LogReader, 'configured logging driver does not "
                "support reading'; the fresh logger is closed",
            ),
            Sequence(
                "start fails: StartLogging answers Err",
                ("Capabilities", "StartLogging"),
                "plugin.go makePluginCreator: 'error creating logger', no StopLogging "
                "(the FIFO file is left)",
            ),
        )
    }
)

METRICS_SEQUENCES: Final = MappingProxyType(
    {
        s.operation: s
        for s in (
            Sequence(
                "plugin enable (managed metrics collector)",
                ("StartMetrics",),
                "internal/metrics/plugin_unix.go RegisterPlugin: store.Handle callback "
                "after the readiness dial",
            ),
            Sequence(
                "daemon shutdown",
                ("StopMetrics",),
                "daemon/daemon.go Shutdown → internal/metrics CleanupPlugin: every "
                "enabled managed metrics plugin, after the containers",
            ),
        )
    }
)
