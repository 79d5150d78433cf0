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

# The suite's tests of plugin call sequences, restarts and the API were written for the
# command table (no process runs, virtual time applies to `sleep N`): they pin it.  Tests
# of real container processes ask for containers="processes" (or --containers) themselves.
# Per test, not for the process: examples/ run in the same session keep a user's default.
_CONTAINERS_GIVEN = "EMULATOR_CONTAINERS" in os.environ


@pytest.fixture(autouse=True)
def containers_follow_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """``EMULATOR_CONTAINERS=fake`` for this test, unless the run was given a value."""
    if not _CONTAINERS_GIVEN:
        monkeypatch.setenv("EMULATOR_CONTAINERS", "fake")


_ROOTS: set[str] = set()
"""The temporary roots this process's tests made (other xdist workers have their own)."""


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A fresh temporary directory with a short path.

    Unix socket paths are limited to 107 bytes on Linux (dockerd refuses
    anything longer than 108), and pytest's ``tmp_path`` is often too deep for
    ``<root>/run/docker/plugins/NAME/NAME.sock``.  The directory is removed
    when the test ends.
    """
    path = Path(tempfile.mkdtemp(prefix="pe-", dir="/tmp"))
    _ROOTS.add(str(path))
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


def _container_processes() -> set[tuple[int, str]]:
    """This process's descendants in another PID namespace: container processes.

    (The engine's container shims are children of the test process; PID 1 of each
    container and everything under it live in a PID namespace of their own.)
    """
    own = os.readlink("/proc/self/ns/pid")
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
                if fields[0] != "Z":
                    parents[int(entry)] = int(fields[1])
    found = set()
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor is not None and ancestor != os.getpid():
            ancestor = parents.get(ancestor)
        if ancestor is None:
            continue
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/ns/pid") != own:
                found.add(
                    (pid, Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
                )
    return found


def _namespace_mounts() -> set[str]:
    """Namespace files (``nsfs``) bound under this process's temporary roots: sandbox keys.

    The mount table is shared by every process of the mount namespace (other xdist
    workers too), so only the roots this process made are looked at.
    """
    found = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            if " - nsfs " in line and any(fields[4].startswith(r + "/") for r in _ROOTS):
                found.add(fields[4])
    return found


@pytest.fixture(autouse=True)
def no_leaked_container_processes() -> Iterator[None]:
    """Fail a test that leaves a container process running or a sandbox key bound."""
    mounts = _namespace_mounts()
    yield
    left = _container_processes()
    assert not left, f"container processes left running by the test: {sorted(left)}"
    bound = _namespace_mounts() - mounts
    assert not bound, f"network namespaces left bound by the test: {sorted(bound)}"
