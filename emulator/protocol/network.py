"""NetworkDriver wire models, as ``libnetwork/drivers/remote/api/api.go`` declares them (v28).

Field names are the Go (and so the JSON) names, in declaration order.  Every
answer embeds ``Response{Err}``: a non-empty ``Err`` on a 200 answer fails the
call with ``remote: <Err>``.  ``map[string]interface{}`` fields are ``dict[str,
Any]`` (Go sorts their keys when encoding); ``IPv4Data``/``IPv6Data`` carry
:func:`ipam_data` maps, because ``driverapi.IPAMData`` has its own
``MarshalJSON`` that builds a map (so its keys come out sorted and empty parts
are left out).
"""

from __future__ import annotations

from typing import Any, Final

import attrs

IFACE: Final = "NetworkDriver"

GET_CAPABILITIES: Final = "NetworkDriver.GetCapabilities"
GW_ALLOC_CHECK: Final = "NetworkDriver.GwAllocCheck"
CREATE_NETWORK: Final = "NetworkDriver.CreateNetwork"
DELETE_NETWORK: Final = "NetworkDriver.DeleteNetwork"
ALLOCATE_NETWORK: Final = "NetworkDriver.AllocateNetwork"
FREE_NETWORK: Final = "NetworkDriver.FreeNetwork"
CREATE_ENDPOINT: Final = "NetworkDriver.CreateEndpoint"
ENDPOINT_OPER_INFO: Final = "NetworkDriver.EndpointOperInfo"
DELETE_ENDPOINT: Final = "NetworkDriver.DeleteEndpoint"
JOIN: Final = "NetworkDriver.Join"
LEAVE: Final = "NetworkDriver.Leave"
PROGRAM_EXTERNAL_CONNECTIVITY: Final = "NetworkDriver.ProgramExternalConnectivity"
REVOKE_EXTERNAL_CONNECTIVITY: Final = "NetworkDriver.RevokeExternalConnectivity"
DISCOVER_NEW: Final = "NetworkDriver.DiscoverNew"
DISCOVER_DELETE: Final = "NetworkDriver.DiscoverDelete"

#: Calls whose HTTP 404 answer libnetwork's remote driver takes as success ("not
#: mandatory yet"); every other non-200 answer is an error.
#: Source: moby ``libnetwork/drivers/remote/driver.go`` ProgramExternalConnectivity,
#: RevokeExternalConnectivity (``plugins.IsNotFound``).
NOT_FOUND_IS_SUCCESS: Final = frozenset(
    {"NetworkDriver.ProgramExternalConnectivity", "NetworkDriver.RevokeExternalConnectivity"}
)

#: ``netlabel`` option keys dockerd puts in the maps it sends.
ENABLE_IPV4: Final = "com.docker.network.enable_ipv4"
ENABLE_IPV6: Final = "com.docker.network.enable_ipv6"
GENERIC: Final = "com.docker.network.generic"
INTERNAL: Final = "com.docker.network.internal"
EXPOSED_PORTS: Final = "com.docker.network.endpoint.exposedports"
PORT_MAP: Final = "com.docker.network.portmap"
NO_PROXY_6TO4: Final = "com.docker.network.driver.private.no_proxy_6to4"
MAC_ADDRESS: Final = "com.docker.network.endpoint.macaddress"

#: ``types.NEXTHOP`` and ``types.CONNECTED`` (``StaticRoute.RouteType``).
ROUTE_NEXTHOP: Final = 0
ROUTE_CONNECTED: Final = 1


@attrs.frozen
class CapabilitiesResponse:
    __go_name__ = "api.GetCapabilityResponse"
    Err: str = ""
    Scope: str = ""
    ConnectivityScope: str = ""
    GwAllocChecker: bool = False


@attrs.frozen
class GwAllocCheckRequest:
    __go_name__ = "api.GwAllocCheckerRequest"
    Options: dict[str, Any] | None


@attrs.frozen
class GwAllocCheckResponse:
    __go_name__ = "api.GwAllocCheckerResponse"
    Err: str = ""
    SkipIPv4: bool = False
    SkipIPv6: bool = False


@attrs.frozen
class CreateNetworkRequest:
    __go_name__ = "api.CreateNetworkRequest"
    NetworkID: str
    Options: dict[str, Any] | None
    IPv4Data: list[dict[str, Any]] | None
    IPv6Data: list[dict[str, Any]] | None


@attrs.frozen
class NetworkIDRequest:
    """``DeleteNetwork`` (and ``FreeNetwork``): ``{"NetworkID": …}``."""

    __go_name__ = "api.DeleteNetworkRequest"
    NetworkID: str


@attrs.frozen
class ErrResponse:
    """Answers that carry nothing but ``Err``."""

    __go_name__ = "api.Response"
    Err: str = ""


@attrs.frozen
class EndpointInterface:
    """``Address``/``AddressIPv6`` are CIDR (``172.18.0.2/16``), ``MacAddress`` colon-hex."""

    __go_name__ = "api.EndpointInterface"
    Address: str = ""
    AddressIPv6: str = ""
    MacAddress: str = ""


@attrs.frozen
class CreateEndpointRequest:
    __go_name__ = "api.CreateEndpointRequest"
    NetworkID: str
    EndpointID: str
    Interface: EndpointInterface
    Options: dict[str, Any] | None


@attrs.frozen
class CreateEndpointResponse:
    __go_name__ = "api.CreateEndpointResponse"
    Err: str = ""
    Interface: EndpointInterface | None = None


@attrs.frozen
class EndpointRequest:
    """``DeleteEndpoint``, ``EndpointOperInfo``, ``Leave``, ``RevokeExternalConnectivity``."""

    __go_name__ = "api.DeleteEndpointRequest"
    NetworkID: str
    EndpointID: str


@attrs.frozen
class EndpointInfoResponse:
    __go_name__ = "api.EndpointInfoResponse"
    Err: str = ""
    Value: dict[str, Any] | None = None


@attrs.frozen
class JoinRequest:
    __go_name__ = "api.JoinRequest"
    NetworkID: str
    EndpointID: str
    SandboxKey: str
    Options: dict[str, Any] | None


@attrs.frozen
class InterfaceName:
    __go_name__ = "api.InterfaceName"
    SrcName: str = ""
    DstName: str = ""
    DstPrefix: str = ""


@attrs.frozen
class StaticRoute:
    __go_name__ = "api.StaticRoute"
    Destination: str = ""
    RouteType: int = 0
    NextHop: str = ""


@attrs.frozen
class JoinResponse:
    __go_name__ = "api.JoinResponse"
    Err: str = ""
    InterfaceName: InterfaceName | None = None
    Gateway: str = ""
    GatewayIPv6: str = ""
    StaticRoutes: list[StaticRoute] | None = None
    DisableGatewayService: bool = False


@attrs.frozen
class ProgramExternalConnectivityRequest:
    __go_name__ = "api.ProgramExternalConnectivityRequest"
    NetworkID: str
    EndpointID: str
    Options: dict[str, Any] | None


def ipam_data(
    address_space: str,
    pool: str | None,
    gateway: str | None,
    aux_addresses: dict[str, str] | None,
) -> dict[str, Any]:
    """``IPAMData.MarshalJSON``: a map with ``AddressSpace`` and the non-nil parts (all CIDR)."""
    data: dict[str, Any] = {"AddressSpace": address_space}
    if pool is not None:
        data["Pool"] = pool
    if gateway is not None:
        data["Gateway"] = gateway
    if aux_addresses is not None:
        data["AuxAddresses"] = dict(aux_addresses)
    return data
