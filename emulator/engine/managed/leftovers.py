"""Plugin processes an earlier daemon left running: found at start and shut down.

A managed plugin runs in its own process group (dockerd runs it under containerd), so
it outlives a daemon that is killed.  dockerd's next start finds it alive
(``Executor.Restore``) and, without live-restore, shuts it down (``shutdownPlugin``:
SIGTERM, 10 s, SIGKILL, 10 s) before enabling it again (moby/moby
``plugin/manager_linux.go`` ``restore``, v28.5.2).  The emulator keeps what containerd
would know in the plugin's runtime directory: a ``pid`` file with the process group and
its start time (so a recycled PID is never signalled).  It is written when the process
starts and goes with the directory when the plugin stops cleanly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

from emulator.clock import real_io, real_sleep
from emulator.protocol.shutdown import PLUGIN_SHUTDOWN_TIMEOUT

LOG = logging.getLogger("emulator.managed")

__all__ = ["record_process", "shut_down_leftover"]

RECORD = "pid"
_POLL = 0.05


def _start_time(pid: int) -> str | None:
    """Field 22 of ``/proc/PID/stat`` (clock ticks since boot), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    if len(fields) < 20 or fields[0] == "Z":  # a zombie is gone for our purpose
        return None
    return fields[19]


def record_process(runtime_dir: Path, pid: int | None) -> None:
    """Note that ``pid`` (a process group leader) runs the plugin of ``runtime_dir``."""
    if pid is None:
        return
    started = _start_time(pid)
    if started is None:
        return
    record = runtime_dir / RECORD
    tmp = record.with_name(f".{RECORD}.tmp")
    with contextlib.suppress(OSError):
        tmp.write_text(f"{pid} {started}\n")
        os.replace(tmp, record)


def _leftover(runtime_dir: Path) -> int | None:
    """The process group recorded in ``runtime_dir`` if that very process still runs."""
    try:
        pid_text, started = (runtime_dir / RECORD).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    return pid if _start_time(pid) == started else None


async def shut_down_leftover(runtime_dir: Path, name: str) -> bool:
    """``shutdownPlugin`` for a process an earlier daemon left: True if there was one."""
    pid = _leftover(runtime_dir)
    if pid is None:
        return False
    LOG.info("plugin %s: shutting down process %d left by the previous daemon", name, pid)
    with real_io():
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
            deadline = time.monotonic() + PLUGIN_SHUTDOWN_TIMEOUT
            while _start_time(pid) is not None and time.monotonic() < deadline:
                await real_sleep(_POLL)
            if _start_time(pid) is None:
                return True
            LOG.debug("Force shutdown plugin %s", name)
    LOG.warning("Force shutdown plugin FAILED: %s (process %d)", name, pid)
    return True
