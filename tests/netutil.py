"""Network helpers for transport tests: loopback tricks and a private network namespace."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator


@contextlib.contextmanager
def blackholed_port() -> Iterator[int]:
    """A loopback TCP port whose accept queue is full: new SYNs are dropped, connect() hangs.

    This is how a dial timeout is produced without touching any address but 127.0.0.1.
    """
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@contextlib.contextmanager
def veth_namespace(tag: str) -> Iterator[tuple[str, str]]:
    """A network namespace joined to this one by a veth pair: ``(name, its address)``.

    The namespace's end has a non-loopback address (``10.219.x.y/30``), so a server
    listening there is, for dockerd's rules, a remote host; only this machine can
    reach it.  Names carry ``tag`` and this process's pid; everything is removed at
    the end.  Needs root (``ip netns``).
    """
    pid = os.getpid()
    name = f"{tag}-{pid}"
    host_if, ns_if = f"{tag[:4]}h{pid % 100000}", f"{tag[:4]}n{pid % 100000}"
    base = f"10.219.{(pid // 64) % 250}.{(pid % 64) * 4}"
    prefix = base.rsplit(".", 1)[0]
    last = int(base.rsplit(".", 1)[1])
    host_ip, ns_ip = f"{prefix}.{last + 2}", f"{prefix}.{last + 1}"
    steps = [
        ["ip", "netns", "add", name],
        ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
        ["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if],
        ["ip", "link", "set", ns_if, "netns", name],
        ["ip", "addr", "add", f"{host_ip}/30", "dev", host_if],
        ["ip", "link", "set", host_if, "up"],
        ["ip", "netns", "exec", name, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if],
        ["ip", "netns", "exec", name, "ip", "link", "set", ns_if, "up"],
    ]
    try:
        for step in steps:
            subprocess.run(step, check=True, capture_output=True)
        yield name, ns_ip
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
