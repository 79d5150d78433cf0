"""``engine.containers``: containers — dockerd's volume choreography, and their processes.

What a volume plugin sees from a container is reproduced from moby's daemon code:
create registers its mount points (``Get``, or ``Get`` + ``Create`` with
``Opts: null``), start mounts each volume (``Get`` + ``Mount`` with a random 64-hex
ID kept with the container), exit unmounts (``Get`` + ``Unmount`` with the same ID),
``docker cp`` mounts again with the existing IDs, a failed ``Mount`` is never
unmounted (the other mounts of that start are), a failed ``Unmount`` keeps its ID
for the next ``Mount``, and removal releases references and removes anonymous
volumes only.

A container's command runs as a real process where the host allows it
(:mod:`emulator.engine.container_runtime`, :mod:`emulator.runtime`): its output goes to
its streams (:mod:`emulator.engine.streams`) and json-file log
(:mod:`emulator.engine.json_log`), ``stop`` is the stop signal then SIGKILL after the
timeout on the engine's clock.  Otherwise how long it "runs" comes from the command
table (:mod:`emulator.engine.lifecycle`).
"""

from __future__ import annotations

import builtins
import logging
import secrets
import shutil
import signal
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import trio

from emulator.clock import real_io
from emulator.engine.container_copy import ContainerCopy
from emulator.engine.container_create import (
    network_settings,
    networking_error,
    register_mount_points,
)
from emulator.engine.container_logging import ContainerLogging
from emulator.engine.container_model import (
    Container,
    ContainerError,
    ContainerSpec,
    MountPoint,
    parse_volume_spec,
)
from emulator.engine.container_processes import ProcessTable
from emulator.engine.container_runtime import ContainerRuntime
from emulator.engine.container_start import ContainerStarts, NetworkHook
from emulator.engine.container_store import ContainerStore
from emulator.engine.container_volumes import ContainerVolumes, missing_source
from emulator.engine.endpoint_settings import EndpointConfig, endpoint_settings_error
from emulator.engine.events import EventSink
from emulator.engine.execs import ExecResult, ExecService
from emulator.engine.json_log import JsonFileLog, LogMessage
from emulator.engine.log_config import PluginGetter
from emulator.engine.streams import ContainerStreams
from emulator.engine.volume_drivers import VolumeDriverError
from emulator.engine.volume_store import VolumeError
from emulator.engine.volumes import VolumeService
from emulator.errors import EngineError
from emulator.protocol.filter_args import match_labels
from emulator.protocol.shutdown import DIED_WITH_DAEMON_EXIT_CODE, STOP_EXIT_CODE, STOP_TIMEOUT
from emulator.protocol.signals import SignalError, parse_signal

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

T = TypeVar("T")


