"""A private ``/run`` for a plugin process: its socket directory redirected, mounts shared.

A plugin that hard-codes ``/run/docker/plugins/NAME.sock`` must land under the test's
root, not in the host's ``/run``.  ``plugin_process(..., private_run=True)`` therefore
starts it in a new mount namespace (util-linux ``unshare``) in which **only** the socket
directory is redirected: ``ROOT/run/docker/plugins`` is bound over
``/run/docker/plugins`` when the host has that directory, else ``ROOT/run`` over ``/run``.
That bind is made private, and the mount it sits on a slave of the host's, so it never
shows on the host.

Every other mount is left as the host has it (``--propagation unchanged``): where the
host's mount is *shared* (systemd makes every mount shared), a mount the plugin makes
(a FUSE volume, a tmpfs under ``/mnt/x``) propagates back to the host, where the engine
and the test see it, as dockerd's ``PropagatedMount`` arranges for a managed plugin
(moby/moby ``plugin/v2/plugin_linux.go`` and ``plugin/manager_linux.go``, v28.5.2: the
host directory made ``rshared``, bound ``rshared`` into the plugin).  Where the host's
mount is private (many containers and CI machines), :class:`PropagatedMount` does what
dockerd does: it makes one host directory a shared mount for the plugin's life
(``plugin_process(..., propagated_mount="/mnt/x")``).

In an unprivileged user namespace (not root) the kernel turns every copied mount into a
slave, so nothing propagates back; mounts there are only visible through
``/proc/PID/root``.

:func:`private_run_support` is the older wrapper (everything private, ``DIR`` bound over
``/run``) that managed plugins use to build their own namespace.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import tempfile
from pathlib import Path

import trio

__all__ = [
    "PropagatedMount",
    "private_run_command",
    "private_run_support",
    "socket_dir_redirect",
]

LOG = logging.getLogger("emulator.plugin")

#: Where dockerd looks for v1 plugin sockets (the directory a private run redirects).
SOCKETS_DIR = Path("/run/docker/plugins")

#: Run in the new namespace before the plugin: ``$1`` is bound over ``$2``, privately.
#: The mount holding ``$2`` becomes a slave first, so the bind does not reach the host.
_REDIRECT = (
    'set -e; src=$1; target=$2; shift 2; parent=$({findmnt} -n -o TARGET -T "$target"); '
    '{mount} --make-slave "$parent"; {mount} --bind "$src" "$target"; '
    '{mount} --make-private "$target"; exec "$@"'
)

_support: tuple[tuple[str, ...] | None, str] | None = None
_redirect_support: tuple[tuple[str, ...] | None, str] | None = None


async def private_run_support() -> tuple[tuple[str, ...] | None, str]:
    """How to run a command with a private ``/run``: ``(wrapper, "")`` or ``(None, why)``.

    ``[*wrapper, DIR, *argv]`` runs ``argv`` in a new mount namespace where every mount
    is private and ``DIR`` is bound over ``/run`` (util-linux ``unshare`` and ``mount``,
    as root or in an unprivileged user namespace).  Probed once per process.
    """
    global _support
    if _support is None:
        _support = await _probe("private", 'MOUNT --bind "$0" /run && exec "$@"', with_target=False)
    return _support


async def private_run_command(
    source: Path, target: Path, argv: list[str]
) -> tuple[list[str] | None, str]:
    """``argv`` wrapped to run with ``source`` bound over ``target`` (see the module doc).

    Returns ``(command, "")``, or ``(None, why)`` when the kernel or the tools do not allow
    a mount namespace here.  Probed once per process.
    """
    global _redirect_support
    if _redirect_support is None:
        _redirect_support = await _probe("unchanged", _REDIRECT, with_target=True)
    wrapper, why = _redirect_support
    if wrapper is None:
        return None, why
    return [*wrapper, str(source), str(target), *argv], ""


def socket_dir_redirect(root: Path) -> tuple[Path, Path]:
    """``(source, target)`` for a plugin under ``root``: the socket directory if the host
    has ``/run/docker/plugins``, else all of ``/run`` (a namespace cannot create the
    directory on the host)."""
    if SOCKETS_DIR.is_dir():
        return root / "run/docker/plugins", SOCKETS_DIR
    return root / "run", Path("/run")


async def _probe(
    propagation: str, script_template: str, *, with_target: bool
) -> tuple[tuple[str, ...] | None, str]:
    tools = {name: shutil.which(name) for name in ("unshare", "mount", "sh", "findmnt")}
    missing = [name for name, path in tools.items() if path is None]
    if missing:
        return None, f"{' and '.join(missing)} not found on PATH (util-linux)"
    unshare, mount, sh, findmnt = (str(tools[n]) for n in ("unshare", "mount", "sh", "findmnt"))
    script = script_template.replace("MOUNT", shlex.quote(mount)).format(
        mount=shlex.quote(mount), findmnt=shlex.quote(findmnt)
    )
    namespaces: list[tuple[str, ...]] = []
    if os.geteuid() == 0:
        namespaces.append(("--mount", "--propagation", propagation))
    namespaces.append(("--user", "--map-root-user", "--mount", "--propagation", propagation))
    failures = []
    probe_dir = Path(tempfile.mkdtemp(prefix="pe-probe-"))
    try:
        (probe_dir / "probe").touch()
        for flags in namespaces:
            wrapper = (unshare, *flags, "--", sh, "-c", script)
            if with_target:
                wrapper = (*wrapper, "sh")
            target = ["/run"] if with_target else []
            result = await trio.run_process(
                [*wrapper, str(probe_dir), *target, sh, "-c", "test -e /run/probe"],
                check=False,
                capture_stdout=True,
                capture_stderr=True,
            )
            if result.returncode == 0:
                return wrapper, ""
            detail = result.stderr.decode(errors="replace").strip() or "no message"
            failures.append(f"`unshare {' '.join(flags)}` exited {result.returncode}: {detail}")
    finally:
        shutil.rmtree(probe_dir, ignore_errors=True)
    return None, "; ".join(failures)


class PropagatedMount:
    """A host directory made a shared mount for a plugin's life, as dockerd does for a
    managed plugin's ``PropagatedMount``: what the plugin mounts under it (in its private
    namespace) appears on the host.

    :meth:`setup` creates the directory if needed, binds it onto itself unless it is a
    mount point already, and makes it ``rshared`` (root only).  :meth:`teardown`
    unmounts what the plugin left under it (with a warning), then undoes the setup.
    """

    def __init__(self, path: Path, *, plugin: str) -> None:
        if not path.is_absolute():
            raise ValueError(f"plugin {plugin}: propagated_mount must be absolute, not {path}")
        self.path = Path(os.path.normpath(path))
        self.plugin = plugin
        self._created: list[Path] = []
        self._bound = False

    async def setup(self) -> None:
        """Make :attr:`path` a shared mount (raises ``OSError`` saying why it cannot)."""
        if os.geteuid() != 0:
            raise PermissionError(
                f"propagated_mount={self.path} needs root (mount --make-rshared); run the "
                "tests as root, or make the directory a shared mount beforehand"
            )
        missing = []
        for parent in (self.path, *self.path.parents):
            if parent.exists():
                break
            missing.append(parent)
        self.path.mkdir(parents=True, exist_ok=True)
        self._created = missing
        if not _is_mount_point(self.path):
            await _mount("--bind", str(self.path), str(self.path))
            self._bound = True
        await _mount("--make-rshared", str(self.path))

    async def teardown(self) -> None:
        """Unmount leftovers under :attr:`path`, then the bind and the directories we made."""
        left = [m for m in _mount_points() if m != self.path and self.path in m.parents]
        for mount_point in sorted(left, key=lambda p: len(p.parts), reverse=True):
            LOG.warning(
                "plugin %s left %s mounted: unmounting it",
                self.plugin,
                mount_point,
                extra={"plugin": self.plugin},
            )
            with contextlib.suppress(OSError):
                await _mount_command("umount", "-l", str(mount_point))
        if self._bound:
            with contextlib.suppress(OSError):
                await _mount_command("umount", "-l", str(self.path))
            self._bound = False
        for directory in self._created:
            with contextlib.suppress(OSError):
                directory.rmdir()
        self._created = []


def _unescape(field: str) -> str:
    """A mountinfo path field (spaces and the like are octal escapes)."""
    return field.encode().decode("unicode_escape").encode("latin-1").decode(errors="replace")


def _mount_points() -> list[Path]:
    with open("/proc/self/mountinfo") as table:
        return [Path(_unescape(line.split()[4])) for line in table if line.strip()]


def _is_mount_point(path: Path) -> bool:
    return path in _mount_points()


async def _mount(*args: str) -> None:
    await _mount_command("mount", *args)


async def _mount_command(tool: str, *args: str) -> None:
    result = await trio.run_process(
        [tool, *args], check=False, capture_stdout=True, capture_stderr=True
    )
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip() or f"exit {result.returncode}"
        raise OSError(f"{tool} {shlex.join(args)}: {detail}")
