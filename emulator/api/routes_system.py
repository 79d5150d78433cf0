"""``/_ping``, ``/version``, ``/info`` and ``/events``."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

import trio
from quart import Blueprint, Response, request

from emulator.api.http import ApiError, bool_value, empty, filters, json_body, json_response
from emulator.api.state import state
from emulator.engine.core import Engine
from emulator.engine.events import Event
from emulator.engine.network_model import BUILTIN_DRIVERS
from emulator.protocol import engine_api as api
from emulator.protocol import network as net_api
from emulator.protocol.filter_args import exact_match, fuzzy_match, match_kv_list
from emulator.protocol.logdriver.options import BUILTIN_DRIVERS as LOG_BUILTIN_DRIVERS

bp = Blueprint("system", __name__)


@bp.route("/", methods=["OPTIONS"], defaults={"anyroute": ""})
@bp.route("/<path:anyroute>", methods=["OPTIONS"])
async def options(anyroute: str) -> Response:
    """``optionsHandler``: OPTIONS on any path is 200 with nothing more (dockerd registers
    ``OPTIONS /{anyroute:.*}``; no ``Allow`` header, no body)."""
    return empty(200)


@bp.route("/_ping", methods=["GET", "HEAD"])
async def ping() -> Response:
    """``pingHandler``: ``OK`` (HEAD: empty, text/plain), no-cache headers, swarm state."""
    body = b"" if request.method == "HEAD" else b"OK"
    response = Response(body, status=200, content_type="text/plain; charset=utf-8")
    for name, value in api.PING_HEADERS:
        response.headers[name] = value
    if request.method == "HEAD":
        response.headers["Content-Length"] = "0"
    return response


def _version_fields() -> dict[str, object]:
    return {
        "Version": api.ENGINE_VERSION,
        "ApiVersion": api.API_VERSION,
        "MinAPIVersion": api.MIN_API_VERSION,
        "GitCommit": api.ENGINE_GIT_COMMIT,
        "GoVersion": api.ENGINE_GO_VERSION,
        "Os": "linux",
        "Arch": _arch(),
        "KernelVersion": platform.release(),
        "BuildTime": "2025-11-11T00:00:00.000000000+00:00",
    }


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


@bp.post("/auth")
async def auth() -> Response:
    """``postAuth`` (``docker login``): the emulator talks to no registry for this; refused."""
    raise ApiError(
        "plugin-emulator does not log in to registries (POST /auth); docker login is not supported",
        501,
    )


@bp.get("/version")
async def version() -> Response:
    """``types.Version`` with one ``Engine`` component."""
    fields = _version_fields()
    details = {k: str(v) for k, v in fields.items() if k != "Version"}
    details["Experimental"] = "false"
    return json_response(
        {
            "Platform": {"Name": "Docker Engine - Community (plugin-emulator)"},
            "Components": [{"Name": "Engine", "Version": api.ENGINE_VERSION, "Details": details}],
            **fields,
        }
    )


@bp.get("/info")
async def info() -> Response:
    """``system.Info``: the fields ``docker info`` prints that an emulator can know."""
    engine = state().engine
    containers = engine.containers.list(all=True)
    running = sum(1 for c in containers if c.running)
    return json_response(
        {
            "ID": "plugin-emulator",
            "Containers": len(containers),
            "ContainersRunning": running,
            "ContainersPaused": 0,
            "ContainersStopped": len(containers) - running,
            "Images": 0,
            "Driver": "overlay2",
            "DriverStatus": [],
            "Plugins": plugins_info(engine),
            "MemoryLimit": True,
            "SwapLimit": True,
            "NCPU": os.cpu_count() or 1,
            "MemTotal": 0,
            "Name": platform.node(),
            "ServerVersion": api.ENGINE_VERSION,
            "OperatingSystem": "plugin-emulator",
            "OSType": "linux",
            "Architecture": platform.machine(),
            "KernelVersion": platform.release(),
            "DockerRootDir": str(engine.data_root),
            "Labels": [],
            "ExperimentalBuild": False,
            "Swarm": {"LocalNodeState": "inactive", "ControlAvailable": False},
            "LoggingDriver": engine.logs.default.type,
            "Runtimes": {"runc": {"path": "runc"}},
            "DefaultRuntime": "runc",
            "LiveRestoreEnabled": False,
            "Isolation": "",
            "SecurityOptions": [],
            "CgroupDriver": "systemd",
            "CgroupVersion": "2",
            "Warnings": None,
        }
    )


#: ``logger.ListDrivers()``: dockerd's built-in drivers (plugins are never listed there);
#: the emulator has json-file and local and refuses the others at create.
LOG_DRIVERS: tuple[str, ...] = LOG_BUILTIN_DRIVERS


def plugins_info(engine: Engine) -> dict[str, list[str] | None]:
    """``system.PluginsInfo`` as dockerd's ``fillPluginsInfo`` builds it (moby/moby
    daemon/info.go, v28.5.2), from what the engine really has.

    Volume: ``GetDriverList`` (``local`` and the v1 plugins looked up so far).  Network:
    ``GetNetworkDriverList`` (built-in drivers, enabled managed network plugins, and the
    driver of every network), sorted.  Authorization: ``cfg.AuthorizationPlugins``, the
    start-up list as given (None when empty).  Log: :data:`LOG_DRIVERS`.
    """
    network = set(BUILTIN_DRIVERS)
    network.update(p.name for p in engine.managed_plugins.all_v2(net_api.IFACE))
    network.update(n.driver for n in engine.networks.list())
    return {
        "Volume": engine.volumes.store.drivers.names(),
        "Network": sorted(network),
        "Authorization": list(engine.authorization_plugins) or None,
        "Log": list(LOG_DRIVERS),
    }


# -- events ----------------------------------------------------------------------------


def event_message(event: Event, wall: float) -> dict[str, object]:
    """``events.Message`` as dockerd encodes it (legacy ``status``/``id``/``from`` for
    containers)."""
    attributes = dict(event.attributes)
    image = ""
    if event.type == "container":
        actor = attributes.pop("id", "")
        image = attributes.get("image", "")
    elif event.type in ("plugin", "network"):
        actor = attributes.pop("id", "")
    else:
        actor = attributes.pop("name", "")
    message: dict[str, object] = {}
    if event.type == "container":
        message |= {"status": event.action, "id": actor, "from": image}
    nanos = int(wall * 1e9)
    message |= {
        "Type": event.type,
        "Action": event.action,
        "Actor": {"ID": actor, "Attributes": dict(sorted(attributes.items()))},
        "scope": "local",
        "time": nanos // 1_000_000_000,
        "timeNano": nanos,
    }
    return message


def _parse_time(text: str, now: float) -> float | None:
    """``timetypes.GetTimestamp``-like: Unix seconds (with fraction) or a Go duration ago."""
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        pass
    units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            try:
                return now - float(text[: -len(unit)]) * units[unit]
            except ValueError:
                break
    raise ApiError(f"failed to parse value {text} as a timestamp")


#: The event types whose filter key matches the actor's ID or ``name`` by prefix
#: (``fuzzyMatchName``): an event of another type never passes such a filter.
_NAMED_TYPES: Final = (
    "daemon",
    "container",
    "plugin",
    "volume",
    "network",
    "node",
    "service",
    "secret",
    "config",
)

#: Event filters dockerd runs exactly as its ``filter.FuzzyMatch`` on the action.
_FUZZY_ACTIONS: Final = frozenset({"health_status", "exec_create", "exec_start"})


def _strip_tag(image: str) -> str:
    """``stripTag``: the familiar name without tag or digest (``busybox:1`` is ``busybox``)."""
    name = image.partition("@")[0]
    if ":" in name.rpartition("/")[2]:
        name = name.rpartition(":")[0]
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name.removeprefix(prefix)
    return name


def _selected(message: Mapping[str, Any], wanted: Mapping[str, list[str]]) -> bool:
    """``events.Filter.Include`` (moby/moby daemon/events/filter.go, v28.5.2); other
    filter keys are ignored, as dockerd ignores them."""
    actor = message["Actor"]
    attributes: Mapping[str, str] = actor["Attributes"]
    kind, action = str(message["Type"]), str(message["Action"])
    if _FUZZY_ACTIONS & set(wanted.get("event", ())):
        matched = fuzzy_match(wanted, "event", action)
    else:
        matched = exact_match(wanted, "event", action)
    if not (matched and exact_match(wanted, "type", kind)):
        return False
    if not exact_match(wanted, "scope", str(message["scope"])):
        return False
    for named in _NAMED_TYPES:
        if not fuzzy_match(wanted, named, str(actor["ID"])) and not fuzzy_match(
            wanted, named, attributes.get("name", "")
        ):
            return False
    image = attributes.get("name" if kind == "image" else "image", "")
    images = (str(actor["ID"]), image, _strip_tag(str(actor["ID"])), _strip_tag(image))
    if not any(exact_match(wanted, "image", i) for i in images):
        return False
    return match_kv_list(wanted, "label", attributes) if "label" in wanted else True


@bp.get("/events")
async def events() -> Response:
    """``GET /events``: past events since ``since``, then live ones until ``until``."""
    st = state()
    now = st.now()
    since = _parse_time(request.args.get("since", ""), now)
    until = _parse_time(request.args.get("until", ""), now)
    wanted = filters(request)
    log = st.engine.events

    async def stream() -> AsyncIterator[bytes]:
        with log.subscribe() as live:
            if since is not None or until is not None:
                for event in list(log.events):
                    wall = st.wall(event.time)
                    if (since is None or wall >= since) and (until is None or wall <= until):
                        message = event_message(event, wall)
                        if _selected(message, wanted):
                            yield json_body(message)
            yield b""
            if until is not None and until <= now:
                return
            deadline = math.inf if until is None else trio.current_time() + (until - now)
            with trio.move_on_at(deadline):
                async for event in live:
                    message = event_message(event, st.wall(event.time))
                    if _selected(message, wanted):
                        yield json_body(message)

    response = Response(stream(), status=200, content_type=api.JSON_CONTENT_TYPE)
    response.timeout = None
    return response


__all__ = ["bool_value", "bp", "empty", "event_message", "plugins_info"]
