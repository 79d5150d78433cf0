"""A container's network settings: its ``NetworkMode`` and per-network endpoint settings.

What ``docker run --network n --ip A --ip6 B --mac-address M --network-alias X`` (and
``--network name=n,ip=…,driver-opt=k=v,gw-priority=P``) and ``docker network connect``
send, as dockerd keeps and checks it (moby/moby v28.5.2):

* ``HostConfig.NetworkMode`` ``""``/``default`` becomes ``bridge``
  (api/server/router/container/container_routes.go ``postContainersCreate``);
  ``bridge``, ``host``, ``none`` and ``container:<ref>`` are not user-defined
  (api/types/container/hostconfig_unix.go);
* the configured part of ``network.EndpointSettings`` (api/types/network/endpoint.go):
  ``IPAMConfig`` (``IPv4Address``, ``IPv6Address``, ``LinkLocalIPs``), ``Links``,
  ``Aliases``, ``MacAddress``, ``DriverOpts``, ``GwPriority``;
* ``validateEndpointSettings`` (daemon/container_operations.go) with the texts of
  ``EndpointIPAMConfig.Validate``/``IsInRange`` and runconfig/errors.go, joined as
  moby's ``multierror.Join`` joins them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from emulator.engine.network_model import Network, family
from emulator.golang import net as gonet

__all__ = [
    "DEFAULT_NETWORK",
    "ERR_CONFLICT_HOST_NETWORK",
    "ERR_CONFLICT_NO_NETWORK",
    "ERR_CONFLICT_SHARED_NETWORK",
    "EndpointConfig",
    "connect_conflict",
    "endpoint_settings_error",
    "is_user_defined",
    "join_errors",
    "normalize_network_mode",
    "static_subnets",
]

#: The network ``NetworkMode`` ``default`` (or empty) means on Linux.
DEFAULT_NETWORK: Final = "bridge"
ERR_UNSUPPORTED_IP: Final = "user specified IP address is supported on user defined networks only"
ERR_UNSUPPORTED_ALIAS: Final = (
    "network-scoped alias is supported only for containers in user defined networks"
)
ERR_CONFLICT_SHARED_NETWORK: Final = (
    "container sharing network namespace with another container or host cannot be connected "
    "to any other network"
)
ERR_CONFLICT_NO_NETWORK: Final = (
    "container cannot be connected to multiple networks with one of the networks in private "
    "(none) mode"
)
ERR_CONFLICT_HOST_NETWORK: Final = (
    "cannot connect container to host network - container must be created in host network mode"
)


def normalize_network_mode(mode: str) -> str:
    """``""`` and ``default`` are the default network (``bridge`` on Linux)."""
    return DEFAULT_NETWORK if mode in ("", "default") else mode


def is_user_defined(name: str) -> bool:
    """``NetworkMode.IsUserDefined``: not default, bridge, host, none or container:…."""
    return name not in ("default", "bridge", "host", "none") and not name.startswith("container:")


@attrs.frozen
class EndpointConfig:
    """The configured part of ``network.EndpointSettings`` for one network."""

    ipv4_address: str = ""
    ipv6_address: str = ""
    link_local_ips: tuple[str, ...] = ()
    ipam_config: bool = False
    """Whether ``IPAMConfig`` was given (inspect shows ``null`` otherwise)."""
    links: tuple[str, ...] | None = None
    aliases: tuple[str, ...] | None = None
    mac_address: str = ""
    driver_opts: Mapping[str, str] | None = None
    gw_priority: int = 0

    def ipam_json(self) -> dict[str, Any] | None:
        """``IPAMConfig`` as the API shows it (``omitempty`` fields), or None."""
        if not self.ipam_config:
            return None
        shown: dict[str, Any] = {}
        if self.ipv4_address:
            shown["IPv4Address"] = self.ipv4_address
        if self.ipv6_address:
            shown["IPv6Address"] = self.ipv6_address
        if self.link_local_ips:
            shown["LinkLocalIPs"] = list(self.link_local_ips)
        return shown

    def to_json(self) -> dict[str, Any]:
        """The settings in the API's shape (also how the state database keeps them)."""
        return {
            "IPAMConfig": self.ipam_json(),
            "Links": list(self.links) if self.links is not None else None,
            "Aliases": list(self.aliases) if self.aliases is not None else None,
            "MacAddress": self.mac_address,
            "DriverOpts": dict(self.driver_opts) if self.driver_opts is not None else None,
            "GwPriority": self.gw_priority,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EndpointConfig:
        """From :meth:`to_json`'s shape (or the flat ``IPv4Address`` keys of older records)."""
        ipam = data.get("IPAMConfig")
        flat = {k: data[k] for k in ("IPv4Address", "IPv6Address") if data.get(k)}
        if ipam is None and flat:
            ipam = flat
        options = data.get("DriverOpts")
        return cls(
            ipv4_address=str((ipam or {}).get("IPv4Address", "")),
            ipv6_address=str((ipam or {}).get("IPv6Address", "")),
            link_local_ips=tuple((ipam or {}).get("LinkLocalIPs") or ()),
            ipam_config=ipam is not None,
            links=_strings(data.get("Links")),
            aliases=_strings(data.get("Aliases")),
            mac_address=str(data.get("MacAddress") or ""),
            driver_opts=dict(options) if options else None,
            gw_priority=int(data.get("GwPriority") or 0),
        )


def _strings(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)


# ---------------------------------------------------------------------------
# validation (validateEndpointSettings)


def join_errors(errors: Sequence[str]) -> str:
    """moby's ``multierror.Join``: one error as it is; more as ``* `` lines."""
    if len(errors) == 1:
        return errors[0].strip()
    return "* " + "\n* ".join(e.replace("\n", "\n\t") for e in errors)


def _go_parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``net.ParseIP``: dotted IPv4 or IPv6 text (an IPv4-mapped IPv6 counts as IPv4)."""
    if "%" in text:  # Go's ParseIP takes no zone
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _ipam_errors(config: EndpointConfig) -> list[str]:
    """``EndpointIPAMConfig.Validate``."""
    errors: list[str] = []
    if config.ipv4_address:
        address = _go_parse_ip(config.ipv4_address)
        if not isinstance(address, ipaddress.IPv4Address) or address.is_unspecified:
            errors.append(f"invalid IPv4 address: {config.ipv4_address}")
    if config.ipv6_address:
        address = _go_parse_ip(config.ipv6_address)
        if not isinstance(address, ipaddress.IPv6Address) or address.is_unspecified:
            errors.append(f"invalid IPv6 address: {config.ipv6_address}")
    for text in config.link_local_ips:
        address = _go_parse_ip(text)
        if address is None or address.is_unspecified:
            errors.append(f"invalid link-local IP address: {text}")
    return errors


def _range_error(address: str, subnets: Sequence[str]) -> str | None:
    """``validateEndpointIPAddress`` against the network's user-configured subnets."""
    if not address:
        return None
    parsed = _go_parse_ip(address)
    if subnets:
        for subnet in subnets:
            if parsed is not None and parsed in ipaddress.ip_network(subnet, strict=False):
                return None
        return f"no configured subnet or ip-range contain the IP address {address}"
    return (
        "user specified IP address is supported only when connecting to networks with user "
        "configured subnets"
    )


def endpoint_settings_error(
    network_name: str,
    config: EndpointConfig,
    static_subnets: tuple[Sequence[str], Sequence[str]] | None,
) -> str | None:
    """``validateEndpointSettings``: dockerd's text for what is wrong, or None.

    ``network_name`` is the name the settings are given under; ``static_subnets`` the
    network's user-configured IPv4 and IPv6 subnets when the network exists (None when
    it does not: dockerd then skips the range check).
    """
    errors: list[str] = []
    if not is_user_defined(network_name):
        if config.ipv4_address or config.ipv6_address:
            errors.append(ERR_UNSUPPORTED_IP)
        if config.aliases:
            errors.append(ERR_UNSUPPORTED_ALIAS)
    errors += _ipam_errors(config)
    if static_subnets is not None:
        v4, v6 = static_subnets
        for address, subnets in ((config.ipv4_address, v4), (config.ipv6_address, v6)):
            problem = _range_error(address, subnets)
            if problem is not None:
                errors.append(problem)
    if config.mac_address:
        try:
            gonet.parse_mac(config.mac_address)
        except gonet.AddrError:
            return f"invalid MAC address {config.mac_address}"
    if not errors:
        return None
    return "invalid endpoint settings:\n" + join_errors(errors)


def static_subnets(network: Network) -> tuple[list[str], list[str]]:
    """The network's user-configured subnets, IPv4 and IPv6 (``IpamConf.IsStatic``)."""
    v4 = [c.subnet for c in network.ipam_config if c.subnet and family(c) == 4]
    v6 = [c.subnet for c in network.ipam_config if c.subnet and family(c) == 6]
    return v4, v6


def connect_conflict(mode: str, others: Sequence[Network], network: Network) -> bool | str:
    """``updateNetworkSettings``' checks before a container joins ``network``.

    ``others`` are the container's other networks (those that exist).  True when
    ``network`` is among them already; dockerd's text (a 400) when the host network, the
    ``none`` network or a shared namespace would be mixed with another; else False.
    """
    if mode != "host" and network.driver == "host":
        return ERR_CONFLICT_HOST_NETWORK
    for other in others:
        if other is network:
            return True
        if "host" in (other.driver, network.driver):
            return ERR_CONFLICT_SHARED_NETWORK
        if "none" in (other.name, network.name):
            return ERR_CONFLICT_NO_NETWORK
    return False
