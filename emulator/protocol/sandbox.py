"""dockerd's sandbox steps for a remote network driver's interface, as data (libnetwork v28.5.2).

A ``NetworkDriver`` plugin creates the interface (usually one end of a veth pair) in
the daemon's network namespace and names it in ``Join``'s answer
(``InterfaceName.SrcName``, ``DstPrefix``).  dockerd then moves it into the container's
namespace and configures it.  Where and in which order, from moby/moby
``daemon/start_linux.go`` (``initializeCreatedTask``), ``libnetwork/sandbox_linux.go``
(``SetKey``, ``populateNetworkResources``, ``updateGateway``, ``releaseOSSbox``) and
``libnetwork/osl/`` (``namespace_linux.go``, ``interface_linux.go``, ``route_linux.go``):

* the container's task is created first, with a new network namespace; ``SetKey`` binds
  ``/proc/PID/ns/net`` at the sandbox key and brings ``lo`` up (:data:`SET_KEY`);
* then the networks are allocated (``CreateEndpoint``, ``Join``); right after each
  ``Join`` the endpoint's resources are populated: :data:`ADD_INTERFACE` (the interface
  moved, renamed to ``DstPrefix`` + the lowest free index, MAC, addresses, up, its
  connected routes), :data:`STATIC_ROUTES` (the ``Join``'s next-hop routes), then, for
  the sandbox's gateway endpoint, :data:`GATEWAY`;
* at ``Leave`` (container exit, ``network disconnect``) the interface goes back to the
  daemon's namespace under its original name (:data:`REMOVE_INTERFACE`) before the
  plugin's ``DeleteEndpoint``, then the static routes are removed; the namespace is
  unmounted when the sandbox is deleted (:data:`DESTROY`).

Each step is one iproute2 command (``argv``, ``{placeholders}`` filled in), run in the
namespace ``where`` names (``daemon``: where plugins make interfaces; ``sandbox``: the
container's), with the error text dockerd wraps a failure in.  ``when`` names the value
that must be set for the step to run.
"""

from __future__ import annotations

from typing import Final

import attrs

__all__ = [
    "ADD_INTERFACE",
    "DESTROY",
    "GATEWAY",
    "REMOVE_INTERFACE",
    "SET_KEY",
    "STATIC_ROUTES",
    "SandboxStep",
]


@attrs.frozen
class SandboxStep:
    """One step: what libnetwork calls it, where, the command, its error, when it runs."""

    name: str
    where: str
    """``daemon`` or ``sandbox`` (or ``host``: the engine's own mount namespace)."""
    argv: tuple[str, ...]
    error: str = ""
    """How dockerd words its failure (``{err}``: the cause)."""
    when: str = ""
    """A placeholder that must be non-empty for the step to run ("" = always)."""
    source: str = ""


SET_KEY: Final = (
    SandboxStep(
        "mountNetworkNamespace",
        "host",
        ("bind", "/proc/{pid}/ns/net", "{key}"),
        error="bind-mount /proc/{pid}/ns/net -> {key}: {err}",
        source="libnetwork/osl/namespace_linux.go GetSandboxForExternalKey",
    ),
    SandboxStep(
        "loopbackUp",
        "sandbox",
        ("link", "set", "dev", "lo", "up"),
        error="{err}",
        source="libnetwork/osl/namespace_linux.go loopbackUp",
    ),
)

