"""A container's root: the busybox image's layout, whatever image the user named.

The emulator pulls no images.  Every container gets the layout of Docker Hub's
``busybox`` image: ``/bin`` holds every applet of the host's busybox-static (links to
``/bin/busybox``), ``/etc`` has busybox's ``passwd`` and ``group``, and ``/root``,
``/tmp``, ``/home``, ``/var/spool/mail``, ``/var/www`` exist.  ``/bin/busybox`` itself
is an empty placeholder on disk: the host's binary is bound over it, read-only, when the
container starts, so a container (or a ``docker cp`` into it) can never alter the host's
binary and nothing is copied per container.

Beside the root, in the container's directory, are the files dockerd keeps there and
binds into the container (``hostname``, ``hosts``, ``resolv.conf``; moby/moby
``container/container_unix.go``, ``libnetwork/sandbox_dns_unix.go``, v28.5.2).
"""

from __future__ import annotations

import functools
import ipaddress
import os
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

__all__ = [
    "BUSYBOX_GROUP",
    "BUSYBOX_PASSWD",
    "applets",
    "build_rootfs",
    "hosts_file",
    "resolv_conf",
]

#: The busybox image's /etc/passwd.
BUSYBOX_PASSWD: Final = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
#: The busybox image's /etc/group.
BUSYBOX_GROUP: Final = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
"""
#: Directories of the image, with their modes.
DIRECTORIES: Final = (
    ("bin", 0o755),
    ("dev", 0o755),
    ("etc", 0o755),
    ("home", 0o755),
    ("proc", 0o555),
    ("root", 0o700),
    ("sys", 0o555),
    ("tmp", 0o1777),
    ("usr", 0o755),
    ("usr/sbin", 0o755),
    ("var", 0o755),
    ("var/spool", 0o755),
    ("var/spool/mail", 0o755),
    ("var/www", 0o755),
)
#: dockerd's /etc/hosts before the endpoints' lines (libnetwork/etchosts ``defaultContent``).
HOSTS_HEADER: Final = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::\tip6-localnet\n"
    "ff00::\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
#: libnetwork's fallback when the host has no usable nameserver (``defaultIPv4NSs``).
DEFAULT_NAMESERVERS: Final = ("8.8.8.8", "8.8.4.4")


@functools.cache
def applets(busybox: Path) -> tuple[str, ...]:
    """The applet names of ``busybox`` (``busybox --list``), asked once per binary."""
    result = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True, timeout=30
    )
    return tuple(sorted({name for name in result.stdout.split() if name and "/" not in name}))


def build_rootfs(rootfs: Path, names: Iterable[str]) -> None:
    """Lay the busybox image out in the empty directory ``rootfs``."""
    for directory, mode in DIRECTORIES:
        path = rootfs / directory
        path.mkdir(mode=mode, exist_ok=True)
        path.chmod(mode)
    (rootfs / "bin/busybox").touch(mode=0o755)
    for name in names:
        if name != "busybox":
            (rootfs / "bin" / name).symlink_to("busybox")
    etc = rootfs / "etc"
    (etc / "passwd").write_text(BUSYBOX_PASSWD)
    (etc / "group").write_text(BUSYBOX_GROUP)
    (etc / "mtab").symlink_to("/proc/mounts")
    for name in ("hostname", "hosts", "resolv.conf"):
        (etc / name).touch(mode=0o644)


def hosts_file(hostname: str, addresses: Sequence[str], extra: Sequence[str] = ()) -> str:
    """``/etc/hosts``: dockerd's header, ``--add-host`` entries, then one line per address."""
    lines = [HOSTS_HEADER]
    for entry in extra:
        name, _, address = entry.partition(":")
        lines.append(f"{address}\t{name}\n")
    for address in addresses:
        lines.append(f"{address}\t{hostname}\n")
    return "".join(lines)


def resolv_conf(
    host_text: str,
    *,
    dns: Sequence[str] = (),
    search: Sequence[str] = (),
    options: Sequence[str] = (),
) -> str:
    """The container's resolv.conf from the host's, as libnetwork builds it.

    Loopback nameservers are dropped (they are not reachable from the container's
    namespace); with none left, Google's public ones are used.  ``--dns``,
    ``--dns-search`` and ``--dns-option`` replace what they name.
    """
    servers: list[str] = []
    found_search: list[str] = []
    found_options: list[str] = []
    for line in host_text.splitlines():
        words = line.split()
        if len(words) < 2 or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver":
            try:
                if ipaddress.ip_address(words[1].split("%")[0]).is_loopback:
                    continue
            except ValueError:
                continue
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            found_search = words[1:]
        elif words[0] == "options":
            found_options = words[1:]
    servers = list(dns) or servers or list(DEFAULT_NAMESERVERS)
    out = [f"nameserver {s}\n" for s in servers]
    if search or found_search:
        out.append("search " + " ".join(search or found_search) + "\n")
    if options or found_options:
        out.append("options " + " ".join(options or found_options) + "\n")
    return "".join(out)


def host_resolv_conf() -> str:
    """The host's /etc/resolv.conf ("" when unreadable)."""
    try:
        return Path("/etc/resolv.conf").read_text(errors="replace")
    except OSError:
        return ""


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` (replacing it atomically), with ``mode``."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    tmp.replace(path)
