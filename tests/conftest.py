"""Shared fixtures for the emulator's own tests."""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A fresh temporary directory with a short path.

    Unix socket paths are limited to 107 bytes on Linux (dockerd refuses
    anything longer than 108), and pytest's ``tmp_path`` is often too deep for
    ``<root>/run/docker/plugins/NAME/NAME.sock``.  The directory is removed
    when the test ends.
    """
    path = Path(tempfile.mkdtemp(prefix="pe-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _open_sockets() -> set[str]:
    """The process's open socket descriptors (fd → inode), from /proc."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:"):
                found.add(f"{fd}->{target}")
    return found


@pytest.fixture(autouse=True)
def no_leaked_sockets() -> Iterator[None]:
    """Fail a test that leaves a socket open (engine, plugin client or mock plugin)."""
    before = _open_sockets()
    yield
    leaked = _open_sockets() - before
    if leaked:  # give objects awaiting collection a chance to close theirs
        gc.collect()
        leaked = _open_sockets() - before
    assert not leaked, f"sockets left open by the test: {sorted(leaked)}"
