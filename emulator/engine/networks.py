"""``engine.networks``: libnetwork's network controller, driving remote network and IPAM plugins.

:class:`NetworkController` does what dockerd v28 does for ``docker network
create/ls/inspect/rm/connect/disconnect/prune`` and for a container's networks
at start and exit, in dockerd's order and with dockerd's texts (see
``docs/networks.md`` and :mod:`emulator.protocol.network_sequences`):

* Registration: a plugin implementing ``NetworkDriver`` is asked
  ``GetCapabilities`` right after its activation (``plugins.Handle``) and
  registered under the name it was looked up by, unless its scopes are not
  exactly ``local``/``global`` (then only logged).  An ``IpamDriver`` is asked
  ``GetCapabilities`` too; a failure registers it without capabilities.
* Create: driver resolved (activating the plugin if needed), ``GwAllocCheck``
  when advertised, IPAM ``GetDefaultAddressSpaces``, then per address family
  (``GetDefaultAddressSpaces`` again for a remote IPAM) ``RequestPool``, the
  gateway ``RequestAddress`` (``RequestAddressType: com.docker.network.gateway``)
  unless the pool's ``Data`` gave one or the driver said skip, one
  ``RequestAddress`` per aux address, then ``CreateNetwork``.  A failure
  releases what IPAM gave.
* Remove: refused with active endpoints; IPAM released (gateway, aux, pool)
  **before** ``DeleteNetwork``, whose errors are only logged.
* Endpoints: ``RequestAddress`` (IPv4, then IPv6), ``CreateEndpoint``,
  ``Join``, then either the ``docker_gwbridge`` path (no gateway, no default
  route, not internal: no ``ProgramExternalConnectivity``) or
  ``ProgramExternalConnectivity`` for the sandbox's gateway endpoint, then
  ``EndpointOperInfo`` for every endpoint of the sandbox.  Teardown:
  ``RevokeExternalConnectivity`` (gateway endpoint only), ``Leave``,
  ``DeleteEndpoint``, ``ReleaseAddress``; errors of those only logged.

Swarm-only calls (``AllocateNetwork``, ``FreeNetwork``, ``DiscoverNew``,
``DiscoverDelete``) are never sent: the emulated daemon is never a swarm node,
exactly as a single-node dockerd.

Networks and endpoints are stored where libnetwork stores them
(:mod:`emulator.engine.network_store`, in the state database) and a new daemon
restores them as libnetwork does (:mod:`emulator.engine.network_restore`).
"""

from __future__ import annotations

import builtins
import datetime as dt
import ipaddress
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from emulator.engine import network_sandbox
from emulator.engine.endpoint_settings import (
    ERR_CONFLICT_SHARED_NETWORK,
    EndpointConfig,
    connect_conflict,
    endpoint_settings_error,
    static_subnets,
)
from emulator.engine.events import EventSink
from emulator.engine.ipam import (
    DEFAULT_IPAM,
    DefaultIpam,
    Ipam,
    PoolRequest,
    RemoteIpam,
)
from emulator.engine.network_drivers import (
    GLOBAL,
    LOCAL,
    BuiltinDriver,
    Driver,
    DriverCapability,
    NetworkError,
    RemoteDriver,
)
from emulator.engine.network_ipam import (
    allocate_version,
    release_ipam,
    release_version,
)
from emulator.engine.network_model import (
    BUILTIN_DRIVERS,
    PREDEFINED,
    SETUP_PREFIX,
    Endpoint,
    IpamConfig,
    IpamInfo,
    Network,
    NetworkSpec,
    Sandbox,
    sandbox_order,
)
from emulator.engine.network_restore import restore_networks
from emulator.engine.network_store import NetworkRecords, endpoint_record, network_record
from emulator.engine.plugins import PluginRegistry
from emulator.engine.rollback import undo
from emulator.engine.sandbox_namespaces import OsSandboxes
from emulator.errors import EngineError
from emulator.protocol import ipam as ipam_api
from emulator.protocol import network as api
from emulator.transport.client import PluginClient

log = logging.getLogger("emulator.networks")

__all__ = [
    "PREDEFINED",
    "Endpoint",
    "IpamConfig",
    "Network",
    "NetworkController",
    "NetworkError",
    "NetworkSpec",
    "Sandbox",
]


