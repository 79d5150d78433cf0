"""IPAM drivers as libnetwork uses them: the built-in default allocator and remote plugins.

:class:`Ipam` is what the network controller calls (``ipamapi.Ipam``).
:class:`RemoteIpam` is ``libnetwork/ipams/remote/remote.go``: every
``RequestPool`` first asks ``GetDefaultAddressSpaces``, answers carry
``Error`` (not ``Err``) and become ``remote: <Error>``, addresses come back in
CIDR and are sent as plain IPs.  :class:`DefaultIpam` is
``libnetwork/ipams/defaultipam`` reduced to what a single node needs: dockerd's
predefined local pools (``ipamutils``), the network and broadcast addresses
reserved, the lowest free address handed out, and dockerd's error texts.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator, Mapping
from typing import Final, Protocol, TypeAlias, TypeVar

import attrs

from emulator.errors import EngineError
from emulator.protocol import ipam as api
from emulator.transport.client import PluginClient

log = logging.getLogger("emulator.networks")

IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface: TypeAlias = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_IPAM: Final = "default"

#: ``ipamutils.localScopeDefaultNetworks``: (base, size) pairs split in order.
LOCAL_DEFAULT_POOLS: Final = (
    ("172.17.0.0/16", 16),
    ("172.18.0.0/16", 16),
    ("172.19.0.0/16", 16),
    ("172.20.0.0/14", 16),
    ("172.24.0.0/14", 16),
    ("172.28.0.0/14", 16),
    ("192.168.0.0/16", 20),
)
#: ``ipamutils.globalScopeDefaultNetworks``.
GLOBAL_DEFAULT_POOLS: Final = (("10.0.0.0/8", 24),)

# ipamapi/contract.go error texts
NO_AVAILABLE_IPS: Final = "no available addresses on this pool"
NO_IP_RETURNED: Final = "no address returned"
IP_ALREADY_ALLOCATED: Final = "Address already in use"
IP_OUT_OF_RANGE: Final = "requested address is out of range"
POOL_OVERLAP: Final = "Pool overlaps with other one on this address space"
NO_MORE_SUBNETS: Final = "all predefined address pools have been fully subnetted"


class IpamError(EngineError):
    """An IPAM call failed; ``str()`` is dockerd's text."""

    default_hint = (
        "the IPAM driver could not give the pool or address: check --subnet, --ip-range, "
        "--gateway and --ip against the networks there, and what an IPAM plugin answered "
        "(engine.journal)"
    )

    def __init__(self, text: str, *, http_status: int = 500) -> None:
        super().__init__(text)
        self.http_status = http_status


@attrs.frozen
class IpamCapabilities:
    """``ipamapi.Capability``."""

    RequiresMACAddress: bool = False
    RequiresRequestReplay: bool = False


@attrs.frozen
class PoolRequest:
    """``ipamapi.PoolRequest``: ``exclude`` are host-reserved prefixes (never sent)."""

    address_space: str
    pool: str = ""
    sub_pool: str = ""
    options: Mapping[str, str] | None = None
    v6: bool = False
    exclude: tuple[IPNetwork, ...] = ()


@attrs.frozen
class AllocatedPool:
    """``ipamapi.AllocatedPool``: the opaque ID, the prefix, and the driver's ``Data``."""

    pool_id: str
    pool: IPNetwork
    data: Mapping[str, str] | None = None


class Ipam(Protocol):
    """``ipamapi.Ipam`` as the network controller uses it."""

    name: str
    capabilities: IpamCapabilities

    async def get_default_address_spaces(self) -> tuple[str, str]: ...

    async def request_pool(self, req: PoolRequest) -> AllocatedPool: ...

    async def release_pool(self, pool_id: str) -> None: ...

    async def request_address(
        self, pool_id: str, address: str, options: Mapping[str, str] | None
    ) -> tuple[IPInterface, Mapping[str, str] | None]: ...

    async def release_address(self, pool_id: str, address: str) -> None: ...


# -- remote -----------------------------------------------------------------------------


class _HasError(Protocol):
    @property
    def Error(self) -> str: ...


_R = TypeVar("_R", bound=_HasError)


