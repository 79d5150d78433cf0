"""The listening sockets of ``plugin-emulator serve``: a 0600 unix socket, loopback TCP.

The listen backlog is the system's maximum (``/proc/sys/net/core/somaxconn``), as Go's
``net.Listen`` uses it (``maxListenerBacklog``): a burst of clients (a CI job starting
200 ``docker`` commands at once) queues instead of failing with ``EAGAIN``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import attrs

from emulator.errors import ConfigurationError

__all__ = [
    "DEFAULT_SOCKET_NAME",
    "Listening",
    "TCPAddress",
    "default_socket_path",
    "listen",
    "parse_tcp",
    "somaxconn",
]

_SOMAXCONN = Path("/proc/sys/net/core/somaxconn")
#: Where ``plugin-emulator serve`` listens unless told otherwise (dockerd: /var/run/docker.sock).
DEFAULT_SOCKET_NAME = "plugin-emulator.sock"


def default_socket_path() -> Path:
    """``$XDG_RUNTIME_DIR/plugin-emulator.sock``, else ``/tmp/plugin-emulator-<uid>.sock``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / DEFAULT_SOCKET_NAME
    return Path(f"/tmp/plugin-emulator-{os.getuid()}.sock")


def somaxconn() -> int:
    """The kernel's listen backlog limit (Go reads the same file; 128 if unreadable)."""
    try:
        value = int(_SOMAXCONN.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return socket.SOMAXCONN if socket.SOMAXCONN > 0 else 128
    # Go: values above 1<<16-1 are clamped (the kernel stores the backlog in a u16).
    return max(1, min(value, (1 << 16) - 1))


@attrs.frozen
class TCPAddress:
    """A checked ``--tcp`` value: a loopback IP literal and a port (0 picks one)."""

    host: str
    port: int

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET


def parse_tcp(value: str) -> TCPAddress:
    """``HOST:PORT`` (``[v6]:PORT``; ``localhost`` is ``127.0.0.1``).

    Raises ``ValueError`` saying what is wrong: a missing or out-of-range port, a
    host that is not an IP address, a zone, or an address that is not loopback.
    """
    text = value.removeprefix("tcp://").removeprefix("tcp:")
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ValueError(f"{value!r}: use HOST:PORT, e.g. 127.0.0.1:2375 (port 0 picks one)")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"{value!r}: the port must be a number from 0 to 65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{value!r}: write an IPv6 address in brackets, e.g. [::1]:2375")
    if "%" in host:
        raise ValueError(f"{value!r}: zones are for link-local addresses; use [::1] for loopback")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{value!r}: {host!r} is not an IP address (or localhost)") from None
    if not address.is_loopback:
        raise ValueError(
            f"refusing to listen on {host}: only loopback TCP is allowed "
            "(127.0.0.0/8 or [::1]; the emulator gives root on this machine to its clients)"
        )
    return TCPAddress(str(address), int(port_text))


@attrs.frozen
class Listening:
    """A bound, listening socket and what to tell clients."""

    sock: socket.socket
    docker_host: str
    """``unix:///path`` or ``tcp://127.0.0.1:PORT`` (DOCKER_HOST)."""
    path: Path | None
    """The unix socket's path (removed when serving ends), None for TCP."""

    @property
    def tcp(self) -> bool:
        return self.path is None


def listen(bind: str) -> Listening:
    """A listening socket for ``unix:PATH`` or ``tcp:HOST:PORT``."""
    if bind.startswith("unix:"):
        return _listen_unix(Path(bind.removeprefix("unix:").removeprefix("//")))
    if bind.startswith("tcp:"):
        try:
            address = parse_tcp(bind)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        return _listen_tcp(address)
    raise ConfigurationError(f"cannot listen on {bind!r}: use unix:PATH or tcp:127.0.0.1:PORT")


def _listen_unix(path: Path) -> Listening:
    if path.exists():
        if not path.is_socket():
            raise ConfigurationError(f"{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # a stale socket from a process that died
        else:
            raise ConfigurationError(f"{path} is in use by another server")
        finally:
            probe.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        # Nobody can connect before listen(), so the mode is set before anyone could.
        os.chmod(path, 0o600)
        sock.listen(somaxconn())
    except BaseException:
        sock.close()
        raise
    return Listening(sock, f"unix://{path}", path)


def _listen_tcp(address: TCPAddress) -> Listening:
    sock = socket.socket(address.family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address.host, address.port))
        sock.listen(somaxconn())
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on tcp {address.host}:{address.port}: {exc.strerror}"
        ) from None
    except BaseException:
        sock.close()
        raise
    name = sock.getsockname()
    shown = f"[{name[0]}]" if address.family == socket.AF_INET6 else name[0]
    return Listening(sock, f"tcp://{shown}:{name[1]}", None)
