"""The container's process as dockerd specifies it: user, groups, environment, capabilities.

* ``-u``: moby/sys/user ``GetExecUser`` over the container's own ``/etc/passwd`` and
  ``/etc/group`` (read inside the root), as dockerd's ``getUser`` (moby/moby
  ``daemon/oci_linux.go``, v28.5.2): ``name``, ``uid``, ``name:group``, ``uid:gid``;
  unknown names fail the start with dockerd's texts; ``--group-add`` adds groups.
* environment: ``Container.CreateDaemonEnvironment`` (``PATH``, ``HOSTNAME``, then the
  container's ``Env`` replacing or adding) plus ``HOME`` from the passwd entry when
  unset (``withUser``).
* capabilities: moby's default set (``oci/caps/defaults.go``) without ``CAP_MKNOD``
  (there is no device cgroup to stop a node of the host's disk being made), tweaked by
  ``--cap-add``/``--cap-drop`` as ``caps.TweakCapabilities`` does; ``--cap-add`` is limited
  to capabilities that stay inside the container's own namespaces without seccomp or
  AppArmor (:data:`ADDABLE`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import attrs

from emulator.engine.scoped_fs import ScopedFS

__all__ = [
    "CAPABILITIES",
    "DEFAULT_CAPABILITIES",
    "DEFAULT_PATH",
    "User",
    "UserError",
    "capabilities",
    "daemon_environment",
    "resolve_user",
]

#: ``oci.DefaultPathEnv`` (and the busybox image's ``PATH``).
DEFAULT_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Linux capability numbers (``linux/capability.h``).
CAPABILITIES: Final = {
    name: number
    for number, name in enumerate(
        (
            "CHOWN",
            "DAC_OVERRIDE",
            "DAC_READ_SEARCH",
            "FOWNER",
            "FSETID",
            "KILL",
            "SETGID",
            "SETUID",
            "SETPCAP",
            "LINUX_IMMUTABLE",
            "NET_BIND_SERVICE",
            "NET_BROADCAST",
            "NET_ADMIN",
            "NET_RAW",
            "IPC_LOCK",
            "IPC_OWNER",
            "SYS_MODULE",
            "SYS_RAWIO",
            "SYS_CHROOT",
            "SYS_PTRACE",
            "SYS_PACCT",
            "SYS_ADMIN",
            "SYS_BOOT",
            "SYS_NICE",
            "SYS_RESOURCE",
            "SYS_TIME",
            "SYS_TTY_CONFIG",
            "MKNOD",
            "LEASE",
            "AUDIT_WRITE",
            "AUDIT_CONTROL",
            "SETFCAP",
            "MAC_OVERRIDE",
            "MAC_ADMIN",
            "SYSLOG",
            "WAKE_ALARM",
            "BLOCK_SUSPEND",
            "AUDIT_READ",
            "PERFMON",
            "BPF",
            "CHECKPOINT_RESTORE",
        )
    )
}
#: moby's ``DefaultCapabilities`` minus ``MKNOD`` (see the module docstring).
DEFAULT_CAPABILITIES: Final = (
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
)
#: What ``--cap-add`` may add: capabilities whose reach is the container's namespaces.
ADDABLE: Final = frozenset(
    {
        *DEFAULT_CAPABILITIES,
        "NET_ADMIN",
        "NET_BROADCAST",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_NICE",
        "SYS_RESOURCE",
        "LEASE",
        "AUDIT_READ",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
    }
)


class UserError(Exception):
    """``-u`` names no user or group of the container (dockerd's text)."""


class CapabilityError(Exception):
    """``--cap-add``/``--cap-drop`` names an unknown capability, or one not emulated."""


@attrs.frozen
class User:
    """Who the process runs as."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()
    home: str = "/"


@attrs.frozen
class _Entry:
    name: str
    id: int
    gid: int = 0
    home: str = "/"
    members: tuple[str, ...] = ()


def _read(fs: ScopedFS, path: str) -> str:
    """A file of the container, read inside its root ("" when missing or unreadable)."""
    with contextlib.suppress(OSError), fs.locate(path, follow_last=True) as found:
        if found.exists and not found.is_dir and found.parent is not None:
            fd = os.open(
                found.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=found.parent
            )
            with os.fdopen(fd, "rb") as file:
                return file.read(1 << 20).decode(errors="replace")
    return ""


def _passwd(text: str) -> list[_Entry]:
    entries = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 6 and fields[2].isdigit():
            gid = int(fields[3]) if fields[3].isdigit() else 0
            entries.append(_Entry(fields[0], int(fields[2]), gid, fields[5] or "/"))
    return entries


def _groups(text: str) -> list[_Entry]:
    entries = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            members = tuple(m for m in (fields[3] if len(fields) > 3 else "").split(",") if m)
            entries.append(_Entry(fields[0], int(fields[2]), members=members))
    return entries


def resolve_user(rootfs: Path, spec: str, group_add: Sequence[str] = ()) -> User:
    """``GetExecUser(spec)`` over the container's passwd and group files, plus ``group_add``."""
    with ScopedFS(rootfs) as fs:
        users = _passwd(_read(fs, "/etc/passwd"))
        groups = _groups(_read(fs, "/etc/group"))
    name, _, group = spec.partition(":")
    found = next(
        (u for u in users if (u.id == 0 if name == "" else u.name == name or str(u.id) == name)),
        None,
    )
    if found is None:
        if name and not name.isdigit():
            raise UserError(f"unable to find user {name}: no matching entries in passwd file")
        uid, gid, home = (int(name) if name else 0), 0, "/"
    else:
        uid, gid, home = found.id, found.gid, found.home
    extra: list[int] = []
    if group:
        gid = _group_id(groups, group)
    elif found is not None:
        extra = [g.id for g in groups if found.name in g.members]
    extra += [_group_id(groups, g) for g in group_add]
    return User(uid, gid, tuple(dict.fromkeys(extra)), home)


def _group_id(groups: Sequence[_Entry], text: str) -> int:
    for entry in groups:
        if entry.name == text or str(entry.id) == text:
            return entry.id
    if text.isdigit():
        return int(text)
    raise UserError(f"unable to find group {text}: no matching entries in group file")


def daemon_environment(env: Sequence[str], hostname: str, home: str) -> list[str]:
    """``CreateDaemonEnvironment`` (no tty, no links) with ``HOME`` added when unset."""
    result = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    for item in env:
        key = item.split("=", 1)[0]
        for index, existing in enumerate(result):
            if existing.split("=", 1)[0] == key:
                result[index] = item
                break
        else:
            result.append(item)
    if not any(item.split("=", 1)[0] == "HOME" for item in result):
        result.append(f"HOME={home}")
    return result


def _normalize(names: Sequence[str]) -> list[str]:
    out = []
    for raw in names:
        name = raw.upper().removeprefix("CAP_")
        if name != "ALL" and name not in CAPABILITIES:
            raise CapabilityError(f'unknown capability: "CAP_{name}"')
        out.append(name)
    return out


def capabilities(add: Sequence[str] = (), drop: Sequence[str] = ()) -> tuple[str, ...]:
    """``caps.TweakCapabilities`` on the default set (names without ``CAP_``)."""
    adds, drops = _normalize(add), _normalize(drop)
    refused = sorted(
        {a for a in adds if a != "ALL" and a not in ADDABLE} | ({"ALL"} if "ALL" in adds else set())
    )
    if refused:
        raise CapabilityError(
            f"--cap-add {', '.join(refused)} is not emulated: the emulator's containers run "
            "without seccomp, AppArmor or cgroups, so only capabilities that stay inside the "
            f"container's namespaces can be added ({', '.join(sorted(ADDABLE))})"
        )
    if "ALL" in drops:
        return tuple(dict.fromkeys(adds))
    kept = [c for c in DEFAULT_CAPABILITIES if c not in drops]
    return tuple(dict.fromkeys([*kept, *adds]))
