"""A container's mounts as data: dockerd's defaults, the user's mounts, their order, their targets.

:data:`DEFAULT_MOUNTS`, :data:`MASKED_PATHS` and :data:`READONLY_PATHS` are moby's
``oci.DefaultLinuxSpec`` (moby/moby ``oci/defaults.go``, v28.5.2) minus what needs
cgroups (``/sys/fs/cgroup``); ``/dev`` gets the device nodes runc creates by default
(``libcontainer/specconv`` ``AllowedDevices``: null, zero, full, random, urandom, tty;
bound from the host's) and runc's ``/dev`` links.  User mounts replace a default at the
same destination and are mounted in dockerd's order (``sortMounts``: fewer path
components first).

:func:`resolve` turns the list into the operations the container's init performs, with
every target **resolved inside the root** before the container exists: a destination is
walked by :class:`~emulator.engine.scoped_fs.ScopedFS` (symbolic links and ``..`` stay in
the root and in the volumes already placed, as runc's ``securejoin`` keeps them) and
created there; the init then mounts onto the resulting host path in its private mount
namespace.  Targets below a file system the plan itself mounts (``/dev``, a tmpfs) are
created by the init inside that fresh, empty file system.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from emulator.engine.scoped_fs import Mount, ScopedFS

__all__ = [
    "DEFAULT_MOUNTS",
    "DEVICES",
    "MASKED_PATHS",
    "READONLY_PATHS",
    "MountSpec",
    "ordered",
    "resolve",
]


@attrs.frozen
class MountSpec:
    """One mount: ``type`` is ``bind`` (``source`` a host path) or a file system type."""

    destination: str
    type: str
    source: str
    options: tuple[str, ...] = ()

    @property
    def is_bind(self) -> bool:
        return self.type == "bind"


#: ``oci.DefaultLinuxSpec().Mounts`` without ``/sys/fs/cgroup`` (no cgroups here).
DEFAULT_MOUNTS: Final = (
    MountSpec("/proc", "proc", "proc", ("nosuid", "noexec", "nodev")),
    MountSpec("/dev", "tmpfs", "tmpfs", ("nosuid", "strictatime", "mode=755", "size=65536k")),
    MountSpec(
        "/dev/pts",
        "devpts",
        "devpts",
        ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
    ),
    MountSpec("/sys", "sysfs", "sysfs", ("nosuid", "noexec", "nodev", "ro")),
    MountSpec("/dev/mqueue", "mqueue", "mqueue", ("nosuid", "noexec", "nodev")),
)
#: dockerd's default ``--shm-size`` (64 MiB), for the private ``/dev/shm``.
DEFAULT_SHM_SIZE: Final = 64 * 1024 * 1024
#: runc's default devices, bound from the host (no ``mknod`` and no device cgroup here).
DEVICES: Final = ("null", "zero", "full", "random", "urandom", "tty")
#: runc's ``/dev`` links (``setupDevSymlinks``) and devpts' ``ptmx``.
DEV_LINKS: Final = (
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
    ("/dev/ptmx", "pts/ptmx"),
)
MASKED_PATHS: Final = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS: Final = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
#: Options every user tmpfs gets (``mount.MergeTmpfsOptions`` defaults).
TMPFS_DEFAULTS: Final = ("noexec", "nosuid", "nodev")


def _depth(destination: str) -> int:
    return len([p for p in posixpath.normpath(destination).split("/") if p])


def ordered(defaults: Sequence[MountSpec], user: Sequence[MountSpec]) -> list[MountSpec]:
    """Defaults not overridden, then the user's; sorted by depth (stable, as ``sortMounts``)."""
    taken = {posixpath.normpath(m.destination) for m in user}
    chosen = [m for m in defaults if posixpath.normpath(m.destination) not in taken]
    chosen += list(user)
    return sorted(chosen, key=lambda m: _depth(m.destination))


def shm_mount(size: int) -> MountSpec:
    """The container's private ``/dev/shm`` (IPC mode ``private``, dockerd's default)."""
    return MountSpec(
        "/dev/shm", "tmpfs", "shm", ("nosuid", "noexec", "nodev", "mode=1777", f"size={size}")
    )


def tmpfs_mount(destination: str, options: str) -> MountSpec:
    """``--tmpfs DEST[:OPTIONS]`` with dockerd's default options merged in."""
    given = tuple(o for o in options.split(",") if o)
    names = {o.split("=", 1)[0] for o in given}
    merged = tuple(o for o in TMPFS_DEFAULTS if o not in names and f"no{o}" not in names)
    return MountSpec(destination, "tmpfs", "tmpfs", merged + given)


def bind_mount(destination: str, source: str, *, writable: bool) -> MountSpec:
    """A volume or bind mount: recursive, private, read-only unless ``writable``."""
    return MountSpec(destination, "bind", source, ("rbind",) if writable else ("rbind", "ro"))


class MountTargetError(Exception):
    """A destination cannot be made inside the root; the text is runc's."""


