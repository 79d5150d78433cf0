"""What a new dockerd does with the networks and endpoints its store kept (``libnetwork.New``).

In libnetwork's order (moby/moby ``libnetwork/controller.go`` ``New``, v28.5.2), after the
remote drivers and IPAMs of enabled managed plugins registered:

1. ``reservePools``: for every stored network whose IPAM driver says
   ``RequiresRequestReplay`` (the built-in ``default`` IPAM does), the pools are asked
   for again with the subnet they had (``RequestPool`` with ``Pool`` set; a remote IPAM
   is first asked ``GetDefaultAddressSpaces``), the gateway with its old address
   (``RequestAddress`` with ``RequestAddressType: com.docker.network.gateway``), the
   aux addresses, then every stored endpoint's address.  Looking the IPAM up loads it:
   a v1 IPAM plugin of a stored network is activated at start even without replay.
   Failures are only logged; the answers are not kept (the stored pool IDs are).
   A remote **network driver** is never asked anything: no ``CreateNetwork`` is replayed.
2. ``sandboxRestore``: without live-restore every stored sandbox is stale (its container
   died with the old daemon); each is deleted by force.  Per endpoint, in the sandbox's
   order: if the network's driver is *already registered* (it is not loaded for this),
   ``RevokeExternalConnectivity`` for the gateway endpoint and ``Leave``; the next
   gateway endpoint gets ``ProgramExternalConnectivity``; then ``DeleteEndpoint``
   (registered driver only) and ``ReleaseAddress`` (IPv4, IPv6; the IPAM is loaded).
3. ``cleanupLocalEndpoints``: endpoints in no sandbox, likewise without ``Leave``.
4. ``networkCleanup``: networks whose removal was cut short (``inDelete``) are removed
   by force: IPAM released (gateway, aux, pool), ``DeleteNetwork`` (driver loaded),
   errors only logged.
5. ``configureNetworking``: ``none`` and ``host`` are kept (created if missing),
   ``bridge`` is created anew.

After a clean shutdown the store holds no endpoint (every container was stopped), so
only 1, 4 and 5 can make plugin calls.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import attrs
import trio

from emulator.engine.ipam import DefaultIpam, Ipam
from emulator.engine.network_ipam import (
    allocate_version,
    assign,
    logged,
    release_addresses,
    release_ipam,
    release_version,
)
from emulator.engine.network_model import (
    Endpoint,
    IpamConfig,
    Network,
    Sandbox,
    family,
    gateway_endpoint,
    sandbox_order,
)
from emulator.engine.network_store import endpoint_from_record, network_from_record
from emulator.engine.rollback import undo
from emulator.errors import EngineError
from emulator.protocol import network as api

if TYPE_CHECKING:
    from emulator.engine.networks import NetworkController

log = logging.getLogger("emulator.networks")

__all__ = ["restore_networks"]

#: Drivers whose networks have no IPAM (``hasSpecialDriver``).
SPECIAL_DRIVERS = ("host", "null")


async def restore_networks(controller: NetworkController) -> None:
    """Replace ``controller``'s networks with its store's, in libnetwork's order (above)."""
    store = controller.store
    controller.networks = {}
    controller.sandboxes = {}
    controller.default_ipam = DefaultIpam()
    controller.ipams[controller.default_ipam.name] = controller.default_ipam
    if store is None:
        controller.predefine()
        return
    live: list[Network] = []
    removing: list[Network] = []
    for data in store.networks():
        network, in_delete = network_from_record(data)
        (removing if in_delete else live).append(network)
    by_id = {n.id: n for n in [*live, *removing]}
    endpoints: list[Endpoint] = []
    for data in store.endpoints():
        owner = by_id.get(data["network"])
        if owner is None:
            log.warning(
                "Failed to restore endpoint %s: network %s not found", data["id"], data["network"]
            )
            store.delete_endpoint(data["id"])
            continue
        endpoint = endpoint_from_record(data, owner)
        owner.endpoints[endpoint.id] = endpoint
        endpoints.append(endpoint)
    controller.predefine({n.name: n for n in live if n.predefined})
    for network in live:
        if not network.predefined:
            controller.networks[network.id] = network
    for network in [*live, *removing]:
        await _reserve_pools(controller, network)
        await trio.lowlevel.checkpoint()
    await _delete_stale_sandboxes(controller, endpoints)
    for endpoint in endpoints:
        await _delete_stale_endpoint(controller, endpoint, None)
    for network in removing:
        await _finish_removal(controller, network)


async def _reserve_pools(controller: NetworkController, network: Network) -> None:
    """``reservePools`` for one network (see the module docstring)."""
    try:
        ipam = await controller.resolve_ipam(network.ipam_driver)
    except EngineError as exc:
        log.warning(
            "Failed to retrieve ipam driver for network %s (%s): %s", network.name, network.id, exc
        )
        return
    if not ipam.capabilities.RequiresRequestReplay or network.driver in SPECIAL_DRIVERS:
        return
    replay = attrs.evolve(
        network, ipam_config=_replay_configs(network), ipv4_info=[], ipv6_info=[], endpoints={}
    )
    try:
        await _allocate(controller, network, replay, ipam)
    except EngineError as exc:
        log.warning(
            "Failed to allocate ipam pool(s) for network %s (%s): %s", network.name, network.id, exc
        )
    for endpoint in network.endpoints.values():
        try:
            for version, address, infos in (
                (4, endpoint.iface.address, replay.ipv4_info),
                (6, endpoint.iface.address_v6, replay.ipv6_info),
            ):
                if address is not None:
                    await assign(infos, ipam, str(address.ip), endpoint.ipam_options, version)
        except EngineError as exc:
            log.warning(
                "Failed to reserve current address for endpoint %s (%s) on network %s (%s): %s",
                endpoint.name,
                endpoint.id,
                network.name,
                network.id,
                exc,
            )


