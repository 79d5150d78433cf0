"""Networks, endpoints and sandboxes as data, and libnetwork's rules over them.

What ``docker network create`` asks for (:class:`NetworkSpec`), what ``docker network
inspect`` shows of a network, what IPAM gave it, a container's endpoint on it and its
sandbox (network namespace), plus the pure rules the controller
(:mod:`emulator.engine.networks`) applies: endpoint order in a sandbox, which endpoint
is the gateway, whether a sandbox needs the ``docker_gwbridge``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from emulator.engine.ipam import DEFAULT_IPAM, IPInterface, IPNetwork
from emulator.engine.network_drivers import EndpointInterface, JoinInfo
from emulator.protocol import network as api

#: Networks dockerd creates at start; they cannot be created or removed.
PREDEFINED: Final = ("bridge", "host", "none")
BUILTIN_DRIVERS: Final = ("bridge", "host", "null")
GWBRIDGE: Final = "docker_gwbridge"
#: ``createGWNetwork``'s driver options (libnetwork/default_gateway_linux.go).
GWBRIDGE_OPTIONS: Final = {
    "com.docker.network.bridge.name": GWBRIDGE,
    "com.docker.network.bridge.enable_icc": "false",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
}
#: Start failures are prefixed with this (``errSetupNetworking``).
SETUP_PREFIX: Final = "failed to set up container networking: "


def _strings(values: Mapping[str, str] | None) -> dict[str, str]:
    return dict(values or {})


def _configs(values: Sequence[IpamConfig]) -> tuple[IpamConfig, ...]:
    return tuple(values)


@attrs.frozen
class IpamConfig:
    """One ``IPAM.Config`` entry: ``--subnet``, ``--ip-range``, ``--gateway``, ``--aux-address``."""

    subnet: str = ""
    ip_range: str = ""
    gateway: str = ""
    aux_addresses: Mapping[str, str] | None = None


@attrs.frozen
class NetworkSpec:
    """What ``docker network create`` asks for: the network to make.

    ``name`` may be given by position, the rest by name::

        await engine.networks.create(NetworkSpec("n", driver="mynet", ipam_driver="myipam"))

    ``driver`` and ``ipam_driver`` are registry names (a v1 plugin's file name; ``""``
    means ``bridge`` / ``default``); ``options`` are ``-o`` (the driver's generic
    options), ``ipam_options`` ``--ipam-opt``, ``ipam_config`` the ``--subnet``,
    ``--ip-range``, ``--gateway`` and ``--aux-address`` entries; ``enable_ipv4``,
    ``enable_ipv6``, ``internal`` and ``attachable`` are the flags of the same names;
    ``scope`` (``--scope``) replaces the driver's data scope when given.
    """

    name: str
    driver: str = attrs.field(default="bridge", kw_only=True)
    options: dict[str, str] = attrs.field(factory=dict, converter=_strings, kw_only=True)
    labels: dict[str, str] = attrs.field(factory=dict, converter=_strings, kw_only=True)
    ipam_driver: str = attrs.field(default=DEFAULT_IPAM, kw_only=True)
    ipam_options: dict[str, str] = attrs.field(factory=dict, converter=_strings, kw_only=True)
    ipam_config: tuple[IpamConfig, ...] = attrs.field(default=(), converter=_configs, kw_only=True)
    enable_ipv4: bool = attrs.field(default=True, kw_only=True)
    enable_ipv6: bool = attrs.field(default=False, kw_only=True)
    internal: bool = attrs.field(default=False, kw_only=True)
    attachable: bool = attrs.field(default=False, kw_only=True)
    scope: str = attrs.field(default="", kw_only=True)


@attrs.define
class IpamInfo:
    """What IPAM gave a network for one ``IpamConfig`` (``IpamInfo``)."""

    address_space: str
    pool_id: str
    pool: IPNetwork
    meta: Mapping[str, str] | None
    gateway: IPInterface | None = None
    aux_addresses: dict[str, IPInterface] | None = None

    def wire(self) -> dict[str, Any]:
        """``IPAMData`` as ``CreateNetwork`` carries it."""
        return api.ipam_data(
            self.address_space,
            str(self.pool),
            str(self.gateway) if self.gateway is not None else None,
            {k: str(v) for k, v in self.aux_addresses.items()}
            if self.aux_addresses is not None
            else None,
        )


@attrs.define(eq=False)
class Network:
    """A network as ``docker network inspect`` would describe it."""

    id: str
    name: str
    driver: str
    scope: str
    ipam_driver: str
    ipam_options: dict[str, str]
    ipam_config: list[IpamConfig]
    enable_ipv4: bool
    enable_ipv6: bool
    internal: bool
    attachable: bool
    options: dict[str, str]
    labels: dict[str, str]
    created: dt.datetime
    predefined: bool = False
    ipv4_info: list[IpamInfo] = attrs.Factory(list)
    ipv6_info: list[IpamInfo] = attrs.Factory(list)
    skip_gw_v4: bool = False
    """``GwAllocCheck`` said no IPv4 gateway is needed (``skipGwAllocIPv4``)."""
    skip_gw_v6: bool = False
    """``GwAllocCheck`` said no IPv6 gateway is needed (``skipGwAllocIPv6``)."""
    endpoints: dict[str, Endpoint] = attrs.field(factory=dict, metadata={"persist": False})

    def inspect(self, *, containers: bool = True) -> dict[str, Any]:
        """``docker network inspect`` JSON (``network.Inspect``), in dockerd's key order.

        Ready for :func:`emulator.golang.json.encode` (``Created`` is a
        ``datetime``, which encodes as Go's RFC 3339).  ``containers=False`` gives
        ``"Containers": {}`` as ``docker network ls`` (``GET /networks``) shows it.
        ``IPAM.Config`` follows ``buildIPAMResources``: the user's configs when a
        subnet was given, else what IPAM allocated (subnet and plain gateway).
        """
        return {
            "Name": self.name,
            "Id": self.id,
            "Created": self.created,
            "Scope": self.scope,
            "Driver": self.driver,
            "EnableIPv4": self.enable_ipv4,
            "EnableIPv6": self.enable_ipv6,
            "IPAM": {
                "Driver": self.ipam_driver,
                "Options": dict(self.ipam_options),
                "Config": self._ipam_resources(),
            },
            "Internal": self.internal,
            "Attachable": self.attachable,
            "Ingress": False,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": {
                # buildContainerAttachments: by container, or "ep-ID" outside a sandbox
                (ep.container_id if ep.sandbox_id else "ep-" + ep.id): ep.resource()
                for ep in self.endpoints.values()
                if containers
            },
            "Options": dict(self.options),
            "Labels": dict(self.labels),
        }

    def _ipam_resources(self) -> list[dict[str, Any]]:
        configs: list[dict[str, Any]] = []
        for version, infos in ((4, self.ipv4_info), (6, self.ipv6_info)):
            given = [c for c in self.ipam_config if c.subnet and family(c) == version]
            if given:
                for c in given:
                    entry: dict[str, Any] = {"Subnet": c.subnet}
                    if c.ip_range:
                        entry["IPRange"] = c.ip_range
                    if c.gateway:
                        entry["Gateway"] = c.gateway
                    if c.aux_addresses:
                        entry["AuxiliaryAddresses"] = dict(c.aux_addresses)
                    configs.append(entry)
                continue
            for info in infos:
                entry = {"Subnet": str(info.pool)}
                if info.gateway is not None:
                    entry["Gateway"] = str(info.gateway.ip)
                configs.append(entry)
        return configs

    @property
    def generic(self) -> dict[str, Any]:
        """The network's generic map: ``CreateNetwork.Options`` and ``GwAllocCheck.Options``."""
        data: dict[str, Any] = {
            api.ENABLE_IPV4: self.enable_ipv4,
            api.ENABLE_IPV6: self.enable_ipv6,
            api.GENERIC: dict(self.options),
        }
        if self.internal:
            data[api.INTERNAL] = True
        return data


@attrs.define(eq=False)
class Endpoint:
    """A container's endpoint on a network."""

    id: str
    name: str
    network: Network
    container_id: str
    iface: EndpointInterface
    options: dict[str, Any]
    join: JoinInfo | None = None
    gateway: bool = False
    """True while this endpoint is the sandbox's gateway (``ProgramExternalConnectivity`` done)."""
    ipam_options: dict[str, str] | None = None
    """The ``Options`` its addresses were requested with (``ipamOptions``: the MAC)."""
    sandbox_id: str = ""
    """The sandbox it is joined to (``sandboxID``); empty when not joined."""
    aliases: list[str] = attrs.Factory(list)
    """``--network-alias``es (DNS names in the network; no plugin sees them)."""
    gw_priority: int = 0
    """``GwPriority``: a higher one is chosen as the sandbox's gateway first."""

    def resource(self) -> dict[str, str]:
        """``network.EndpointResource`` as ``network inspect`` shows it (CIDR addresses)."""
        return {
            "Name": self.name,
            "EndpointID": self.id,
            "MacAddress": self.iface.mac,
            "IPv4Address": str(self.iface.address) if self.iface.address is not None else "",
            "IPv6Address": str(self.iface.address_v6) if self.iface.address_v6 is not None else "",
        }


@attrs.define(eq=False)
class Sandbox:
    """A container's network namespace (``libnetwork.Sandbox``)."""

    id: str
    container_id: str
    endpoints: list[Endpoint] = attrs.Factory(list)
    gwbridge: Endpoint | None = None
    """The automatic ``docker_gwbridge`` endpoint, when a Join gave no gateway."""

    @property
    def key(self) -> str:
        """``/var/run/docker/netns/<first 12 hex of the sandbox ID>``."""
        return f"/var/run/docker/netns/{self.id[:12]}"

    @staticmethod
    def labels() -> dict[str, Any]:
        """The sandbox labels: ``Join.Options`` (no ports are emulated)."""
        return {api.EXPOSED_PORTS: [], api.PORT_MAP: []}


def family(config: IpamConfig) -> int:
    """4 or 6 from the subnet (0 when none is given)."""
    if not config.subnet:
        return 0
    return ipaddress.ip_network(config.subnet, strict=False).version


def has_gateway(endpoint: Endpoint) -> tuple[bool, bool]:
    """``hasGatewayOrDefaultRoute``."""
    info = endpoint.join
    if info is None:
        return False, False
    gw4 = bool(info.gateway) or any(
        r.destination is not None and str(r.destination) == "0.0.0.0/0" for r in info.static_routes
    )
    gw6 = bool(info.gateway_v6) or any(
        r.destination is not None and str(r.destination) == "::/0" for r in info.static_routes
    )
    return gw4, gw6


def sandbox_order(endpoints: Sequence[Endpoint]) -> list[Endpoint]:
    """``Sandbox.Endpoints()`` order (``Endpoint.Less``, libnetwork/sandbox.go).

    Higher ``GwPriority`` first, ``docker_gwbridge`` endpoints last, internal networks
    after the others, more gateways (IPv4 and IPv6) first, then network name.  dockerd
    sorts on insertion; this sorts on use, from the current Join answers.
    """

    def key(endpoint: Endpoint) -> tuple[int, bool, bool, int, str]:
        gw4, gw6 = has_gateway(endpoint)
        return (
            -endpoint.gw_priority,
            endpoint.network.name == GWBRIDGE,
            endpoint.network.internal,
            -(int(gw4) + int(gw6)),
            endpoint.network.name,
        )

    return sorted(endpoints, key=key)


def gateway_endpoint(endpoints: Sequence[Endpoint]) -> Endpoint | None:
    """``selectGatewayEndpoint`` (IPv4 or dual-stack gateway first)."""
    first4 = first6 = None
    for endpoint in sandbox_order(endpoints):
        if endpoint.network.driver in ("null", "host"):
            continue
        gw4, gw6 = has_gateway(endpoint)
        if gw4 and gw6:
            return endpoint
        if gw4 and first4 is None:
            first4 = endpoint
        if gw6 and first6 is None:
            first6 = endpoint
    return first4 or first6


def needs_default_gw(endpoints: Sequence[Endpoint]) -> bool:
    """``needDefaultGW``: some external-facing endpoint and none with a gateway or route."""
    need = False
    for endpoint in endpoints:
        network = endpoint.network
        if network.name == GWBRIDGE or network.driver in ("null", "host") or network.internal:
            continue
        if endpoint.join is not None and endpoint.join.disable_gateway_service:
            continue
        gw4, gw6 = has_gateway(endpoint)
        if gw4 or gw6:
            return False
        need = True
    return need
