"""dockerd v28's shutdown and restart without live-restore, as data.

:data:`SHUTDOWN` is what happens, in order, from the first SIGINT/SIGTERM to the exit;
:data:`RESTART` what a new daemon does with the data-root it finds.  Each step names the
plugin calls and events it makes, its timeout and its moby/moby source (v28.5.2).  The
engine takes its constants from here (:mod:`emulator.engine.core`, :mod:`emulator.cli.serve`); the
calls fall out of the engine's code and are pinned by the ``daemon shutdown`` /
``daemon restart`` rows of :mod:`emulator.protocol.sequences` and
:mod:`emulator.protocol.network_sequences`; docs/engine-api.md shows the table.
"""

from __future__ import annotations

from typing import Final

import attrs


@attrs.frozen
class Step:
    """One step: what happens, the plugin calls and events it makes, its bound, its source."""

    what: str
    calls: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    timeout: str = ""
    source: str = ""


#: ``--shutdown-timeout`` default (``config.DefaultShutdownTimeout``): the whole shutdown.
#: ``ShutdownTimeout()`` takes the larger of it and each container's stop timeout + 5 s;
#: with the default stop timeout (10 s) that is 15 s too.
SHUTDOWN_TIMEOUT: Final = 15.0
#: ``containerStop``'s wait between the stop signal and SIGKILL (``defaultStopTimeout``).
STOP_TIMEOUT: Final = 10.0
#: The exit code of a container ended by SIGTERM (128 + 15), as ``docker stop`` leaves it.
STOP_EXIT_CODE: Final = 143
#: The exit code dockerd gives a container found dead at start (no exit status known).
DIED_WITH_DAEMON_EXIT_CODE: Final = 255
#: Signals after the first before dockerd exits at once (``trap.forceQuitCount``).
FORCE_QUIT_COUNT: Final = 3
#: ``shutdownPlugin``: SIGTERM, this long, SIGKILL, this long again.
PLUGIN_SHUTDOWN_TIMEOUT: Final = 10.0

SHUTDOWN: Final = (
    Step(
        "first SIGINT/SIGTERM: the API listeners are closed",
        source="cmd/dockerd/daemon.go (trap.Trap(cli.stop), apiWG.Wait, shutdownDaemon)",
    ),
    Step(
        "each running container, all at once: the stop signal (SIGTERM)",
        events=("container kill (signal=15)",),
        timeout="10 s (stop timeout), then SIGKILL",
        source="daemon/daemon.go Shutdown (ApplyAll, shutdownContainer); daemon/stop.go "
        "containerStop",
    ),
    Step(
        "its exit (handleContainerExit → Cleanup): the sandbox deleted, endpoint by endpoint "
        "in sandbox order",
        calls=(
            "NetworkDriver.RevokeExternalConnectivity (gateway endpoint)",
            "NetworkDriver.Leave",
            "NetworkDriver.DeleteEndpoint",
            "IpamDriver.ReleaseAddress",
        ),
        source="daemon/monitor.go handleContainerExit; daemon/start.go Cleanup; "
        "daemon/container_operations.go releaseNetwork; libnetwork/sandbox.go delete",
    ),
    Step(
        "then its volumes unmounted",
        calls=("VolumeDriver.Get", "VolumeDriver.Unmount"),
        events=("volume unmount",),
        source="container/container.go UnmountVolumes",
    ),
    Step(
        "the container is exited (143); an --rm one is removed with its anonymous volumes",
        calls=("VolumeDriver.Remove (anonymous volumes of --rm containers)",),
        events=("container die (exitCode=143)", "container destroy (--rm)"),
        source="daemon/monitor.go handleContainerExit, autoRemove",
    ),
    Step(
        "containerStop returns",
        events=("container stop",),
        source="daemon/stop.go containerStop (deferred LogContainerEvent)",
    ),
    Step(
        "managed plugins stopped",
        timeout="SIGTERM, 10 s, SIGKILL",
        source="daemon/daemon.go pluginShutdown; plugin/manager_linux.go Shutdown, shutdownPlugin",
    ),
    Step(
        "the whole of the above",
        timeout="--shutdown-timeout (15 s); then 'Force shutdown daemon' and exit",
        source="cmd/dockerd/daemon.go shutdownDaemon; daemon/daemon.go ShutdownTimeout",
    ),
    Step(
        "a fourth SIGINT/SIGTERM",
        timeout="exit at once, status 128 + signal, without cleanup",
        source="cmd/dockerd/trap/trap.go",
    ),
)

RESTART: Final = (
    Step(
        "managed plugins saved as enabled are enabled (their network and IPAM drivers "
        "register: GetCapabilities)",
        source="plugin/manager.go reload; libnetwork/drivers/remote/driver.go Register",
    ),
    Step(
        "each stored volume's driver asked Get (no List)",
        calls=("VolumeDriver.Get",),
        source="volume/service/restore.go restore",
    ),
    Step(
        "containers loaded; one that was running died with the old daemon: exited, 255; "
        "no Unmount, no network call for it",
        source="daemon/daemon.go restore (SetStopped; Cleanup before the network controller)",
    ),
    Step(
        "stored networks: the IPAM of each is loaded; one with RequiresRequestReplay is asked "
        "again for its pools, gateways, aux addresses and stored endpoint addresses",
        calls=(
            "IpamDriver.GetCapabilities (on activation)",
            "IpamDriver.RequestPool (Pool = the old subnet)",
            "IpamDriver.RequestAddress (gateway, then endpoints)",
        ),
        source="libnetwork/controller.go New, reservePools, doReplayPoolReserve",
    ),
    Step(
        "stale sandboxes and endpoints (left by a crash) deleted by force: Leave and "
        "DeleteEndpoint only for an already registered driver",
        calls=(
            "NetworkDriver.Leave",
            "NetworkDriver.DeleteEndpoint",
            "IpamDriver.ReleaseAddress",
        ),
        source="libnetwork/sandbox_store.go sandboxRestore; libnetwork/endpoint.go "
        "cleanupLocalEndpoints, Delete(force)",
    ),
    Step(
        "networks whose removal was cut short removed by force",
        calls=(
            "IpamDriver.ReleaseAddress",
            "IpamDriver.ReleasePool",
            "NetworkDriver.DeleteNetwork",
        ),
        source="libnetwork/store.go networkCleanup; libnetwork/network.go delete",
    ),
    Step(
        "predefined networks: none and host kept, bridge created anew (new ID)",
        source="daemon/daemon_unix.go configureNetworking",
    ),
    Step(
        "--rm containers removed (with their anonymous volumes); the others get their "
        "volume references back",
        calls=("VolumeDriver.Remove (anonymous volumes of --rm containers)", "VolumeDriver.Get"),
        source="daemon/daemon.go restore (removeContainers, prepareMountPoints)",
    ),
)
