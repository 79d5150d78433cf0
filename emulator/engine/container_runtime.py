"""The container service's runtime: which containers run real processes, and starting them.

:class:`ContainerRuntime` decides, per container, between a real process
(:mod:`emulator.runtime`) and the command table (:mod:`emulator.engine.lifecycle`), says
once in the log why it falls back, and turns a container into a started
:class:`RunningProcess` the way dockerd's ``containerStart`` turns it into a containerd
task: its ``hostname``/``hosts``/``resolv.conf`` files, the user and working directory,
the mount plan, ``config.json``, the process created, the network namespace handed to
the network controller (dockerd's ``libnetwork-setkey`` hook), then started.

Start failures carry dockerd's texts and exit codes: the runtime's message wrapped as
containerd and runc wrap it (``failed to create task for container: … OCI runtime create
failed: …``), with ``setExitCodeFromError``'s 126/127/128 and HTTP 400 for the first two
(moby/moby ``daemon/start.go``, ``daemon/errors.go``, v28.5.2).
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final

import attrs
import trio

from emulator.clock import real_io
from emulator.engine.container_model import Container, ContainerError
from emulator.engine.scoped_fs import ScopedFS
from emulator.engine.streams import ContainerStreams
from emulator.runtime import mounts as plan
from emulator.runtime.process import ContainerProcess, ProcessStartError
from emulator.runtime.rootfs import (
    applets,
    build_rootfs,
    host_resolv_conf,
    hosts_file,
    resolv_conf,
    write_file,
)
from emulator.runtime.spec import (
    CAPABILITIES,
    CapabilityError,
    User,
    UserError,
    capabilities,
    daemon_environment,
    resolve_user,
)
from emulator.runtime.support import (
    RuntimeSupport,
    RuntimeUnavailable,
    resolve_mode,
    static_support,
)

__all__ = ["OCI_PREFIX", "ContainerRuntime", "RunningProcess", "SetKey"]

LOG = logging.getLogger("emulator.containers")

#: How containerd and runc (1.2, as Docker 28 ships) wrap a container init's error.
OCI_PREFIX: Final = (
    "failed to create task for container: failed to create shim task: OCI runtime create "
    "failed: runc create failed: unable to start container process: error during container "
    "init: "
)
#: ``setExitCodeFromError``'s hint for a file mounted on a directory (or the reverse).
NOT_A_DIRECTORY_HINT: Final = (
    ": Are you trying to mount a directory onto a file (or vice-versa)? Check if the "
    "specified host path exists and is the expected type"
)
#: Bytes read from a container's pipe at once (dockerd's copier reads 2 KiB at a time
#: into a 16 KiB buffer; bigger reads only mean fewer wake-ups here).
READ_SIZE: Final = 32 * 1024

#: The busybox image's ``Cmd``: what runs when a container is given no command.
IMAGE_CMD: Final = ("sh",)

#: Called with PID 1's host PID before the command starts (the network namespace's set-up).
SetKey = Callable[[Container, int], Awaitable[None]]


@attrs.define(eq=False)
class RunningProcess:
    """A started container process and what its run needs."""

    container_id: str
    process: ContainerProcess
    abandoned: bool = False
    """True when the engine crashed: the exit is not handled (nothing unmounted)."""

    async def supervise(self, streams: ContainerStreams) -> int:
        """Copy stdout/stderr into ``streams`` until the process is gone; dockerd's code.

        Cancelled (the engine going away without a shutdown), the process is killed.
        """
        process = self.process
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_pump, process.stdout, "stdout", streams)
                nursery.start_soon(_pump, process.stderr, "stderr", streams)
                code = await process.wait()
            return code
        finally:
            with trio.CancelScope(shield=True):
                await process.aclose()


async def _pump(source: trio.abc.ReceiveStream, name: str, streams: ContainerStreams) -> None:
    try:
        while chunk := await source.receive_some(READ_SIZE):
            await streams.write(name, bytes(chunk))
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return


class ContainerRuntime:
    """Real processes for containers where possible (see the module docstring)."""

    def __init__(self, mode: str | None = None, support: RuntimeSupport | None = None) -> None:
        self.mode = resolve_mode(mode)
        self._support = support
        """What the host allows (looked at on first use unless given, e.g. by a test)."""
        self._said: dict[str, str] = {}

    @property
    def support(self) -> RuntimeSupport:
        """What this host allows (looked at once)."""
        if self._support is None:
            self._support = static_support()
        return self._support

    def say_once(self, key: str, message: str, *args: object) -> None:
        """Log a fall-back the first time it happens (once per engine)."""
        if key not in self._said:
            self._said[key] = message % args if args else message
            LOG.warning(message, *args)

    @property
    def fallbacks(self) -> tuple[str, ...]:
        """What was said so far: why containers followed the command table."""
        return tuple(self._said.values())

    def runs(self, container: Container) -> bool:
        """True when ``container``'s command runs as a real process.

        ``exit_code``/``runs_for`` overrides ask for the command table; ``fake`` mode
        always uses it; ``auto`` falls back (logged once) where the host cannot;
        ``processes`` raises :class:`RuntimeUnavailable` there.
        """
        if self.mode == "fake":
            return False
        if container.exit_code_override is not None or container.runs_for_override is not None:
            self.say_once(
                "overrides",
                "containers given exit_code or runs_for follow the command table (no "
                "process runs for them)",
            )
            return False
        support = self.support
        if support.available:
            return True
        if self.mode == "processes":
            raise RuntimeUnavailable(f"containers cannot run as processes here: {support.reason}")
        self.say_once(
            "support",
            "containers follow the command table (no process runs): %s",
            support.reason,
        )
        return False

    def update_hosts(self, directory: Path, container: Container, addresses: Sequence[str]) -> None:
        """The container's ``/etc/hosts`` with its endpoints' addresses (rewritten in place:
        the file is bound into the container)."""
        hostname = container.config.hostname or container.id[:12]
        text = hosts_file(hostname, addresses, container.config.extra_hosts)
        with (directory / "hosts").open("r+") as file:
            file.truncate(0)
            file.write(text)

    def prepare(self, rootfs: Path) -> None:
        """Lay the busybox image out in a new container's root (at create)."""
        busybox = self.support.busybox
        if busybox is not None and not (rootfs / "bin/busybox").exists():
            build_rootfs(rootfs, applets(busybox))

    async def launch(
        self,
        container: Container,
        directory: Path,
        *,
        set_key: SetKey | None,
    ) -> RunningProcess:
        """Create and start ``container``'s process; ContainerError with dockerd's text."""
        busybox = self.support.busybox
        assert busybox is not None
        rootfs = directory / "rootfs"
        with real_io():
            spec = await trio.to_thread.run_sync(self._plan, container, directory, rootfs, busybox)
        host_network = container.network_mode == "host"
        process = ContainerProcess(
            directory,
            container.name,
            spec,
            busybox=busybox,
            stdin=container.config.open_stdin,
            new_network=not host_network,
            rootless=self.support.rootless,
        )
        try:
            await process.create()
            if set_key is not None and not host_network:
                assert process.pid is not None
                await set_key(container, process.pid)
            await process.start()
        except ProcessStartError as exc:
            raise _start_error(str(exc), exc.exit_code) from None
        except BaseException:
            with trio.CancelScope(shield=True):
                await process.aclose()
            raise
        container.pid = process.pid or 0
        return RunningProcess(container.id, process)

    def _plan(
        self,
        container: Container,
        directory: Path,
        rootfs: Path,
        busybox: Path,
    ) -> dict[str, Any]:
        """``config.json``'s content (runs in a worker thread: file system work)."""
        config = container.config
        self.prepare(rootfs)
        hostname = config.hostname or container.id[:12]
        write_file(directory / "hostname", hostname + "\n")
        write_file(directory / "hosts", hosts_file(hostname, [], config.extra_hosts))
        write_file(
            directory / "resolv.conf",
            resolv_conf(
                host_resolv_conf(),
                dns=config.dns,
                search=config.dns_search,
                options=config.dns_options,
            ),
        )
        try:
            user = resolve_user(rootfs, config.user, config.group_add)
            kept = capabilities(config.cap_add, config.cap_drop)
        except (UserError, CapabilityError) as exc:
            raise ContainerError(str(exc)) from None
        workdir = config.working_dir or "/"
        _make_workdir(rootfs, workdir, container)
        try:
            operations = plan.resolve(
                rootfs, self._mounts(container, directory, busybox, self.support.rootless)
            )
        except plan.MountTargetError as exc:
            raise _start_error(str(exc), 127) from None
        return {
            "mode": "create",
            "rootfs": str(rootfs),
            "hostname": hostname,
            "operations": operations,
            "masked": list(plan.MASKED_PATHS),
            "readonly_paths": list(plan.READONLY_PATHS),
            "readonly_rootfs": config.readonly_rootfs,
            "process": _process(container, user, workdir, hostname, kept),
        }

    @staticmethod
    def _mounts(
        container: Container, directory: Path, busybox: Path, rootless: bool
    ) -> list[plan.MountSpec]:
        """The container's own mounts: volumes, binds, tmpfs, then dockerd's /etc files."""
        config = container.config
        user: list[plan.MountSpec] = []
        for mp in container.mounts:
            source = mp.path if mp.type == "volume" else mp.source
            spec = plan.bind_mount(mp.destination, source, writable=mp.rw)
            propagation = [m for m in mp.mode.split(",") if m.endswith(("shared", "slave"))]
            if propagation or "private" in mp.mode:
                spec = attrs.evolve(spec, options=(*spec.options, *propagation))
            user.append(spec)
        for destination, options in config.tmpfs.items():
            user.append(plan.tmpfs_mount(destination, options))
        taken = {posixpath.normpath(m.destination) for m in user}
        for name in ("hostname", "hosts", "resolv.conf"):
            destination = f"/etc/{name}"
            if destination not in taken:
                writable = not config.readonly_rootfs
                user.append(plan.bind_mount(destination, str(directory / name), writable=writable))
        shm = config.shm_size or plan.DEFAULT_SHM_SIZE
        return plan.plan_mounts(user, busybox=busybox, shm_size=shm, rootless=rootless)