ADD_INTERFACE: Final = (
    SandboxStep(
        "LinkByName",
        "daemon",
        ("link", "show", "dev", "{src}"),
        error='failed to get link by name "{src}": {err}',
        source="libnetwork/osl/interface_linux.go createInterface",
    ),
    SandboxStep(
        "moveLink",
        "daemon",
        ("link", "set", "dev", "{src}", "netns", "{key}"),
        error='failed to set namespace on link "{src}": {err}',
        source="libnetwork/osl/interface_linux.go createInterface, moveLink",
    ),
    SandboxStep(
        "LinkSetDown",
        "sandbox",
        ("link", "set", "dev", "{src}", "down"),
        error="failed to set link down: {err}",
        source="libnetwork/osl/interface_linux.go createInterface",
    ),
    SandboxStep(
        "setInterfaceName",
        "sandbox",
        ("link", "set", "dev", "{src}", "name", "{dst}"),
        error='error renaming interface "{src}" to "{dst}": {err}',
        source="libnetwork/osl/interface_linux.go setInterfaceName",
    ),
    SandboxStep(
        "setInterfaceMAC",
        "sandbox",
        ("link", "set", "dev", "{dst}", "address", "{mac}"),
        error='error setting interface "{src}" MAC to "{mac}": {err}',
        when="mac",
        source="libnetwork/osl/interface_linux.go configureInterface, setInterfaceMAC",
    ),
    SandboxStep(
        "setInterfaceIP",
        "sandbox",
        ("addr", "add", "{address}", "dev", "{dst}"),
        error='error setting interface "{src}" IP to {address}: {err}',
        when="address",
        source="libnetwork/osl/interface_linux.go setInterfaceIP (after checkRouteConflict)",
    ),
    SandboxStep(
        "setIPv6",
        "sandbox",
        ("sysctl", "net.ipv6.conf.{dst}.disable_ipv6={ipv6_off}"),
        error='error setting interface "{src}" IPv6 to {address6}: failed to configure ipv6: {err}',
        source="libnetwork/osl/interface_linux.go setInterfaceIPv6, setIPv6",
    ),
    SandboxStep(
        "setInterfaceIPv6",
        "sandbox",
        ("-6", "addr", "add", "{address6}", "dev", "{dst}", "nodad"),
        error='error setting interface "{src}" IPv6 to {address6}: {err}',
        when="address6",
        source="libnetwork/osl/interface_linux.go setInterfaceIPv6 (IFA_F_NODAD)",
    ),
    SandboxStep(
        "LinkSetUp",
        "sandbox",
        ("link", "set", "dev", "{dst}", "up"),
        error="failed to set link up: {err}",
        source="libnetwork/osl/interface_linux.go AddInterface",
    ),
)
#: One per connected (not default) route of the interface: ``setInterfaceRoutes``.
INTERFACE_ROUTE: Final = SandboxStep(
    "setInterfaceRoutes",
    "sandbox",
    ("route", "add", "{route}", "dev", "{dst}", "scope", "link"),
    error='error setting interface "{dst}" routes to "{routes}": {err}',
    source="libnetwork/osl/interface_linux.go setInterfaceRoutes",
)
#: One per next-hop route of the ``Join`` answer: ``AddStaticRoute``.
STATIC_ROUTES: Final = (
    SandboxStep(
        "programRoute",
        "sandbox",
        ("route", "add", "{destination}", "via", "{next_hop}"),
        error="failed to add static route {destination}: {err}",
        source="libnetwork/sandbox_linux.go populateNetworkResources; osl/route_linux.go "
        "programRoute",
    ),
)
GATEWAY: Final = (
    SandboxStep(
        "SetGateway",
        "sandbox",
        ("route", "add", "default", "via", "{gateway}"),
        error="updating gateway endpoint: failed to set gateway: {err}",
        when="gateway",
        source="libnetwork/sandbox_linux.go updateGateway; osl/route_linux.go programGateway",
    ),
    SandboxStep(
        "SetGatewayIPv6",
        "sandbox",
        ("-6", "route", "add", "default", "via", "{gateway6}"),
        error="updating gateway endpoint: failed to set IPv6 gateway: {err}",
        when="gateway6",
        source="libnetwork/sandbox_linux.go updateGateway; osl/route_linux.go programGateway",
    ),
)
REMOVE_INTERFACE: Final = (
    SandboxStep(
        "LinkSetDown",
        "sandbox",
        ("link", "set", "dev", "{dst}", "down"),
        source="libnetwork/osl/interface_linux.go RemoveInterface",
    ),
    SandboxStep(
        "LinkSetName",
        "sandbox",
        ("link", "set", "dev", "{dst}", "name", "{src}"),
        source="libnetwork/osl/interface_linux.go RemoveInterface",
    ),
    SandboxStep(
        "LinkSetNsFd",
        "sandbox",
        ("link", "set", "dev", "{src}", "netns", "{daemon_ns}"),
        source="libnetwork/osl/interface_linux.go RemoveInterface",
    ),
)
#: After the interfaces: ``RemoveStaticRoute`` (errors only logged at debug).
REMOVE_STATIC_ROUTE: Final = SandboxStep(
    "removeRoute",
    "sandbox",
    ("route", "del", "{destination}", "via", "{next_hop}"),
    source="libnetwork/sandbox_linux.go releaseOSSboxResources",
)
DESTROY: Final = (
    SandboxStep(
        "Destroy",
        "host",
        ("unmount", "{key}"),
        source="libnetwork/osl/namespace_linux.go Destroy (MNT_DETACH)",
    ),
)
