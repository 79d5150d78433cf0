"""What the network controller asks IPAM for a network and an endpoint, in dockerd's order.

``ipamAllocateVersion`` / ``ipamReleaseVersion`` (libnetwork ``network.go``) and
``assignAddressVersion`` / ``releaseAddress`` (``endpoint.go``), as functions of a network
(or endpoint) and an :class:`~emulator.engine.ipam.Ipam`: the controller calls them at
create, remove, connect and disconnect, the restore (:mod:`emulator.engine.network_restore`)
when it replays a ``RequiresRequestReplay`` IPAM's pools.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from emulator.engine.ipam import (
    AllocatedPool,
    DefaultIpam,
    Ipam,
    IpamError,
    IPInterface,
    IPNetwork,
    PoolRequest,
)
from emulator.engine.network_drivers import GLOBAL, NetworkError
from emulator.engine.network_model import Endpoint, IpamConfig, IpamInfo, Network, family
from emulator.engine.rollback import undo
from emulator.errors import EngineError
from emulator.protocol import ipam as ipam_api

log = logging.getLogger("emulator.networks")

__all__ = [
    "allocate_gateway_and_aux",
    "allocate_version",
    "assign",
    "logged",
    "release_addresses",
    "release_ipam",
    "release_version",
]


async def allocate_version(
    network: Network,
    ipam: Ipam,
    space: str,
    version: int,
    skip_gw: bool,
    reserved: tuple[IPNetwork, ...] = (),
) -> None:
    """``ipamAllocateVersion`` for one family: pools, gateways, aux addresses.

    ``reserved`` are host networks a local network's pool must not overlap.  The
    results are stored in ``network.ipv4_info`` / ``ipv6_info``; on failure what was
    allocated for that family is released (``ReleasePool``, errors logged).
    """
    wanted = (0, 4) if version == 4 else (6,)
    configs = [c for c in network.ipam_config if family(c) in wanted] or [IpamConfig()]
    infos: list[IpamInfo] = []
    if version == 4:
        network.ipv4_info = infos
    else:
        network.ipv6_info = infos
    for config in configs:
        exclude = reserved if network.scope != GLOBAL else ()
        alloc: AllocatedPool = await ipam.request_pool(
            PoolRequest(
                address_space=space,
                pool=config.subnet,
                sub_pool=config.ip_range,
                options=network.ipam_options,
                v6=version == 6,
                exclude=exclude,
            )
        )
        info = IpamInfo(space, alloc.pool_id, alloc.pool, alloc.data)
        infos.append(info)
        try:
            await allocate_gateway_and_aux(network, ipam, config, info, skip_gw)
        except BaseException:
            try:
                await undo(ipam.release_pool(info.pool_id))
            except EngineError:
                log.warning(
                    "Failed to release address pool %s after failure to create network %s (%s)",
                    info.pool_id,
                    network.name,
                    network.id,
                )
            infos.remove(info)
            raise


async def allocate_gateway_and_aux(
    network: Network, ipam: Ipam, config: IpamConfig, info: IpamInfo, skip_gw: bool
) -> None:
    """The gateway (from the pool's ``Data``, or ``RequestAddress``), then aux addresses."""
    if config.gateway == "" and info.meta and ipam_api.GATEWAY_LABEL in info.meta:
        text = info.meta[ipam_api.GATEWAY_LABEL]
        try:
            info.gateway = ipaddress.ip_interface(text) if "/" in text else None
        except ValueError:
            info.gateway = None
        if info.gateway is None:
            raise NetworkError(
                f"failed to parse gateway address ({text}) returned by ipam driver: "
                f"invalid CIDR address: {text}",
                http_status=400,
            )
    if info.gateway is None and (config.gateway != "" or not skip_gw):
        try:
            info.gateway, _ = await ipam.request_address(
                info.pool_id,
                config.gateway,
                {ipam_api.REQUEST_ADDRESS_TYPE: ipam_api.GATEWAY_LABEL},
            )
        except EngineError as exc:
            raise NetworkError(f"failed to allocate gateway ({config.gateway}): {exc}") from None
    if config.aux_addresses is not None:
        info.aux_addresses = {}
        # dockerd ranges over a Go map (random order); sorted here, reproducibly.
        for key, value in sorted(config.aux_addresses.items()):
            try:
                ip = ipaddress.ip_address(value)
            except ValueError:
                raise NetworkError(
                    f"non parsable secondary ip address ({key}:{value}) passed for "
                    f"network {network.name}",
                    http_status=400,
                ) from None
            if ip not in info.pool:
                raise NetworkError(
                    f"auxiliary address: ({key}:{value}) must belong to the master pool: "
                    f"{info.pool}",
                    http_status=403,
                )
            try:
                info.aux_addresses[key], _ = await ipam.request_address(info.pool_id, value, None)
            except EngineError as exc:
                raise NetworkError(
                    f"failed to allocate secondary ip address ({key}:{value}): {exc}"
                ) from None


async def release_version(network: Network, ipam: Ipam, version: int) -> None:
    """``ipamReleaseVersion``: gateway, aux addresses, pool; errors only logged."""
    infos = network.ipv4_info if version == 4 else network.ipv6_info
    for info in infos:
        if info.gateway is not None:
            await logged(
                ipam.release_address(info.pool_id, str(info.gateway.ip)),
                f"Failed to release gateway ip address {info.gateway.ip}",
            )
        for key, aux in sorted((info.aux_addresses or {}).items()):
            if aux.ip in info.pool:
                await logged(
                    ipam.release_address(info.pool_id, str(aux.ip)),
                    f"Failed to release secondary ip address {key} ({aux.ip})",
                )
        await logged(
            ipam.release_pool(info.pool_id), f"Failed to release address pool {info.pool_id}"
        )
    infos.clear()


async def release_ipam(network: Network, ipam: Ipam) -> None:
    """``ipamRelease``: IPv4, then IPv6 (:func:`release_version`)."""
    await release_version(network, ipam, 4)
    await release_version(network, ipam, 6)


async def assign(
    infos: Sequence[IpamInfo],
    ipam: Ipam,
    preferred: str,
    options: Mapping[str, str] | None,
    version: int,
) -> IPInterface | None:
    """``assignAddressVersion``: the first pool (containing ``preferred``) that gives one."""
    last: EngineError | None = None
    for info in infos:
        if preferred and ipaddress.ip_address(preferred) not in info.pool:
            continue
        try:
            address, _ = await ipam.request_address(info.pool_id, preferred, options)
        except IpamError as exc:
            if isinstance(ipam, DefaultIpam) and "no available addresses" in str(exc):
                last = exc
                continue
            raise
        return address
    if last is not None:
        raise last
    if preferred:
        raise NetworkError(
            f"no configured subnet or ip-range contain the IP address {preferred}",
            http_status=400,
        )
    return None


async def release_addresses(endpoint: Endpoint, ipam: Ipam) -> None:
    """``releaseAddress``: IPv4, then IPv6; errors only logged."""
    for infos, address in (
        (endpoint.network.ipv4_info, endpoint.iface.address),
        (endpoint.network.ipv6_info, endpoint.iface.address_v6),
    ):
        if address is None:
            continue
        for info in infos:
            if address.ip in info.pool:
                await logged(
                    ipam.release_address(info.pool_id, str(address.ip)),
                    f"Failed to release ip address {address.ip} on delete of endpoint "
                    f"{endpoint.name} ({endpoint.id})",
                )
                break


async def logged(call: Any, what: str) -> None:
    """Await ``call``; an :class:`EngineError` is only logged (dockerd's swallowed errors)."""
    try:
        await call
    except EngineError as exc:
        log.warning("%s: %s", what, exc)
