"""dockerd's VolumeDriver call sequences, as data (v24-v28; moby ``volume/service``).

Each entry is what one user-level operation makes a v1 volume plugin see, once the
plugin is activated and its ``Capabilities`` cached.  The engine does not read this
table (the sequences fall out of the volume store's logic, as in dockerd); the test
suite runs every operation and compares the calls the plugin saw with the table,
so the table is the reviewable statement of what the emulator does.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

import attrs


@attrs.frozen
class Sequence:
    """The calls (``VolumeDriver.`` left out) one operation sends, and where it comes from."""

    operation: str
    calls: tuple[str, ...]
    source: str


VOLUME_SEQUENCES: Final = MappingProxyType(
    {
        s.operation: s
        for s in (
            Sequence(
                "volume create (new)",
                ("Get", "Create"),
                "volume/service/store.go create: Get, then Create if no volume",
            ),
            Sequence(
                "volume create (plugin already has it)",
                ("Get",),
                "store.go create: a volume from Get is adopted",
            ),
            Sequence(
                "volume create (engine knows it)",
                ("Get",),
                "store.go checkConflict: volumeExists",
            ),
            Sequence("volume inspect (known)", ("Get",), "store.go Get → getVolume → lookupVolume"),
            Sequence("volume ls", ("List",), "store.go list: one List per driver, no Get"),
            Sequence("volume rm", ("Get", "Get", "Remove"), "service.go Remove + store.go Remove"),
            Sequence(
                "run -v V:/p (V exists), attached, exits",
                ("Get", "Get", "Mount", "Get", "Unmount"),
                "daemon/volumes.go registerMountPoints; service.go Mount/Unmount (Get first)",
            ),
            Sequence(
                "run -v V:/p --volume-driver D (V new)",
                ("Get", "Create", "Get", "Mount", "Get", "Unmount"),
                "implicit create sends Opts null",
            ),
            Sequence(
                "run --rm -v /p --volume-driver D (anonymous)",
                ("Get", "Create", "Get", "Mount", "Get", "Unmount", "Get", "Get", "Remove"),
                "daemon/mounts.go removeMountPoints: anonymous volumes removed",
            ),
            Sequence(
                "cp from a running container",
                ("Get", "Mount", "Get", "Unmount"),
                "daemon/containerfs_linux.go openContainerFS: same mount ID",
            ),
            Sequence(
                "daemon shutdown (running container)",
                ("Get", "Unmount"),
                "daemon/daemon.go Shutdown → shutdownContainer; daemon/start.go Cleanup → "
                "container/container.go UnmountVolumes",
            ),
            Sequence(
                "run -v V:/p with a failing Mount",
                ("Get", "Get", "Mount"),
                "volume/mounts/mounts.go Setup: no Unmount after a failed Mount",
            ),
            Sequence(
                "engine restart (one stored volume)",
                ("Capabilities", "Get"),
                "volume/service/restore.go: Get per volume, no List; plugin re-activated",
            ),
        )
    }
)