def resolve(rootfs: Path, mounts: Sequence[MountSpec]) -> list[dict[str, Any]]:
    """The init's operations for ``mounts`` (in order): targets resolved and created.

    Runs in a worker thread (file system work).  Raises :class:`MountTargetError`.
    """
    operations: list[dict[str, Any]] = []
    placed: list[Mount] = []
    fresh: list[tuple[str, str]] = []  # (destination, host target) of mounted file systems
    for spec in mounts:
        inside = _inside_fresh(spec.destination, fresh)
        is_dir = not spec.is_bind or _is_dir(spec.source)
        if inside is not None:
            target = inside
            operations.append({"op": "mkdir" if is_dir else "touch", "path": target})
        else:
            target, virtual = _make_target(rootfs, placed, spec, is_dir=is_dir)
            if spec.is_bind and is_dir:
                placed.append(Mount(virtual, Path(spec.source)))
            elif not spec.is_bind:
                fresh.append((virtual, target))
        operations.append(
            {
                "op": "mount",
                "destination": spec.destination,
                "type": spec.type,
                "source": spec.source,
                "target": target,
                "options": list(spec.options),
            }
        )
        if spec.destination == "/dev":
            operations += _dev_contents(target)
    return operations


def _inside_fresh(destination: str, fresh: Sequence[tuple[str, str]]) -> str | None:
    """The host target for ``destination`` when it lies in a file system the plan mounts."""
    for virtual, target in reversed(fresh):
        if destination != virtual and destination.startswith(virtual.rstrip("/") + "/"):
            return target + destination[len(virtual.rstrip("/")) :]
    return None


def _is_dir(source: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(source).st_mode)
    except OSError:
        return True  # a missing source fails at the mount, with the kernel's error


def _make_target(
    rootfs: Path, placed: Sequence[Mount], spec: MountSpec, *, is_dir: bool
) -> tuple[str, str]:
    """Resolve ``spec.destination`` in the root (with ``placed`` mounts), create it."""
    with ScopedFS(rootfs, placed) as fs:
        try:
            virtual = fs.follow_in_scope(spec.destination)
            fs.make_dirs(posixpath.dirname(virtual))
            with fs.locate(virtual) as found:
                if not found.exists:
                    assert found.parent is not None
                    if is_dir:
                        os.mkdir(found.name, 0o755, dir_fd=found.parent)
                    else:
                        fd = os.open(
                            found.name,
                            os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                            0o644,
                            dir_fd=found.parent,
                        )
                        os.close(fd)
                elif found.is_dir != is_dir:
                    _not_a_directory(virtual)
        except OSError as exc:
            raise MountTargetError(
                f'error mounting "{spec.source}" to rootfs at "{spec.destination}": '
                f"create mountpoint for {spec.destination} mount: "
                f"{(exc.strerror or str(exc)).lower()}"
            ) from None
        return _host_path(rootfs, fs.mounts, virtual), virtual
    raise AssertionError("unreachable")  # pragma: no cover


def _not_a_directory(virtual: str) -> None:
    raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), virtual)


def _host_path(rootfs: Path, mounts: dict[str, Mount], virtual: str) -> str:
    """Where the resolved ``virtual`` path is on the host: in a placed mount or the root."""
    best = ""
    for destination in mounts:
        if (virtual == destination or virtual.startswith(destination + "/")) and len(
            destination
        ) > len(best):
            best = destination
    if best:
        rest = virtual[len(best) :].lstrip("/")
        source = mounts[best].source
        return str(source / rest) if rest else str(source)
    return str(rootfs / virtual.lstrip("/"))


def _dev_contents(dev: str) -> list[dict[str, Any]]:
    """Device nodes and links in the fresh ``/dev`` tmpfs."""
    operations: list[dict[str, Any]] = []
    for name in DEVICES:
        target = f"{dev}/{name}"
        operations.append({"op": "touch", "path": target})
        operations.append(
            {
                "op": "mount",
                "destination": f"/dev/{name}",
                "type": "bind",
                "source": f"/dev/{name}",
                "target": target,
                "options": ["bind"],
            }
        )
    for link, points_to in DEV_LINKS:
        operations.append({"op": "symlink", "path": dev + link[len("/dev") :], "to": points_to})
    return operations


#: Options a rootless container cannot pass: its user namespace maps one user and one
#: group only, so ``gid=5`` (devpts' tty group) is not mapped and the mount fails with
#: EINVAL.  runc's ``specconv.ToRootless`` drops them the same way.
ROOTLESS_DROPPED: Final = ("uid=", "gid=")


def plan_mounts(
    user: Iterable[MountSpec],
    *,
    busybox: Path,
    shm_size: int = DEFAULT_SHM_SIZE,
    rootless: bool = False,
) -> list[MountSpec]:
    """Defaults, ``/dev/shm``, the host's busybox over the root's placeholder, the user's
    (rootless: without the options that name an unmapped user or group)."""
    defaults = [*DEFAULT_MOUNTS, shm_mount(shm_size)]
    image = [MountSpec("/bin/busybox", "bind", str(busybox), ("bind", "ro"))]
    mounts = ordered(defaults, [*image, *user])
    if rootless:
        mounts = [
            attrs.evolve(
                m, options=tuple(o for o in m.options if not o.startswith(ROOTLESS_DROPPED))
            )
            for m in mounts
        ]
    return mounts
