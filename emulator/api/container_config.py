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

import os
import posixpath
from collections.abc import Callable, Mapping
from typing import Any, Final

from emulator.api.http import ApiError, field, json_object, string_map
from emulator.engine.container_model import MountRequest, RunConfig
from emulator.protocol.signals import SignalError, parse_signal

__all__ = ["REFUSED", "mount_requests", "refuse_restart_policy", "refuse_unsupported", "run_config"]

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


def refuse_restart_policy(host: Mapping[str, Any]) -> None:
    """501 for ``--restart`` other than ``no``, whatever runs the container: dockerd
    would start it again after each exit (a new volume ``Mount`` each time), which the
    emulator does not do."""
    policy = json_object(field(host, "RestartPolicy", dict, "HostConfig"), "RestartPolicy")
    name = field(policy, "Name", str, "HostConfig.RestartPolicy") or ""
    if name not in ("", "no"):
        raise ApiError(
            f"plugin-emulator cannot honour --restart {name} (HostConfig.RestartPolicy): "
            "its containers are never restarted after they exit; run without it and "
            "start the container again with docker start",
            501,
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


def _mount_error(kind: str, text: str) -> ApiError:
    """``errMountConfig``: ``invalid mount config for type "bind": …``."""
    return ApiError(f'invalid mount config for type "{kind}": {text}')


#: ``mount.BindOptions`` fields the emulator's mounts do not honour (``Propagation`` is).
_BIND_REFUSED: Final = (
    ("NonRecursive", "bind-recursive=disabled"),
    ("ReadOnlyNonRecursive", "bind-recursive=writable"),
    ("ReadOnlyForceRecursive", "bind-recursive=readonly"),
)

_PROPAGATIONS: Final = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


def _check_mount(mount: Mapping[str, Any], kind: str, i: int) -> None:
    """``validateMountConfigImpl`` (moby/moby volume/mounts/linux_parser.go, v28.5.2)."""
    target = str(mount.get("Target") or "")
    if target == "":
        raise _mount_error(kind, "field Target must not be empty")
    if posixpath.normpath(target) == "/":
        raise _mount_error(kind, "invalid specification: destination can't be '/'")
    if not posixpath.isabs(target):
        raise _mount_error(kind, f"invalid mount path: '{target}' mount path must be absolute")
    source = str(mount.get("Source") or "")
    present = {k for k in ("BindOptions", "VolumeOptions", "ImageOptions") if mount.get(k)}
    extra = {"bind": ("VolumeOptions", "ImageOptions"), "volume": ("BindOptions", "ImageOptions")}
    for name in extra.get(kind, ("BindOptions", "ImageOptions")):
        if name in present:
            raise _mount_error(kind, f"field {name} must not be specified")
    if kind == "bind":
        if source == "":
            raise _mount_error(kind, "field Source must not be empty")
        bind = json_object(mount.get("BindOptions"), "mount.BindOptions")
        propagation = str(bind.get("Propagation") or "")
        if propagation and propagation not in _PROPAGATIONS:
            raise _mount_error(kind, f"invalid propagation mode: {propagation}")
        if not posixpath.isabs(source):
            raise _mount_error(kind, f"invalid mount path: '{source}' mount path must be absolute")
        for key, flag in _BIND_REFUSED:
            if bind.get(key):
                raise ApiError(
                    f"plugin-emulator cannot honour --mount type=bind,{flag} "
                    f"(HostConfig.Mounts[{i}].BindOptions.{key}): its bind mounts are "
                    "recursive and follow the source's read-only setting only; run without it",
                    501,
                )
        if not os.path.lexists(source) and not bind.get("CreateMountpoint"):
            raise _mount_error(kind, f"bind source path does not exist: {source}")
    elif kind == "volume":
        options = json_object(mount.get("VolumeOptions"), "mount.VolumeOptions")
        subpath = str(options.get("Subpath") or "")
        if subpath and source == "":
            raise _mount_error(kind, "must not set Subpath when using anonymous volumes")
        if subpath and (posixpath.isabs(subpath) or posixpath.normpath(subpath).startswith("..")):
            raise _mount_error(kind, "subpath must be a relative path within the volume")
        if mount.get("ReadOnly") and source == "":
            raise _mount_error(kind, "must not set ReadOnly mode when using anonymous volumes")
    elif kind == "tmpfs" and source:
        raise _mount_error(kind, "field Source must not be specified")


def _volume_request(mount: Mapping[str, Any], i: int) -> MountRequest:
    what = f"HostConfig.Mounts[{i}].VolumeOptions"
    options = json_object(mount.get("VolumeOptions"), "mount.VolumeOptions")
    driver = json_object(field(options, "DriverConfig", dict, what), "mount.Driver")
    given = bool(mount.get("VolumeOptions"))
    return MountRequest(
        "volume",
        str(mount.get("Target")),
        source=str(mount.get("Source") or ""),
        read_only=bool(mount.get("ReadOnly")),
        driver=field(driver, "Name", str, f"{what}.DriverConfig") or "",
        driver_opts=string_map(
            field(driver, "Options", dict, f"{what}.DriverConfig"), f"{what}.DriverConfig.Options"
        ),
        labels=string_map(field(options, "Labels", dict, what), f"{what}.Labels"),
        subpath=field(options, "Subpath", str, what) or "",
        volume_options=given,
    )


def _tmpfs_options(mount: Mapping[str, Any]) -> str:
    """``--mount type=tmpfs``: ``tmpfs-size``, ``tmpfs-mode`` and the raw ``Options``."""
    options = mount.get("TmpfsOptions") or {}
    parts = []
    if options.get("SizeBytes"):
        parts.append(f"size={int(options['SizeBytes'])}")
    if options.get("Mode"):
        parts.append(f"mode={int(options['Mode']):o}")
    for option in options.get("Options") or []:
        parts.append("=".join(str(word) for word in option))
    if mount.get("ReadOnly"):
        parts.append("ro")
    return ",".join(parts)


def mount_requests(host: Mapping[str, Any]) -> tuple[list[MountRequest], dict[str, str]]:
    """``HostConfig.Mounts``: volume and bind mounts, and the tmpfs entries."""
    requests: list[MountRequest] = []
    tmpfs: dict[str, str] = {}
    for i, mount in enumerate(field(host, "Mounts", list, "HostConfig") or []):
        if not isinstance(mount, dict):
            continue
        kind = str(mount.get("Type") or "")
        if kind not in ("volume", "bind", "tmpfs"):
            if kind in ("image", "npipe", "cluster"):
                raise ApiError(f"plugin-emulator does not support mounts of type {kind!r}", 501)
            raise _mount_error(kind, "mount type unknown")
        _check_mount(mount, kind, i)
        target = str(mount["Target"])
        if kind == "tmpfs":
            tmpfs[target] = _tmpfs_options(mount)
        elif kind == "volume":
            requests.append(_volume_request(mount, i))
        else:
            bind = json_object(mount.get("BindOptions"), "mount.BindOptions")
            requests.append(
                MountRequest(
                    "bind",
                    target,
                    source=str(mount["Source"]),
                    read_only=bool(mount.get("ReadOnly")),
                    propagation=str(bind.get("Propagation") or ""),
                    create_source=bool(bind.get("CreateMountpoint")),
                )
            )
    return requests, tmpfs


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
