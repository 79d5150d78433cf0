"""IpamDriver wire models, as ``libnetwork/ipams/remote/api/api.go`` declares them (v28).

Every answer embeds ``Response{Error}`` -- **``Error``, not ``Err``** as in the
NetworkDriver protocol: a non-empty ``Error`` on a 200 answer fails the call
with ``remote: <Error>``.  A non-200 answer is read by the generic plugin client,
which only knows ``Err`` (see :mod:`emulator.transport.client`).

Address formats: ``RequestPool.Pool`` and ``RequestAddress.Address`` in answers
are CIDR; ``RequestAddress.Address`` and ``ReleaseAddress.Address`` in requests
are plain IPs (``""`` for "any").
"""

from __future__ import annotations

from typing import Final

import attrs

IFACE: Final = "IpamDriver"

GET_CAPABILITIES: Final = "IpamDriver.GetCapabilities"
GET_DEFAULT_ADDRESS_SPACES: Final = "IpamDriver.GetDefaultAddressSpaces"
REQUEST_POOL: Final = "IpamDriver.RequestPool"
RELEASE_POOL: Final = "IpamDriver.ReleasePool"
REQUEST_ADDRESS: Final = "IpamDriver.RequestAddress"
RELEASE_ADDRESS: Final = "IpamDriver.ReleaseAddress"

#: ``ipamapi.RequestAddressType`` and ``netlabel.Gateway``: the gateway request's option.
REQUEST_ADDRESS_TYPE: Final = "RequestAddressType"
GATEWAY_LABEL: Final = "com.docker.network.gateway"
#: The built-in IPAM's address spaces.
LOCAL_DEFAULT: Final = "LocalDefault"
GLOBAL_DEFAULT: Final = "GlobalDefault"


@attrs.frozen
class CapabilitiesResponse:
    __go_name__ = "api.GetCapabilityResponse"
    Error: str = ""
    RequiresMACAddress: bool = False
    RequiresRequestReplay: bool = False


@attrs.frozen
class AddressSpacesResponse:
    __go_name__ = "api.GetAddressSpacesResponse"
    Error: str = ""
    LocalDefaultAddressSpace: str = ""
    GlobalDefaultAddressSpace: str = ""


@attrs.frozen
class RequestPoolRequest:
    __go_name__ = "api.RequestPoolRequest"
    AddressSpace: str
    Pool: str
    SubPool: str
    Options: dict[str, str] | None
    V6: bool


@attrs.frozen
class RequestPoolResponse:
    __go_name__ = "api.RequestPoolResponse"
    Error: str = ""
    PoolID: str = ""
    Pool: str = ""
    Data: dict[str, str] | None = None


@attrs.frozen
class ReleasePoolRequest:
    __go_name__ = "api.ReleasePoolRequest"
    PoolID: str


@attrs.frozen
class RequestAddressRequest:
    __go_name__ = "api.RequestAddressRequest"
    PoolID: str
    Address: str
    Options: dict[str, str] | None


@attrs.frozen
class RequestAddressResponse:
    __go_name__ = "api.RequestAddressResponse"
    Error: str = ""
    Address: str = ""
    Data: dict[str, str] | None = None


@attrs.frozen
class ReleaseAddressRequest:
    __go_name__ = "api.ReleaseAddressRequest"
    PoolID: str
    Address: str


@attrs.frozen
class ErrorResponse:
    """Answers that carry nothing but ``Error``."""

    __go_name__ = "api.Response"
    Error: str = ""
