"""The parts of Go's ``net`` package a plugin's TCP address goes through before a dial.

``net.Dialer.DialContext`` resolves ``host:port`` before it connects: the port is
parsed by ``LookupPort``, so ``tcp://127.0.0.1:99999`` fails with ``dial tcp: address
99999: invalid port`` and no connection is attempted (Go's net/lookup.go, port.go and
ipsock.go; the same in Go 1.19 and Go 1.24.9, the Go of moby v28.5.2).
"""

from __future__ import annotations

__all__ = ["AddrError", "join_host_port", "lookup_port"]


class AddrError(ValueError):
    """Go's ``*net.AddrError`` (``address ADDR: ERR``) or the ``*net.DNSError`` of an
    unknown service name (``lookup tcp/NAME: unknown port``); ``str()`` is Go's text."""


def join_host_port(host: str, port: str) -> str:
    """``net.JoinHostPort``: brackets around a host with a colon (an IPv6 literal)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_port(service: str) -> int | None:
    """``parsePort``: the number, clamped past 2^30 as Go clamps it; None if not numeric."""
    if service == "":
        return 0
    negative = service[0] == "-"
    digits = service[1:] if service[0] in "+-" else service
    cutoff = 1 << 30
    n = 0
    for char in digits:
        if not "0" <= char <= "9":
            return None
        if n >= cutoff:
            n = cutoff
            break
        n = n * 10 + (ord(char) - 0x30)
    if not negative and n >= cutoff:
        return cutoff - 1
    if negative and n > cutoff:
        return -cutoff
    return -n if negative else n


def lookup_port(network: str, service: str) -> int:
    """``Resolver.LookupPort`` for a numeric port (service names are not looked up)."""
    port = _parse_port(service)
    if port is None:
        raise AddrError(f"lookup {network}/{service}: unknown port")
    if not 0 <= port <= 65535:
        raise AddrError(f"address {service}: invalid port")
    return port