class ContainerLike(Protocol):
    """What the controller needs from a container."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def networks(self) -> dict[str, EndpointConfig]: ...

    @property
    def network_mode(self) -> str: ...

    @property
    def running(self) -> bool: ...


class ContainerDirectory(Protocol):
    """The daemon's containers as the controller uses them (``docker network connect``)."""

    def get(self, ref: str) -> Any: ...

    def save(self, container: Any) -> None: ...


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class NetworkController:
    """Networks, drivers and IPAMs of one emulated dockerd.

    The Engine API calls :meth:`create`, :meth:`list`, :meth:`get`,
    :meth:`remove`, :meth:`prune`, :meth:`connect_endpoint` and
    :meth:`disconnect_endpoint`; the container service calls :meth:`attach`
    at start and :meth:`detach` at exit.  Errors are :class:`NetworkError`
    (``http_status`` is the status dockerd answers) or the plugin lookup and
    call errors of :mod:`emulator.errors`.
    """

    def __init__(
        self,
        plugins: PluginRegistry,
        *,
        store: NetworkRecords | None = None,
        containers: ContainerDirectory | None = None,
        reserved_networks: Sequence[str] = (),
    ) -> None:
        self.plugins = plugins
        self.drivers: dict[str, Driver] = {n: BuiltinDriver(n) for n in BUILTIN_DRIVERS}
        self.default_ipam = DefaultIpam()
        self.ipams: dict[str, Ipam] = {DEFAULT_IPAM: self.default_ipam}
        self.reserved = tuple(ipaddress.ip_network(r) for r in reserved_networks)
        """Host networks a remote IPAM's pool must not overlap (``InferReservedNetworks``)."""
        self.networks: dict[str, Network] = {}
        self.sandboxes: dict[str, Sandbox] = {}
        self.containers = containers
        """Resolves container references for :meth:`connect` (the daemon's containers)."""
        self.store = store
        """Where networks and endpoints are persisted (None: nowhere)."""
        self._creating: set[str] = set()
        self.os_sandboxes: OsSandboxes | None = None
        """Set by the engine: the sandboxes' network namespaces (real processes only)."""
        self.events: EventSink | None = None
        """Set by the engine: where network events go (``docker events``)."""
        self.predefine()
        # dockerd's plugins.Handle: remote drivers and IPAMs register at activation.
        plugins.on_activate(api.IFACE, self.register_driver)
        plugins.on_activate(ipam_api.IFACE, self.register_ipam)

    # -- registration -----------------------------------------------------------------

    async def register_driver(self, name: str, client: PluginClient) -> None:
        """``remote.Register``'s handler: ``GetCapabilities``; failures are only logged.

        Also the handler a managed (v2) plugin manager should run after enabling a
        plugin of type ``docker.networkdriver/1.0`` (``Store.CallHandler``), with the
        plugin's full ``name:tag``.
        """
        driver = RemoteDriver(name, client, DriverCapability(LOCAL, LOCAL))
        try:
            capability = await driver.get_capabilities()
        except EngineError as exc:
            log.error("error getting capability for %s due to %s", name, exc)
            return
        existing = self.drivers.get(name)
        if existing is not None and existing.builtin:
            log.error("error registering driver for %s due to driver already registered", name)
            return
        self.drivers[name] = RemoteDriver(name, client, capability)

    async def register_ipam(self, name: str, client: PluginClient) -> None:
        """``ipams/remote`` handler (``docker.ipamdriver/1.0``): capabilities are optional."""
        allocator = RemoteIpam(name, client)
        try:
            allocator.capabilities = await allocator.get_capabilities()
        except EngineError as exc:
            log.info("remote ipam driver %s does not support capabilities", name)
            log.debug("%s", exc)
        if name == DEFAULT_IPAM:
            log.error("error registering remote ipam driver %s due to already registered", name)
            return
        self.ipams[name] = allocator

    async def resolve_driver(self, name: str) -> Driver:
        """``resolveDriver(name, true)``: registry, else load the plugin, else fail."""
        driver = self.drivers.get(name)
        if driver is None:
            await self.plugins.get(name, api.IFACE)
            driver = self.drivers.get(name)
            if driver is None:
                raise NetworkError(f"could not resolve driver {name} in registry")
        return driver

    async def resolve_ipam(self, name: str) -> Ipam:
        """``getIPAMDriver``: registry, else load the plugin, else ``invalid ipam driver``."""
        ipam = self.ipams.get(name)
        if ipam is None:
            await self.plugins.get(name, ipam_api.IFACE)
            ipam = self.ipams.get(name)
            if ipam is None:
                raise NetworkError(f'invalid ipam driver: "{name}"', http_status=400)
        return ipam

    # -- predefined networks ------------------------------------------------------------

    def predefine(self, stored: Mapping[str, Network] | None = None) -> None:
        """dockerd's predefined networks: ``bridge`` (new at each start), ``host``, ``none``.

        ``host`` and ``none`` are kept in the store and keep their IDs (``stored``, by
        name); ``bridge`` is deleted and created again at every start
        (``configureNetworking``), so it gets a new ID.
        """
        for name, driver in (("bridge", "bridge"), ("host", "host"), ("none", "null")):
            if stored is not None and name in stored:
                self.networks[stored[name].id] = stored[name]
                continue
            network = Network(
                id=secrets.token_hex(32),
                name=name,
                driver=driver,
                scope=LOCAL,
                ipam_driver=DEFAULT_IPAM,
                ipam_options={},
                ipam_config=[],
                enable_ipv4=driver == "bridge",
                enable_ipv6=False,
                internal=False,
                attachable=False,
                options={},
                labels={},
                created=_now(),
                predefined=True,
            )
            if driver == "bridge":
                pool = self.default_ipam.request_pool_now(PoolRequest(ipam_api.LOCAL_DEFAULT))
                gateway = self.default_ipam.request_address_now(pool.pool_id, "")
                network.ipv4_info.append(
                    IpamInfo(ipam_api.LOCAL_DEFAULT, pool.pool_id, pool.pool, None, gateway)
                )
            self.networks[network.id] = network
            if stored is not None and driver != "bridge":
                self.save_network(network)

    # -- persistence (libnetwork's local store) -----------------------------------------

    def save_network(self, network: Network, *, in_delete: bool = False) -> None:
        """Store ``network`` (``storeNetwork``); the predefined ``bridge`` never is."""
        if self.store is not None and not (network.predefined and network.driver == "bridge"):
            self.store.put_network(
                network.id, network.name, network_record(network, in_delete=in_delete)
            )

    def save_endpoint(self, endpoint: Endpoint) -> None:
        """Store ``endpoint`` (``storeEndpoint``), unless it is on the default ``bridge``,
        which is not stored either (a new daemon makes a new one)."""
        network = endpoint.network
        if self.store is not None and not (network.predefined and network.driver == "bridge"):
            self.store.put_endpoint(endpoint.id, network.id, endpoint_record(endpoint))

    def forget_endpoint(self, endpoint: Endpoint) -> None:
        """Delete ``endpoint``'s record (``deleteStoredEndpoint``)."""
        if self.store is not None:
            self.store.delete_endpoint(endpoint.id)

    async def restore(self) -> None:
        """A new daemon's networks: see :func:`emulator.engine.network_restore.restore`."""
        await restore_networks(self)

    # -- queries ------------------------------------------------------------------------

    def list(self) -> list[Network]:
        """Every network (``docker network ls``), in creation order."""
        return list(self.networks.values())

    def get(self, ref: str) -> Network:
        """By full ID, exact name, then unique ID prefix (``findUniqueNetwork``).

        ``network X not found`` (404); ``N matches found based on name: network X
        is ambiguous`` (400).
        """
        if ref in self.networks:
            return self.networks[ref]
        named = [n for n in self.networks.values() if n.name == ref]
        if len(named) == 1:
            return named[0]
        if len(named) > 1:
            raise NetworkError(
                f"{len(named)} matches found based on name: network {ref} is ambiguous",
                http_status=400,
            )
        prefixed = [n for n in self.networks.values() if ref and n.id.startswith(ref)]
        if len(prefixed) == 1:
            return prefixed[0]
        if len(prefixed) > 1:
            raise NetworkError(
                f"{len(prefixed)} matches found based on ID prefix: network {ref} is ambiguous",
                http_status=400,
            )
        raise NetworkError(f"network {ref} not found", http_status=404)

    # -- create -------------------------------------------------------------------------

    async def create(self, spec: NetworkSpec) -> Network:
        """``docker network create``: the driver and IPAM calls in dockerd's order.

        On any failure what IPAM handed out is released (``ReleaseAddress`` gateway
        and aux, ``ReleasePool``) and nothing is stored.
        """
        name = spec.name
        if name == "":
            raise NetworkError("invalid name: name is empty", http_status=400)
        if name in PREDEFINED:
            raise NetworkError(
                f"operation is not permitted on predefined {name} network ", http_status=403
            )
        if name in self._creating or any(n.name == name for n in self.networks.values()):
            raise NetworkError(f"network with name {name} already exists", http_status=409)
        self._creating.add(name)  # dockerd's networkLocker on the name
        try:
            network = await self._create(spec)
        finally:
            self._creating.discard(name)
        network_sandbox.log_event(self, "create", network)
        return network

    async def _create(self, spec: NetworkSpec) -> Network:
        network = Network(
            id=secrets.token_hex(32),
            name=spec.name,
            driver=spec.driver or "bridge",
            scope=LOCAL,
            ipam_driver=spec.ipam_driver or DEFAULT_IPAM,
            ipam_options=dict(spec.ipam_options),
            ipam_config=list(spec.ipam_config),
            enable_ipv4=spec.enable_ipv4,
            enable_ipv6=spec.enable_ipv6,
            internal=spec.internal,
            attachable=spec.attachable,
            options=dict(spec.options),
            labels=dict(spec.labels),
            created=_now(),
        )
        resolved = await self.resolve_driver(network.driver)
        network.scope = spec.scope or resolved.capability.DataScope
        if network.scope == "swarm":  # NetworkOptionScope; this engine is no swarm node
            raise NetworkError(
                "cannot create a swarm scoped network when swarm is not active", http_status=403
            )
        skip4, skip6 = await resolved.gw_alloc_check(network.generic)
        network.skip_gw_v4, network.skip_gw_v6 = skip4, skip6
        ipam = await self.resolve_ipam(network.ipam_driver)
        address_space = await self._address_space(network, ipam)
        done4 = False
        try:
            if network.enable_ipv4:
                await allocate_version(network, ipam, address_space, 4, skip4, self.reserved)
                done4 = True
            if network.enable_ipv6:
                await allocate_version(network, ipam, address_space, 6, skip6, self.reserved)
        except BaseException:
            if done4:
                await undo(release_version(network, ipam, 4))
            raise
        try:
            await resolved.create_network(
                network.id,
                network.generic,
                [i.wire() for i in network.ipv4_info],
                [i.wire() for i in network.ipv6_info],
            )
        except BaseException:
            await undo(release_ipam(network, ipam))
            raise
        self.networks[network.id] = network
        self.save_network(network)
        return network

    async def _address_space(self, network: Network, ipam: Ipam) -> str:
        """``deriveAddressSpace``: ``GetDefaultAddressSpaces``, local or global by scope."""
        try:
            local, global_ = await ipam.get_default_address_spaces()
        except EngineError as exc:
            raise NetworkError(
                f"failed to get default address space: {exc}", http_status=404
            ) from None
        return global_ if network.scope == GLOBAL else local

    # -- remove / prune -----------------------------------------------------------------

    async def remove(self, ref: str) -> None:
        """``docker network rm``: IPAM released, then ``DeleteNetwork`` (errors logged)."""
        network = self.get(ref)
        if network.predefined:
            raise NetworkError(
                f"{network.name} is a pre-defined network and cannot be removed", http_status=403
            )
        if network.endpoints:
            listed = ", ".join(
                f'name:"{ep.name}" id:"{ep.id[:12]}"' for ep in network.endpoints.values()
            )
            raise NetworkError(
                "error while removing network: network "
                f"{network.name} has active endpoints ({listed})",
                http_status=403,
            )
        del self.networks[network.id]
        self.save_network(network, in_delete=True)  # n.inDelete: finished at the next start
        ipam = self.ipams.get(network.ipam_driver)
        if ipam is None:
            try:
                ipam = await self.resolve_ipam(network.ipam_driver)
            except EngineError as exc:
                log.warning("Failed to retrieve ipam driver for network %s: %s", network.name, exc)
        if ipam is not None:
            await release_ipam(network, ipam)
        try:
            driver = await self.resolve_driver(network.driver)
            await driver.delete_network(network.id)
        except EngineError as exc:
            log.warning("driver error deleting network %s : %s", network.name, exc)
        if self.store is not None:
            self.store.delete_network(network.id)
        network_sandbox.log_event(self, "destroy", network)

    async def prune(self) -> Sequence[str]:
        """``docker network prune``: every unused, non-predefined network; the names removed."""
        removed: builtins.list[str] = []
        for network in list(self.networks.values()):
            if network.predefined or network.endpoints:
                continue
            try:
                await self.remove(network.id)
            except EngineError as exc:
                log.warning("prune: %s", exc)
                continue
            removed.append(network.name)
        if self.events is not None:  # daemon/prune.go: no actor, nothing reclaimed
            self.events("network", "prune", {"id": "", "reclaimed": "0"})
        return removed

    # -- endpoints ------------------------------------------------------------------------

    async def connect_endpoint(
        self,
        network_ref: str,
        container_id: str,
        container_name: str,
        config: EndpointConfig | None = None,
    ) -> Endpoint:
        """``connectToNetwork`` for a running container: ``config``'s addresses, MAC,
        driver options, aliases and gateway priority; the calls, in dockerd's order, are
        :func:`emulator.engine.network_sandbox.connect_endpoint`'s."""
        return await network_sandbox.connect_endpoint(
            self, network_ref, container_id, container_name, config
        )

    # -- endpoint settings (validateEndpointSettings, updateNetworkSettings) -------------

    def endpoint_error(self, name: str, config: EndpointConfig) -> str | None:
        """``validateEndpointSettings`` for settings given under ``name`` at create: the
        range check only when such a network exists (dockerd ignores missing ones)."""
        try:
            network: Network | None = self.get(name)
        except NetworkError:
            network = None
        subnets = static_subnets(network) if network is not None else None
        return endpoint_settings_error(name, config, subnets)

    def check_endpoint(self, name: str, config: EndpointConfig, network: Network) -> None:
        problem = endpoint_settings_error(name, config, static_subnets(network))
        if problem is not None:
            raise NetworkError(problem, http_status=400)

    async def disconnect_endpoint(self, network_ref: str, container_id: str) -> None:
        """``disconnectFromNetwork`` for a running container.

        ``Revoke`` (gateway only), ``Leave``, ``EndpointOperInfo`` on the remaining
        endpoints, ``DeleteEndpoint``, ``ReleaseAddress``.
        """
        await network_sandbox.disconnect_endpoint(self, network_ref, container_id)

    async def release_sandbox(self, container_id: str) -> None:
        """``releaseNetwork`` → ``Sandbox.Delete``: each endpoint left and deleted, in order."""
        await network_sandbox.release_sandbox(self, container_id)

    # -- docker network connect / disconnect -------------------------------------------

    def _container(self, ref: str) -> Any:
        if self.containers is None:
            raise NetworkError("no container service attached to the network controller")
        return self.containers.get(ref)

    async def connect(
        self,
        network_ref: str,
        container_ref: str,
        *,
        ipv4_address: str = "",
        ipv6_address: str = "",
        mac_address: str = "",
        driver_opts: Mapping[str, str] | None = None,
        config: EndpointConfig | None = None,
    ) -> Endpoint | None:
        """``docker network connect`` (``ConnectToNetwork``).

        ``config`` holds every endpoint setting (``--ip``, ``--ip6``, ``--alias``,
        ``--driver-opt``, ``--gw-priority``...); the keyword arguments are a shorthand
        for the common ones.  The settings are checked as dockerd checks them
        (``validateEndpointSettings``, then the shared and ``none`` network conflicts).
        A running container gets an endpoint now; a stopped one only has the network
        added to its configuration (no plugin call; connecting it again is a no-op, as in
        dockerd); it is connected at its next start.  Returns the endpoint, if one was
        made.
        """
        if config is None:
            config = EndpointConfig(
                ipv4_address=ipv4_address,
                ipv6_address=ipv6_address,
                ipam_config=bool(ipv4_address or ipv6_address),
                mac_address=mac_address,
                driver_opts=dict(driver_opts) if driver_opts else None,
            )
        container = self._container(container_ref)
        try:
            network = self.get(network_ref)
        except NetworkError as exc:
            if container.running or exc.http_status != 404:
                raise
            # A stopped container keeps the name; the start fails if it is still missing.
            container.networks[network_ref] = config
            assert self.containers is not None
            self.containers.save(container)
            return None
        if container.network_mode.startswith("container:"):
            raise NetworkError(ERR_CONFLICT_SHARED_NETWORK, http_status=400)
        self.check_endpoint(network.name, config, network)
        if self._conflicts(container, network) and not container.running:
            return None  # already configured: updateNetworkSettings' no-op
        # (a running container goes on to CreateEndpoint, which refuses the duplicate)
        endpoint = None
        if container.running:
            endpoint = await self.connect_endpoint(network.id, container.id, container.name, config)
        container.networks[network.name] = config
        assert self.containers is not None
        self.containers.save(container)
        return endpoint

    def _conflicts(self, container: Any, network: Network) -> bool:
        """``updateNetworkSettings``' checks (:func:`connect_conflict`) against the networks
        the container has that exist."""
        others = []
        for name in container.networks:
            try:
                others.append(self.get(name))
            except NetworkError:
                continue
        problem = connect_conflict(container.network_mode, others, network)
        if isinstance(problem, str):
            raise NetworkError(problem, http_status=400)
        return problem

    async def disconnect(
        self, network_ref: str, container_ref: str, *, force: bool = False
    ) -> None:
        """``docker network disconnect [-f]``
        (:func:`~emulator.engine.network_sandbox.disconnect_container`)."""
        container = await network_sandbox.disconnect_container(
            self, network_ref, self._container, container_ref, force=force
        )
        assert self.containers is not None
        self.containers.save(container)

    # -- the container service's hooks ------------------------------------------------

    async def attach(self, container: ContainerLike) -> None:
        """At start (``allocateNetwork``): connect to each of the container's networks.

        The default ``bridge``, ``host`` and ``none`` networks are joined like any
        other (their built-in drivers make no plugin call); a container sharing another
        container's namespace (``container:<ref>``) joins nothing.  Errors carry
        ``failed to set up container networking: ``; what was connected is released
        first.
        """
        if container.network_mode.startswith("container:"):
            return
        try:
            for name, config in container.networks.items():
                await self.connect_endpoint(name, container.id, container.name, config)
        except EngineError as exc:
            await self.release_sandbox(container.id)
            error = NetworkError(SETUP_PREFIX + str(exc), hint=exc.hint)
            error.http_status = getattr(exc, "http_status", 500)
            raise error from None

    async def detach(self, container: ContainerLike) -> None:
        """At exit (``Cleanup`` → ``releaseNetwork``): the sandbox's endpoints torn down."""
        await self.release_sandbox(container.id)

    async def set_key(self, container: ContainerLike, pid: int) -> None:
        """``Sandbox.SetKey`` (``initializeCreatedTask``): the new process's network
        namespace becomes the sandbox's, before its networks are allocated."""
        sandbox = self.sandboxes.get(container.id)
        if sandbox is None:
            sandbox = self.sandboxes[container.id] = Sandbox(secrets.token_hex(32), container.id)
        if self.os_sandboxes is not None:
            await self.os_sandboxes.set_key(sandbox, pid)

    def addresses(self, container_id: str) -> builtins.list[str]:
        """The container's endpoint addresses (IPv4, then IPv6), for its ``/etc/hosts``."""
        sandbox = self.sandboxes.get(container_id)
        found: builtins.list[str] = []
        for endpoint in sandbox_order(sandbox.endpoints) if sandbox is not None else ():
            for address in (endpoint.iface.address, endpoint.iface.address_v6):
                if address is not None:
                    found.append(str(address.ip))
        return found

    def endpoint_of(self, network_ref: str, container_id: str) -> Endpoint | None:
        """The container's endpoint on a network, if connected."""
        network = self.get(network_ref)
        return next(
            (ep for ep in network.endpoints.values() if ep.container_id == container_id), None
        )
