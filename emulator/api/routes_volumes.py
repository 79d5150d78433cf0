"""``/volumes``: create, list (filters), inspect, remove (force), prune — as dockerd answers."""

from __future__ import annotations

from quart import Blueprint, Response, request

from emulator.api.http import (
    ApiError,
    bool_value,
    empty,
    field,
    filters,
    json_object,
    json_response,
    read_json,
    string_map,
)
from emulator.api.state import state
from emulator.protocol import engine_api as api
from emulator.protocol import volume as wire

bp = Blueprint("volumes", __name__)


@bp.get("/volumes")
async def volume_list() -> Response:
    """``{"Volumes": [...], "Warnings": null|[...]}``."""
    wanted = filters(request, context="error reading volume filters")
    volumes, warnings = await state().engine.volumes.list(wanted)
    return json_response({"Volumes": [v.to_api() for v in volumes], "Warnings": warnings or None})


@bp.post("/volumes/create")
async def volume_create() -> Response:
    """201 and the volume; the body is ``volume.CreateOptions``."""
    body = json_object(await read_json(request), "volume.CreateOptions")
    what = "CreateOptions"
    name = field(body, "Name", str, what) or ""
    driver = field(body, "Driver", str, what) or wire.DEFAULT_DRIVER
    opts = string_map(field(body, "DriverOpts", dict, what), f"{what}.DriverOpts")
    labels = string_map(field(body, "Labels", dict, what), f"{what}.Labels")
    version = str(request.scope.get("emulator_api_version", api.API_VERSION))
    if field(body, "ClusterVolumeSpec", dict, what) is not None and (
        api.version_tuple(version) >= api.version_tuple("1.42")
    ):
        # postVolumesCreate hands a cluster volume to the swarm backend, and this engine
        # is never a swarm manager (daemon/cluster/cluster.go errNoManager).
        raise ApiError(
            'This node is not a swarm manager. Use "docker swarm init" or "docker swarm '
            'join" to connect this node to swarm and try again.',
            503,
        )
    # The CLI omits empty maps (omitempty): dockerd then stores and sends nil options,
    # so the plugin gets "Opts": null and inspect shows "Options": null.
    info = await state().engine.volumes.create(name, driver, opts, labels, explicit=False)
    return json_response(info.to_api(), 201)


@bp.get("/volumes/<name>")
async def volume_inspect(name: str) -> Response:
    info = await state().engine.volumes.inspect(name)
    return json_response(info.to_api())


@bp.delete("/volumes/<name>")
async def volume_remove(name: str) -> Response:
    """204; with ``force`` a missing volume is not an error."""
    await state().engine.volumes.remove(name, force=bool_value(request, "force"))
    return empty(204)


@bp.post("/volumes/prune")
async def volume_prune() -> Response:
    """Below API 1.42 prune considers every local volume (``all=true``)."""
    wanted = filters(request)
    for key in wanted:
        if key not in ("all", "label", "label!"):
            raise ApiError(f"invalid filter '{key}'")
    all_values = wanted.get("all", [])
    for value in all_values:
        if value.lower() not in ("1", "0", "true", "false"):
            raise ApiError(
                f"invalid filter 'all': strconv.ParseBool: parsing \"{value}\": invalid syntax"
            )
    version = str(request.scope.get("emulator_api_version", api.API_VERSION))
    prune_all = any(v.lower() in ("1", "true") for v in all_values) or (
        api.version_tuple(version) < api.version_tuple("1.42")
    )
    labels: dict[str, list[str]] = {k: wanted[k] for k in ("label", "label!") if k in wanted}
    report = await state().engine.volumes.prune(all=prune_all, labels=labels)
    return json_response(
        {"VolumesDeleted": report.VolumesDeleted or None, "SpaceReclaimed": report.SpaceReclaimed}
    )
