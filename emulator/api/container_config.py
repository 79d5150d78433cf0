"""``POST /containers/create``: what a real process honours, read; what it cannot, refused.

What a real process honours is read (``Env``, ``WorkingDir``, ``User``, ``Entrypoint``,
``Hostname``, ``OpenStdin``/``StdinOnce``, ``StopSignal``/``StopTimeout``, ``Binds``,
``Mounts`` of type volume, bind and tmpfs, ``Tmpfs``, ``CapAdd``/``CapDrop``,
``GroupAdd``, ``ReadonlyRootfs``, ``ShmSize``, ``Dns*``, ``ExtraHosts``, ``SecurityOpt``
``no-new-privileges``).  What dockerd honours and the emulator's
processes cannot is refused with 400 when the container will run a real process
(:data:`REFUSED`, e.g. ``-t``, ``-p``, ``--privileged``, resource limits): accepting it
would give a green result that is not true.  A container that follows the command table
runs nothing, so these settings are moot there and kept as before (not refused).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from typing import Any, Final

from emulator.api.http import ApiError, field, string_map
from emulator.engine.container_model import RunConfig
from emulator.protocol.signals import SignalError, parse_signal

__all__ = ["REFUSED", "mount_specs", "refuse_unsupported", "run_config"]

Check = Callable[[Any], bool]


def _set(value: Any) -> bool:
    return bool(value)


def _mode(value: Any) -> bool:
    return value not in (None, "", "private", "default")


#: (where, key, is set, the flag, why) for what real processes refuse.
REFUSED: Final[tuple[tuple[str, str, Check, str, str], ...]] = (
    ("Config", "Tty", _set, "-t/--tty", "containers have no terminal"),
    (
        "Config",
        "Healthcheck",
        lambda v: bool(v) and v.get("Test") not in (None, [], ["NONE"]),
        "--health-cmd",
        "health checks are not run",
    ),
    ("Config", "Domainname", _set, "--domainname", "the UTS domain name is not set"),
    ("HostConfig", "Privileged", _set, "--privileged", "no privileged containers"),
    ("HostConfig", "PortBindings", _set, "-p/--publish", "no ports are published"),
    ("HostConfig", "PublishAllPorts", _set, "-P/--publish-all", "no ports are published"),
    ("HostConfig", "Links", _set, "--link", "no legacy links"),
    ("HostConfig", "Devices", _set, "--device", "no devices are added"),
    ("HostConfig", "DeviceRequests", _set, "--gpus", "no devices are added"),
    ("HostConfig", "Sysctls", _set, "--sysctl", "no sysctls are set"),
    ("HostConfig", "Ulimits", _set, "--ulimit", "no resource limits (no cgroups)"),
    ("HostConfig", "Memory", _set, "-m/--memory", "no resource limits (no cgroups)"),
    (
        "HostConfig",
        "MemorySwap",
        lambda v: v not in (None, 0, -1),
        "--memory-swap",
        "no resource limits (no cgroups)",
    ),
    ("HostConfig", "NanoCpus", _set, "--cpus", "no resource limits (no cgroups)"),
    ("HostConfig", "CpuShares", _set, "-c/--cpu-shares", "no resource limits (no cgroups)"),
    ("HostConfig", "CpuQuota", _set, "--cpu-quota", "no resource limits (no cgroups)"),
    ("HostConfig", "CpusetCpus", _set, "--cpuset-cpus", "no resource limits (no cgroups)"),
    (
        "HostConfig",
        "PidsLimit",
        lambda v: v not in (None, 0, -1),
        "--pids-limit",
        "no resource limits (no cgroups)",
    ),
    ("HostConfig", "IpcMode", _mode, "--ipc", "each container has its own IPC namespace"),
    ("HostConfig", "PidMode", _set, "--pid", "each container has its own PID namespace"),
    ("HostConfig", "UTSMode", _set, "--uts", "each container has its own UTS namespace"),
    ("HostConfig", "UsernsMode", _set, "--userns", "no user namespace remapping"),
    ("HostConfig", "CgroupnsMode", _mode, "--cgroupns", "no cgroups"),
    ("HostConfig", "Init", _set, "--init", "no init process is injected"),
    (
        "HostConfig",
        "Runtime",
        lambda v: v not in (None, "", "runc"),
        "--runtime",
        "one runtime only",
    ),
    (
        "HostConfig",
        "MaskedPaths",
        lambda v: v is not None,
        "--security-opt systempaths",
        "Docker's masked paths always apply",
    ),
    (
        "HostConfig",
        "ReadonlyPaths",
        lambda v: v is not None,
        "--security-opt systempaths",
        "Docker's read-only paths always apply",
    ),
)


def refuse_unsupported(body: Mapping[str, Any], host: Mapping[str, Any]) -> None:
    """400 for the first :data:`REFUSED` setting the request makes."""
    for where, key, is_set, flag, why in REFUSED:
        source = body if where == "Config" else host
        value = next((v for k, v in source.items() if k.lower() == key.lower()), None)
        if is_set(value):
            raise ApiError(
                f"plugin-emulator cannot honour {flag} ({where}.{key}): {why} in its "
                "containers (they are host processes in namespaces, docs/containers.md); "
                "run without it"
            )
    for option in field(host, "SecurityOpt", list, "HostConfig") or []:
        if str(option) not in ("no-new-privileges", "no-new-privileges:true"):
            raise ApiError(
                f"plugin-emulator cannot honour --security-opt {option}: only "
                "no-new-privileges is applied in its containers (no seccomp, AppArmor or "
                "SELinux; docs/containers.md)"
            )


def _strings(host: Mapping[str, Any], key: str, what: str) -> list[str]:
    return [str(v) for v in field(host, key, list, what) or []]


def mount_specs(host: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
    """``HostConfig.Mounts`` as ``-v`` specs and tmpfs entries."""
    specs: list[str] = []
    tmpfs: dict[str, str] = {}
    for mount in field(host, "Mounts", list, "HostConfig") or []:
        if not isinstance(mount, dict):
            continue
        kind = mount.get("Type", "volume")
        target = str(mount.get("Target", ""))
        ro = ":ro" if mount.get("ReadOnly") else ""
        if kind in ("volume", "bind"):
            specs.append(f"{mount.get('Source', '')}:{target}{ro}")
        elif kind == "tmpfs":
            options = mount.get("TmpfsOptions") or {}
            parts = []
            if options.get("SizeBytes"):
                parts.append(f"size={int(options['SizeBytes'])}")
            if options.get("Mode"):
                parts.append(f"mode={int(options['Mode']):o}")
            tmpfs[target] = ",".join(parts)
        else:
            raise ApiError(f"plugin-emulator does not support mounts of type {kind!r}")
    return specs, tmpfs


def run_config(
    body: Mapping[str, Any], host: Mapping[str, Any], tmpfs: dict[str, str]
) -> RunConfig:
    """The :class:`RunConfig` of a create request (``tmpfs``: from ``HostConfig.Mounts``)."""
    what = "CreateRequest"
    workdir = field(body, "WorkingDir", str, what) or ""
    if workdir and not posixpath.isabs(workdir):
        raise ApiError(
            f"the working directory '{workdir}' is invalid, it needs to be an absolute path"
        )
    stop_signal = field(body, "StopSignal", str, what) or ""
    if stop_signal:
        try:
            parse_signal(stop_signal)
        except SignalError as exc:
            raise ApiError(str(exc)) from None
    given_tmpfs = string_map(field(host, "Tmpfs", dict, "HostConfig"), "HostConfig.Tmpfs") or {}
    security = [str(o) for o in field(host, "SecurityOpt", list, "HostConfig") or []]
    return RunConfig(
        env=_strings(body, "Env", what),
        working_dir=workdir,
        user=field(body, "User", str, what) or "",
        hostname=field(body, "Hostname", str, what) or "",
        open_stdin=bool(field(body, "OpenStdin", bool, what)),
        stdin_once=bool(field(body, "StdinOnce", bool, what)),
        tmpfs={**given_tmpfs, **tmpfs},
        cap_add=_strings(host, "CapAdd", "HostConfig"),
        cap_drop=_strings(host, "CapDrop", "HostConfig"),
        group_add=_strings(host, "GroupAdd", "HostConfig"),
        readonly_rootfs=bool(field(host, "ReadonlyRootfs", bool, "HostConfig")),
        shm_size=field(host, "ShmSize", int, "HostConfig") or 0,
        stop_signal=stop_signal,
        stop_timeout=field(body, "StopTimeout", int, what),
        dns=_strings(host, "Dns", "HostConfig"),
        dns_search=_strings(host, "DnsSearch", "HostConfig"),
        dns_options=_strings(host, "DnsOptions", "HostConfig"),
        extra_hosts=_strings(host, "ExtraHosts", "HostConfig"),
        no_new_privileges=any(o.startswith("no-new-privileges") for o in security),
    )
