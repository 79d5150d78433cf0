"""``plugin-emulator plugin lint DIR``: packaging mistakes dockerd only reveals at run time.

dockerd validates nothing in a plugin's ``config.json`` beyond JSON types
(``validateConfig`` is ``return nil // TODO``).  A wrong interface type makes
the plugin invisible to every driver lookup, a missing socket makes enable fail
after ~12.5 s of dialling, a missing entrypoint fails in runc, a settable field
dockerd cannot set fails ``docker plugin set``.  :func:`lint_plugin_dir` reports
each such mistake as a :class:`Finding` with a clear message.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Final

import attrs

from emulator.protocol.plugin_config import (
    KNOWN_TYPES,
    PROTOCOL_HTTP_V1,
    ConfigError,
    PluginConfig,
    decode_config,
)

__all__ = ["CAPABILITIES", "Finding", "lint_config", "lint_plugin_dir"]

#: Linux capability names runc accepts (``CAP_`` prefix optional in config.json).
CAPABILITIES: Final = frozenset(
    {
        "CAP_AUDIT_CONTROL",
        "CAP_AUDIT_READ",
        "CAP_AUDIT_WRITE",
        "CAP_BLOCK_SUSPEND",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_KILL",
        "CAP_LEASE",
        "CAP_LINUX_IMMUTABLE",
        "CAP_MAC_ADMIN",
        "CAP_MAC_OVERRIDE",
        "CAP_MKNOD",
        "CAP_NET_ADMIN",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_RAW",
        "CAP_PERFMON",
        "CAP_SETFCAP",
        "CAP_SETGID",
        "CAP_SETPCAP",
        "CAP_SETUID",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_CHROOT",
        "CAP_SYS_MODULE",
        "CAP_SYS_NICE",
        "CAP_SYS_PACCT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
    }
)
#: ``PATH`` dockerd gives a plugin (``oci.DefaultSpec``), searched for a relative entrypoint.
DEFAULT_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ALLOWED_SETTABLE: Final = {
    "env": ("value",),
    "args": ("value",),
    "mounts": ("source",),
    "devices": ("path",),
}


@attrs.frozen
class Finding:
    """One packaging mistake: ``code`` is stable, ``message`` says what dockerd will do."""

    severity: str
    """``error`` (the plugin will not work as meant) or ``warning``."""
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: [{self.code}] {self.message}"


def lint_plugin_dir(directory: Path) -> list[Finding]:
    """Lint a ``docker plugin create`` directory (``config.json`` + ``rootfs/``)."""
    config_path = directory / "config.json"
    rootfs = directory / "rootfs"
    findings: list[Finding] = []
    if not rootfs.is_dir():
        findings.append(
            Finding(
                "error",
                "no-rootfs",
                f"{rootfs} is not a directory: `docker plugin create` fails with "
                "'no rootfs found: EOF'",
            )
        )
    try:
        data = config_path.read_bytes()
    except OSError as exc:
        findings.append(
            Finding(
                "error",
                "no-config",
                f"cannot read {config_path} ({exc.strerror}): `docker plugin create` fails "
                "with 'config not found'",
            )
        )
        return findings
    try:
        config = decode_config(data)
    except ConfigError as exc:
        findings.append(Finding("error", "bad-config", f"{config_path}: {exc}"))
        return findings
    findings.extend(lint_config(config, rootfs if rootfs.is_dir() else None))
    return findings


def lint_config(config: PluginConfig, rootfs: Path | None) -> list[Finding]:
    """The findings for a decoded config (``Interface.Types`` as written)."""
    out: list[Finding] = []
    out.extend(_interface(config))
    out.extend(_entrypoint(config, rootfs))
    out.extend(_mounts(config))
    out.extend(_capabilities(config))
    out.extend(_settables(config))
    return out


def _interface(config: PluginConfig) -> list[Finding]:
    out: list[Finding] = []
    types = config.Interface.Types or []
    if not types:
        out.append(
            Finding(
                "error",
                "no-types",
                "Interface.Types is empty: no driver lookup will ever find this plugin",
            )
        )
    for item in types:
        if not isinstance(item, str):
            out.append(
                Finding("error", "bad-type", f"interface type {item!r} is not a JSON string")
            )
        elif item not in KNOWN_TYPES:
            near = [k for k in KNOWN_TYPES if k.lower() == item.lower().strip()]
            hint = f" (did you mean {near[0]!r}? dockerd compares exactly)" if near else ""
            out.append(
                Finding(
                    "error",
                    "bad-type",
                    f"interface type {item!r} is not one of {', '.join(KNOWN_TYPES)}; dockerd "
                    f"accepts it but never matches it to a driver lookup{hint}",
                )
            )
    socket = config.Interface.Socket
    if not socket:
        out.append(
            Finding(
                "error",
                "no-socket",
                "Interface.Socket is empty: dockerd dials /run/docker/plugins/<id>/ itself and "
                "`docker plugin enable` fails after ~12.5 s",
            )
        )
    elif "/" in socket:
        out.append(
            Finding(
                "error",
                "bad-socket",
                f"Interface.Socket {socket!r} must be a file name: the plugin listens on "
                f"/run/docker/plugins/{socket} and dockerd dials /run/docker/plugins/<id>/{socket}",
            )
        )
    scheme = config.Interface.ProtocolScheme
    if scheme not in ("", PROTOCOL_HTTP_V1):
        out.append(
            Finding(
                "error",
                "bad-protocol",
                f"Interface.ProtocolScheme {scheme!r}: dockerd only speaks {PROTOCOL_HTTP_V1!r} "
                "(or empty) and makes no client for anything else",
            )
        )
    return out


def resolve_in_rootfs(rootfs: Path, path: str) -> Path | None:
    """``path`` inside ``rootfs``, following symlinks as a chroot would (host targets allowed).

    ``..`` stops at ``rootfs``.  The one way out is deliberate: the last link of the
    path may point at an absolute path that exists on the host but not in the rootfs
    (a host interpreter), which the emulator then runs.
    """
    current = rootfs
    parts = [p for p in path.split("/") if p and p != "."]
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = current.parent if current != rootfs else rootfs
            continue
        candidate = current / part
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                return None
            target = os.readlink(candidate)
            if target.startswith("/") and not (rootfs / target.lstrip("/")).exists():
                # Points outside: the emulator runs it as a host path (a host interpreter).
                return Path(target) if Path(target).exists() and not parts else None
            if target.startswith("/"):
                current = rootfs
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        current = candidate
    return current if current.exists() else None


def _entrypoint(config: PluginConfig, rootfs: Path | None) -> list[Finding]:
    entry = config.Entrypoint or []
    if not entry:
        return [Finding("error", "no-entrypoint", "Entrypoint is empty: nothing can be started")]
    if rootfs is None:
        return []
    program = entry[0]
    candidates = (
        [program]
        if "/" in program
        else [posixpath.join(d, program) for d in DEFAULT_PATH.split(":")]
    )
    if not program.startswith("/") and "/" in program:
        candidates = [posixpath.join(config.WorkDir or "/", program)]
    for candidate in candidates:
        found = resolve_in_rootfs(rootfs, candidate)
        if found is not None:
            if not found.is_file() or not os.access(found, os.X_OK):
                return [
                    Finding(
                        "error",
                        "entrypoint-not-executable",
                        f"Entrypoint {program!r} ({found}) is not an executable file",
                    )
                ]
            return []
    where = program if "/" in program else f"{program} on PATH {DEFAULT_PATH}"
    return [
        Finding(
            "error",
            "entrypoint-missing",
            f"Entrypoint {where!r} is not in rootfs: `docker plugin enable` fails in runc "
            "(no such file or directory)",
        )
    ]


def _mounts(config: PluginConfig) -> list[Finding]:
    out: list[Finding] = []
    propagated = config.PropagatedMount
    for mount in config.Mounts or ():
        label = mount.Name or mount.Destination or "(unnamed)"
        if mount.Source is None and "source" not in (mount.Settable or ()):
            out.append(
                Finding(
                    "error",
                    "mount-no-source",
                    f"mount {label!r} has no Source and it is not settable: enable fails with "
                    "'mount source is not specified'",
                )
            )
        elif mount.Source is None:
            out.append(
                Finding(
                    "warning",
                    "mount-no-source",
                    f"mount {label!r} has no Source: enable fails with 'mount source is not "
                    f"specified' until `docker plugin set PLUGIN {mount.Name}.source=...`; note "
                    "that dockerd's set also refuses a mount whose Source is null ('Plugin "
                    "config has no mount source')",
                )
            )
        if not mount.Destination:
            out.append(
                Finding("error", "mount-no-destination", f"mount {label!r} has no Destination")
            )
        if propagated and mount.Destination and _inside(propagated, mount.Destination):
            out.append(
                Finding(
                    "error",
                    "mount-over-propagated",
                    f"mount {label!r} at {mount.Destination!r} covers PropagatedMount "
                    f"{propagated!r}: the volumes the plugin mounts there stay inside that "
                    "mount and dockerd sees an empty directory",
                )
            )
            continue
        if propagated and mount.Type == "bind" and "rshared" in (mount.Options or ()):
            out.append(
                Finding(
                    "warning",
                    "mount-outside-propagated",
                    f"mount {label!r} at {mount.Destination!r} is outside PropagatedMount "
                    f"{propagated!r}: mounts made there are not seen by dockerd or containers",
                )
            )
    if propagated and not propagated.startswith("/"):
        out.append(
            Finding(
                "error", "bad-propagated-mount", f"PropagatedMount {propagated!r} is not absolute"
            )
        )
    return out


def _inside(path: str, parent: str) -> bool:
    path, parent = posixpath.normpath(path), posixpath.normpath(parent)
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _capabilities(config: PluginConfig) -> list[Finding]:
    out: list[Finding] = []
    for cap in config.Linux.Capabilities or ():
        name = cap.upper()
        name = name if name.startswith("CAP_") else "CAP_" + name
        if name not in CAPABILITIES:
            out.append(
                Finding(
                    "error",
                    "unknown-capability",
                    f"Linux.Capabilities: {cap!r} is not a Linux capability; enable fails in runc",
                )
            )
    return out


def _settables(config: PluginConfig) -> list[Finding]:
    out: list[Finding] = []
    groups: list[tuple[str, str, list[str], bool]] = []
    for env in config.Env or ():
        groups.append(("env", env.Name, env.Settable or [], True))
    for mount in config.Mounts or ():
        groups.append(("mounts", mount.Name, mount.Settable or [], mount.Source is not None))
    for device in config.Linux.Devices or ():
        groups.append(("devices", device.Name, device.Settable or [], device.Path is not None))
    if config.Args.Name or config.Args.Settable:
        groups.append(("args", config.Args.Name, config.Args.Settable or [], True))
    for kind, name, settable, has_target in groups:
        allowed = _ALLOWED_SETTABLE[kind]
        for field in settable:
            if field not in allowed:
                out.append(
                    Finding(
                        "error",
                        "unsettable-field",
                        f"{kind} {name!r}: Settable {field!r} can never be set (dockerd allows "
                        f"only {', '.join(allowed)} for {kind}); `docker plugin set` answers "
                        f"'\"{name}.{field}\" is not settable'",
                    )
                )
        if not name and settable:
            out.append(
                Finding("error", "unsettable-field", f"{kind}: a settable entry has no Name")
            )
        if len(settable) > 1:
            out.append(
                Finding(
                    "warning",
                    "ambiguous-settable",
                    f"{kind} {name!r} lists {len(settable)} settable fields: `docker plugin set "
                    f"{name}=...` fails ('multiple fields are settable, one must be specified')",
                )
            )
        if kind in ("mounts", "devices") and not has_target and any(f in allowed for f in settable):
            field = allowed[0]
            null = "Source" if kind == "mounts" else "Path"
            what = "mount source" if kind == "mounts" else "device path"
            out.append(
                Finding(
                    "error",
                    "unsettable-field",
                    f"{kind} {name!r}: {field} is settable but {null} is null, so dockerd's set "
                    f"fails ('Plugin config has no {what}'); "
                    f'give it a default such as "{null}": ""',
                )
            )
    return out
