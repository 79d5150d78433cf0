"""``engine.containers``: fake containers — no processes, but dockerd's volume choreography.

What a volume plugin sees from a container is reproduced from moby's daemon code:
create registers its mount points (``Get``, or ``Get`` + ``Create`` with
``Opts: null``), start mounts each volume (``Get`` + ``Mount`` with a random 64-hex
ID kept with the container), exit unmounts (``Get`` + ``Unmount`` with the same ID),
``docker cp`` mounts again with the existing IDs, a failed ``Mount`` is never
unmounted (the other mounts of that start are), a failed ``Unmount`` keeps its ID
for the next ``Mount``, and removal releases references and removes anonymous
volumes only.  How long a container "runs" comes from :mod:`emulator.engine.lifecycle`.
"""

from __future__ import annotations

import logging
import math
import secrets
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

import trio

from emulator.engine.container_copy import ContainerCopy
from emulator.engine.container_create import (
    network_settings,
    networking_error,
    register_mount_points,
)
from emulator.engine.container_model import (
    Container,
    ContainerError,
    ContainerSpec,
    MountPoint,
    parse_volume_spec,
)
from emulator.engine.container_store import ContainerStore
from emulator.engine.endpoint_settings import EndpointConfig, endpoint_settings_error
from emulator.engine.lifecycle import lifetime_of
from emulator.engine.log_config import PluginGetter, check_log_driver, merged_log_config
from emulator.engine.volume_drivers import VolumeDriverError
from emulator.engine.volume_store import VolumeError
from emulator.engine.volumes import VolumeService
from emulator.errors import EngineError
from emulator.protocol.shutdown import DIED_WITH_DAEMON_EXIT_CODE, STOP_EXIT_CODE

__all__ = [
    "Container",
    "ContainerError",
    "ContainerService",
    "ContainerSpec",
    "MountPoint",
    "NetworkHook",
    "parse_volume_spec",
]

log = logging.getLogger("emulator.containers")

EventSink = Callable[[str, str, Mapping[str, str]], None]
T = TypeVar("T")


class NetworkHook(Protocol):
    """The network controller as containers use it (:mod:`emulator.engine.networks`)."""

    async def attach(self, container: Any) -> None: ...

    async def detach(self, container: Any) -> None: ...

    def endpoint_error(self, name: str, config: EndpointConfig) -> str | None: ...


