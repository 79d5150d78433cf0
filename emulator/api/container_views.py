"""Containers as ``docker ps`` and ``docker inspect`` show them (moby/moby v28.5.2).

``daemon/inspect.go`` (``ContainerInspect``, ``getInspectData``,
``getDefaultNetworkSettings``), ``daemon/list.go`` and the types of
``api/types/container`` and ``api/types/network``.  ``NetworkSettings.Networks`` holds,
per network the container was given, its configured endpoint settings and, while it
runs, what the endpoint got (``buildEndpointInfo``); at exit the operational part is
cleared (``cleanOperationalData``) and the network ID kept.
"""

from __future__ import annotations

from typing import Any

from emulator.engine.containers import Container, ContainerService
from emulator.engine.endpoint_settings import EndpointConfig, is_user_defined
from emulator.engine.network_model import Endpoint
from emulator.engine.networks import NetworkController, NetworkError
from emulator.golang.time import human_duration, rfc3339_nano
from emulator.runtime.spec import DEFAULT_PATH

__all__ = ["inspect_json", "mounts_json", "summary_json"]


def mounts_json(container: Container) -> list[dict[str, Any]]:
    """``Mounts``: volumes with their driver and name, binds with their propagation."""
    mounts = []
    for mp in container.mounts:
        if mp.type == "volume":
            mounts.append(
                {
                    "Type": "volume",
                    "Name": mp.name,
                    "Source": mp.source,
                    "Destination": mp.destination,
                    "Driver": mp.driver,
                    "Mode": mp.mode,
                    "RW": mp.rw,
                    "Propagation": "",
                }
            )
        else:
            mounts.append(
                {
                    "Type": "bind",
                    "Source": mp.source,
                    "Destination": mp.destination,
                    "Mode": mp.mode,
                    "RW": mp.rw,
                    "Propagation": "rprivate",
                }
            )
    return mounts


def _endpoint(networks: NetworkController, name: str, container: Container) -> Endpoint | None:
    if not container.running:
        return None
    try:
        return networks.endpoint_of(name, container.id)
    except NetworkError:
        return None


def _network_id(networks: NetworkController, name: str) -> str:
    try:
        return networks.get(name).id
    except NetworkError:
        return ""


def endpoint_json(
    networks: NetworkController, container: Container, name: str, config: EndpointConfig
) -> dict[str, Any]:
    """One ``network.EndpointSettings`` of ``NetworkSettings.Networks``."""
    started = container.started_at is not None
    endpoint = _endpoint(networks, name, container)
    dns = None
    if started and is_user_defined(name):
        # buildEndpointDNSNames: name, aliases, short ID (the hostname is the short ID)
        dns = list(dict.fromkeys([container.name, *(config.aliases or ()), container.id[:12]]))
    shown: dict[str, Any] = {
        **config.to_json(),
        "MacAddress": config.mac_address if not started else "",
        "NetworkID": _network_id(networks, name) if started else "",
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": dns,
    }
    if endpoint is not None:
        iface, join = endpoint.iface, endpoint.join
        shown["MacAddress"] = iface.mac
        shown["NetworkID"] = endpoint.network.id
        shown["EndpointID"] = endpoint.id
        if iface.address is not None:
            shown["IPAddress"] = str(iface.address.ip)
            shown["IPPrefixLen"] = iface.address.network.prefixlen
            shown["Gateway"] = join.gateway if join is not None else ""
        if iface.address_v6 is not None:
            shown["GlobalIPv6Address"] = str(iface.address_v6.ip)
            shown["GlobalIPv6PrefixLen"] = iface.address_v6.network.prefixlen
            shown["IPv6Gateway"] = join.gateway_v6 if join is not None else ""
    return shown


def network_settings_json(networks: NetworkController, container: Container) -> dict[str, Any]:
    """``NetworkSettings``: the sandbox, the deprecated ``bridge`` copy, every network."""
    shown = {
        name: endpoint_json(networks, container, name, config)
        for name, config in container.networks.items()
    }
    bridge = shown.get("bridge", {})
    sandbox = networks.sandboxes.get(container.id) if container.running else None
    return {
        "Bridge": "",
        "SandboxID": sandbox.id if sandbox is not None else "",
        "SandboxKey": sandbox.key if sandbox is not None else "",
        "Ports": {},
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": bridge.get("EndpointID", ""),
        "Gateway": bridge.get("Gateway", ""),
        "GlobalIPv6Address": bridge.get("GlobalIPv6Address", ""),
        "GlobalIPv6PrefixLen": bridge.get("GlobalIPv6PrefixLen", 0),
        "IPAddress": bridge.get("IPAddress", ""),
        "IPPrefixLen": bridge.get("IPPrefixLen", 0),
        "IPv6Gateway": bridge.get("IPv6Gateway", ""),
        "MacAddress": bridge.get("MacAddress", ""),
        "Networks": shown,
    }