class RemoteIpam:
    """An ``IpamDriver`` plugin, called exactly as ``ipams/remote/remote.go`` does."""

    def __init__(
        self, name: str, client: PluginClient, capabilities: IpamCapabilities | None = None
    ) -> None:
        self.name = name
        self.client = client
        self.capabilities = capabilities or IpamCapabilities()

    async def _call(self, method: str, args: object | None, ret: type[_R]) -> _R:
        reply = await self.client.call(method, args, ret)
        if reply.Error:
            raise IpamError(f"remote: {reply.Error}")
        return reply

    async def get_capabilities(self) -> IpamCapabilities:
        """``GetCapabilities`` (empty body)."""
        reply = await self._call(api.GET_CAPABILITIES, None, api.CapabilitiesResponse)
        return IpamCapabilities(reply.RequiresMACAddress, reply.RequiresRequestReplay)

    async def get_default_address_spaces(self) -> tuple[str, str]:
        """``GetDefaultAddressSpaces`` (empty body): (local, global)."""
        reply = await self._call(api.GET_DEFAULT_ADDRESS_SPACES, None, api.AddressSpacesResponse)
        return reply.LocalDefaultAddressSpace, reply.GlobalDefaultAddressSpace

    async def request_pool(self, req: PoolRequest) -> AllocatedPool:
        """``GetDefaultAddressSpaces`` then ``RequestPool`` until a pool misses ``exclude``.

        Overlapping pools are kept until the end, then released (``ReleasePool``,
        errors only logged), as ``allocator.RequestPool`` does.
        """
        leases: list[str] = []
        try:
            _, global_space = await self.get_default_address_spaces()
            wire = api.RequestPoolRequest(
                AddressSpace=req.address_space,
                Pool=req.pool,
                SubPool=req.sub_pool,
                Options=dict(req.options) if req.options is not None else None,
                V6=req.v6,
            )
            while True:
                reply = await self._call(api.REQUEST_POOL, wire, api.RequestPoolResponse)
                try:
                    pool = ipaddress.ip_network(reply.Pool, strict=False)
                except ValueError:
                    raise IpamError(
                        f"netip.ParsePrefix(\"{reply.Pool}\"): no '/'"
                        if "/" not in reply.Pool
                        else f'netip.ParsePrefix("{reply.Pool}"): bad prefix'
                    ) from None
                alloc = AllocatedPool(reply.PoolID, pool, reply.Data)
                if (
                    req.pool != ""
                    or req.address_space == global_space
                    or str(pool) == "0.0.0.0/0"
                    or not any(r.overlaps(pool) for r in req.exclude if r.version == pool.version)
                ):
                    return alloc
                leases.append(alloc.pool_id)
        finally:
            for pool_id in leases:
                try:
                    await self.release_pool(pool_id)
                except EngineError:
                    log.warning("Failed to release overlapping pool")

    async def release_pool(self, pool_id: str) -> None:
        """``ReleasePool``."""
        await self._call(api.RELEASE_POOL, api.ReleasePoolRequest(pool_id), api.ErrorResponse)

    async def request_address(
        self, pool_id: str, address: str, options: Mapping[str, str] | None
    ) -> tuple[IPInterface, Mapping[str, str] | None]:
        """``RequestAddress``: ``address`` plain IP or ``""``; the answer must be CIDR."""
        wire = api.RequestAddressRequest(
            pool_id, address, dict(options) if options is not None else None
        )
        reply = await self._call(api.REQUEST_ADDRESS, wire, api.RequestAddressResponse)
        if reply.Address == "":
            raise IpamError(NO_IP_RETURNED, http_status=503)
        return parse_cidr(reply.Address), reply.Data

    async def release_address(self, pool_id: str, address: str) -> None:
        """``ReleaseAddress`` with a plain IP."""
        await self._call(
            api.RELEASE_ADDRESS, api.ReleaseAddressRequest(pool_id, address), api.ErrorResponse
        )


def parse_cidr(text: str) -> IPInterface:
    """``types.ParseCIDR``: an address with its prefix length (``172.18.0.2/16``)."""
    if "/" not in text:
        raise IpamError(f"invalid CIDR address: {text}")
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        raise IpamError(f"invalid CIDR address: {text}") from None


# -- built-in ---------------------------------------------------------------------------


@attrs.define
class _Pool:
    prefix: IPNetwork
    address_space: str
    range: IPNetwork | None = None
    """``--ip-range`` (``SubPool``): where addresses without a preference come from."""
    allocated: set[IPAddress] = attrs.Factory(set)
    reserved: set[IPAddress] = attrs.Factory(set)


def _split(pools: tuple[tuple[str, int], ...]) -> Iterator[IPNetwork]:
    """The predefined subnets in order, lazily (10.0.0.0/8 alone holds 65536 of them)."""
    for base, size in pools:
        yield from ipaddress.ip_network(base).subnets(new_prefix=size)