def _replay_configs(network: Network) -> list[IpamConfig]:
    """The pseudo configs ``reservePools`` builds: the old subnet and gateway as preferred."""
    configs: list[IpamConfig] = []
    for version, infos, enabled in (
        (4, network.ipv4_info, network.enable_ipv4),
        (6, network.ipv6_info, network.enable_ipv6),
    ):
        wanted = (0, 4) if version == 4 else (6,)
        given = [c for c in network.ipam_config if family(c) in wanted]
        auto = (not given or (len(given) == 1 and given[0].subnet == "")) and bool(infos)
        if enabled and auto:
            given = [IpamConfig(subnet=str(infos[0].pool))]
        if enabled:
            for index, config in enumerate(given):
                if config.gateway == "" and index < len(infos) and infos[index].gateway:
                    gateway = infos[index].gateway
                    assert gateway is not None
                    given[index] = attrs.evolve(config, gateway=str(gateway.ip))
        configs.extend(given)
    return configs


async def _allocate(
    controller: NetworkController, network: Network, replay: Network, ipam: Ipam
) -> None:
    """``ipamAllocate`` on the pseudo configs, in the stored address space."""
    infos = network.ipv4_info or network.ipv6_info
    space = infos[0].address_space if infos else ""
    if network.enable_ipv4:
        await allocate_version(replay, ipam, space, 4, network.skip_gw_v4, controller.reserved)
    if network.enable_ipv6:
        try:
            await allocate_version(replay, ipam, space, 6, network.skip_gw_v6, controller.reserved)
        except BaseException:
            await undo(release_version(replay, ipam, 4))
            raise


async def _delete_stale_sandboxes(controller: NetworkController, endpoints: list[Endpoint]) -> None:
    """``sandboxRestore`` without active sandboxes: each stored sandbox deleted by force."""
    sandboxes: dict[str, list[Endpoint]] = {}
    for endpoint in endpoints:
        if endpoint.sandbox_id:
            sandboxes.setdefault(endpoint.sandbox_id, []).append(endpoint)
    for members in sandboxes.values():
        remaining = list(members)
        for endpoint in sandbox_order(members):
            await _delete_stale_endpoint(controller, endpoint, remaining)
            endpoints.remove(endpoint)


async def _delete_stale_endpoint(
    controller: NetworkController, endpoint: Endpoint, sandbox: list[Endpoint] | None
) -> None:
    """``Endpoint.Delete(force=true)``; ``sandbox``: the endpoints its sandbox still has."""
    network = endpoint.network
    driver = controller.drivers.get(network.driver)  # n.driver(false): never loaded here
    if sandbox is not None:
        moved = gateway_endpoint(sandbox) is endpoint
        if driver is not None:
            if moved:
                await logged(
                    driver.revoke_external_connectivity(network.id, endpoint.id),
                    "driver failed revoking external connectivity on endpoint",
                )
            await logged(
                driver.leave(network.id, endpoint.id), "driver error disconnecting container"
            )
        sandbox.remove(endpoint)
        after = gateway_endpoint(sandbox) if moved else None
        if after is not None:
            await _program(controller, after)
    network.endpoints.pop(endpoint.id, None)
    if controller.store is not None:
        controller.store.delete_endpoint(endpoint.id)
    if driver is not None:
        await logged(
            driver.delete_endpoint(network.id, endpoint.id),
            f"driver error deleting endpoint {endpoint.name}",
        )
    if network.driver in SPECIAL_DRIVERS:
        return
    try:
        ipam = await controller.resolve_ipam(network.ipam_driver)
    except EngineError as exc:
        log.warning(
            "Failed to retrieve ipam driver to release interface address on delete of "
            "endpoint %s (%s): %s",
            endpoint.name,
            endpoint.id,
            exc,
        )
        return
    await release_addresses(endpoint, ipam)


async def _program(controller: NetworkController, endpoint: Endpoint) -> None:
    """``programExternalConnectivity`` for the sandbox's next gateway endpoint (loads)."""
    options: dict[str, Any] = Sandbox.labels()
    options[api.NO_PROXY_6TO4] = False
    try:
        driver = await controller.resolve_driver(endpoint.network.driver)
        await driver.program_external_connectivity(endpoint.network.id, endpoint.id, options)
    except EngineError as exc:
        log.error("Failed to set gateway: %s", exc)


async def _finish_removal(controller: NetworkController, network: Network) -> None:
    """``networkCleanup``: a network whose removal was cut short, removed by force."""
    log.info("Removing stale network %s (%s)", network.name, network.id)
    if network.driver not in SPECIAL_DRIVERS:
        try:
            ipam = await controller.resolve_ipam(network.ipam_driver)
        except EngineError as exc:
            log.warning("Failed to retrieve ipam driver for network %s: %s", network.name, exc)
        else:
            await release_ipam(network, ipam)
    try:
        driver = await controller.resolve_driver(network.driver)
        await driver.delete_network(network.id)
    except EngineError as exc:
        log.debug(
            "driver failed to delete stale network %s (%s): %s", network.name, network.id, exc
        )
    if controller.store is not None:
        controller.store.delete_network(network.id)
