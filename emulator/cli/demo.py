"""The built-in demo root for ``plugin-emulator plugins ls --demo``.

It shows each way dockerd finds a plugin: a socket, a ``.spec`` file pointing at a
TCP plugin, a ``.json`` file, and a ``.spec`` file dockerd cannot use.
"""

from __future__ import annotations

import json
from pathlib import Path

import trio

from emulator.mocks import MockPlugin


async def demo_root(root: Path, nursery: trio.Nursery) -> None:
    """Populate ``root`` with demo plugins served in ``nursery``."""
    sockets = root / "run/docker/plugins"
    specs = root / "etc/docker/plugins"
    specs.mkdir(parents=True, exist_ok=True)
    volume = MockPlugin(("VolumeDriver",), name="demo-volume")
    await nursery.start(volume.serve, f"unix:{sockets / 'demo-volume.sock'}")
    network = MockPlugin(("NetworkDriver", "IpamDriver"), name="demo-network")
    address: str = await nursery.start(network.serve, "tcp:127.0.0.1:0")
    (specs / "demo-network.spec").write_text(address + "\n")
    authz = MockPlugin(("authz",), name="demo-authz")
    await nursery.start(authz.serve, f"unix:{root / 'authz.sock'}")
    (specs / "demo-authz.json").write_text(
        json.dumps({"Name": "ignored", "Addr": f"unix://{root / 'authz.sock'}"})
    )
    (specs / "demo-broken.spec").write_text("127.0.0.1:8080\n")
