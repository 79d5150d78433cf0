"""Network drivers as libnetwork calls them: remote ``NetworkDriver`` plugins and built-ins.

:class:`RemoteDriver` is ``libnetwork/drivers/remote/driver.go``: the request
bodies, the ``remote: <Err>`` wrapping of an ``Err`` on a 200 answer, the
parsing of ``CreateEndpoint`` and ``Join`` answers (CIDR addresses, plain-IP
gateways, ``net.ParseMAC``) and its two rollbacks: ``DeleteEndpoint`` when a
``CreateEndpoint`` answer cannot be applied, ``Leave`` when a ``Join`` answer
cannot.  Only ``ProgramExternalConnectivity`` and ``RevokeExternalConnectivity``
treat an HTTP 404 as success.

:class:`BuiltinDriver` stands in for ``bridge``, ``host`` and ``null``: it makes
no plugin call, and a ``bridge`` endpoint's gateway is its network's gateway.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Mapping
from typing import Any, Final, NoReturn, Protocol, TypeVar

import attrs

from emulator.engine.ipam import IPInterface
from emulator.errors import EngineError, PluginStatusError
from emulator.protocol import network as api
from emulator.transport.client import PluginClient

LOCAL: Final = "local"
GLOBAL: Final = "global"
SWARM: Final = "swarm"


class NetworkError(EngineError):
    """A network operation failed; ``str()`` is dockerd's text."""

    default_hint = (
        "check the network's name, driver and options (`docker network ls` / "
        "`networks.list()`); engine.journal shows the NetworkDriver and IpamDriver calls"
    )

    def __init__(self, text: str, *, http_status: int = 500, hint: str = "") -> None:
        super().__init__(text, hint=hint)
        self.http_status = http_status


@attrs.frozen
class DriverCapability:
    """``driverapi.Capability`` plus the remote driver's ``GwAllocChecker`` flag."""

    DataScope: str
    ConnectivityScope: str
    GwAllocChecker: bool = False


@attrs.define
class EndpointInterface:
    """``EndpointInterface``: what IPAM assigned and what the driver may add (a MAC)."""

    address: IPInterface | None = None
    address_v6: IPInterface | None = None
    mac: str = ""


@attrs.frozen
class Route:
    """A ``Join`` static route: CIDR destination, route type, plain-IP next hop."""

    destination: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    route_type: int
    next_hop: str


@attrs.frozen
class JoinInfo:
    """What a ``Join`` answer set on the endpoint."""

    src_name: str = ""
    dst_prefix: str = ""
    gateway: str = ""
    gateway_v6: str = ""
    static_routes: tuple[Route, ...] = ()
    disable_gateway_service: bool = False


class Driver(Protocol):
    """``driverapi.Driver`` as the network controller uses it."""

    name: str
    builtin: bool
    capability: DriverCapability

    async def gw_alloc_check(self, options: Mapping[str, Any]) -> tuple[bool, bool]: ...

    async def create_network(
        self,
        nid: str,
        options: Mapping[str, Any],
        ipv4: list[dict[str, Any]],
        ipv6: list[dict[str, Any]],
    ) -> None: ...

    async def delete_network(self, nid: str) -> None: ...

    async def create_endpoint(
        self, nid: str, eid: str, iface: EndpointInterface, options: Mapping[str, Any]
    ) -> None: ...

    async def delete_endpoint(self, nid: str, eid: str) -> None: ...

    async def endpoint_oper_info(self, nid: str, eid: str) -> dict[str, Any] | None: ...

    async def join(
        self,
        nid: str,
        eid: str,
        sandbox_key: str,
        options: Mapping[str, Any],
        *,
        network_gateway: str = "",
    ) -> JoinInfo: ...

    async def leave(self, nid: str, eid: str) -> None: ...

    async def program_external_connectivity(
        self, nid: str, eid: str, options: Mapping[str, Any]
    ) -> None: ...

    async def revoke_external_connectivity(self, nid: str, eid: str) -> None: ...


class _HasErr(Protocol):
    @property
    def Err(self) -> str: ...


_R = TypeVar("_R", bound=_HasErr)


def parse_capabilities(reply: api.CapabilitiesResponse) -> DriverCapability:
    """``driver.getCapabilities``: exact-match scopes, with dockerd's error texts.

    Note dockerd's bug, kept: an invalid ``ConnectivityScope`` is reported with
    the ``Scope`` value.
    """
    if reply.Scope not in (GLOBAL, LOCAL):
        raise NetworkError(f"invalid capability: expecting 'local' or 'global', got {reply.Scope}")
    if reply.ConnectivityScope in (GLOBAL, LOCAL):
        connectivity = reply.ConnectivityScope
    elif reply.ConnectivityScope == "":
        connectivity = reply.Scope
    else:
        raise NetworkError(f"invalid capability: expecting 'local' or 'global', got {reply.Scope}")
    return DriverCapability(reply.Scope, connectivity, reply.GwAllocChecker)


