"""The parts of Go's ``net`` package a plugin's TCP address goes through before a dial.

``net.Dialer.DialContext`` resolves ``host:port`` before it connects: the port is
parsed by ``LookupPort``, so ``tcp://127.0.0.1:99999`` fails with ``dial tcp: address
99999: invalid port`` and no connection is attempted (Go's net/lookup.go, port.go and
ipsock.go; the same in Go 1.19 and Go 1.24.9, the Go of moby v28.5.2).
"""

from __future__ import annotations

__all__ = ["AddrError", "join_host_port", "lookup_port", "parse_mac"]


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


def _hex_pair(text: str, separator: str) -> int | None:
    """``xtoi2``: two hex digits, followed by ``separator`` when there is more text."""
    if len(text) > 2 and text[2] != separator:
        return None
    pair = text[:2]
    if len(pair) != 2 or any(c not in "0123456789abcdefABCDEF" for c in pair):
        return None
    return int(pair, 16)


def parse_mac(text: str) -> bytes:
    """``net.ParseMAC``: EUI-48, EUI-64 or 20-octet addresses, with ``:``/``-`` between
    bytes or ``.`` between groups of four digits; :class:`AddrError` otherwise."""
    error = AddrError(f"address {text}: invalid MAC address")
    if len(text) < 14:
        raise error
    out = bytearray()
    if text[2] in ":-":
        if (len(text) + 1) % 3:
            raise error
        count = (len(text) + 1) // 3
        if count not in (6, 8, 20):
            raise error
        for index in range(count):
            value = _hex_pair(text[index * 3 :], text[2])
            if value is None:
                raise error
            out.append(value)
    elif text[4] == ".":
        if (len(text) + 1) % 5:
            raise error
        count = 2 * (len(text) + 1) // 5
        if count not in (6, 8, 20):
            raise error
        for offset in range(0, (len(text) + 1), 5):
            high = _hex_pair(text[offset : offset + 2], "")
            low = _hex_pair(text[offset + 2 :], ".")
            if high is None or low is None:
                raise error
            out += bytes((high, low))
    else:
        raise error
    return bytes(out)