class ContainerService(ContainerCopy, ContainerStarts):
    """Create, start, stop, kill, remove, run, exec and copy containers; read their logs."""

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
        runtime: ContainerRuntime | None = None,
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
        self._exits_in_flight: dict[str, trio.Event] = {}
        """Exit handlings under way (set when done): the shutdown waits for them."""
        self.logging = ContainerLogging(plugins, self.log)
        """Log configs at create, the log driver from start to exit, action timings."""
        """The pending exit of each running container whose command ends on its own."""
        self.plugins: PluginGetter | None = plugins
        """Where logging plugins are looked up (create's log-driver check)."""
        self.runtime = runtime if runtime is not None else ContainerRuntime("fake")
        """Which containers run real processes, and how they start."""
        self.processes = ProcessTable(
            self.runtime,
            self._root,
            lambda: int(self._wall() * 1e9),
            nursery,
            self._emit,
            lambda c: self._exited[c.id],
            self._exit,
        )
        """Their running processes, streams and logs."""
        self.mounts = ContainerVolumes(volumes, self._volume_event)
        """dockerd's volume choreography for a container's mount points."""
        self.execs = ExecService(self)
        """``docker exec`` instances."""

    # -- lookup ---------------------------------------------------------------------

    def get(self, ref: str) -> Container:
        """A container by name, full ID or unique ID prefix; ``No such container: REF``."""
        return self.store.get(ref)

    def list(self, *, all: bool = False) -> list[Container]:
        """Containers, newest first (running ones only unless ``all``)."""
        return self.store.list(all=all)

    def rootfs(self, container: Container) -> Path:
        """The container's root filesystem on the host."""
        return self._root / container.id / "rootfs"

    def directory(self, container: Container) -> Path:
        """The container's directory (``DATA_ROOT/containers/<id>``)."""
        return self._root / container.id

    def streams(self, container: Container) -> ContainerStreams:
        """The container's standard streams (attach, stdin)."""
        return self.processes.streams(container)

    def log(self, container: Container) -> JsonFileLog:
        """The container's json-file log (``<id>-json.log``)."""
        return self.processes.log(container)

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
        began = trio.current_time()
        logs = await self.logging.config(spec.log_config)
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
            config=spec.config,
            labels=dict(spec.labels) if spec.labels is not None else None,
        )
        runs_process = self.runtime.runs(container)  # refused here, before any volume
        container.mounts = await register_mount_points(
            self,
            cid,
            spec.volumes_from,
            spec.volumes,
            spec.anonymous_volumes,
            spec.volume_driver,
            spec.mounts,
        )
        # dockerd: containers/ and containers/<id> are 0710 (daemon.go, create.go)
        for directory in (self._root, self._root / cid):
            directory.mkdir(mode=0o710, exist_ok=True)
            directory.chmod(0o710)
        self.rootfs(container).mkdir(exist_ok=True)
        if runs_process:
            with real_io():
                await trio.to_thread.run_sync(self.runtime.prepare, self.rootfs(container))
        self.store.add(container)
        self._exited[cid] = trio.Event()
        self._emit(container, "create")
        self.logging.timed("create", began)
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

    async def _exit(self, container: Container, code: int) -> None:
        """``handleContainerExit``: the streams end and the log driver closes (``Reset``:
        the copier drains, ``StopLogging``), networks released, volumes unmounted, then
        ``--rm`` removal.  The container is running until its log driver is closed."""
        if not container.running or container.exiting:
            return
        done = self._exits_in_flight[container.id] = trio.Event()
        try:
            await self._handle_exit(container, code)
        finally:
            del self._exits_in_flight[container.id]
            done.set()

    async def _handle_exit(self, container: Container, code: int) -> None:
        container.exiting = True
        self._cancel_exit_timer(container)
        if self.processes.get(container) is None:  # the command table's output ends
            await self.streams(container).end()
        await self.processes.ended(container)  # StreamConfig.Wait, then Reset:
        await self.logging.stop(container)  # the copier drains, the log driver closes
        container.exiting = False
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
        await self.mounts.mount(container)

    def _check_sources(self, container: Container) -> None:
        self.mounts.check_sources(container)

    @staticmethod
    def missing_source(container: Container) -> MountPoint | None:
        """The first mount whose source is not on this host (``os.Stat`` fails), if any."""
        return missing_source(container)

    async def unmount_volumes(self, container: Container) -> None:
        """``UnmountVolumes``: ``Get`` + ``Unmount`` for each active mount; errors only logged."""
        await self.mounts.unmount(container)

    # -- stop / kill / wait ---------------------------------------------------------

    async def stop(
        self, ref: str, *, signal_name: str = "", timeout: float | None = None
    ) -> Container:
        """``docker stop [-s SIG] [-t N]`` (``containerStop``): events ``kill``, ``die``, ``stop``.

        The stop signal (``-s``, else the container's ``--stop-signal``, else SIGTERM) is
        sent; if the container has not exited after the timeout (``-t``, else its
        ``--stop-timeout``, else 10 s; negative: no limit) of **engine** time, SIGKILL.
        A real process's exit is waited for as real I/O: under virtual time the clock
        stands still for up to the clock's grace (real seconds) while it exits, then the
        timeout runs out at once (docs/containers.md).  The command table's process ends
        at the stop signal (128 + its number).
        """
        container = self.get(ref)
        if not container.running:
            return container
        signum = self._stop_signal(container, signal_name)
        if timeout is None:
            given = container.config.stop_timeout
            timeout = STOP_TIMEOUT if given is None else float(given)
        if self.processes.get(container) is not None:
            await self.processes.stop(container, signum, timeout)
        else:
            self._emit(container, "kill", {"signal": str(signum)})
            await self._exit(
                container, STOP_EXIT_CODE if signum == signal.SIGTERM else 128 + signum
            )
        self._emit(container, "stop")
        return container

    def _stop_signal(self, container: Container, given: str) -> int:
        try:
            return parse_signal(given or container.config.stop_signal or "SIGTERM")
        except SignalError as exc:
            raise ContainerError(str(exc), http_status=400) from None

    async def kill(self, ref: str, signal_name: str = "") -> Container:
        """``docker kill [-s SIG]``: SIGKILL (waits for the exit), or another signal (does not).

        The command table's process dies of any signal: exit 128 + its number.
        """
        try:
            signum = parse_signal(signal_name) if signal_name else int(signal.SIGKILL)
        except SignalError as exc:
            raise ContainerError(str(exc), http_status=400) from None
        container = self.get(ref)
        if not container.running:
            raise ContainerError(
                f"cannot kill container: {ref}: container {container.id} is not running",
                http_status=409,
            )
        if self.processes.get(container) is None:
            self._emit(container, "kill", {"signal": str(signum)})
            await self._exit(container, 128 + signum)
        elif signum == signal.SIGKILL:
            await self.processes.force_kill(container)
        else:
            self.processes.signal(container, signum)
        return container

    async def wait(self, ref: str) -> int:
        """Wait until the container exits; its exit code.

        A real process is waited for as real I/O (virtual time stands still meanwhile,
        for up to the clock's grace).
        """
        container = self.get(ref)
        if container.running and self.processes.get(container) is not None:
            await self.processes.wait(container)
        elif container.running:
            await self._exited[container.id].wait()
        return container.exit_code

    # -- exec and logs --------------------------------------------------------------

    async def exec(
        self,
        ref: str,
        command: Sequence[str],
        *,
        env: Sequence[str] = (),
        user: str = "",
        working_dir: str = "",
        stdin: bytes | None = None,
    ) -> ExecResult:
        """``docker exec``: run ``command`` in the running container; its output and code.

        ``stdin`` is given to the process, then end-of-file.  Raises
        :class:`ContainerError` as dockerd answers (not running: 409; command not
        found: the runtime's text).
        """
        return await self.execs.run(
            ref, command, env=env, user=user, working_dir=working_dir, stdin=stdin
        )

    def log_messages(
        self,
        ref: str,
        *,
        since: int | None = None,
        until: int | None = None,
        tail: int = -1,
        follow: bool = False,
    ) -> AsyncIterator[LogMessage]:
        """``docker logs``: the json-file log's messages (times in Unix ns); ``follow``
        waits for new ones while the container runs."""
        container = self.get(ref)
        return self.log(container).read(
            since=since, until=until, tail=tail, follow=follow and container.running
        )

    async def logs(
        self, ref: str, *, stdout: bool = True, stderr: bool = True, tail: int = -1
    ) -> str:
        """``docker logs`` as text: the chosen streams' lines, in order."""
        wanted = {name for name, on in (("stdout", stdout), ("stderr", stderr)) if on}
        lines = [m.line async for m in self.log_messages(ref, tail=tail) if m.stream in wanted]
        return b"".join(lines).decode(errors="replace")

    # -- remove ---------------------------------------------------------------------

    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        """``docker rm [-f] [-v]``: release volume references; ``-v`` removes anonymous ones."""
        began = trio.current_time()
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
        errors = await self.mounts.release(container, remove_anonymous=volumes)
        self.store.remove(container)
        shutil.rmtree(self._root / container.id, ignore_errors=True)
        self.processes.forget(container.id)
        self.logging.forget(container)
        self._emit(container, "destroy")
        self.logging.timed("delete", began)
        if errors:
            raise ContainerError(f"failed to remove container {container.id}: " + "; ".join(errors))

    async def restart(
        self, ref: str, *, signal_name: str = "", timeout: float | None = None
    ) -> Container:
        """``docker restart [-s SIG] [-t N]`` (``containerRestart``): a running container
        is stopped as :meth:`stop` stops it, then started; event ``restart``.  A failure
        is ``Cannot restart container REF: …`` (500: dockerd wraps it with ``%v``)."""
        container = self.get(ref)
        try:
            if container.running:
                await self.stop(container.id, signal_name=signal_name, timeout=timeout)
            await self.start(container.id)
        except EngineError as exc:
            raise ContainerError(f"Cannot restart container {ref}: {exc}") from exc
        self._emit(container, "restart")
        return container

    async def prune(self, labels: Mapping[str, Sequence[str]] | None = None) -> builtins.list[str]:
        """``docker container prune``: every container not running whose labels pass
        ``label``/``label!`` (``matchLabels``) is removed as ``docker rm`` (no ``-v``);
        one that cannot be is logged and kept.  The IDs removed; event ``prune``."""
        labels = labels or {}
        removed: builtins.list[str] = []
        for container in self.store.snapshot():
            if container.running or not match_labels(labels, container.labels):
                continue
            try:
                await self.remove(container.id)
            except EngineError as exc:
                log.warning("failed to prune container %s: %s", container.id, exc)
                continue
            removed.append(container.id)
        if self._events is not None:  # daemon/prune.go: no actor; no layers, nothing reclaimed
            self._events("container", "prune", {"id": "", "reclaimed": "0"})
        return removed

    async def _exit_for_removal(self, container: Container) -> None:
        auto_remove, container.auto_remove = container.auto_remove, False
        try:
            if self.processes.get(container) is None:
                await self._exit(container, 137)
            else:
                await self.processes.force_kill(container)
        finally:
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
        if not container.detach:
            await self.processes.finished(container)  # docker run --rm: until removed
        return container

    # -- persistence and restart ----------------------------------------------------

    def _save(self, container: Container) -> None:
        self.store.save(container)

    def emit_event(self, container: Container, action: str, extra: Mapping[str, str]) -> None:
        """A container event (``docker events``) with the usual attributes and ``extra``."""
        self._emit(container, action, extra)

    def _emit(self, container: Container, action: str, extra: Mapping[str, str] = {}) -> None:
        if self._events is not None:
            # LogContainerEventWithAttributes: the labels over the extras, then the image
            # and the name over both.
            attributes = {**extra, **(container.labels or {})}
            attributes |= {"image": container.image, "name": container.name, "id": container.id}
            self._events("container", action, attributes)

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
        # A container that exited by itself just before is still being handled (its
        # sandbox released, its volumes unmounted): that ends before the daemon does.
        while self._exits_in_flight:
            await next(iter(self._exits_in_flight.values())).wait()

    async def _shutdown_one(self, container: Container) -> None:
        try:
            await self.stop(container.id)
        except EngineError as exc:
            log.error("failed to shut down container %s: %s", container.id, exc)

    def forget_running(self) -> None:
        """dockerd crashing: containers die with it, nothing is unmounted.

        Real processes are SIGKILLed at once (with containerd they would outlive the
        daemon until its next start, which kills them: the end is the same).
        """
        for container in self.store.snapshot():
            self._cancel_exit_timer(container)
        self.processes.abandon_all()

    async def load(self) -> None:
        """After an engine restart, before networks are restored: the stored containers.

        One that was running died with the old daemon: it is ``exited`` with code 255 and
        the restore time as ``FinishedAt`` (``SetStopped`` without an exit status).  Its
        mount counts are gone (not persisted), so no Unmount will ever be sent for it.
        Only changed records are written back, one at a time with a checkpoint between.
        A record that cannot be decoded is skipped (the database reports it).
        """
        self._exited.clear()
        self.processes.clear()
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
