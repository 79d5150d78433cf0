"""Built-in mock ``NetworkDriver`` and ``IpamDriver`` plugins: small but real, and strict.

Both answer the way plugins built on docker/go-plugins-helpers do: success is
HTTP 200 with ``Content-Type: application/vnd.docker.plugins.v1.1+json`` and
the response struct as Go encodes it; a driver error is HTTP 500 with
``{"Err": "<text>"}`` -- for IPAM too, since the SDK's ``ipam.ErrorResponse``
has an ``Err`` field (dockerd then reports ``IpamDriver.Method: <text>``).
:class:`MockIpamPlugin` can instead answer errors as libnetwork's own remote
IPAM API describes them, HTTP 200 ``{"Error": "<text>"}`` (``error_style=
"error-field"``; dockerd then reports ``remote: <text>``).

**Strict.**  Every request body must have exactly the keys dockerd v28 sends,
spelled as it spells them (nested ``Interface`` and ``IPv4Data`` entries
included), and calls must come in an order a correct daemon uses (no
``DeleteEndpoint`` of a joined endpoint, no ``ReleasePool`` while addresses are
out, no double release).  A violation is recorded in ``violations`` and answered
HTTP 400 with a text body, so tests can assert ``violations == []``.

**Real accounting.**  The IPAM hands out pools (``10.200.N.0/24`` by default)
and addresses (the lowest free one; network and broadcast addresses never), and
refuses addresses already out.  Every handler is synchronous, so each state
change is atomic however many requests the server runs at once.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs
import trio

from emulator.mocks.bugs import HANDLER_BUGS, validate_bugs, with_bugs
from emulator.mocks.host import PLUGIN_CONTENT_TYPE, MockPlugin, RecordedRequest, Reply
from emulator.protocol import ipam as ipam_api
from emulator.protocol import network as net_api

__all__ = ["IPAM_BUGS", "NETWORK_BUGS", "MockIpamPlugin", "MockNetworkPlugin"]

#: Deliberate bugs (``bugs=``) for the checks' tests, besides :data:`HANDLER_BUGS`.
NETWORK_BUGS: Final = {
    **HANDLER_BUGS,
    "leak_interfaces": "DeleteEndpoint leaves the endpoint's veth pair behind",
    "teardown_errors": "Leave and DeleteEndpoint answer errors",
}
IPAM_BUGS: Final = {
    **HANDLER_BUGS,
    "duplicate_addresses": "RequestAddress hands out addresses already out",
    "keep_released": "ReleaseAddress and ReleasePool answer success and free nothing",
}

_EMPTY: Final = frozenset[str]()
_EP: Final = frozenset({"NetworkID", "EndpointID"})

#: The exact key set dockerd sends per method (``None``: an empty body).
NETWORK_KEYS: Final[Mapping[str, frozenset[str] | None]] = {
    net_api.GET_CAPABILITIES: None,
    net_api.GW_ALLOC_CHECK: frozenset({"Options"}),
    net_api.CREATE_NETWORK: frozenset({"NetworkID", "Options", "IPv4Data", "IPv6Data"}),
    net_api.DELETE_NETWORK: frozenset({"NetworkID"}),
    net_api.CREATE_ENDPOINT: _EP | {"Interface", "Options"},
    net_api.ENDPOINT_OPER_INFO: _EP,
    net_api.DELETE_ENDPOINT: _EP,
    net_api.JOIN: _EP | {"SandboxKey", "Options"},
    net_api.LEAVE: _EP,
    net_api.PROGRAM_EXTERNAL_CONNECTIVITY: _EP | {"Options"},
    net_api.REVOKE_EXTERNAL_CONNECTIVITY: _EP,
    net_api.ALLOCATE_NETWORK: frozenset({"NetworkID", "Options", "IPv4Data", "IPv6Data"}),
    net_api.FREE_NETWORK: frozenset({"NetworkID"}),
    net_api.DISCOVER_NEW: frozenset({"DiscoveryType", "DiscoveryData"}),
    net_api.DISCOVER_DELETE: frozenset({"DiscoveryType", "DiscoveryData"}),
}
IPAM_KEYS: Final[Mapping[str, frozenset[str] | None]] = {
    ipam_api.GET_CAPABILITIES: None,
    ipam_api.GET_DEFAULT_ADDRESS_SPACES: None,
    ipam_api.REQUEST_POOL: frozenset({"AddressSpace", "Pool", "SubPool", "Options", "V6"}),
    ipam_api.RELEASE_POOL: frozenset({"PoolID"}),
    ipam_api.REQUEST_ADDRESS: frozenset({"PoolID", "Address", "Options"}),
    ipam_api.RELEASE_ADDRESS: frozenset({"PoolID", "Address"}),
}
_IPAM_DATA_KEYS: Final = frozenset({"AddressSpace", "Pool", "Gateway", "AuxAddresses"})
_INTERFACE_KEYS: Final = frozenset({"Address", "AddressIPv6", "MacAddress"})


class _Refused(Exception):
    """A driver error (answered per the error style)."""


class _Violation(Exception):
    """The daemon sent something a correct dockerd never sends."""


def _ok(body: object) -> Reply:
    return Reply(
        status=200,
        body=json.dumps(body, separators=(",", ":")) + "\n",
        content_type=PLUGIN_CONTENT_TYPE,
    )


class _StrictPlugin:
    """Shared machinery: key checking, violations, error replies."""

    keys: Mapping[str, frozenset[str] | None]
    error_style = "sdk"

    def __init__(
        self, name: str, implements: str, *, strict: bool = True, bugs: frozenset[str] = frozenset()
    ) -> None:
        self.name = name
        self.strict = strict
        self.bugs = bugs
        self.violations: list[str] = []
        self.plugin = MockPlugin((implements,), name=name)
        self.plugin.on(
            "Plugin.Activate",
            Reply(body=f'{{"Implements": ["{implements}"]}}\n', content_type=PLUGIN_CONTENT_TYPE),
        )

    async def serve(
        self, bind: str, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve on ``bind`` until cancelled; see :meth:`MockPlugin.serve`."""
        await self.plugin.serve(bind, task_status=task_status)

    def _route(self, method: str, call: Callable[[Any], object]) -> None:
        def handler(recorded: RecordedRequest) -> Reply:
            try:
                body = self._check(method, recorded)
                return _ok(call(body))
            except _Violation as exc:
                self.violations.append(f"{method}: {exc}")
                return Reply(status=400, body=f"{exc}\n", content_type="text/plain; charset=utf-8")
            except _Refused as exc:
                return self._error(str(exc))

        if self.bugs:
            key = "Error" if self.plugin.implements == (ipam_api.IFACE,) else "Err"
            self.plugin.on(method, with_bugs(method, handler, self.bugs, error_key=key))
            return
        self.plugin.on(method, handler)

    def _error(self, text: str) -> Reply:
        return Reply(
            status=500,
            body=json.dumps({"Err": text}, separators=(",", ":")) + "\n",
            content_type=PLUGIN_CONTENT_TYPE,
        )

    def _check(self, method: str, recorded: RecordedRequest) -> Any:
        expected = self.keys[method]
        if expected is None:
            if recorded.body != b"":
                raise _Violation(f"expected an empty body, got {recorded.body!r}")
            return None
        if not recorded.body.endswith(b"\n"):
            raise _Violation("body does not end with a newline (Go's json.Encoder)")
        try:
            body = json.loads(recorded.body)
        except ValueError as exc:
            raise _Violation(f"body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise _Violation(f"body is not an object: {body!r}")
        _exact(body, expected if self.strict else frozenset(body) | expected, "request")
        return body


def _exact(value: Mapping[str, Any], expected: frozenset[str], what: str) -> None:
    keys = set(value)
    missing, extra = sorted(expected - keys), sorted(keys - expected)
    if missing or extra:
        raise _Violation(f"{what} keys: missing {missing}, unexpected {extra}")


def _cidr(text: str, what: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    if "/" not in text:
        raise _Violation(f"{what} {text!r} is not CIDR")
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        raise _Violation(f"{what} {text!r} is not CIDR") from None


@attrs.define
class NetworkState:
    """What the mock network driver holds for one network."""

    options: dict[str, Any]
    ipv4_data: list[dict[str, Any]]
    ipv6_data: list[dict[str, Any]]


@attrs.define
class EndpointState:
    """What the mock network driver holds for one endpoint."""

    network_id: str
    interface: dict[str, str]
    options: dict[str, Any]
    sandbox_key: str = ""
    joined: bool = False
    programmed: bool = False


class MockNetworkPlugin(_StrictPlugin):
    """A strict ``NetworkDriver`` that keeps networks and endpoints.

    Args:
        name: Plugin name (label).
        scope / connectivity_scope / gw_alloc_checker: ``GetCapabilities``' answer.
        skip_gateway: ``(SkipIPv4, SkipIPv6)`` answered to ``GwAllocCheck``.
        gateway: ``Join`` answers the network's IPv4 gateway (plain IP) when True;
            False leaves it out (dockerd then takes the ``docker_gwbridge`` path).
        mac: A MAC the driver supplies in ``CreateEndpoint`` when the daemon sent none.
        interfaces: Make a veth pair per endpoint (``veth<id>`` named in ``Join``, its
            peer ``p<id>``), as a real driver does, in the plugin's network namespace.
        bridge: With ``interfaces``, also a bridge per network (``br<id>``, up) with
            every endpoint's peer in it, so containers on one network reach each other.
        netns: The namespace to make them in (a path, e.g. ``/run/netns/NAME``; None:
            this process's own); the daemon must look for them there
            (``open_engine(network_namespace=...)``).

    Attributes:
        networks / endpoints: Live state by ID.
        plugin: The underlying :class:`MockPlugin` (``requests``, ``on``).
        violations: Protocol violations seen (empty for a correct daemon).
    """

    keys = NETWORK_KEYS

    def __init__(
        self,
        name: str = "mocknet",
        *,
        scope: str = "local",
        connectivity_scope: str = "",
        gw_alloc_checker: bool = False,
        skip_gateway: tuple[bool, bool] = (False, False),
        gateway: bool = True,
        mac: str = "",
        strict: bool = True,
        interfaces: bool = False,
        bridge: bool = False,
        netns: str | None = None,
        bugs: Iterable[str] = (),
    ) -> None:
        super().__init__(name, net_api.IFACE, strict=strict, bugs=validate_bugs(bugs, NETWORK_BUGS))
        self.interfaces = interfaces
        self.bridge = bridge and interfaces
        self.netns = netns
        self.scope = scope
        self.connectivity_scope = connectivity_scope
        self.gw_alloc_checker = gw_alloc_checker
        self.skip_gateway = skip_gateway
        self.gateway = gateway
        self.mac = mac
        self.networks: dict[str, NetworkState] = {}
        self.endpoints: dict[str, EndpointState] = {}
        routes: dict[str, Callable[[Any], object]] = {
            net_api.GET_CAPABILITIES: self._capabilities,
            net_api.GW_ALLOC_CHECK: self._gw_alloc_check,
            net_api.CREATE_NETWORK: self._create_network,
            net_api.DELETE_NETWORK: self._delete_network,
            net_api.CREATE_ENDPOINT: self._create_endpoint,
            net_api.ENDPOINT_OPER_INFO: self._oper_info,
            net_api.DELETE_ENDPOINT: self._delete_endpoint,
            net_api.JOIN: self._join,
            net_api.LEAVE: self._leave,
            net_api.PROGRAM_EXTERNAL_CONNECTIVITY: self._program,
            net_api.REVOKE_EXTERNAL_CONNECTIVITY: self._revoke,
        }
        for method, call in routes.items():
            self._route(method, call)

    def __repr__(self) -> str:
        return f"<MockNetworkPlugin {self.name!r}>"

    def _ip(self, *args: str) -> None:
        _ip(*args, netns=self.netns)

    def _capabilities(self, _: None) -> object:
        return {
            "Scope": self.scope,
            "ConnectivityScope": self.connectivity_scope,
            "GwAllocChecker": self.gw_alloc_checker,
        }

    def _gw_alloc_check(self, body: dict[str, Any]) -> object:
        if not self.gw_alloc_checker:
            raise _Violation("GwAllocCheck sent although GwAllocChecker is false")
        return {"SkipIPv4": self.skip_gateway[0], "SkipIPv6": self.skip_gateway[1]}

    def _create_network(self, body: dict[str, Any]) -> object:
        for key in ("IPv4Data", "IPv6Data"):
            if not isinstance(body[key], list):
                raise _Violation(f"{key} is {body[key]!r}, not a list")
            for data in body[key]:
                if "AddressSpace" not in data or set(data) - _IPAM_DATA_KEYS:
                    raise _Violation(f"bad IPAMData {data!r}")
                _cidr(data.get("Pool", "0.0.0.0/0"), "Pool")
                if "Gateway" in data:
                    _cidr(data["Gateway"], "Gateway")
        nid = body["NetworkID"]
        if nid in self.networks:
            raise _Refused(f"network {nid} exists")
        self.networks[nid] = NetworkState(body["Options"], body["IPv4Data"], body["IPv6Data"])
        if self.bridge:
            self._ip("link", "add", _veth(nid, "br"), "type", "bridge")
            self._ip("link", "set", _veth(nid, "br"), "up")
        return {}

    def _delete_network(self, body: dict[str, Any]) -> object:
        nid = body["NetworkID"]
        if nid not in self.networks:
            raise _Refused(f"network {nid} not found")
        if any(ep.network_id == nid for ep in self.endpoints.values()):
            raise _Violation(f"DeleteNetwork of {nid} with endpoints left")
        del self.networks[nid]
        if self.bridge:
            self._ip("link", "del", _veth(nid, "br"))
        return {}

    def _create_endpoint(self, body: dict[str, Any]) -> object:
        nid, eid, iface = body["NetworkID"], body["EndpointID"], body["Interface"]
        if not isinstance(iface, dict):
            raise _Violation(f"Interface is {iface!r}, not an object")
        _exact(iface, _INTERFACE_KEYS, "Interface")
        for key in ("Address", "AddressIPv6"):
            if iface[key]:
                _cidr(iface[key], key)
        if nid not in self.networks:
            raise _Refused(f"network {nid} not found")
        if eid in self.endpoints:
            raise _Refused(f"endpoint {eid} exists")
        self.endpoints[eid] = EndpointState(nid, dict(iface), body["Options"])
        if self.interfaces:
            self._ip("link", "add", _veth(eid), "type", "veth", "peer", "name", _veth(eid, "p"))
        if self.bridge:
            self._ip("link", "set", _veth(eid, "p"), "master", _veth(nid, "br"), "up")
        if self.mac and not iface["MacAddress"]:
            self.endpoints[eid].interface["MacAddress"] = self.mac
            return {"Interface": {"Address": "", "AddressIPv6": "", "MacAddress": self.mac}}
        return {"Interface": None}

    def _endpoint(self, body: dict[str, Any]) -> EndpointState:
        ep = self.endpoints.get(body["EndpointID"])
        if ep is None or ep.network_id != body["NetworkID"]:
            raise _Refused(f"endpoint {body['EndpointID']} not found")
        return ep

    def _oper_info(self, body: dict[str, Any]) -> object:
        self._endpoint(body)
        return {"Value": {}}

    def _delete_endpoint(self, body: dict[str, Any]) -> object:
        ep = self._endpoint(body)
        if ep.joined:
            raise _Violation("DeleteEndpoint of a joined endpoint (no Leave first)")
        if "teardown_errors" in self.bugs:
            raise _Refused(f"endpoint {body['EndpointID']} is busy")
        del self.endpoints[body["EndpointID"]]
        if self.interfaces and "leak_interfaces" not in self.bugs:
            self._ip("link", "del", _veth(body["EndpointID"]))
        return {}

    def _join(self, body: dict[str, Any]) -> object:
        ep = self._endpoint(body)
        if ep.joined:
            raise _Violation("Join of a joined endpoint")
        ep.joined, ep.sandbox_key = True, body["SandboxKey"]
        gateway = ""
        data = self.networks[ep.network_id].ipv4_data
        if self.gateway and data and "Gateway" in data[0]:
            gateway = str(_cidr(data[0]["Gateway"], "Gateway").ip)
        return {
            "InterfaceName": {
                "SrcName": _veth(body["EndpointID"]),
                "DstName": "",
                "DstPrefix": "eth",
            },
            "Gateway": gateway,
            "GatewayIPv6": "",
            "StaticRoutes": None,
            "DisableGatewayService": False,
        }

    def _leave(self, body: dict[str, Any]) -> object:
        ep = self._endpoint(body)
        if not ep.joined:
            raise _Violation("Leave of an endpoint that is not joined")
        if "teardown_errors" in self.bugs:
            raise _Refused(f"endpoint {body['EndpointID']} is busy")
        if ep.programmed:
            raise _Violation("Leave before RevokeExternalConnectivity")
        ep.joined = False
        return {}

    def _program(self, body: dict[str, Any]) -> object:
        ep = self._endpoint(body)
        if not ep.joined:
            raise _Violation("ProgramExternalConnectivity before Join")
        ep.programmed = True
        return {}

    def _revoke(self, body: dict[str, Any]) -> object:
        ep = self._endpoint(body)
        if not ep.joined:
            raise _Violation("RevokeExternalConnectivity of an endpoint that is not joined")
        # Without a Program first is legitimate: dockerd revokes the gateway endpoint
        # of an internal network, which it never programmed.
        ep.programmed = False
        return {}


@attrs.define
class PoolState:
    """One pool the mock IPAM handed out."""

    prefix: ipaddress.IPv4Network | ipaddress.IPv6Network
    address_space: str
    addresses: set[str] = attrs.Factory(set)
    range: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None


class MockIpamPlugin(_StrictPlugin):
    """A strict ``IpamDriver`` with real pool and address accounting.

    Args:
        name: Plugin name (label).
        requires_mac: ``RequiresMACAddress`` (then every endpoint ``RequestAddress``
            must carry ``com.docker.network.endpoint.macaddress``).
        base: Where default pools come from; split into ``pool_size`` prefixes.
        gateway_in_data: ``RequestPool`` answers the first address as
            ``Data["com.docker.network.gateway"]`` (and counts it as handed out).
        error_style: ``"sdk"`` (HTTP 500 ``{"Err"}``) or ``"error-field"``
            (HTTP 200 ``{"Error"}``).
        requires_replay: ``RequiresRequestReplay``: dockerd asks again, at every
            start, for the pools and addresses of the networks it kept.

    Attributes:
        pools: Live pools by ID.
    """

    keys = IPAM_KEYS
    LOCAL: Final = "MockLocal"
    GLOBAL: Final = "MockGlobal"

    def __init__(
        self,
        name: str = "mockipam",
        *,
        requires_mac: bool = False,
        base: str = "10.200.0.0/16",
        pool_size: int = 24,
        gateway_in_data: bool = False,
        error_style: str = "sdk",
        strict: bool = True,
        bugs: Iterable[str] = (),
        requires_replay: bool = False,
    ) -> None:
        self.error_style = error_style
        super().__init__(name, ipam_api.IFACE, strict=strict, bugs=validate_bugs(bugs, IPAM_BUGS))
        self.requires_mac = requires_mac
        self.requires_replay = requires_replay
        self.candidates: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = list(
            ipaddress.ip_network(base).subnets(new_prefix=pool_size)
        )
        self.gateway_in_data = gateway_in_data
        self.error_style = error_style
        self.pools: dict[str, PoolState] = {}
        self._next_id = 0
        routes: dict[str, Callable[[Any], object]] = {
            ipam_api.GET_CAPABILITIES: self._capabilities,
            ipam_api.GET_DEFAULT_ADDRESS_SPACES: self._spaces,
            ipam_api.REQUEST_POOL: self._request_pool,
            ipam_api.RELEASE_POOL: self._release_pool,
            ipam_api.REQUEST_ADDRESS: self._request_address,
            ipam_api.RELEASE_ADDRESS: self._release_address,
        }
        for method, call in routes.items():
            self._route(method, call)

    def __repr__(self) -> str:
        return f"<MockIpamPlugin {self.name!r}>"

    def _error(self, text: str) -> Reply:
        if self.error_style == "error-field":
            return _ok({"Error": text})
        return super()._error(text)

    def allocated(self) -> dict[str, set[str]]:
        """Addresses out, by pool ID."""
        return {k: set(p.addresses) for k, p in self.pools.items()}

    def _capabilities(self, _: None) -> object:
        return {
            "RequiresMACAddress": self.requires_mac,
            "RequiresRequestReplay": self.requires_replay,
        }

    def _spaces(self, _: None) -> object:
        return {"LocalDefaultAddressSpace": self.LOCAL, "GlobalDefaultAddressSpace": self.GLOBAL}

    def _request_pool(self, body: dict[str, Any]) -> object:
        if body["AddressSpace"] not in (self.LOCAL, self.GLOBAL):
            raise _Refused(f"unknown address space {body['AddressSpace']!r}")
        taken = [p.prefix for p in self.pools.values()]
        prefix: ipaddress.IPv4Network | ipaddress.IPv6Network
        if body["Pool"]:
            prefix = ipaddress.ip_network(body["Pool"], strict=False)
            if any(t.version == prefix.version and t.overlaps(prefix) for t in taken):
                raise _Refused(f"pool {prefix} overlaps")
        elif body["V6"]:
            raise _Refused("no default IPv6 pools")
        else:
            free = [
                c
                for c in self.candidates
                if not any(c.version == t.version and c.overlaps(t) for t in taken)
            ]
            if not free:
                raise _Refused("no pools left")
            prefix = free[0]
        self._next_id += 1
        pool_id = f"{self.name}-pool-{self._next_id}"
        state = PoolState(prefix, body["AddressSpace"])
        if body["SubPool"]:
            state.range = ipaddress.ip_network(body["SubPool"], strict=False)
        self.pools[pool_id] = state
        data: dict[str, str] = {}
        if self.gateway_in_data:
            gateway = self._take(state, "")
            data[ipam_api.GATEWAY_LABEL] = f"{gateway}/{prefix.prefixlen}"
        return {"PoolID": pool_id, "Pool": str(prefix), "Data": data}

    def _pool(self, pool_id: str) -> PoolState:
        pool = self.pools.get(pool_id)
        if pool is None:
            raise _Refused(f"pool {pool_id} not found")
        return pool

    def _release_pool(self, body: dict[str, Any]) -> object:
        pool = self._pool(body["PoolID"])
        if pool.addresses:
            raise _Violation(f"ReleasePool with addresses still out: {sorted(pool.addresses)}")
        if "keep_released" in self.bugs:
            return {}
        del self.pools[body["PoolID"]]
        return {}

    def _take(self, pool: PoolState, wanted: str) -> str:
        reserved = {pool.prefix.network_address}
        if pool.prefix.version == 4:
            reserved.add(pool.prefix.broadcast_address)
        if wanted:
            ip = ipaddress.ip_address(wanted)
            if ip not in pool.prefix:
                raise _Refused(f"{wanted} is not in {pool.prefix}")
            if wanted in pool.addresses:
                raise _Refused(f"{wanted} is already allocated")
            pool.addresses.add(wanted)
            return wanted
        for ip in pool.range or pool.prefix:
            taken = str(ip) in pool.addresses and "duplicate_addresses" not in self.bugs
            if ip not in reserved and not taken:
                pool.addresses.add(str(ip))
                return str(ip)
        raise _Refused(f"pool {pool.prefix} is full")

    def _request_address(self, body: dict[str, Any]) -> object:
        if body["Address"] and "/" in body["Address"]:
            raise _Violation(f"RequestAddress.Address {body['Address']!r} is CIDR, not an IP")
        options = body["Options"] or {}
        is_gateway = options.get(ipam_api.REQUEST_ADDRESS_TYPE) == ipam_api.GATEWAY_LABEL
        if self.requires_mac and not is_gateway and net_api.MAC_ADDRESS not in options:
            raise _Violation("RequiresMACAddress but no MAC in the endpoint's RequestAddress")
        pool = self._pool(body["PoolID"])
        address = self._take(pool, body["Address"])
        return {"Address": f"{address}/{pool.prefix.prefixlen}", "Data": {}}

    def _release_address(self, body: dict[str, Any]) -> object:
        if "/" in body["Address"]:
            raise _Violation(f"ReleaseAddress.Address {body['Address']!r} is CIDR, not an IP")
        pool = self._pool(body["PoolID"])
        if body["Address"] not in pool.addresses:
            raise _Violation(f"ReleaseAddress of {body['Address']}, which is not allocated")
        if "keep_released" not in self.bugs:
            pool.addresses.discard(body["Address"])
        return {}


def _veth(endpoint_id: str, prefix: str = "veth") -> str:
    """The interface name the driver uses for an endpoint (15 bytes at most)."""
    return f"{prefix}{endpoint_id[:7]}"


def _ip(*args: str, netns: str | None = None) -> None:
    """Run iproute2 in the plugin's network namespace (``netns``, else this process's)."""
    prefix = ["nsenter", f"--net={netns}"] if netns else []
    result = subprocess.run([*prefix, "ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise _Refused(f"ip {' '.join(args)}: {result.stderr.strip()}")
