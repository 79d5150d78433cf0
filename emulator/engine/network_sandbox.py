"""A container's sandbox: its endpoints created, joined, left and deleted, in libnetwork's order.

The network controller (:mod:`emulator.engine.networks`) calls these for ``docker
network connect/disconnect`` and for a container's networks at start and exit; each
takes the controller as its first argument and uses only its public members (drivers,
IPAMs, the networks and sandboxes, the store).

* Connect (``connectToNetwork``): IPAM ``RequestAddress`` (IPv4, then IPv6),
  ``CreateEndpoint``, ``Join``, then either the ``docker_gwbridge`` path (no gateway,
  no default route, not internal: no ``ProgramExternalConnectivity``) or
  ``ProgramExternalConnectivity`` for the sandbox's gateway endpoint, then
  ``EndpointOperInfo`` for every endpoint of the sandbox.  Failures roll back what
  was done.
* Teardown: ``RevokeExternalConnectivity`` (gateway endpoint only), ``Leave``,
  ``DeleteEndpoint``, ``ReleaseAddress``; errors of those only logged.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from emulator.engine.endpoint_settings import EndpointConfig
from emulator.engine.network_drivers import EndpointInterface, NetworkError
from emulator.engine.network_ipam import assign, logged, release_addresses
from emulator.engine.network_model import (
    GWBRIDGE,
    GWBRIDGE_OPTIONS,
    Endpoint,
    Network,
    NetworkSpec,
    Sandbox,
    gateway_endpoint,
    needs_default_gw,
    sandbox_order,
)
from emulator.engine.rollback import undo
from emulator.errors import EngineError
from emulator.golang import net as gonet
from emulator.protocol import network as api

if TYPE_CHECKING:
    from emulator.engine.networks import NetworkController

log = logging.getLogger("emulator.networks")

__all__ = ["connect_endpoint", "disconnect_container", "disconnect_endpoint", "release_sandbox"]


async def connect_endpoint(
    controller: NetworkController,
    network_ref: str,
    container_id: str,
    container_name: str,
    config: EndpointConfig | None = None,
) -> Endpoint:
    """``connectToNetwork`` for a running container (the sandbox is made if needed).

    ``config`` holds the requested addresses, MAC, driver options, aliases and
    gateway priority.  Calls, in order: IPAM ``RequestAddress`` (IPv4, IPv6),
    ``CreateEndpoint``, ``Join``, then ``ProgramExternalConnectivity`` if this
    endpoint becomes the gateway (or the ``docker_gwbridge`` path without it), then
    ``EndpointOperInfo`` for every endpoint of the sandbox.  Failures roll back what
    was done and raise.
    """
    config = config or EndpointConfig()
    network = controller.get(network_ref)
    for ep in network.endpoints.values():
        if ep.container_id == container_id:
            raise NetworkError(
                f"endpoint with name {container_name} already exists in network {network.name}",
                http_status=403,
            )
    controller.check_endpoint(network.name, config, network)
    sandbox = controller.sandboxes.get(container_id)
    if sandbox is None:
        sandbox = Sandbox(secrets.token_hex(32), container_id)
        controller.sandboxes[container_id] = sandbox
    endpoint = await _create_endpoint(controller, network, container_id, container_name, config)
    try:
        await _join(controller, sandbox, endpoint)
    except BaseException:
        await undo(_delete_endpoint(controller, endpoint))
        raise
    await _oper_info(controller, sandbox)
    log_event(controller, "connect", network, container_id)
    return endpoint


async def disconnect_endpoint(
    controller: NetworkController, network_ref: str, container_id: str
) -> None:
    """``disconnectFromNetwork`` for a running container.

    ``Revoke`` (gateway only), ``Leave``, ``EndpointOperInfo`` on the remaining
    endpoints, ``DeleteEndpoint``, ``ReleaseAddress``.
    """
    network = controller.get(network_ref)
    sandbox = controller.sandboxes.get(container_id)
    endpoint = next(
        (ep for ep in network.endpoints.values() if ep.container_id == container_id), None
    )
    if sandbox is None or endpoint is None:
        raise NetworkError(
            f"container {container_id} is not connected to network {network.name}",
            http_status=403,
        )
    await _leave(controller, sandbox, endpoint)
    await _oper_info(controller, sandbox)
    await _delete_endpoint(controller, endpoint)
    log_event(controller, "disconnect", network, container_id)


async def disconnect_container(
    controller: NetworkController,
    network_ref: str,
    lookup: Callable[[str], Any],
    container_ref: str,
    *,
    force: bool = False,
) -> Any:
    """``DisconnectContainerFromNetwork``: the container (from ``lookup``) disconnected.

    A running container's endpoint is torn down; a stopped one's settings only are
    changed, even for a network that is gone.  ``force`` also lets a running container
    drop a network that is gone, and for a container that is gone it deletes the endpoint
    of that name (``ForceEndpointDelete``: the emulator keeps none of a removed
    container, so the answer is dockerd's "not found").  moby/moby daemon/network.go,
    daemon/container_operations.go, v28.5.2.
    """
    try:
        container = lookup(container_ref)
    except EngineError:
        if not force:
            raise
        controller.get(network_ref)
        raise NetworkError(f"endpoint {container_ref} not found", http_status=404) from None
    try:
        network: Network | None = controller.get(network_ref)
    except NetworkError:
        if container.running and not force:
            raise
        network = None
    name = network.name if network is not None else network_ref
    if name not in container.networks:
        raise NetworkError(
            f"container {container.id} is not connected to the network {name}",
            http_status=403,
        )
    if container.running and network is not None:
        await disconnect_endpoint(controller, network.id, container.id)
    del container.networks[name]
    return container


async def release_sandbox(controller: NetworkController, container_id: str) -> None:
    """``releaseNetwork`` → ``Sandbox.Delete``: each endpoint left and deleted, in order."""
    sandbox = controller.sandboxes.pop(container_id, None)
    if sandbox is None:
        return
    endpoints = sandbox_order(sandbox.endpoints)
    for endpoint in endpoints:
        await _leave(controller, sandbox, endpoint, in_delete=True)
        await _delete_endpoint(controller, endpoint)
    await _drop_gwbridge(controller, sandbox)
    if controller.os_sandboxes is not None:
        await controller.os_sandboxes.destroy(sandbox)  # osSbox.Destroy
    for endpoint in endpoints:  # tryDetachContainerFromClusterNetwork
        log_event(controller, "disconnect", endpoint.network, container_id)


def log_event(
    controller: NetworkController, action: str, network: Network, container_id: str = ""
) -> None:
    """``LogNetworkEventWithAttributes``: the network's ID, ``name`` and ``type`` (its
    driver), and ``container`` for connect and disconnect (daemon/events.go)."""
    if controller.events is not None:
        attributes = {"id": network.id, "name": network.name, "type": network.driver}
        if container_id:
            attributes["container"] = container_id
        controller.events("network", action, attributes)


async def _create_endpoint(
    controller: NetworkController,
    network: Network,
    container_id: str,
    name: str,
    config: EndpointConfig,
) -> Endpoint:
    """``Network.createEndpoint``: addresses first, then ``CreateEndpoint``."""
    driver = await controller.resolve_driver(network.driver)
    ipam = await controller.resolve_ipam(network.ipam_driver)
    options: dict[str, Any] = {}
    if not network.internal:
        options[api.EXPOSED_PORTS] = []
        options[api.PORT_MAP] = []
    options.update(config.driver_opts or {})
    endpoint = Endpoint(
        secrets.token_hex(32),
        name,
        network,
        container_id,
        EndpointInterface(mac=_mac_text(config.mac_address)),
        options,
        aliases=list(config.aliases or ()),
        gw_priority=config.gw_priority,
    )
    if driver.builtin and network.driver == "bridge" and not endpoint.iface.mac:
        endpoint.iface.mac = _random_mac()  # the bridge driver's GenerateRandomMAC
    ipv4, ipv6 = config.ipv4_address, config.ipv6_address
    ipam_options: dict[str, str] | None = None
    if ipam.capabilities.RequiresMACAddress:
        if not endpoint.iface.mac:
            endpoint.iface.mac = _random_mac()
        ipam_options = {api.MAC_ADDRESS: endpoint.iface.mac}
    endpoint.ipam_options = ipam_options
    try:
        if network.enable_ipv4:
            endpoint.iface.address = await assign(network.ipv4_info, ipam, ipv4, ipam_options, 4)
        if network.enable_ipv6:
            endpoint.iface.address_v6 = await assign(network.ipv6_info, ipam, ipv6, ipam_options, 6)
        try:
            await driver.create_endpoint(network.id, endpoint.id, endpoint.iface, endpoint.options)
        except EngineError as exc:
            raise NetworkError(
                f"failed to create endpoint {name} on network {network.name}: {exc}"
            ) from None
    except BaseException:
        await undo(release_addresses(endpoint, ipam))
        raise
    network.endpoints[endpoint.id] = endpoint
    controller.save_endpoint(endpoint)
    return endpoint


async def _join(controller: NetworkController, sandbox: Sandbox, endpoint: Endpoint) -> None:
    """``sbJoin``: ``Join``, then gwbridge or ``ProgramExternalConnectivity``."""
    network = endpoint.network
    driver = await controller.resolve_driver(network.driver)
    gateway = ""
    if network.ipv4_info and network.ipv4_info[0].gateway is not None:
        gateway = str(network.ipv4_info[0].gateway.ip)
    info = await driver.join(
        network.id, endpoint.id, sandbox.key, sandbox.labels(), network_gateway=gateway
    )
    if endpoint.iface.address_v6 is None:
        info = attrs.evolve(info, gateway_v6="")
    endpoint.join = info
    endpoint.sandbox_id = sandbox.id
    before = gateway_endpoint(sandbox.endpoints)
    sandbox.endpoints.append(endpoint)
    controller.save_endpoint(endpoint)
    try:
        await _populate(controller, sandbox, endpoint)
        if needs_default_gw(sandbox.endpoints) and sandbox.gwbridge is None:
            await _setup_gwbridge(controller, sandbox)
            return
        if gateway_endpoint(sandbox.endpoints) is endpoint:
            if before is not None and before is not endpoint:
                # The old gateway endpoint is revoked first; its error fails the join.
                await _revoke(controller, before, strict=True)
            if not network.internal:
                options = sandbox.labels()
                options[api.NO_PROXY_6TO4] = False
                try:
                    await driver.program_external_connectivity(network.id, endpoint.id, options)
                except EngineError as exc:
                    raise NetworkError(
                        "driver failed programming external connectivity on endpoint "
                        f"{endpoint.name} ({endpoint.id}): {exc}"
                    ) from None
                endpoint.gateway = True
        if sandbox.gwbridge is not None and not needs_default_gw(sandbox.endpoints):
            await _drop_gwbridge(controller, sandbox)  # clearDefaultGW
    except BaseException:
        if controller.os_sandboxes is not None:
            await undo(controller.os_sandboxes.clear(sandbox, endpoint))
        sandbox.endpoints.remove(endpoint)
        leave = driver.leave(network.id, endpoint.id)
        await undo(logged(leave, "driver leave failed while rolling back join"))
        endpoint.join = None
        endpoint.sandbox_id = ""
        controller.save_endpoint(endpoint)
        raise
    controller.save_endpoint(endpoint)  # the gateway flag


async def _setup_gwbridge(controller: NetworkController, sandbox: Sandbox) -> None:
    """``setupDefaultGW``: a ``gateway_<id>`` endpoint on ``docker_gwbridge`` (built-in)."""
    gwnet = next((n for n in controller.networks.values() if n.name == GWBRIDGE), None)
    if gwnet is None:
        try:
            gwnet = await controller.create(
                NetworkSpec(GWBRIDGE, driver="bridge", options=GWBRIDGE_OPTIONS)
            )
        except EngineError as exc:
            raise NetworkError(f"error creating external connectivity network: {exc}") from None
    address = await assign(gwnet.ipv4_info, controller.default_ipam, "", None, 4)
    endpoint = Endpoint(
        secrets.token_hex(32),
        f"gateway_{sandbox.container_id[:12]}",
        gwnet,
        sandbox.container_id,
        EndpointInterface(address=address, mac=_random_mac()),  # the bridge driver's
        {},
        sandbox_id=sandbox.id,
    )
    gwnet.endpoints[endpoint.id] = endpoint
    sandbox.gwbridge = endpoint
    controller.save_endpoint(endpoint)


async def _revoke(
    controller: NetworkController, endpoint: Endpoint, *, strict: bool = False
) -> None:
    """``RevokeExternalConnectivity`` (HTTP 404 is success); errors logged unless ``strict``."""
    endpoint.gateway = False
    controller.save_endpoint(endpoint)
    driver = await controller.resolve_driver(endpoint.network.driver)
    call = driver.revoke_external_connectivity(endpoint.network.id, endpoint.id)
    if not strict:
        await logged(call, "driver failed revoking external connectivity on endpoint")
        return
    try:
        await call
    except EngineError as exc:
        raise NetworkError(
            "driver failed revoking external connectivity on endpoint "
            f"{endpoint.name} ({endpoint.id}): {exc}"
        ) from None


async def _program(controller: NetworkController, sandbox: Sandbox, endpoint: Endpoint) -> None:
    """The new gateway endpoint after a leave: ``ProgramExternalConnectivity``, logged."""
    driver = await controller.resolve_driver(endpoint.network.driver)
    options = sandbox.labels()
    options[api.NO_PROXY_6TO4] = False
    try:
        await driver.program_external_connectivity(endpoint.network.id, endpoint.id, options)
    except EngineError as exc:
        log.error("Failed to set gateway: %s", exc)
        return
    endpoint.gateway = True
    controller.save_endpoint(endpoint)


async def _oper_info(controller: NetworkController, sandbox: Sandbox) -> None:
    """``getPortMapInfo``: ``EndpointOperInfo`` for every endpoint; errors ignored."""
    for endpoint in sandbox_order(sandbox.endpoints):
        try:
            driver = await controller.resolve_driver(endpoint.network.driver)
            await driver.endpoint_oper_info(endpoint.network.id, endpoint.id)
        except EngineError as exc:
            log.debug("EndpointOperInfo for %s: %s", endpoint.id, exc)


async def _leave(
    controller: NetworkController, sandbox: Sandbox, endpoint: Endpoint, *, in_delete: bool = False
) -> None:
    """``sbLeave``: ``Revoke`` (the gateway endpoint only), ``Leave``; errors only logged.

    If the endpoint was the sandbox's gateway, the next gateway endpoint is then
    programmed (``ProgramExternalConnectivity``), even during a sandbox delete, as
    dockerd does; outside a delete a sandbox left without a gateway gets the
    ``docker_gwbridge`` endpoint.
    """
    moved = gateway_endpoint(sandbox.endpoints) is endpoint
    if moved:
        await _revoke(controller, endpoint)
    try:
        driver = await controller.resolve_driver(endpoint.network.driver)
        await driver.leave(endpoint.network.id, endpoint.id)
    except EngineError as exc:
        log.warning("driver error disconnecting container: %s", exc)
    if controller.os_sandboxes is not None:  # clearNetworkResources, before DeleteEndpoint
        await controller.os_sandboxes.clear(sandbox, endpoint)
    if endpoint in sandbox.endpoints:
        sandbox.endpoints.remove(endpoint)
    endpoint.join = None
    endpoint.gateway = False
    endpoint.sandbox_id = ""
    controller.save_endpoint(endpoint)
    if not in_delete and needs_default_gw(sandbox.endpoints) and sandbox.gwbridge is None:
        await _setup_gwbridge(controller, sandbox)
        return
    if moved:
        after = gateway_endpoint(sandbox.endpoints)
        if after is not None:
            await _program(controller, sandbox, after)
    if sandbox.gwbridge is not None and not needs_default_gw(sandbox.endpoints):
        await _drop_gwbridge(controller, sandbox)


async def _drop_gwbridge(controller: NetworkController, sandbox: Sandbox) -> None:
    endpoint = sandbox.gwbridge
    if endpoint is None:
        return
    sandbox.gwbridge = None
    endpoint.network.endpoints.pop(endpoint.id, None)
    controller.forget_endpoint(endpoint)
    await release_addresses(endpoint, controller.default_ipam)


async def _delete_endpoint(controller: NetworkController, endpoint: Endpoint) -> None:
    """``Endpoint.Delete``: ``DeleteEndpoint`` (errors logged), then ``ReleaseAddress``."""
    network = endpoint.network
    network.endpoints.pop(endpoint.id, None)
    controller.forget_endpoint(endpoint)
    try:
        driver = await controller.resolve_driver(network.driver)
        await driver.delete_endpoint(network.id, endpoint.id)
    except EngineError as exc:
        log.warning("driver error deleting endpoint %s : %s", endpoint.name, exc)
    try:
        ipam = await controller.resolve_ipam(network.ipam_driver)
    except EngineError as exc:
        log.warning("Failed to retrieve ipam driver to release address: %s", exc)
        return
    await release_addresses(endpoint, ipam)


def _mac_text(configured: str) -> str:
    """A configured MAC as Go prints ``net.HardwareAddr`` (lower case, colons); "" if none."""
    return ":".join(f"{b:02x}" for b in gonet.parse_mac(configured)) if configured else ""


async def _populate(controller: NetworkController, sandbox: Sandbox, endpoint: Endpoint) -> None:
    """``populateNetworkResources`` when the sandbox has its namespace (a real process)."""
    namespaces = controller.os_sandboxes
    if namespaces is not None and namespaces.has(sandbox):
        await namespaces.populate(sandbox, endpoint)


def _random_mac() -> str:
    """``netutils.GenerateRandomMAC``: locally administered, unicast."""
    raw = bytearray(secrets.token_bytes(6))
    raw[0] = (raw[0] & 0xFE) | 0x02
    return ":".join(f"{b:02x}" for b in raw)
