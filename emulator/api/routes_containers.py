"""Fake containers over the API: create, start, wait, stop, kill, rm, ps, inspect, archive.

No image is pulled and no process runs; :mod:`emulator.engine.lifecycle` decides when a
container "exits".  A container started while an attach stream is open runs attached
(``docker run``), otherwise detached (``docker run -d``, ``docker start``).
Attach itself (``101 UPGRADED``) is served by :mod:`emulator.api.attach`.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import AsyncIterator, Collection
from typing import IO, Any

import attrs
import trio
from quart import Blueprint, Response, current_app, request

from emulator.api.container_config import (
    mount_requests,
    refuse_restart_policy,
    refuse_unsupported,
    run_config,
)
from emulator.api.container_filters import shown_containers
from emulator.api.container_views import inspect_json, summary_json
from emulator.api.http import (
    ApiError,
    bool_value,
    empty,
    field,
    filters,
    json_body,
    json_object,
    json_response,
    read_json,
    spool_body,
    string_map,
)
from emulator.api.routes_logs import container_logs
from emulator.api.routes_networks import endpoint_config
from emulator.api.state import state
from emulator.api.stdcopy import frame
from emulator.engine.container_archive import PathStat
from emulator.engine.container_copy import SPOOL_IN_MEMORY
from emulator.engine.container_model import ContainerSpec
from emulator.engine.containers import Container, ContainerError
from emulator.engine.endpoint_settings import (
    DEFAULT_NETWORK,
    EndpointConfig,
    is_user_defined,
    normalize_network_mode,
)
from emulator.engine.events import Event, EventLog
from emulator.engine.json_log import format_log_time
from emulator.engine.network_drivers import NetworkError
from emulator.golang.time import rfc3339_nano
from emulator.protocol import engine_api as api

bp = Blueprint("containers", __name__)


def _attached() -> dict[str, int]:
    """Open attach streams per container ID."""
    value: dict[str, int] = current_app.config["EMULATOR_ATTACHED"]
    return value


#: The command an image runs when ``Cmd`` is empty (busybox's).
DEFAULT_CMD = ("sh",)


def _words(value: Any, what: str) -> list[str]:
    """``strslice.StrSlice``: a string or a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ApiError(
        f"invalid JSON: json: cannot unmarshal {type(value).__name__} into Go struct field "
        f"{what} of type string"
    )


@bp.post("/containers/create")
async def create() -> Response:
    """201 ``{"Id", "Warnings": [...]}``; named volumes are created if missing.

    ``NetworkMode`` ``""``/``default`` is ``bridge``; ``EndpointsConfig`` gives each
    network's settings (``--ip``, ``--ip6``, ``--mac-address``, ``--network-alias``,
    ``driver-opt``, ``gw-priority``); ``LogConfig`` and ``VolumesFrom`` are kept and
    checked as dockerd checks them at create.
    """
    body = json_object(await read_json(request), "container.CreateRequest")
    what = "CreateRequest"
    image = field(body, "Image", str, what) or ""
    if image == "":
        raise ApiError("no command specified" if not body else "image name cannot be blank")
    host = json_object(field(body, "HostConfig", dict, what), "container.HostConfig")
    engine = state().engine
    refuse_restart_policy(host)
    if engine.runtime.mode != "fake" and engine.runtime.support.available:
        refuse_unsupported(body, host)  # a real process cannot honour these
    specs = [str(b) for b in (field(host, "Binds", list, "HostConfig") or [])]
    mounts, tmpfs = mount_requests(host)
    anonymous = [d for d in field(body, "Volumes", dict, what) or {} if d not in tmpfs]
    command = _words(body.get("Entrypoint"), "Config.Entrypoint")
    command += _words(body.get("Cmd"), "Config.Cmd")
    name = request.args.get("name") or None
    attach = any(bool(body.get(k)) for k in ("AttachStdin", "AttachStdout", "AttachStderr"))
    mode, endpoints = _network_request(host, body)
    warnings = _migrate_container_mac(body, mode, endpoints)
    log_config = json_object(field(host, "LogConfig", dict, "HostConfig"), "container.LogConfig")
    spec = ContainerSpec(
        image,
        command or DEFAULT_CMD,
        name=name,
        volumes=specs,
        mounts=mounts,
        anonymous_volumes=anonymous,
        volume_driver=field(host, "VolumeDriver", str, "HostConfig") or "",
        auto_remove=bool(field(host, "AutoRemove", bool, "HostConfig")),
        detach=not attach,
        network_mode=mode,
        networks=endpoints,
        log_config={
            "Type": field(log_config, "Type", str, "LogConfig") or "",
            "Config": string_map(field(log_config, "Config", dict, "LogConfig"), "LogConfig"),
        },
        volumes_from=_words(field(host, "VolumesFrom", list, "HostConfig"), "VolumesFrom"),
        config=run_config(body, host, tmpfs),
        labels=_labels(body.get("Labels")),
    )
    container = await engine.containers.create(spec)
    return json_response({"Id": container.id, "Warnings": warnings}, 201)


