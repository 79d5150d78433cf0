"""Can containers run as real processes here?  Which mode, and why not when they cannot.

The engine's ``containers`` setting (``open_engine(containers=...)``, ``serve
--containers``, a scenario's ``engine.containers``, the pytest ini
``emulator_containers``; ``EMULATOR_CONTAINERS`` gives the default):

``auto`` (the default)
    Real processes where the kernel allows it, else the command table, said once in the
    log (``containers run as fake processes: <why>``).
``processes``
    Real processes or an error at the first start (:class:`RuntimeUnavailable`).
``fake``
    The command table only (:mod:`emulator.engine.lifecycle`): nothing runs.

Real processes need busybox-static (Debian ``busybox-static``: a statically linked
``/bin/busybox``, which provides both the shim's ``unshare`` and the containers'
userland) and namespaces: as root, or as a user where unprivileged user namespaces are
allowed.  :func:`probe` checks the binary and runs one empty container once per process.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
from pathlib import Path
from typing import Final

import attrs

from emulator.errors import EngineError

__all__ = [
    "MODES",
    "RuntimeSupport",
    "RuntimeUnavailable",
    "find_busybox",
    "resolve_mode",
]

LOG = logging.getLogger("emulator.runtime")

MODES: Final = ("auto", "processes", "fake")
#: Where Debian's busybox-static puts the binary (and where others might).
BUSYBOX_PATHS: Final = ("/bin/busybox", "/usr/bin/busybox", "/usr/local/bin/busybox")
_PT_INTERP = 3


class RuntimeUnavailable(EngineError):
    """``containers=processes`` was asked for and the kernel or the host cannot do it."""

    default_hint = (
        "run as root with busybox-static installed (apt-get install busybox-static), or "
        "use containers=auto to fall back to the command table"
    )


@attrs.frozen
class RuntimeSupport:
    """What the probe found: ``busybox`` (None: no static one) and ``rootless``."""

    busybox: Path | None
    rootless: bool
    """True when the engine is not root: a user namespace maps it to root inside."""
    reason: str = ""
    """Why real processes are unavailable ("" when they are)."""

    @property
    def available(self) -> bool:
        return self.busybox is not None and not self.reason


def resolve_mode(mode: str | None) -> str:
    """``mode``, else ``EMULATOR_CONTAINERS``, else ``auto``; a bad value is a ValueError."""
    chosen = mode if mode is not None else os.environ.get("EMULATOR_CONTAINERS") or "auto"
    if chosen not in MODES:
        raise ValueError(f"containers must be one of {', '.join(MODES)}, not {chosen!r}")
    return chosen


def is_static_elf(path: Path) -> bool:
    """True when ``path`` is an ELF executable without an interpreter (statically linked)."""
    try:
        with path.open("rb") as file:
            header = file.read(64)
            if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit only
                return False
            endian = "<" if header[5] == 1 else ">"
            (phoff,) = struct.unpack_from(endian + "Q", header, 0x20)
            phentsize, phnum = struct.unpack_from(endian + "HH", header, 0x36)
            file.seek(phoff)
            table = file.read(phentsize * phnum)
    except OSError:
        return False
    for index in range(phnum):
        (kind,) = struct.unpack_from(endian + "I", table, index * phentsize)
        if kind == _PT_INTERP:
            return False
    return True


def find_busybox() -> Path | None:
    """A statically linked busybox on this host (the containers' userland), or None."""
    candidates = [Path(p) for p in BUSYBOX_PATHS]
    found = shutil.which("busybox")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and is_static_elf(candidate.resolve()):
            return candidate.resolve()
    return None


def static_support() -> RuntimeSupport:
    """What can be known without starting anything."""
    busybox = find_busybox()
    rootless = os.geteuid() != 0
    if busybox is None:
        return RuntimeSupport(
            None,
            rootless,
            "no statically linked busybox found (install Debian's busybox-static: "
            f"looked at {', '.join(BUSYBOX_PATHS)} and PATH)",
        )
    if not Path("/proc/self/ns/pid").exists():
        return RuntimeSupport(busybox, rootless, "this kernel has no PID namespaces")
    if rootless and not _userns_allowed():
        return RuntimeSupport(
            busybox,
            rootless,
            "not running as root and unprivileged user namespaces are disabled "
            "(kernel.unprivileged_userns_clone or user.max_user_namespaces)",
        )
    return RuntimeSupport(busybox, rootless)


def _userns_allowed() -> bool:
    for path, off in (
        ("/proc/sys/kernel/unprivileged_userns_clone", "0"),
        ("/proc/sys/user/max_user_namespaces", "0"),
    ):
        try:
            if Path(path).read_text().strip() == off:
                return False
        except OSError:
            continue
    return True
