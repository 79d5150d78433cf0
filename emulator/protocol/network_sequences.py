"""dockerd v28's NetworkDriver/IpamDriver call sequences, as data.

Each entry is what one user-level operation makes a remote network driver
(``NetworkDriver.``) and a remote IPAM driver (``IpamDriver.``) see, once both
are registered (``GetCapabilities`` already asked), for an IPv4-only network
with one default pool.  The engine does not read this table: the sequences fall
out of :mod:`emulator.engine.networks`, as in dockerd; ``tests/test_network_sequences.py``
runs every operation against the strict mock plugins and compares.
Sources are moby v28.5.2 paths (``libnetwork/…``, ``daemon/…``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from emulator.protocol.sequences import Sequence

_CREATE_IPAM: Final = (
    "IpamDriver.GetDefaultAddressSpaces",
    "IpamDriver.GetDefaultAddressSpaces",
    "IpamDriver.RequestPool",
    "IpamDriver.RequestAddress",
)
_CONNECT: Final = (
    "IpamDriver.RequestAddress",
    "NetworkDriver.CreateEndpoint",
    "NetworkDriver.Join",
)

NETWORK_SEQUENCES: Final = MappingProxyType(
    {
        s.operation: s
        for s in (
            Sequence(
                "plugin registration (first lookup)",
                ("NetworkDriver.GetCapabilities",),
                "drivers/remote/driver.go Register: handler after Plugin.Activate",
            ),
            Sequence(
                "network create -d D --ipam-driver I",
                (*_CREATE_IPAM, "NetworkDriver.CreateNetwork"),
                "controller.go NewNetwork; network.go deriveAddressSpace, ipamAllocateVersion; "
                "ipams/remote RequestPool asks GetDefaultAddressSpaces again",
            ),
            Sequence(
                "network create (GwAllocChecker)",
                ("NetworkDriver.GwAllocCheck", *_CREATE_IPAM, "NetworkDriver.CreateNetwork"),
                "controller.go NewNetwork: GetSkipGwAlloc before ipamAllocate",
            ),
            Sequence(
                "network create (gateway in pool Data)",
                (*_CREATE_IPAM[:3], "NetworkDriver.CreateNetwork"),
                "network.go ipamAllocateVersion: Data[com.docker.network.gateway] used",
            ),
            Sequence(
                "network create with a failing CreateNetwork",
                (
                    *_CREATE_IPAM,
                    "NetworkDriver.CreateNetwork",
                    "IpamDriver.ReleaseAddress",
                    "IpamDriver.ReleasePool",
                ),
                "controller.go NewNetwork: deferred ipamRelease",
            ),
            Sequence(
                "network rm",
                (
                    "IpamDriver.ReleaseAddress",
                    "IpamDriver.ReleasePool",
                    "NetworkDriver.DeleteNetwork",
                ),
                "network.go delete: ipamRelease precedes deleteNetwork",
            ),
            Sequence(
                "run --network N (gateway from Join)",
                (
                    *_CONNECT,
                    "NetworkDriver.ProgramExternalConnectivity",
                    "NetworkDriver.EndpointOperInfo",
                ),
                "container_operations.go connectToNetwork; endpoint.go sbJoin; getPortMapInfo",
            ),
            Sequence(
                "run --network N (Join without gateway: docker_gwbridge)",
                (*_CONNECT, "NetworkDriver.EndpointOperInfo"),
                "default_gateway.go needDefaultGW/setupDefaultGW: no ProgramExternalConnectivity",
            ),
            Sequence(
                "container stop (gateway endpoint)",
                (
                    "NetworkDriver.RevokeExternalConnectivity",
                    "NetworkDriver.Leave",
                    "NetworkDriver.DeleteEndpoint",
                    "IpamDriver.ReleaseAddress",
                ),
                "sandbox.go delete; endpoint.go sbLeave, Delete, releaseAddress",
            ),
            Sequence(
                "daemon shutdown (running container, gateway endpoint)",
                (
                    "NetworkDriver.RevokeExternalConnectivity",
                    "NetworkDriver.Leave",
                    "NetworkDriver.DeleteEndpoint",
                    "IpamDriver.ReleaseAddress",
                ),
                "daemon.go Shutdown → shutdownContainer → containerStop; monitor.go "
                "handleContainerExit → start.go Cleanup → releaseNetwork (as container stop)",
            ),
            Sequence(
                "daemon restart after a clean shutdown (one network)",
                ("IpamDriver.GetCapabilities",),
                "controller.go New → reservePools → doReplayPoolReserve → getIPAMDriver loads "
                "the IPAM (no RequiresRequestReplay: nothing replayed); no CreateNetwork",
            ),
            Sequence(
                "daemon restart after a crash (running container)",
                ("IpamDriver.GetCapabilities", "IpamDriver.ReleaseAddress"),
                "controller.go New → sandboxRestore: stale sandbox deleted by force; the "
                "unregistered v1 driver gets no Leave/DeleteEndpoint (n.driver(false)); "
                "releaseAddress loads the IPAM",
            ),
            Sequence(
                "network connect (second network, not the gateway)",
                (
                    *_CONNECT,
                    "NetworkDriver.EndpointOperInfo",
                    "NetworkDriver.EndpointOperInfo",
                ),
                "getPortMapInfo asks every endpoint of the sandbox",
            ),
            Sequence(
                "network disconnect (not the gateway)",
                (
                    "NetworkDriver.Leave",
                    "NetworkDriver.EndpointOperInfo",
                    "NetworkDriver.DeleteEndpoint",
                    "IpamDriver.ReleaseAddress",
                ),
                "container_operations.go disconnectFromNetwork",
            ),
            Sequence(
                "run with CreateEndpoint answer changing the address",
                (
                    "IpamDriver.RequestAddress",
                    "NetworkDriver.CreateEndpoint",
                    "NetworkDriver.DeleteEndpoint",
                    "IpamDriver.ReleaseAddress",
                ),
                "drivers/remote CreateEndpoint: rollback; network.go createEndpoint releases",
            ),
            Sequence(
                "run with an unparsable Join answer",
                (
                    *_CONNECT,
                    "NetworkDriver.Leave",
                    "NetworkDriver.DeleteEndpoint",
                    "IpamDriver.ReleaseAddress",
                ),
                "drivers/remote Join: rollback Leave; connectToNetwork deletes the endpoint",
            ),
            Sequence(
                "run with a failing ProgramExternalConnectivity",
                (
                    *_CONNECT,
                    "NetworkDriver.ProgramExternalConnectivity",
                    "NetworkDriver.Leave",
                    "NetworkDriver.DeleteEndpoint",
                    "IpamDriver.ReleaseAddress",
                ),
                "endpoint.go sbJoin: deferred Leave",
            ),
        )
    }
)