def parse_cidr(text: str) -> IPInterface:
    """``types.ParseCIDR`` with Go's ``net.ParseCIDR`` error text."""
    if "/" not in text:
        raise NetworkError(f"invalid CIDR address: {text}")
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        raise NetworkError(f"invalid CIDR address: {text}") from None


_MAC = re.compile(r"^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}$")


def parse_mac(text: str) -> str:
    """``net.ParseMAC`` for 48-bit addresses; the colon-hex form Go prints."""
    if not _MAC.match(text):
        raise NetworkError(f"address {text}: invalid MAC address")
    return text.replace("-", ":").lower()


def parse_ip(text: str) -> str | None:
    """``net.ParseIP``: the address's text, or None (CIDR is not an IP)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


class RemoteDriver:
    """A ``NetworkDriver`` plugin, registered under the name it was looked up by."""

    builtin = False

    def __init__(self, name: str, client: PluginClient, capability: DriverCapability) -> None:
        self.name = name
        self.client = client
        self.capability = capability

    async def _call(self, method: str, args: object | None, ret: type[_R]) -> _R:
        try:
            reply = await self.client.call(method, args, ret)
        except PluginStatusError as exc:
            if exc.not_found and method in api.NOT_FOUND_IS_SUCCESS:
                return ret()  # an empty answer: nothing to apply
            raise
        if reply.Err:
            raise NetworkError(f"remote: {reply.Err}")
        return reply

    async def get_capabilities(self) -> DriverCapability:
        """``GetCapabilities`` (``remote.Register``), read with dockerd's scope rules."""
        reply = await self._call(api.GET_CAPABILITIES, None, api.CapabilitiesResponse)
        return parse_capabilities(reply)

    async def gw_alloc_check(self, options: Mapping[str, Any]) -> tuple[bool, bool]:
        """``GetSkipGwAlloc``: ``GwAllocCheck`` only when the capability was advertised."""
        if not self.capability.GwAllocChecker:
            return False, False
        reply = await self._call(
            api.GW_ALLOC_CHECK, api.GwAllocCheckRequest(dict(options)), api.GwAllocCheckResponse
        )
        return reply.SkipIPv4, reply.SkipIPv6

    async def create_network(
        self,
        nid: str,
        options: Mapping[str, Any],
        ipv4: list[dict[str, Any]],
        ipv6: list[dict[str, Any]],
    ) -> None:
        await self._call(
            api.CREATE_NETWORK,
            api.CreateNetworkRequest(nid, dict(options), ipv4, ipv6),
            api.ErrResponse,
        )

    async def delete_network(self, nid: str) -> None:
        await self._call(api.DELETE_NETWORK, api.NetworkIDRequest(nid), api.ErrResponse)

    async def create_endpoint(
        self, nid: str, eid: str, iface: EndpointInterface, options: Mapping[str, Any]
    ) -> None:
        """``CreateEndpoint``; an answer that cannot be applied is undone (``DeleteEndpoint``)."""
        wire_iface = api.EndpointInterface(
            Address=str(iface.address) if iface.address is not None else "",
            AddressIPv6=str(iface.address_v6) if iface.address_v6 is not None else "",
            MacAddress=iface.mac,
        )
        reply = await self._call(
            api.CREATE_ENDPOINT,
            api.CreateEndpointRequest(nid, eid, wire_iface, dict(options)),
            api.CreateEndpointResponse,
        )
        try:
            _apply_interface(reply.Interface, iface)
        except NetworkError as exc:
            await _roll_back(exc, self.delete_endpoint(nid, eid))

    async def delete_endpoint(self, nid: str, eid: str) -> None:
        await self._call(api.DELETE_ENDPOINT, api.EndpointRequest(nid, eid), api.ErrResponse)

    async def endpoint_oper_info(self, nid: str, eid: str) -> dict[str, Any] | None:
        reply = await self._call(
            api.ENDPOINT_OPER_INFO, api.EndpointRequest(nid, eid), api.EndpointInfoResponse
        )
        return reply.Value

    async def join(
        self,
        nid: str,
        eid: str,
        sandbox_key: str,
        options: Mapping[str, Any],
        *,
        network_gateway: str = "",
    ) -> JoinInfo:
        """``Join``; an answer that cannot be applied is rolled back (``Leave``)."""
        reply = await self._call(
            api.JOIN, api.JoinRequest(nid, eid, sandbox_key, dict(options)), api.JoinResponse
        )
        try:
            return _join_info(reply)
        except NetworkError as exc:
            await _roll_back(exc, self.leave(nid, eid))

    async def leave(self, nid: str, eid: str) -> None:
        await self._call(api.LEAVE, api.EndpointRequest(nid, eid), api.ErrResponse)

    async def program_external_connectivity(
        self, nid: str, eid: str, options: Mapping[str, Any]
    ) -> None:
        """HTTP 404 counts as success (``api.NOT_FOUND_IS_SUCCESS``)."""
        await self._call(
            api.PROGRAM_EXTERNAL_CONNECTIVITY,
            api.ProgramExternalConnectivityRequest(nid, eid, dict(options)),
            api.ErrResponse,
        )

    async def revoke_external_connectivity(self, nid: str, eid: str) -> None:
        """HTTP 404 counts as success (``api.NOT_FOUND_IS_SUCCESS``)."""
        await self._call(
            api.REVOKE_EXTERNAL_CONNECTIVITY, api.EndpointRequest(nid, eid), api.ErrResponse
        )