class DefaultIpam:
    """The built-in ``default`` IPAM: dockerd's predefined pools, real address accounting.

    Pool IDs are ``AddressSpace/Subnet`` (``LocalDefault/172.18.0.0/16``) as in
    ``defaultipam``.  ``RequestPool`` without a pool takes the first predefined
    subnet that overlaps no allocated pool of its address space; with one, an
    overlap fails with ``Pool overlaps with other one on this address space``.
    ``RequestAddress`` gives the requested IP or the lowest free one (the network
    address and, for IPv4, the broadcast address are never handed out) with the
    pool's prefix length.  Nothing awaits inside, so each call is atomic.
    IPv6 pools must be given explicitly (no predefined IPv6 pools are emulated).
    """

    name = DEFAULT_IPAM
    capabilities = IpamCapabilities(RequiresRequestReplay=True)
    """As ``defaultipam`` registers: its pools are asked for again at every start."""

    def __init__(self) -> None:
        self._pools: dict[str, _Pool] = {}
        self._predefined = {
            api.LOCAL_DEFAULT: LOCAL_DEFAULT_POOLS,
            api.GLOBAL_DEFAULT: GLOBAL_DEFAULT_POOLS,
        }

    @property
    def pools(self) -> dict[str, IPNetwork]:
        """Allocated pools by ID (for inspection and tests)."""
        return {k: p.prefix for k, p in self._pools.items()}

    def allocated(self, pool_id: str) -> set[IPAddress]:
        """Addresses currently handed out from ``pool_id``."""
        return set(self._pools[pool_id].allocated)

    async def get_default_address_spaces(self) -> tuple[str, str]:
        return api.LOCAL_DEFAULT, api.GLOBAL_DEFAULT

    def request_pool_now(self, req: PoolRequest) -> AllocatedPool:
        """:meth:`request_pool` without awaiting (the engine reserves ``bridge``'s pool)."""
        if req.address_space not in self._predefined:
            raise IpamError(f"cannot find address space {req.address_space}", http_status=400)
        taken = [p.prefix for p in self._pools.values() if p.address_space == req.address_space]
        if req.pool:
            try:
                prefix = ipaddress.ip_network(req.pool, strict=False)
            except ValueError:
                raise IpamError("invalid address pool", http_status=400) from None
            if any(t.version == prefix.version and t.overlaps(prefix) for t in taken):
                raise IpamError(f"invalid pool request: {POOL_OVERLAP}", http_status=403)
        else:
            if req.v6:
                raise IpamError(NO_MORE_SUBNETS, http_status=400)
            for candidate in _split(self._predefined[req.address_space]):
                if not any(t.version == 4 and t.overlaps(candidate) for t in taken) and not any(
                    r.version == 4 and r.overlaps(candidate) for r in req.exclude
                ):
                    prefix = candidate
                    break
            else:
                raise IpamError(NO_MORE_SUBNETS, http_status=400)
        sub: IPNetwork | None = None
        if req.sub_pool:
            try:
                sub = ipaddress.ip_network(req.sub_pool, strict=False)
            except ValueError:
                raise IpamError("invalid address subpool", http_status=400) from None
            if sub.version != prefix.version or not sub.subnet_of(prefix):  # type: ignore[arg-type]
                raise IpamError("invalid pool request: invalid address subpool", http_status=500)
        pool = _Pool(prefix, req.address_space, sub)
        host_bits = prefix.max_prefixlen - prefix.prefixlen
        if prefix.version == 6 or host_bits > 1:
            pool.reserved.add(prefix.network_address)
        if prefix.version == 4 and host_bits > 1:
            pool.reserved.add(prefix.broadcast_address)
        pool_id = f"{req.address_space}/{prefix}" + (f"/{sub}" if sub is not None else "")
        self._pools[pool_id] = pool
        return AllocatedPool(pool_id, prefix, None)

    async def request_pool(self, req: PoolRequest) -> AllocatedPool:
        return self.request_pool_now(req)

    async def release_pool(self, pool_id: str) -> None:
        if self._pools.pop(pool_id, None) is None:
            raise IpamError(f"cannot find address pool for {pool_id}", http_status=404)

    async def request_address(
        self, pool_id: str, address: str, options: Mapping[str, str] | None
    ) -> tuple[IPInterface, Mapping[str, str] | None]:
        return self.request_address_now(pool_id, address), None

    def request_address_now(self, pool_id: str, address: str) -> IPInterface:
        """:meth:`request_address` without awaiting."""
        pool = self._pools.get(pool_id)
        if pool is None:
            raise IpamError(f"cannot find address pool for poolID:{pool_id}", http_status=404)
        used = pool.allocated | pool.reserved
        if address:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                raise IpamError(f"invalid preferred address: {address}", http_status=400) from None
            if ip not in pool.prefix:
                raise IpamError(IP_OUT_OF_RANGE, http_status=400)
            if ip in used:
                raise IpamError(IP_ALREADY_ALLOCATED, http_status=403)
        else:
            for ip in pool.range or pool.prefix:
                if ip not in used:
                    break
            else:
                raise IpamError(NO_AVAILABLE_IPS, http_status=503)
        pool.allocated.add(ip)
        return ipaddress.ip_interface(f"{ip}/{pool.prefix.prefixlen}")

    async def release_address(self, pool_id: str, address: str) -> None:
        pool = self._pools.get(pool_id)
        if pool is None:
            raise IpamError(f"cannot find address pool for poolID:{pool_id}", http_status=404)
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise IpamError("invalid address", http_status=400) from None
        if ip not in pool.prefix:
            raise IpamError(IP_OUT_OF_RANGE, http_status=400)
        pool.allocated.discard(ip)
