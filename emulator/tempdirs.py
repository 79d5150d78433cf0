"""Where the emulator makes its short-lived roots (scenario runs, checks, test engines).

``EMULATOR_TMPDIR`` if set, else ``/dev/shm`` where it is writable, else ``/tmp``.
tmpfs is preferred: the engine commits its state with fsync and lays out container roots
of a few hundred links, which cost milliseconds each on a busy disk and nothing in memory
(a busybox root: 38 ms on a disk-backed /tmp, 4.5 ms on /dev/shm, measured on the
development machine).  Unix socket paths under it stay short (108 bytes at most).
"""

from __future__ import annotations

import os

__all__ = ["temp_base"]


def temp_base(configured: str = "") -> str:
    """``configured``, else ``EMULATOR_TMPDIR``, else /dev/shm, else /tmp (made if missing)."""
    base = configured or os.environ.get("EMULATOR_TMPDIR", "")
    if not base:
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else "/tmp"
    os.makedirs(base, exist_ok=True)
    return base
