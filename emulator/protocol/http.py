"""The HTTP requests dockerd's plugin client sends: where they go and their exact head.

Pure functions over an address string (what discovery found).  Sources:
``pkg/plugins/client.go`` ``newTransport``/``httpScheme``,
``pkg/plugins/transport/http.go`` ``NewRequest``, go-connections
``sockets.ConfigureTransport`` and Go's ``net/http`` request writer (header order:
Host, User-Agent, Content-Length, then the request's own headers, then the
transport's ``Accept-Encoding``).
"""

from __future__ import annotations

from typing import Final, Literal

import attrs

from emulator.golang import net as gonet
from emulator.golang import url as gourl
from emulator.golang.strconv import quote as go_quote
from emulator.protocol.profiles import GO_USER_AGENT, PLUGIN_MIMETYPE, EngineProfile

#: ``len(syscall.RawSockaddrUnix{}.Path)`` on Linux; longer paths are refused.
MAX_UNIX_SOCKET_PATH: Final = 108


class AddressError(Exception):
    """An address dockerd cannot build a client for; ``str()`` is dockerd's text."""


@attrs.frozen
class Target:
    """Where a plugin's requests go and how, derived from its address."""

    address: str
    """The address as discovery found it (``unix:///run/docker/plugins/x.sock``)."""
    network: Literal["unix", "tcp"]
    dial: str
    """Socket path for ``unix``; ``host:port`` for ``tcp``."""
    scheme: Literal["http", "https"]
    host_header: str
    compression: bool
    """Whether Go's transport asks for gzip (``Accept-Encoding: gzip``); off for unix."""

    @property
    def tls(self) -> bool:
        """True when requests are sent over TLS."""
        return self.scheme == "https"

    def url(self, method: str) -> str:
        """The URL Go puts in its errors: ``http://plugin.moby.localhost/Plugin.Activate``."""
        return f"{self.scheme}://{self.host_header}{request_path(method)}"

    def dial_host(self) -> str:
        """The host part of :attr:`dial` (for TLS server names and name lookups)."""
        host, _, _ = self.dial.rpartition(":")
        return host.removeprefix("[").removesuffix("]")

    def dial_port(self) -> str:
        """The port part of :attr:`dial`, as written (Go parses it only when it dials)."""
        return self.dial.rpartition(":")[2]


def request_path(method: str) -> str:
    """``Iface.Method`` → ``/Iface.Method`` (a leading ``/`` is added when missing)."""
    return method if method.startswith("/") else "/" + method


def target_for(address: str, profile: EngineProfile) -> Target:
    """Build the request target for ``address`` as ``newTransport`` does, or raise AddressError."""
    try:
        url = gourl.parse(address)
    except gourl.URLError as exc:
        raise AddressError(str(exc)) from exc
    socket = url.host or url.path
    scheme: Literal["http", "https"] = "https" if url.scheme == "https" else "http"
    if url.scheme == "npipe":
        raise AddressError("protocol not available")
    if url.scheme == "unix":
        if len(socket.encode()) > MAX_UNIX_SOCKET_PATH:
            raise AddressError(f"unix socket path {go_quote(socket)} is too long")
        return Target(
            address=address,
            network="unix",
            dial=socket,
            scheme=scheme,
            host_header=profile.unix_host_header,
            compression=False,
        )
    host_header = url.host or profile.unix_host_header
    return Target(
        address=address,
        network="tcp",
        dial=_canonical_addr(host_header, scheme),
        scheme=scheme,
        host_header=host_header,
        compression=True,
    )


def _canonical_addr(host: str, scheme: str) -> str:
    """Go's ``canonicalAddr``: the URL's host name and port, the scheme's port when it has
    none (``127.0.0.1:`` dials port 80 too)."""
    hostname, port = gourl.split_host_port(host)
    return gonet.join_host_port(hostname, port or ("443" if scheme == "https" else "80"))


def request_headers(target: Target, body_length: int) -> list[tuple[bytes, bytes]]:
    """The exact header lines, in Go's order, for a plugin call with a body of ``body_length``.

    ``Content-Length`` is always present (bodies are buffered; ``0`` for an empty body on
    a POST).  No ``Content-Type`` is ever sent.
    """
    headers = [
        (b"Host", target.host_header.encode()),
        (b"User-Agent", GO_USER_AGENT.encode()),
        (b"Content-Length", str(body_length).encode()),
        (b"Accept", PLUGIN_MIMETYPE.encode()),
    ]
    if target.compression:
        headers.append((b"Accept-Encoding", b"gzip"))
    return headers