class ContainerService(ContainerCopy):
    """Create, start, stop, kill, remove, run and copy fake containers."""

    def __init__(
        self,
        volumes: VolumeService,
        store: ContainerStore,
        nursery: trio.Nursery,
        data_root: Path,
        *,
        networks: NetworkHook | None = None,
        events: EventSink | None = None,
        wall: Callable[[], float] = time.time,
        plugins: PluginGetter | None = None,
    ) -> None:
        self.volumes = volumes
        self.store = store
        """The containers, by ID (shared with the network controller)."""
        self._networks = networks
        """Connects a container's networks at start and releases them at exit."""
        self._wall = wall
        self._nursery = nursery
        self._root = data_root / "containers"
        self._events = events
        self._exited: dict[str, trio.Event] = {}
        self._exit_timers: dict[str, trio.CancelScope] = {}
        """The pending exit of each running container whose command ends on its own."""
        self.plugins: PluginGetter | None = plugins
        """Where logging plugins are looked up (create's log-driver check)."""

    # -- lookup ---------------------------------------------------------------------

    def get(self, ref: str) -> Container:
        """A container by name, full ID or unique ID prefix; ``No such container: REF``."""
        return self.store.get(ref)

    def list(self, *, all: bool = False) -> list[Container]:
        """Containers, newest first (running ones only unless ``all``)."""
        return self.store.list(all=all)

    def rootfs(self, container: Container) -> Path:
        """The container's (empty) root filesystem on the host."""
        return self._root / container.id / "rootfs"

    # -- create ---------------------------------------------------------------------

    async def create(self, spec: ContainerSpec) -> Container:
        """``docker create``: checks, then registers mount points, creating volumes implicitly.

        In dockerd's order (:mod:`emulator.engine.container_create`): the networks'
        endpoint settings, the log driver (``log_config``: ``{"Type", "Config"}``), the
        name, then ``volumes_from`` and ``volumes`` (``-v``) and ``anonymous_volumes``
        (``Config.Volumes``).  A named volume goes through the volume store's create (a
        ``Get`` for a known volume; ``Get`` then ``Create`` with ``Opts: null`` for a
        new one with ``volume_driver``; every driver probed for a new one without).
        Anonymous volumes get a random name.  ``networks`` are names, or names with
        their :class:`~emulator.engine.endpoint_settings.EndpointConfig`;
        ``network_mode`` defaults to the first of them, else ``bridge``.
        """
        mode, endpoints = network_settings(spec.network_mode, spec.networks)
        problem = networking_error(
            (net, text)
            for net, cfg in endpoints.items()
            if (text := self._endpoint_error(net, cfg)) is not None
        )
        if problem is not None:
            raise problem
        log_config = spec.log_config or {}
        logs = merged_log_config(str(log_config.get("Type") or ""), log_config.get("Config"))
        if self.plugins is not None:
            await check_log_driver(self.plugins, logs["Type"])
        name = spec.name
        if name is not None:
            self._check_name(name)
        # dockerd does not look the networks up at create ("the referenced network might
        # not exist when the container is created"): a missing one fails the start with
        # "failed to set up container networking: network X not found".
        cid = secrets.token_hex(32)
        container = Container(
            id=cid,
            name=(name or f"emulated_{cid[:8]}").removeprefix("/"),
            image=spec.image,
            command=list(spec.command),
            mounts=[],
            volume_driver=spec.volume_driver,
            auto_remove=spec.auto_remove,
            detach=spec.detach,
            exit_code_override=spec.exit_code,
            runs_for_override=spec.runs_for,
            network_mode=mode,
            networks=endpoints,
            log_config=logs,
            volumes_from=list(spec.volumes_from),
            binds=list(spec.volumes),
            created=self._wall(),
        )
        container.mounts = await register_mount_points(
            self, cid, spec.volumes_from, spec.volumes, spec.anonymous_volumes, spec.volume_driver
        )
        # dockerd: containers/ and containers/<id> are 0710 (daemon.go, create.go)
        for directory in (self._root, self._root / cid):
            directory.mkdir(mode=0o710, exist_ok=True)
            directory.chmod(0o710)
        self.rootfs(container).mkdir(exist_ok=True)
        self.store.add(container)
        self._exited[cid] = trio.Event()
        self._emit(container, "create")
        return container

    def _endpoint_error(self, network: str, config: EndpointConfig) -> str | None:
        if self._networks is not None:
            return self._networks.endpoint_error(network, config)
        return endpoint_settings_error(network, config, None)

    def _check_name(self, name: str) -> None:
        other = self.store.named(name)
        if other is not None:
            raise ContainerError(
                f'Conflict. The container name "/{other.name}" is already in use by '
                f'container "{other.id}". You have to remove (or rename) that '
                "container to be able to reuse that name.",
                http_status=409,
            )

    # -- start / exit ---------------------------------------------------------------

    async def start(self, ref: str) -> Container:
        """``docker start``: mount every volume (``Get`` + ``Mount``), then run."""
        container = self.get(ref)
        if container.running:
            return container
        try:
            await self.setup_mounts(container)
            self._check_sources(container)
        except ContainerError as exc:
            # The deferred cleanup of containerStart: unmount what this start mounted.
            container.error = str(exc)
            container.exit_code = 128
            await self.unmount_volumes(container)
            self._save(container)
            raise
        if self._networks is not None and container.networks:
            try:
                await self._networks.attach(container)
            except EngineError as exc:
                container.error = str(exc)
                container.exit_code = 128
                await self.unmount_volumes(container)
                self._save(container)
                raise ContainerError(
                    str(exc), http_status=getattr(exc, "http_status", 500)
                ) from None
        lifetime = lifetime_of(container.command, detach=container.detach)
        runs_for = (
            container.runs_for_override
            if container.runs_for_override is not None
            else lifetime.runs_for
        )
        code = (
            container.exit_code_override
            if container.exit_code_override is not None
            else lifetime.exit_code
        )
        container.state = "running"
        container.error = ""
        container.started_at = self._wall()
        self._exited[container.id] = trio.Event()
        self._save(container)
        self._emit(container, "start")
        if runs_for == 0:
            await self._exit(container, code)
        elif not math.isinf(runs_for):
            scope = self._exit_timers[container.id] = trio.CancelScope()
            self._nursery.start_soon(self._exit_after, container, runs_for, code, scope)
        return container

    async def _exit_after(
        self, container: Container, seconds: float, code: int, scope: trio.CancelScope
    ) -> None:
        with scope:
            await trio.sleep(seconds)
            await self._exit(container, code)

    async def _exit(self, container: Container, code: int) -> None:
        """``handleContainerExit``: unmount volumes, then ``--rm`` removal."""
        if not container.running:
            return
        self._cancel_exit_timer(container)
        container.state = "exited"
        container.exit_code = code
        container.finished_at = self._wall()
        if self._networks is not None:
            await self._networks.detach(container)
        await self.unmount_volumes(container)
        self._save(container)
        self._emit(container, "die", {"exitCode": str(code)})
        self._exited[container.id].set()
        if container.auto_remove:
            await self.remove(container.id, volumes=True)

    def _cancel_exit_timer(self, container: Container) -> None:
        timer = self._exit_timers.pop(container.id, None)
        if timer is not None:
            timer.cancel()

    async def setup_mounts(self, container: Container) -> None:
        """``setupMounts``: each volume mount gets its (kept or new) ID and is mounted."""
        for mp in container.mounts:
            if mp.type != "volume":
                continue
            mount_id = mp.id or secrets.token_hex(32)
            try:
                if not mp.attached:  # lazyInitializeVolume
                    await self.volumes.get(mp.name, driver=mp.driver, reference=container.id)
                    mp.attached = True
                path = await self.volumes.mount(mp.name, mp.driver, mount_id)
            except (VolumeError, VolumeDriverError) as exc:
                raise ContainerError(
                    f"error while mounting volume '{mp.source}': {exc}",
                    http_status=getattr(exc, "http_status", 500),
                ) from None
            mp.id = mount_id
            mp.active += 1
            mp.path = path
            self._volume_event("mount", container, mp)

    def _check_sources(self, container: Container) -> None:
        """The runtime binds every mount into the container: a missing source fails it."""
        missing = self.missing_source(container)
        if missing is not None:
            source = missing.path if missing.type == "volume" else missing.source
            raise ContainerError(
                f'error mounting "{source}" to rootfs at "{missing.destination}": '
                f"stat {source}: no such file or directory (the plugin's Mount "
                "answered a Mountpoint that does not exist on the host)"
            )

    @staticmethod
    def missing_source(container: Container) -> MountPoint | None:
        """The first mount whose source is not on this host (``os.Stat`` fails), if any."""
        for mp in container.mounts:
            source = mp.path if mp.type == "volume" else mp.source
            if source and not Path(source).exists():
                return mp
        return None

    async def unmount_volumes(self, container: Container) -> None:
        """``UnmountVolumes``: ``Get`` + ``Unmount`` for each active mount; errors only logged."""
        for mp in container.mounts:
            if mp.type != "volume" or mp.id == "":
                continue
            if mp.active == 0:
                log.error("An attempt to decrement a zero mount count id=%s", mp.id)
                continue
            try:
                await self.volumes.unmount(mp.name, mp.driver, mp.id)
            except (VolumeError, VolumeDriverError) as exc:
                log.error(
                    "%s cleanup: Failed to umount volumes: error while unmounting volumes for "
                    "container %s: error unmounting volume %s: %s",
                    container.id,
                    container.id,
                    mp.name,
                    exc,
                )
                continue
            mp.active -= 1
            self._volume_event("unmount", container, mp)
            if mp.active == 0:
                mp.id = ""
                mp.path = ""

    # -- stop / kill / wait ---------------------------------------------------------

    async def stop(self, ref: str, *, signal_code: int = STOP_EXIT_CODE) -> Container:
        """``docker stop`` (``containerStop``): events ``kill`` (signal 15), ``die``, ``stop``.

        The fake process ends at the stop signal (exit 143 by default), so dockerd's
        10 s wait before SIGKILL never runs out; the exit does what dockerd's does
        (``Cleanup``: networks released, volumes unmounted; then ``--rm`` removal).
        """
        container = self.get(ref)
        if not container.running:
            return container
        self._emit(container, "kill", {"signal": "15"})
        await self._exit(container, signal_code)
        self._emit(container, "stop")
        return container

    async def kill(self, ref: str) -> Container:
        """``docker kill``: exit 137."""
        container = self.get(ref)
        if not container.running:
            raise ContainerError(
                f"cannot kill container: {ref}: container {container.id} is not running",
                http_status=409,
            )
        self._emit(container, "kill", {"signal": "9"})
        await self._exit(container, 137)
        return container

    async def wait(self, ref: str) -> int:
        """Wait until the container exits; its exit code."""
        container = self.get(ref)
        if container.running:
            await self._exited[container.id].wait()
        return container.exit_code

    # -- remove ---------------------------------------------------------------------

    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        """``docker rm [-f] [-v]``: release volume references; ``-v`` removes anonymous ones."""
        container = self.get(ref)
        if container.running:
            if not force:
                raise ContainerError(
                    f'cannot remove container "/{container.name}": container is running: '
                    "stop the container before removing or force remove",
                    http_status=409,
                )
            await self._exit_for_removal(container)
        self._exited.pop(container.id, None)
        errors = []
        for mp in container.mounts:
            if mp.type != "volume" or not mp.attached:
                continue
            await self.volumes.release(mp.name, container.id)
            if not volumes or not mp.anonymous:
                continue
            try:
                await self.volumes.remove(mp.name)
            except VolumeError as exc:
                if exc.kind != "in_use":
                    errors.append(str(exc))
        self.store.remove(container)
        shutil.rmtree(self._root / container.id, ignore_errors=True)
        self._emit(container, "destroy")
        if errors:
            raise ContainerError(f"failed to remove container {container.id}: " + "; ".join(errors))

    async def _exit_for_removal(self, container: Container) -> None:
        auto_remove, container.auto_remove = container.auto_remove, False
        await self._exit(container, 137)
        container.auto_remove = auto_remove

    # -- run ------------------------------------------------------------------------

    async def run(self, spec: ContainerSpec) -> Container:
        """``docker run``: :meth:`create`, start; attached runs wait for the exit (then
        ``--rm``)."""
        container = await self.create(spec)
        try:
            await self.start(container.id)
        except ContainerError:
            if container.auto_remove:
                await self.remove(container.id, volumes=True)
            raise
        if not container.detach and container.running:
            await self.wait(container.id)
        return container

    # -- persistence and restart ----------------------------------------------------

    def _save(self, container: Container) -> None:
        self.store.save(container)

    def _emit(self, container: Container, action: str, extra: Mapping[str, str] = {}) -> None:
        if self._events is not None:
            attributes = {"image": container.image, "name": container.name, "id": container.id}
            self._events("container", action, {**attributes, **extra})

    def _volume_event(self, action: str, container: Container, mp: MountPoint) -> None:
        if self._events is not None:
            attributes = {"driver": mp.driver, "container": container.id}
            if action == "mount":
                attributes |= {"destination": mp.destination, "read/write": str(mp.rw).lower()}
            self._events("volume", action, {"name": mp.name, **attributes})

    async def shutdown(self) -> None:
        """dockerd stopping without live-restore (``Daemon.Shutdown``).

        Every running container is stopped as ``docker stop`` stops it, all at once
        (``ApplyAll`` runs one goroutine per container): events ``kill``, ``die``,
        ``stop``; its networks released and volumes unmounted; an ``--rm`` one removed.
        """
        async with trio.open_nursery() as nursery:
            for container in self.store.snapshot():
                if container.running:
                    nursery.start_soon(self._shutdown_one, container)

    async def _shutdown_one(self, container: Container) -> None:
        try:
            await self.stop(container.id)
        except EngineError as exc:
            log.error("failed to shut down container %s: %s", container.id, exc)

    def forget_running(self) -> None:
        """dockerd crashing: containers die with it, nothing is unmounted."""
        for container in self.store.snapshot():
            self._cancel_exit_timer(container)

    async def load(self) -> None:
        """After an engine restart, before networks are restored: the stored containers.

        One that was running died with the old daemon: it is ``exited`` with code 255 and
        the restore time as ``FinishedAt`` (``SetStopped`` without an exit status).  Its
        mount counts are gone (not persisted), so no Unmount will ever be sent for it.
        Only changed records are written back, one at a time with a checkpoint between.
        A record that cannot be decoded is skipped (the database reports it).
        """
        self._exited.clear()
        for container in await self.store.load():
            self._exited[container.id] = trio.Event()
            self._exited[container.id].set()
            if container.running:
                container.state = "exited"
                container.exit_code = DIED_WITH_DAEMON_EXIT_CODE
                container.finished_at = self._wall()
                self._save(container)
            await trio.lowlevel.checkpoint()

    async def prepare(self) -> None:
        """After networks are restored: ``--rm`` containers removed, then references back.

        dockerd removes the stopped containers that have ``AutoRemove`` (forced, with
        their anonymous volumes), then prepares the others' mount points: a ``Get`` per
        volume mount, which re-adds the container's reference to the volume.
        """
        for container in self.store.snapshot():
            if container.auto_remove:
                try:
                    await self.remove(container.id, force=True, volumes=True)
                except EngineError as exc:
                    log.error("failed to remove container %s: %s", container.id, exc)
        for container in self.store.snapshot():
            for mp in container.mounts:
                if mp.type != "volume":
                    continue
                try:
                    await self.volumes.get(mp.name, driver=mp.driver, reference=container.id)
                except (VolumeError, VolumeDriverError) as exc:
                    log.error("failed to restore volume %s of %s: %s", mp.name, container.id, exc)
            await trio.lowlevel.checkpoint()

    async def restore(self) -> None:
        """:meth:`load` then :meth:`prepare` (an engine without networks to restore)."""
        await self.load()
        await self.prepare()
