"""``/networks``: create, list (filters), inspect, remove, connect, disconnect, prune.

The work is :attr:`Engine.networks <emulator.engine.core.Engine.networks>`
(:class:`~emulator.engine.networks.NetworkController`); its ``NetworkError`` carries
dockerd's text and status.  This module only maps dockerd's request and answer
shapes (moby ``api/server/router/network/network_routes.go``,
``api/types/network``, ``daemon/network/filter.go``).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request

from emulator.api.http import ApiError, empty, field, filters, json_object, read_json, string_map
from emulator.api.state import state
from emulator.engine.endpoint_settings import EndpointConfig
from emulator.engine.ipam import DEFAULT_IPAM
from emulator.engine.network_model import NetworkSpec
from emulator.engine.networks import PREDEFINED, IpamConfig, Network
from emulator.golang import json as gojson
from emulator.protocol import engine_api as api
from emulator.protocol.filter_args import exact_match, match, match_kv_list

bp = Blueprint("networks", __name__)

#: ``acceptedNetworkFilters`` in dockerd's network router.
ACCEPTED_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")


def _gojson_response(value: Any, status: int = 200) -> Response:
    """A body encoded as Go's ``encoding/json`` does (``Created`` in RFC 3339)."""
    return Response(gojson.encode(value), status=status, content_type=api.JSON_CONTENT_TYPE)


def _filtered(networks: list[Network], wanted: dict[str, list[str]]) -> list[Network]:
    """``FilterNetworks``: driver, name, id, label, scope; then dangling; then type."""
    for key in wanted:
        if key not in ACCEPTED_FILTERS:
            raise ApiError(f"invalid filter '{key}'")
    shown = []
    for nw in networks:
        if (
            exact_match(wanted, "driver", nw.driver)
            and match(wanted, "name", nw.name)
            and match(wanted, "id", nw.id)
            and match_kv_list(wanted, "label", nw.labels)
            and exact_match(wanted, "scope", nw.scope)
        ):
            shown.append(nw)
    dangling = wanted.get("dangling", [])
    if dangling:
        if len(dangling) > 1:
            raise ApiError('got more than one value for filter key "dangling"')
        if dangling[0] not in ("0", "1", "true", "false"):
            raise ApiError(
                'invalid value for filter \'dangling\', must be "true" (or "1"), '
                'or "false" (or "0")'
            )
        only = dangling[0] in ("1", "true")
        shown = [nw for nw in shown if (not nw.predefined and not nw.endpoints) == only]
    if "type" in wanted:
        typed: list[Network] = []
        for value in wanted["type"]:
            if value == "builtin":
                typed += [nw for nw in shown if nw.name in PREDEFINED]
            elif value == "custom":
                typed += [nw for nw in shown if nw.name not in PREDEFINED]
            else:
                raise ApiError(f"invalid filter: 'type'='{value}'")
        shown = typed
    return shown


@bp.get("/networks")
async def network_list() -> Response:
    """``docker network ls``: ``[Summary...]`` with ``"Containers": {}``."""
    wanted = filters(request)
    shown = _filtered(state().engine.networks.list(), wanted)
    return _gojson_response([nw.inspect(containers=False) for nw in shown])


@bp.get("/networks/<ref>")
async def network_inspect(ref: str) -> Response:
    """``docker network inspect``; ``verbose`` must parse as a bool, ``scope`` must match."""
    verbose = request.args.get("verbose", "")
    if verbose and verbose.lower() not in ("1", "0", "t", "f", "true", "false"):
        raise ApiError(
            f'invalid value for verbose: {verbose}: strconv.ParseBool: parsing "{verbose}": '
            "invalid syntax"
        )
    network = state().engine.networks.get(ref)
    scope = request.args.get("scope", "")
    if scope and scope != network.scope:
        raise ApiError(f"network {ref} not found", 404)
    return _gojson_response(network.inspect())


def _ipam_configs(value: Any) -> list[IpamConfig]:
    configs = []
    for i, raw in enumerate(value or []):
        entry = json_object(raw, "network.IPAMConfig")
        what = f"CreateRequest.IPAM.Config[{i}]"
        configs.append(
            IpamConfig(
                subnet=field(entry, "Subnet", str, what) or "",
                ip_range=field(entry, "IPRange", str, what) or "",
                gateway=field(entry, "Gateway", str, what) or "",
                aux_addresses=string_map(
                    field(entry, "AuxiliaryAddresses", dict, what), f"{what}.AuxiliaryAddresses"
                ),
            )
        )
    return configs