async def _roll_back(cause: NetworkError, undo: Awaitable[None]) -> NoReturn:
    """Undo a call whose answer could not be applied, then fail with dockerd's text."""
    try:
        await undo
    except EngineError as rollback:
        raise NetworkError(f"{rollback}; failed to roll back: {cause}") from None
    raise NetworkError(f"{cause}; rolled back") from None


def _apply_interface(wire: api.EndpointInterface | None, iface: EndpointInterface) -> None:
    """``parseInterface`` then ``SetMacAddress``/``SetIPAddress``: fields already set fail."""
    if wire is None:
        return
    address = parse_cidr(wire.Address) if wire.Address else None
    address_v6 = parse_cidr(wire.AddressIPv6) if wire.AddressIPv6 else None
    mac = parse_mac(wire.MacAddress) if wire.MacAddress else None
    if mac is not None:
        if iface.mac:
            raise NetworkError(
                "driver modified interface MAC address: endpoint interface MAC address "
                f"present ({iface.mac}). Cannot be modified with {mac}."
            )
        iface.mac = mac
    for given in (address, address_v6):
        if given is None:
            continue
        current = iface.address if given.version == 4 else iface.address_v6
        if current is not None:
            raise NetworkError(
                "driver modified interface address: endpoint interface IP present "
                f"({current}). Cannot be modified with ({given})."
            )
        if given.version == 4:
            iface.address = given
        else:
            iface.address_v6 = given


def _join_info(reply: api.JoinResponse) -> JoinInfo:
    """The checks ``driver.Join`` makes on the answer, in its order."""
    name = reply.InterfaceName
    gateway = gateway_v6 = ""
    if reply.Gateway:
        parsed = parse_ip(reply.Gateway)
        if parsed is None:
            raise NetworkError(f'unable to parse Gateway "{reply.Gateway}"')
        gateway = parsed
    if reply.GatewayIPv6:
        parsed = parse_ip(reply.GatewayIPv6)
        if parsed is None:
            raise NetworkError(f'unable to parse GatewayIPv6 "{reply.GatewayIPv6}"')
        gateway_v6 = parsed
    routes: list[Route] = []
    for route in reply.StaticRoutes or ():
        destination = parse_cidr(route.Destination).network if route.Destination else None
        next_hop = ""
        if route.NextHop:
            hop = parse_ip(route.NextHop)
            if hop is None:
                raise NetworkError(f"failed to parse nexthop IP {route.NextHop}")
            next_hop = hop
        routes.append(Route(destination, route.RouteType, next_hop))
    return JoinInfo(
        src_name=name.SrcName if name else "",
        dst_prefix=name.DstPrefix if name else "",
        gateway=gateway,
        gateway_v6=gateway_v6,
        static_routes=tuple(routes),
        disable_gateway_service=reply.DisableGatewayService,
    )


class BuiltinDriver:
    """``bridge``, ``host`` or ``null``: in-process, no plugin calls."""

    builtin = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.capability = DriverCapability(LOCAL, LOCAL)

    async def gw_alloc_check(self, options: Mapping[str, Any]) -> tuple[bool, bool]:
        return False, False

    async def create_network(
        self,
        nid: str,
        options: Mapping[str, Any],
        ipv4: list[dict[str, Any]],
        ipv6: list[dict[str, Any]],
    ) -> None:
        return None

    async def delete_network(self, nid: str) -> None:
        return None

    async def create_endpoint(
        self, nid: str, eid: str, iface: EndpointInterface, options: Mapping[str, Any]
    ) -> None:
        return None

    async def delete_endpoint(self, nid: str, eid: str) -> None:
        return None

    async def endpoint_oper_info(self, nid: str, eid: str) -> dict[str, Any] | None:
        return None

    async def join(
        self,
        nid: str,
        eid: str,
        sandbox_key: str,
        options: Mapping[str, Any],
        *,
        network_gateway: str = "",
    ) -> JoinInfo:
        return JoinInfo(src_name="veth", dst_prefix="eth", gateway=network_gateway)

    async def leave(self, nid: str, eid: str) -> None:
        return None

    async def program_external_connectivity(
        self, nid: str, eid: str, options: Mapping[str, Any]
    ) -> None:
        return None

    async def revoke_external_connectivity(self, nid: str, eid: str) -> None:
        return None
