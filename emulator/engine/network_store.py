"""libnetwork's local store for the emulator: networks and endpoints as JSON records.

dockerd keeps every network and endpoint in ``network/files/local-kv.db`` and reads them
back at start (``getNetworksFromStore``, ``getEndpointsFromStore``); the emulator keeps
them in its state database (:class:`~emulator.engine.database.StateDB` tables ``networks``
and ``endpoints``).  A record holds every field of the object; an endpoint names its
network by ID.  A network being removed is stored with ``in_delete`` first, as dockerd
marks it (``inDelete``) before it calls IPAM and the driver, so a daemon killed half-way
finishes the removal at its next start (``networkCleanup``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import types
import typing
from collections.abc import Mapping
from typing import Any, Protocol

import attrs
import cattrs

from emulator.engine.network_model import Endpoint, Network

__all__ = [
    "NetworkRecords",
    "endpoint_from_record",
    "endpoint_record",
    "network_from_record",
    "network_record",
]


class NetworkRecords(Protocol):
    """Where records are kept (:class:`~emulator.engine.database.StateDB` is one)."""

    def put_network(self, network_id: str, name: str, data: Mapping[str, Any]) -> None: ...

    def delete_network(self, network_id: str) -> None: ...

    def networks(self) -> list[dict[str, Any]]: ...

    def put_endpoint(self, endpoint_id: str, network_id: str, data: Mapping[str, Any]) -> None: ...

    def delete_endpoint(self, endpoint_id: str) -> None: ...

    def endpoints(self) -> list[dict[str, Any]]: ...


_IP_TYPES: dict[type, Any] = {
    ipaddress.IPv4Network: ipaddress.ip_network,
    ipaddress.IPv6Network: ipaddress.ip_network,
    ipaddress.IPv4Interface: ipaddress.ip_interface,
    ipaddress.IPv6Interface: ipaddress.ip_interface,
    ipaddress.IPv4Address: ipaddress.ip_address,
    ipaddress.IPv6Address: ipaddress.ip_address,
}


def _ip_union(tp: Any) -> bool:
    """``IPv4Network | IPv6Network`` and the like, optionally with ``None``."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return False
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return bool(args) and all(a in _IP_TYPES for a in args)


def _structure_ip(value: Any, tp: Any) -> Any:
    if value is None:
        return None
    parse = _IP_TYPES[next(a for a in typing.get_args(tp) if a is not type(None))]
    return parse(value)


def _parser(parse: Any) -> Any:
    return lambda value, _tp: parse(value)


def _new_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_unstructure_hook_func(lambda tp: tp in _IP_TYPES, str)
    converter.register_structure_hook_func(_ip_union, _structure_ip)
    for ip_type, parse in _IP_TYPES.items():
        converter.register_structure_hook(ip_type, _parser(parse))
    converter.register_unstructure_hook(dt.datetime, dt.datetime.isoformat)
    converter.register_structure_hook(dt.datetime, lambda v, _t: dt.datetime.fromisoformat(v))
    return converter


_CONVERTER = _new_converter()


def network_record(network: Network, *, in_delete: bool = False) -> dict[str, Any]:
    """Every field of ``network`` but its endpoints (stored on their own)."""
    data: dict[str, Any] = _CONVERTER.unstructure(attrs.evolve(network, endpoints={}))
    del data["endpoints"]
    data["in_delete"] = in_delete
    return data


def network_from_record(data: Mapping[str, Any]) -> tuple[Network, bool]:
    """The network a record holds (without endpoints), and whether it was being removed."""
    fields = dict(data)
    in_delete = bool(fields.pop("in_delete", False))
    return _CONVERTER.structure(fields, Network), in_delete


def endpoint_record(endpoint: Endpoint) -> dict[str, Any]:
    """Every field of ``endpoint``; its network by ID (``network_id``)."""
    data: dict[str, Any] = _CONVERTER.unstructure(
        attrs.evolve(endpoint, network=_PLACEHOLDER)  # the network is stored on its own
    )
    data["network"] = endpoint.network.id
    return data


def endpoint_from_record(data: Mapping[str, Any], network: Network) -> Endpoint:
    """The endpoint a record holds, on ``network`` (not added to its endpoints)."""
    fields = dict(data)
    fields["network"] = _PLACEHOLDER_DATA
    endpoint = _CONVERTER.structure(fields, Endpoint)
    endpoint.network = network
    return endpoint


_PLACEHOLDER = Network(
    id="",
    name="",
    driver="",
    scope="",
    ipam_driver="",
    ipam_options={},
    ipam_config=[],
    enable_ipv4=False,
    enable_ipv6=False,
    internal=False,
    attachable=False,
    options={},
    labels={},
    created=dt.datetime.fromtimestamp(0, dt.UTC),
)
_PLACEHOLDER_DATA = network_record(_PLACEHOLDER)
del _PLACEHOLDER_DATA["in_delete"]