def _status(container: Container, now: float) -> str:
    """``docker ps``'s STATUS column (``State.String``): ``Up 3 seconds``, ``Created``,
    ``Exited (0) 5 seconds ago``."""
    if container.running:
        return f"Up {human_duration(now - (container.started_at or now))}"
    if container.started_at is None:
        return "Created"
    if container.finished_at is None:
        return ""
    return f"Exited ({container.exit_code}) {human_duration(now - container.finished_at)} ago"


def summary_json(networks: NetworkController, container: Container, now: float) -> dict[str, Any]:
    """One row of ``GET /containers/json``."""
    return {
        "Id": container.id,
        "Names": [f"/{container.name}"],
        "Image": container.image,
        "ImageID": "sha256:" + "0" * 64,
        "Command": " ".join(container.command),
        "Created": int(container.created),
        "Ports": [],
        "Labels": {},
        "State": container.state,
        "Status": _status(container, now),
        "HostConfig": {"NetworkMode": container.network_mode},
        "NetworkSettings": {
            "Networks": {
                name: endpoint_json(networks, container, name, config)
                for name, config in container.networks.items()
            }
        },
        "Mounts": mounts_json(container),
    }


def _config_env(container: Container) -> list[str]:
    """``Config.Env``: the client's, then the image's (busybox: ``PATH``) where not set."""
    env = list(container.config.env)
    if not any(item.split("=", 1)[0] == "PATH" for item in env):
        env.append(f"PATH={DEFAULT_PATH}")
    return env


def inspect_json(
    networks: NetworkController, c: Container, containers: ContainerService
) -> dict[str, Any]:
    """``GET /containers/{id}/json``: the fields an emulated container has."""
    mode_config = c.networks.get(c.network_mode)
    run = c.config
    directory = containers.directory(c)
    config: dict[str, Any] = {
        "Hostname": run.hostname or c.id[:12],
        "User": run.user,
        "AttachStdin": run.open_stdin and not c.detach,
        "AttachStdout": not c.detach,
        "AttachStderr": not c.detach,
        "Tty": False,
        "OpenStdin": run.open_stdin,
        "StdinOnce": run.stdin_once,
        "Env": _config_env(c),
        "Cmd": c.command,
        "Image": c.image,
        "WorkingDir": run.working_dir,
        "Volumes": {mp.destination: {} for mp in c.mounts if mp.anonymous} or None,
        "Labels": c.labels or {},
    }
    if mode_config is not None and mode_config.mac_address:
        config["MacAddress"] = mode_config.mac_address  # getInspectData's migration
    return {
        "Id": c.id,
        "Created": rfc3339_nano(c.created),
        "Path": c.command[0] if c.command else "",
        "Args": c.command[1:],
        "State": {
            "Status": c.state,
            "Running": c.running,
            "Paused": False,
            "Restarting": False,
            "OOMKilled": False,
            "Dead": False,
            "Pid": c.pid,
            "ExitCode": c.exit_code,
            "Error": c.error,
            "StartedAt": rfc3339_nano(c.started_at),
            "FinishedAt": rfc3339_nano(c.finished_at),
        },
        "Image": "sha256:" + "0" * 64,
        "ResolvConfPath": str(directory / "resolv.conf"),
        "HostnamePath": str(directory / "hostname"),
        "HostsPath": str(directory / "hosts"),
        "LogPath": str(containers.log(c).path),
        "Name": f"/{c.name}",
        "RestartCount": 0,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "HostConfig": {
            "Binds": list(c.binds) or None,
            "NetworkMode": c.network_mode,
            "AutoRemove": c.auto_remove,
            "VolumeDriver": c.volume_driver,
            "VolumesFrom": list(c.volumes_from) or None,
            "Tmpfs": dict(run.tmpfs) or None,
            "CapAdd": list(run.cap_add) or None,
            "CapDrop": list(run.cap_drop) or None,
            "ReadonlyRootfs": run.readonly_rootfs,
            "LogConfig": {"Type": c.log_config["Type"], "Config": dict(c.log_config["Config"])},
        },
        "Mounts": mounts_json(c),
        "Config": config,
        "NetworkSettings": network_settings_json(networks, c),
    }