def _labels(value: Any) -> dict[str, str] | None:
    """``Config.Labels``: a map of strings, or null."""
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ApiError(
            "invalid JSON: json: cannot unmarshal value into Go struct field "
            "Config.Labels of type map[string]string"
        )
    return {str(k): v for k, v in value.items()}


def _network_request(
    host: dict[str, Any], body: dict[str, Any]
) -> tuple[str, dict[str, EndpointConfig]]:
    """``HostConfig.NetworkMode`` and ``NetworkingConfig.EndpointsConfig`` as sent.

    ``default`` (or no mode) is the default network, ``bridge``, and an endpoint config
    under ``default`` moves to it (``postContainersCreate``).
    """
    mode = normalize_network_mode(field(host, "NetworkMode", str, "HostConfig") or "")
    config = json_object(
        field(body, "NetworkingConfig", dict, "CreateRequest"), "network.NetworkingConfig"
    )
    raw = json_object(field(config, "EndpointsConfig", dict, "NetworkingConfig"), "EndpointsConfig")
    endpoints = {name: endpoint_config(settings) for name, settings in raw.items()}
    if "default" in endpoints:
        endpoints[DEFAULT_NETWORK] = endpoints.pop("default")
    return mode, endpoints


def _migrate_container_mac(
    body: dict[str, Any], mode: str, endpoints: dict[str, EndpointConfig]
) -> list[str]:
    """``handleMACAddressBC`` (API 1.44 and later): a container-wide ``MacAddress`` moves
    to the mode's network, with dockerd's warning; a different one there is refused."""
    mac = field(body, "MacAddress", str, "Config") or ""
    if not mac:
        return []
    if mode == DEFAULT_NETWORK or is_user_defined(mode):
        if not endpoints:
            endpoints[mode] = EndpointConfig()
        found = endpoints.get(mode)
        if found is None:
            raise ApiError(
                "unable to migrate container-wide MAC address to a specific network: "
                "HostConfig.NetworkMode must match the identity of a network in "
                "NetworkSettings.Networks"
            )
        if found.mac_address and found.mac_address != mac:
            raise ApiError(
                "the container-wide MAC address must match the endpoint-specific MAC address "
                "for the main network, or be left empty"
            )
        endpoints[mode] = attrs.evolve(found, mac_address=mac)
    return [
        "The container-wide MacAddress field is now deprecated. It should be specified in "
        "EndpointsConfig instead."
    ]


def _get(ref: str) -> Container:
    return state().engine.containers.get(ref)


@bp.post("/containers/<ref>/start")
async def start(ref: str) -> Response:
    """204; 304 when already running.  Attached when an attach stream is open."""
    container = _get(ref)
    if container.running:
        return empty(304)
    container.detach = _attached().get(container.id, 0) == 0
    containers = state().engine.containers
    try:
        await containers.start(container.id)
    except ContainerError:
        # containerStart's deferred clean-up: an --rm container that failed to start is
        # removed by the daemon (the CLI is waiting with condition=removed).
        if container.auto_remove:
            await containers.remove(container.id, force=True, volumes=True)
        raise
    return empty(204)


@bp.post("/containers/<ref>/stop")
async def stop(ref: str) -> Response:
    """204; 304 when not running.  ``t``: the timeout (seconds), ``signal`` (API 1.42+)."""
    container = _get(ref)
    if not container.running:
        return empty(304)
    signal_name, timeout = _stop_options()
    await state().engine.containers.stop(container.id, signal_name=signal_name, timeout=timeout)
    return empty(204)


def _stop_options() -> tuple[str, float | None]:
    """``signal`` (API 1.42+) and ``t`` of stop and restart (``strconv.Atoi`` on ``t``)."""
    timeout: float | None = None
    if seconds := request.args.get("t", ""):
        try:
            timeout = float(int(seconds))
        except ValueError:
            raise ApiError(f'strconv.Atoi: parsing "{seconds}": invalid syntax', 500) from None
    signal_name = ""
    version = str(request.scope.get("emulator_api_version", api.API_VERSION))
    if api.version_tuple(version) >= (1, 42):
        signal_name = request.args.get("signal", "")
    return signal_name, timeout


@bp.post("/containers/<ref>/restart")
async def restart(ref: str) -> Response:
    """``postContainersRestart``: 204 (``t``, ``signal`` as for stop)."""
    signal_name, timeout = _stop_options()
    await state().engine.containers.restart(ref, signal_name=signal_name, timeout=timeout)
    return empty(204)


