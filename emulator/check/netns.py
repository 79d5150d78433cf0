"""A network namespace of the check's own, where a plugin it starts makes its interfaces.

The check creates ``NAME`` with iproute2 (``ip netns add``), brings its loopback up, starts
the plugin command inside it with util-linux ``nsenter --net`` (only the network namespace
changes: the plugin's mounts stay visible to the emulator), lists the interfaces in it with
``ip -n NAME -j link show``, and deletes it at the end.  Root is needed; :func:`netns_support`
says why not otherwise.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path

import trio

from emulator.clock import real_io

__all__ = ["NetnsError", "NetworkNamespace", "netns_support"]

_NETNS_DIR = Path("/run/netns")


class NetnsError(RuntimeError):
    """A namespace could not be made, listed or removed."""


def netns_support() -> str | None:
    """None when the check can make network namespaces here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root (run the check as root)"
    for tool, package in (("ip", "iproute2"), ("nsenter", "util-linux")):
        if shutil.which(tool) is None:
            return f"`{tool}` is not on PATH (install {package})"
    return None


async def _run(argv: Sequence[str]) -> str:
    with real_io():  # a real process: virtual time must not jump while it runs
        result = await trio.run_process(
            list(argv), capture_stdout=True, capture_stderr=True, check=False
        )
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip() or f"exit {result.returncode}"
        raise NetnsError(f"`{' '.join(argv)}` failed: {detail}")
    return result.stdout.decode(errors="replace")


class NetworkNamespace:
    """One named network namespace; create with :meth:`create`, end with :meth:`delete`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<NetworkNamespace {self.name}>"

    @property
    def path(self) -> Path:
        """Its bind-mount under ``/run/netns``."""
        return _NETNS_DIR / self.name

    @classmethod
    async def create(cls, prefix: str = "pechk") -> NetworkNamespace:
        """A new namespace ``PREFIX-<pid>-<hex>`` with ``lo`` up."""
        namespace = cls(f"{prefix}-{os.getpid()}-{secrets.token_hex(3)}")
        await _run(["ip", "netns", "add", namespace.name])
        try:
            await _run(["ip", "-n", namespace.name, "link", "set", "lo", "up"])
        except NetnsError:
            await namespace.delete()
            raise
        return namespace

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this namespace (network only)."""
        return ["nsenter", f"--net={self.path}", "--", *argv]

    async def links(self) -> dict[str, str]:
        """Interface name → kind (``veth``, ``bridge``, ``""``) inside the namespace."""
        text = await _run(["ip", "-n", self.name, "-d", "-j", "link", "show"])
        found: dict[str, str] = {}
        for link in json.loads(text or "[]"):
            info = link.get("linkinfo") or {}
            found[str(link.get("ifname", ""))] = str(info.get("info_kind", ""))
        return found

    async def delete(self) -> None:
        """Remove the namespace (and every interface left in it)."""
        if self.path.exists():
            await _run(["ip", "netns", "delete", self.name])