@bp.post("/networks/create")
async def network_create() -> Response:
    """201 ``{"Id", "Warning": ""}``; the body is ``network.CreateRequest``.

    ``Ingress``, ``ConfigOnly`` and ``ConfigFrom`` need swarm or config networks,
    which the emulator does not have: they are refused with 501 rather than ignored.
    """
    body = json_object(await read_json(request), "network.CreateRequest")
    what = "CreateRequest"
    name = field(body, "Name", str, what) or ""
    driver = field(body, "Driver", str, what) or "bridge"
    ipam = json_object(field(body, "IPAM", dict, what), "network.IPAM")
    version = str(request.scope.get("emulator_api_version", api.API_VERSION))
    enable_ipv4 = field(body, "EnableIPv4", bool, what)
    if api.version_tuple(version) < api.version_tuple("1.48"):
        enable_ipv4 = None
    for unsupported in ("Ingress", "ConfigOnly"):
        if field(body, unsupported, bool, what):
            raise ApiError(f"{unsupported} networks are not emulated", 501)
    if field(body, "ConfigFrom", dict, what):
        raise ApiError("ConfigFrom networks are not emulated", 501)
    spec = NetworkSpec(
        name,
        driver=driver,
        options=string_map(field(body, "Options", dict, what), f"{what}.Options"),
        labels=string_map(field(body, "Labels", dict, what), f"{what}.Labels"),
        ipam_driver=field(ipam, "Driver", str, "IPAM") or DEFAULT_IPAM,
        ipam_options=string_map(field(ipam, "Options", dict, "IPAM"), "IPAM.Options"),
        ipam_config=_ipam_configs(field(ipam, "Config", list, "IPAM")),
        enable_ipv4=True if enable_ipv4 is None else enable_ipv4,
        enable_ipv6=bool(field(body, "EnableIPv6", bool, what)),
        internal=bool(field(body, "Internal", bool, what)),
        attachable=bool(field(body, "Attachable", bool, what)),
        scope=field(body, "Scope", str, what) or "",
    )
    network = await state().engine.networks.create(spec)
    return _gojson_response({"Id": network.id, "Warning": ""}, 201)


@bp.delete("/networks/<ref>")
async def network_remove(ref: str) -> Response:
    """204 (``docker network rm``)."""
    await state().engine.networks.remove(ref)
    return empty(204)


def _strings(value: Any, what: str) -> tuple[str, ...] | None:
    """A ``[]string`` field (None when absent)."""
    if value is None:
        return None
    for item in value:
        if not isinstance(item, str):
            raise ApiError(
                f"invalid JSON: json: cannot unmarshal {type(item).__name__} into Go struct "
                f"field {what} of type string"
            )
    return tuple(value)


def endpoint_config(raw: Any, what: str = "EndpointSettings") -> EndpointConfig:
    """``network.EndpointSettings`` as a request carries it (``docker run --network
    name=n,ip=…``, ``docker network connect --ip …``); operational fields are ignored, as
    dockerd clears them.  ``GwPriority`` counts from API 1.48 on."""
    settings = json_object(raw, "network.EndpointSettings")
    ipam_raw = field(settings, "IPAMConfig", dict, what)
    ipam = json_object(ipam_raw, "network.EndpointIPAMConfig")
    where = "EndpointIPAMConfig"
    priority = field(settings, "GwPriority", int, what) or 0
    version = str(request.scope.get("emulator_api_version", api.API_VERSION))
    if api.version_tuple(version) < api.version_tuple("1.48"):
        priority = 0
    return EndpointConfig(
        ipv4_address=field(ipam, "IPv4Address", str, where) or "",
        ipv6_address=field(ipam, "IPv6Address", str, where) or "",
        link_local_ips=_strings(field(ipam, "LinkLocalIPs", list, where), where) or (),
        ipam_config=ipam_raw is not None,
        links=_strings(field(settings, "Links", list, what), f"{what}.Links"),
        aliases=_strings(field(settings, "Aliases", list, what), f"{what}.Aliases"),
        mac_address=field(settings, "MacAddress", str, what) or "",
        driver_opts=string_map(field(settings, "DriverOpts", dict, what), f"{what}.DriverOpts"),
        gw_priority=priority,
    )


@bp.post("/networks/<ref>/connect")
async def network_connect(ref: str) -> Response:
    """200 and no body; the body is ``network.ConnectOptions``."""
    body = json_object(await read_json(request), "network.ConnectOptions")
    what = "ConnectOptions"
    container = field(body, "Container", str, what) or ""
    config = endpoint_config(field(body, "EndpointConfig", dict, what))
    await state().engine.networks.connect(ref, container, config=config)
    return empty(200)


@bp.post("/networks/<ref>/disconnect")
async def network_disconnect(ref: str) -> Response:
    """200 and no body; the body is ``network.DisconnectOptions`` (``Force``: ``-f``)."""
    body = json_object(await read_json(request), "network.DisconnectOptions")
    container = field(body, "Container", str, "DisconnectOptions") or ""
    force = bool(field(body, "Force", bool, "DisconnectOptions"))
    await state().engine.networks.disconnect(ref, container, force=force)
    return empty(200)


@bp.post("/networks/prune")
async def network_prune() -> Response:
    """``{"NetworksDeleted": [names] | null}``; prune filters (until, label) are refused."""
    wanted = filters(request)
    for key in wanted:
        if key not in ("until", "label", "label!"):
            raise ApiError(f"invalid filter '{key}'")
        raise ApiError(f"filter '{key}' is not emulated for network prune", 501)
    removed = await state().engine.networks.prune()
    return _gojson_response({"NetworksDeleted": list(removed) or None})