@bp.post("/containers/prune")
async def prune() -> Response:
    """``ContainersPrune``: ``{"ContainersDeleted": [IDs] | null, "SpaceReclaimed": 0}``;
    filters ``label`` and ``label!`` (``until`` is refused: not emulated)."""
    wanted = filters(request)
    for key in wanted:
        if key == "until":
            raise ApiError("filter 'until' is not emulated for container prune", 501)
        if key not in ("label", "label!"):
            raise ApiError(f"invalid filter '{key}'")
    removed = await state().engine.containers.prune(wanted)
    return json_response({"ContainersDeleted": removed or None, "SpaceReclaimed": 0})


@bp.post("/containers/<ref>/kill")
async def kill(ref: str) -> Response:
    """204; ``signal`` (default SIGKILL, which waits for the exit)."""
    await state().engine.containers.kill(ref, request.args.get("signal", ""))
    return empty(204)


@bp.delete("/containers/<ref>")
async def remove(ref: str) -> Response:
    """``docker rm [-f] [-v]``; ``--link`` removes a legacy link name, and the emulator's
    containers have none but their own (``rmLink``: dockerd refuses to remove that)."""
    if bool_value(request, "link"):
        _get(ref)
        raise ApiError("Conflict, cannot remove the default link name of the container", 500)
    await state().engine.containers.remove(
        ref, force=bool_value(request, "force"), volumes=bool_value(request, "v")
    )
    return empty(204)


def _container_event(log: EventLog, cid: str, actions: Collection[str], since: int) -> Event | None:
    """The first of ``actions`` for container ``cid`` among the events from index ``since``."""
    for event in log.since(since):
        if _is(event, cid, actions):
            return event
    return None


def _is(event: Event, cid: str, actions: Collection[str]) -> bool:
    return (
        event.type == "container"
        and event.attributes.get("id") == cid
        and (event.action in actions)
    )


async def _next_container_event(
    log: EventLog, cid: str, actions: Collection[str], since: int
) -> Event:
    """Wait for one of ``actions`` of container ``cid`` logged at index ``since`` or later.

    The log is read and the subscription made without a checkpoint in between, so an
    event cannot fall between them; nothing is left subscribed when the caller goes away.
    """
    with log.subscribe() as live:
        found = _container_event(log, cid, actions, since)
        if found is not None:
            return found
        async for event in live:
            if _is(event, cid, actions):
                return event
    raise AssertionError("the event log closed")  # pragma: no cover


@bp.post("/containers/<ref>/wait")
async def wait(ref: str) -> Response:
    """Headers at once (the CLI starts the container only then), the result at the exit.

    ``condition``: ``not-running`` (default), ``next-exit`` or ``removed``.
    """
    condition = request.args.get("condition", "") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise ApiError(f"invalid condition: {condition}")
    container = _get(ref)
    cid = container.id
    if condition == "not-running" and not container.running:
        return json_response({"StatusCode": container.exit_code})
    log = state().engine.events
    since = log.count

    async def result() -> AsyncIterator[bytes]:
        # Runs after the handler returned: no app context here, only what was captured.
        yield b""
        if condition == "removed":
            await _next_container_event(log, cid, ("destroy",), since)
        else:
            await _next_container_event(log, cid, ("die", "destroy"), since)
        die = None
        for event in log.since(since):
            if event.attributes.get("id") == cid and event.action == "die":
                die = event
        code = int(die.attributes.get("exitCode", "0")) if die else container.exit_code
        yield json_body({"Error": None, "StatusCode": code})

    response = Response(result(), status=200, content_type=api.JSON_CONTENT_TYPE)
    response.timeout = None
    return response


@bp.get("/containers/<ref>/logs")
async def logs(ref: str) -> Response:
    """``docker logs``: the json-file log as a multiplexed stream (``getContainersLogs``).

    ``stdout``/``stderr`` (one at least), ``since``/``until`` (Unix seconds[.nanos]),
    ``tail`` (a number, else all), ``timestamps``, ``details``, ``follow`` (until the
    container stops; only while it runs).
    """
    show = {name: bool_value(request, name) for name in ("stdout", "stderr")}
    if not any(show.values()):
        raise ApiError("Bad parameters: you must choose at least one stream")
    container = _get(ref)
    if container.log_config.get("Type") != "json-file":
        return await container_logs(ref)  # a log driver, dockerd's cache, or none
    try:
        tail = int(request.args.get("tail", "all"))
    except ValueError:
        tail = -1
    since = _timestamp(request.args.get("since", ""))
    until_text = request.args.get("until", "")
    until = _timestamp(until_text) if until_text not in ("", "0") else None
    messages = state().engine.containers.log_messages(
        container.id,
        since=since,
        until=until,
        tail=tail,
        follow=bool_value(request, "follow"),
    )
    timestamps, details = bool_value(request, "timestamps"), bool_value(request, "details")

    async def stream() -> AsyncIterator[bytes]:
        yield b""
        async for message in messages:
            if not show.get(message.stream):
                continue
            line = b" " + message.line if details else message.line
            if timestamps:
                line = format_log_time(message.time_ns, fixed=True).encode() + b" " + line
            yield frame(message.stream, line)

    response = Response(stream(), status=200, content_type=api.MULTIPLEXED_STREAM)
    response.timeout = None
    return response


