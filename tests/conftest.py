"""Shared fixtures for the emulator's own tests."""

from __future__ import annotations

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
