"""Containers' network namespaces: libnetwork's OS sandbox for real container processes.

:class:`OsSandboxes` does what ``libnetwork/sandbox_linux.go`` and ``libnetwork/osl``
do for a remote driver's endpoints (the steps and their sources are the data of
:mod:`emulator.protocol.sandbox`): ``set_key`` when the container's process exists
(its namespace bound at the sandbox key under the engine's root, ``lo`` up), ``populate``
after each ``Join`` (the interface the plugin named moved in, renamed ``DstPrefix`` + the
lowest free index, MAC and addresses set after libnetwork's route-conflict check, up,
its routes, the ``Join``'s static routes, the default route of the gateway endpoint),
``clear`` at ``Leave`` (the interface back to the daemon's namespace under its own name,
before ``DeleteEndpoint``), ``destroy`` when the sandbox goes.  A fake container (the
command table) has no namespace: nothing here runs for it.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from pathlib import Path

import attrs

from emulator.engine.network_drivers import NetworkError
from emulator.engine.network_model import (
    BUILTIN_DRIVERS,
    GWBRIDGE,
    Endpoint,
    Sandbox,
    gateway_endpoint,
)
from emulator.protocol import sandbox as steps
from emulator.runtime.netns import NetnsError, NetnsRunner

__all__ = ["OsSandboxes"]

LOG = logging.getLogger("emulator.networks")

#: ``types.NEXTHOP`` (the ``Join``'s static routes with a next hop; CONNECTED is 1).
NEXTHOP = 0


@attrs.define
class _Interface:
    endpoint_id: str
    src: str
    dst: str
    static_routes: list[tuple[str, str]] = attrs.Factory(list)


@attrs.define
class _OsSandbox:
    key: Path
    interfaces: list[_Interface] = attrs.Factory(list)
    gateway: Endpoint | None = None
    routes: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = attrs.Factory(list)
    """Connected routes programmed so far (for ``checkRouteConflict``)."""


class OsSandboxes:
    """The network namespaces of the sandboxes of one network controller."""

    def __init__(self, root: Path, runner: NetnsRunner) -> None:
        self.root = root
        self.runner = runner
        self._by_id: dict[str, _OsSandbox] = {}
        self._said: set[str] = set()

    def key_path(self, sandbox: Sandbox) -> Path:
        """Where the namespace is bound: the sandbox key under the engine's root."""
        return self.root / sandbox.key.lstrip("/")

    def has(self, sandbox: Sandbox) -> bool:
        return sandbox.id in self._by_id

    async def set_key(self, sandbox: Sandbox, pid: int) -> None:
        """``SetKey``: PID's namespace is the sandbox's; joined endpoints populated."""
        key = self.key_path(sandbox)
        try:
            await self.runner.run(steps.SET_KEY, {"pid": str(pid), "key": str(key)})
        except NetnsError as exc:
            raise NetworkError(str(exc)) from None
        self._by_id[sandbox.id] = _OsSandbox(key)
        for endpoint in list(sandbox.endpoints):
            await self.populate(sandbox, endpoint)

    async def populate(self, sandbox: Sandbox, endpoint: Endpoint) -> None:
        """``populateNetworkResources`` for ``endpoint`` (after its ``Join``)."""
        os_box = self._by_id.get(sandbox.id)
        info = endpoint.join
        if os_box is None or info is None:
            return
        if endpoint.network.driver in BUILTIN_DRIVERS or endpoint.network.name == GWBRIDGE:
            self._say_once(
                "builtin",
                "the built-in networks (bridge, docker_gwbridge) have no interfaces in the "
                "emulator's containers: a container on them has only its loopback, and no "
                "default route unless a plugin network gives one",
            )
            return
        if not info.src_name:
            return
        dst = _free_name(info.dst_prefix or "eth", [i.dst for i in os_box.interfaces])
        iface = endpoint.iface
        values = {
            "key": str(os_box.key),
            "src": info.src_name,
            "dst": dst,
            "mac": iface.mac,
            "address": str(iface.address) if iface.address is not None else "",
            "address6": str(iface.address_v6) if iface.address_v6 is not None else "",
            "ipv6_off": "0" if iface.address_v6 is not None else "1",
        }
        try:
            for address in (iface.address, iface.address_v6):
                if address is not None:
                    _check_conflict(address.network, os_box.routes, str(address))
            await self.runner.run(steps.ADD_INTERFACE, values)
            connected = [r for r in info.static_routes if r.route_type != NEXTHOP]
            for route in connected:
                await self.runner.run(
                    (steps.INTERFACE_ROUTE,),
                    {**values, "route": str(route.destination), "routes": str(connected)},
                )
        except NetnsError as exc:
            raise NetworkError(
                f"failed to add interface {info.src_name} to sandbox: {exc}"
            ) from None
        interface = _Interface(endpoint.id, info.src_name, dst)
        os_box.interfaces.append(interface)
        os_box.routes += [a.network for a in (iface.address, iface.address_v6) if a is not None]
        for route in info.static_routes:
            if route.route_type == NEXTHOP and route.destination is not None:
                hop = {"key": str(os_box.key), "destination": str(route.destination)}
                hop["next_hop"] = route.next_hop
                try:
                    await self.runner.run(steps.STATIC_ROUTES, hop)
                except NetnsError as exc:
                    raise NetworkError(str(exc)) from None
                interface.static_routes.append((hop["destination"], route.next_hop))
        await self._update_gateway(sandbox, os_box)

    async def _update_gateway(self, sandbox: Sandbox, os_box: _OsSandbox) -> None:
        """``updateGateway``: the old default routes removed, the gateway endpoint's set."""
        chosen = gateway_endpoint(sandbox.endpoints)
        if chosen is os_box.gateway:
            return
        key = {"key": str(os_box.key)}
        if os_box.gateway is not None:
            await self.runner.run(_UNSET_GATEWAY, key, strict=False)
        os_box.gateway = None
        populated = {i.endpoint_id for i in os_box.interfaces}
        if chosen is None or chosen.join is None or chosen.id not in populated:
            return
        values = {**key, "gateway": chosen.join.gateway, "gateway6": chosen.join.gateway_v6}
        try:
            await self.runner.run(steps.GATEWAY, values)
        except NetnsError as exc:
            raise NetworkError(str(exc)) from None
        os_box.gateway = chosen

    async def clear(self, sandbox: Sandbox, endpoint: Endpoint) -> None:
        """``releaseOSSboxResources``: the interface back to the daemon, routes removed."""
        os_box = self._by_id.get(sandbox.id)
        if os_box is None:
            return
        for interface in [i for i in os_box.interfaces if i.endpoint_id == endpoint.id]:
            values = {
                "key": str(os_box.key),
                "src": interface.src,
                "dst": interface.dst,
                "daemon_ns": self.runner.daemon_ns_path,
            }
            await self.runner.run(steps.REMOVE_INTERFACE, values, strict=False)
            for destination, next_hop in interface.static_routes:
                route = {"key": str(os_box.key), "destination": destination, "next_hop": next_hop}
                await self.runner.run((steps.REMOVE_STATIC_ROUTE,), route, strict=False)
            os_box.interfaces.remove(interface)
        if os_box.gateway is endpoint:
            os_box.gateway = None
            remaining = [e for e in sandbox.endpoints if e is not endpoint]
            try:
                await self._update_gateway(attrs.evolve(sandbox, endpoints=remaining), os_box)
            except NetworkError as exc:
                LOG.warning("updating gateway after leave: %s", exc)

    async def destroy(self, sandbox: Sandbox) -> None:
        """``Destroy``: the namespace unbound from the key (it goes with its last user)."""
        os_box = self._by_id.pop(sandbox.id, None)
        if os_box is not None:
            await self.runner.run(steps.DESTROY, {"key": str(os_box.key)}, strict=False)

    def _say_once(self, key: str, message: str) -> None:
        if key not in self._said:
            self._said.add(key)
            LOG.warning(message)


_UNSET_GATEWAY = (
    steps.SandboxStep("UnsetGateway", "sandbox", ("route", "del", "default")),
    steps.SandboxStep("UnsetGatewayIPv6", "sandbox", ("-6", "route", "del", "default")),
)


def _free_name(prefix: str, taken: Sequence[str]) -> str:
    """``generateIfaceName``: ``prefix`` + the lowest unused index."""
    used = {
        int(n[len(prefix) :]) for n in taken if n.startswith(prefix) and n[len(prefix) :].isdigit()
    }
    index = 0
    while index in used:
        index += 1
    return f"{prefix}{index}"


def _check_conflict(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
    routes: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
    address: str,
) -> None:
    """``checkRouteConflict``: no programmed route may contain the address or the reverse."""
    for route in routes:
        if route.version == network.version and route.overlaps(network):
            raise NetnsError(
                f"cannot program address {address} in sandbox interface because it conflicts "
                f"with existing route {{Dst: {route}}}"
            )