def _timestamp(text: str) -> int | None:
    """``timetypes.ParseTimestamps``: ``seconds[.nanoseconds]`` as Unix nanoseconds."""
    if text == "":
        return None
    seconds, dot, fraction = text.partition(".")
    try:
        whole = int(seconds)
        nanos = int(fraction) * 10 ** (9 - len(fraction)) if dot else 0
    except ValueError:
        bad = seconds if not seconds.lstrip("-").isdigit() else fraction
        raise ApiError(f'strconv.ParseInt: parsing "{bad}": invalid syntax', 500) from None
    return whole * 1_000_000_000 + nanos


# -- ps / inspect ----------------------------------------------------------------------


@bp.get("/containers/json")
async def ps() -> Response:
    """``docker ps [-a] [-n N] [--filter …]`` (:mod:`emulator.api.container_filters`)."""
    wanted = filters(request)
    limit_text = request.args.get("limit", "")
    try:
        limit = int(limit_text, 10) if limit_text else 0
    except ValueError:
        raise ApiError(f'strconv.Atoi: parsing "{limit_text}": invalid syntax', 500) from None
    engine = state().engine
    shown = shown_containers(
        engine.containers.list(all=True),
        wanted,
        all=bool_value(request, "all"),
        limit=limit,
        network_id=_network_id,
    )
    return json_response([summary_json(engine.networks, c, state().now()) for c in shown])


def _network_id(name: str) -> str:
    """The ID of the network a container is connected to under ``name`` ("" if gone)."""
    try:
        return state().engine.networks.get(name).id
    except NetworkError:
        return ""


@bp.get("/containers/<ref>/json")
async def inspect(ref: str) -> Response:
    """``docker inspect``: the fields an emulated container has."""
    engine = state().engine
    return json_response(inspect_json(engine.networks, _get(ref), engine.containers))


# -- archive (docker cp) -----------------------------------------------------------------


def _stat_header(stat: PathStat) -> str:
    """``X-Docker-Container-Path-Stat``: base64 of ``container.PathStat`` as JSON."""
    data = {
        "name": stat.name,
        "size": stat.size,
        "mode": stat.mode,
        "mtime": rfc3339_nano(stat.mtime_ns / 1e9),
        "linkTarget": stat.link_target,
    }
    return base64.b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def _archive_path() -> str:
    path = request.args.get("path", "")
    if path == "":
        raise ApiError("path cannot be empty")
    return path


@bp.route("/containers/<ref>/archive", methods=["HEAD"])
async def archive_stat(ref: str) -> Response:
    """The stat call (``docker cp`` into a container makes it before the upload)."""
    path = _archive_path()
    stat = await state().engine.containers.stat_path(ref, path)
    response = empty(200)
    response.headers["X-Docker-Container-Path-Stat"] = _stat_header(stat)
    return response


@bp.get("/containers/<ref>/archive")
async def archive_get(ref: str) -> Response:
    """A tar of ``path``, written to a spool while the volumes are mounted, then sent."""
    path = _archive_path()
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (sent later)
    try:
        stat = await state().engine.containers.archive_path(ref, path, spool)
    except BaseException:
        spool.close()
        raise
    response = Response(_send_spool(spool), status=200, content_type="application/x-tar")
    response.headers["X-Docker-Container-Path-Stat"] = _stat_header(stat)
    response.timeout = None
    return response


async def _send_spool(spool: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        await trio.to_thread.run_sync(spool.seek, 0)
        while chunk := await trio.to_thread.run_sync(spool.read, 1 << 20):
            yield chunk
    finally:
        spool.close()


@bp.put("/containers/<ref>/archive")
async def archive_put(ref: str) -> Response:
    """Extract the uploaded tar (plain or compressed) into the directory ``path``."""
    path = _archive_path()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        await spool_body(spool)
        await state().engine.containers.extract_to_dir(
            ref,
            path,
            spool,
            no_overwrite_dir_non_dir=bool_value(request, "noOverwriteDirNonDir"),
        )
    return empty(200)