def _process(
    container: Container, user: User, workdir: str, hostname: str, kept: Sequence[str]
) -> dict[str, Any]:
    return {
        "args": list(container.command) or list(IMAGE_CMD),
        "env": daemon_environment(container.config.env, hostname, user.home),
        "cwd": workdir,
        "uid": user.uid,
        "gid": user.gid,
        "groups": list(user.groups),
        "capabilities": sorted(CAPABILITIES[name] for name in kept),
        "no_new_privileges": container.config.no_new_privileges,
    }


def _make_workdir(rootfs: Path, workdir: str, container: Container) -> None:
    """``SetupWorkingDirectory``: created in the root (links followed inside it)."""
    try:
        with ScopedFS(rootfs) as fs:
            fs.make_dirs(fs.follow_in_scope(workdir))
    except NotADirectoryError:
        raise ContainerError(f"Cannot mkdir: {workdir} is not a directory") from None
    except OSError as exc:
        raise ContainerError(
            f"cannot create working directory {workdir} of {container.name}: {exc}"
        ) from None


def _start_error(text: str, exit_code: int) -> ContainerError:
    """A runtime failure as dockerd reports it (text, status; the exit code attached)."""
    message = OCI_PREFIX + text + ": unknown"
    if "not a directory" in text.lower():
        message += NOT_A_DIRECTORY_HINT
        exit_code = 127
    error = ContainerError(message, http_status=400 if exit_code in (126, 127) else 500)
    error.exit_code = exit_code
    return error


def unavailable_text(support: RuntimeSupport) -> str:
    """Why ``docker exec`` cannot run in a container that follows the command table."""
    return (
        "this container runs no process (it follows the emulator's command table: "
        + (support.reason or "exit_code/runs_for or containers=fake")
        + "), so nothing can be executed in it"
    )


__all__ += ["RuntimeUnavailable", "unavailable_text"]
