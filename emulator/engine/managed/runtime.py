"""A managed plugin's process: how it is started, watched, restarted and stopped.

dockerd runs a managed plugin as a container; the emulator runs its entrypoint as a
host process (:class:`~emulator.engine.processes.PluginProcess`), set up as the
container would be:

* The entrypoint is resolved inside ``rootfs`` (a symlink in the rootfs may point at
  a host interpreter), with ``cwd = rootfs/WorkDir``, the environment
  ``PATH=<default>`` + ``Settings.Env`` only, and ``argv = Entrypoint +
  Settings.Args`` (:func:`init_spec`, dockerd's ``InitSpec``).
* Where the kernel allows (util-linux ``unshare``), the process gets a private mount
  namespace in which ``DATA_ROOT/plugins/<id>/run`` is ``/run`` and the socket
  directory ``ROOT/run/docker/plugins/<id>/`` is ``/run/docker/plugins``, so the
  plugin listens on ``/run/docker/plugins/<Socket>`` as in its container.  Fallback,
  when that is not possible: the process runs in the host's mount namespace, a
  warning is logged, and ``EMULATOR_PLUGIN_SOCKET_DIR`` in its environment names the
  host socket directory, or a short ``/proc/PID/fd/N`` alias of it when the path is
  too long for a unix socket (a plugin that hard-codes ``/run/docker/plugins`` then
  listens on the host's real directory and is not found).
* Readiness as ``pluginPostStart``: dockerd dials at 0.5, 3.5, 6.5 and 9.5 s after
  the start; the emulator watches the socket continuously (real time) and reports
  ready at the dial at which dockerd would have succeeded; a plugin not accepting by
  9.5 s (or exiting before) fails enable with Go's dial error (:func:`dial_error`).
* A plugin that exits on its own is logged with its exit status and restarted, as
  dockerd's ``HandleExitEvent`` does while the plugin is enabled
  (:class:`Supervisor`).
"""

from __future__ import annotations

import logging
import math
import os
import shlex
import shutil
import time
from pathlib import Path
from typing import Final

import trio

from emulator.clock import real_io, real_sleep
from emulator.engine.managed.leftovers import record_process
from emulator.engine.managed.lint import DEFAULT_PATH, resolve_in_rootfs
from emulator.engine.managed.plugin import ManagedPlugin, RunningPlugin
from emulator.engine.processes import (
    PluginProcess,
    PluginStartError,
    ProcessSpec,
    private_run_support,
)
from emulator.engine.scoped_fs import ScopedFS
from emulator.errors import ManagedPluginError
from emulator.protocol import plugin_config as pc
from emulator.protocol.shutdown import PLUGIN_SHUTDOWN_TIMEOUT

__all__ = ["Supervisor", "dial_error", "init_spec", "launch", "running_view", "start_failure"]

LOG = logging.getLogger("emulator.managed")

#: ``pluginPostStart``: first dial after 500 ms, then every 3 s, four dials in all.
FIRST_DIAL: Final = 0.5
DIAL_INTERVAL: Final = 3.0
DIALS: Final = 4
#: Longest unix socket path (``sun_path`` holds 108 bytes with the NUL).
_MAX_SOCKET: Final = 107


class Supervisor:
    """A plugin's process while the plugin is enabled, and its restart state.

    :meth:`run` (in the manager's nursery) starts the process, waits as dockerd's dials
    would, then restarts the process whenever it dies (``HandleExitEvent``) until
    :meth:`stop`.  A restart that fails disables the plugin (unsaved, as dockerd) and
    ends the supervision.  ``dial`` is where the engine connects; when that path had
    to go through ``/proc/PID/fd/N``, the supervisor holds the directory's descriptor
    until :meth:`close`.
    """

    def __init__(
        self, plugin: ManagedPlugin, process: PluginProcess, dial: Path, dir_fd: int | None
    ) -> None:
        self.plugin = plugin
        self.process = process
        self.dial = dial
        self._dir_fd = dir_fd
        self._scope = trio.CancelScope()
        self._done = trio.Event()
        self._restart = False

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the process until stopped; started once dockerd's dial would succeed."""
        try:
            with self._scope:
                async with trio.open_nursery() as inner:
                    started = time.monotonic()
                    await inner.start(self.process.run)
                    record_process(self.plugin.exec_dir, self.process.pid)
                    await dockerd_dial_wait(time.monotonic() - started)
                    self._restart = True
                    task_status.started()
                    await self._watch()
                    inner.cancel_scope.cancel()
        finally:
            self._done.set()

    async def _watch(self) -> None:
        plugin, process = self.plugin, self.process
        while True:
            await real_sleep(0.05)
            if process.running or not self._restart:
                continue
            LOG.warning(
                "plugin %s exited (status %s) while enabled: restarting it",
                plugin.id,
                process.exit_status,
                extra={"plugin": plugin.id},
            )
            started = time.monotonic()
            try:
                await process.restart()
                record_process(plugin.exec_dir, process.pid)
                await dockerd_dial_wait(time.monotonic() - started)
            except PluginStartError as exc:
                LOG.error(
                    "failed to restart plugin %s: %s", plugin.id, exc, extra={"plugin": plugin.id}
                )
                plugin.set_enabled(False)
                self._restart = False
                if plugin.client is not None:
                    await plugin.client.aclose()
                    plugin.client = None
                shutil.rmtree(plugin.exec_dir, ignore_errors=True)
                return

    async def stop(self) -> None:
        """No more restarts; end the process (SIGTERM, SIGKILL after the grace) and wait."""
        self._restart = False
        self._scope.cancel()
        await self._done.wait()

    def close(self) -> None:
        """Give back the socket directory's descriptor, if one was opened."""
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None


async def launch(plugin: ManagedPlugin) -> Supervisor:
    """Prepare ``plugin``'s process (not started yet): command, socket directory, namespace."""
    argv, cwd, env = init_spec(plugin)
    plugin.exec_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    plugin.exec_dir.chmod(0o700)
    dial, dir_fd = _dial_path(plugin)
    argv, env = await _namespace(plugin, argv, env, dial.parent)
    spec = ProcessSpec(
        plugin.id,
        argv,
        socket=dial,
        env=env,
        cwd=cwd,
        inherit_env=False,
        log_output=True,  # dockerd's makeLoggerStreams: stdout INFO, stderr ERROR
        startup_timeout=FIRST_DIAL + DIAL_INTERVAL * (DIALS - 1),
        grace=PLUGIN_SHUTDOWN_TIMEOUT,
        private_run=False,  # the namespace is set up here, as the plugin's container
    )
    process = PluginProcess(spec, root=plugin.data_dir)
    return Supervisor(plugin, process, dial, dir_fd)


def init_spec(plugin: ManagedPlugin) -> tuple[list[str], Path, dict[str, str]]:
    """``InitSpec``: argv, working directory and environment of the plugin process."""
    obj = plugin.obj
    for mount in obj.Settings.Mounts or ():
        if mount.Source is None:
            raise ManagedPluginError(pc.MOUNT_SOURCE_UNSET)
    entry = list(obj.Config.Entrypoint or [])
    if not entry:
        raise ManagedPluginError(
            "OCI runtime create failed: args must not be empty",
            hint="config.json has no Entrypoint",
        )
    program = _find_program(plugin.rootfs, entry[0], obj.Config.WorkDir)
    if program is None:
        raise ManagedPluginError(
            f'OCI runtime create failed: exec: "{entry[0]}": executable file not found in $PATH',
            hint=f"{entry[0]!r} is not in {plugin.rootfs}; see `plugin-emulator plugin lint`",
        )
    argv = [str(program), *entry[1:], *(obj.Settings.Args or [])]
    env = {"PATH": DEFAULT_PATH}
    for item in obj.Settings.Env or ():
        key, _, value = item.partition("=")
        env[key] = value
    return argv, _working_dir(plugin.rootfs, obj.Config.WorkDir), env


def running_view(plugin: ManagedPlugin) -> RunningPlugin:
    """``plugin``'s process as ``plugin-emulator plugin ps`` shows it."""
    process = plugin.process
    status = "stopped"
    if process is not None and process.running:
        status = "paused" if process.stopped else "running"
    try:
        _argv, cwd, env = init_spec(plugin)
    except ManagedPluginError:
        cwd, env = plugin.rootfs, {}
    command = (process.command if process is not None else None) or []
    private = bool(command) and Path(command[0]).name == "unshare"
    env = {
        **env,
        "EMULATOR_PLUGIN_SOCKET_DIR": pc.RUNTIME_SOCKET_DIR if private else str(plugin.exec_dir),
    }
    return RunningPlugin(
        id=plugin.id,
        name=plugin.name,
        pid=process.pid if status != "stopped" and process is not None else None,
        status=status,
        socket=str(plugin.socket_path),
        cwd=str(cwd),
        env=env,
        private_namespace=private,
    )


def _dial_path(plugin: ManagedPlugin) -> tuple[Path, int | None]:
    """The socket path the engine dials (via ``/proc/PID/fd`` when the real one is too long),
    and the descriptor that alias needs."""
    path = plugin.socket_path
    if len(os.fsencode(path)) <= _MAX_SOCKET:
        return path, None
    dir_fd = os.open(plugin.exec_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return Path(f"/proc/{os.getpid()}/fd/{dir_fd}") / plugin.socket_name, dir_fd


async def _namespace(
    plugin: ManagedPlugin,
    argv: list[str],
    env: dict[str, str],
    socket_dir: Path,
) -> tuple[list[str], dict[str, str]]:
    """Wrap ``argv`` so ``/run/docker/plugins`` is the plugin's socket directory.

    Without a namespace, ``socket_dir`` (the host directory, or its short
    ``/proc/PID/fd/N`` alias) is passed in ``EMULATOR_PLUGIN_SOCKET_DIR``.
    """
    with real_io():
        prefix, reason = await private_run_support()
    if prefix is None:
        LOG.warning(
            "plugin %s: no private mount namespace here (%s); it runs in the host's, and "
            "EMULATOR_PLUGIN_SOCKET_DIR=%s tells it where to listen",
            plugin.id,
            reason,
            socket_dir,
            extra={"plugin": plugin.id},
        )
        plugin.private_run = False
        return argv, {**env, "EMULATOR_PLUGIN_SOCKET_DIR": str(socket_dir)}
    plugin.private_run = True
    run_dir = plugin.data_dir / "run"
    (run_dir / "docker/plugins").mkdir(parents=True, exist_ok=True)
    unshare = list(prefix[: prefix.index("--") + 1])
    mount = shutil.which("mount") or "mount"
    sh = shutil.which("sh") or "/bin/sh"
    binds = [(str(run_dir), "/run"), (str(plugin.exec_dir), pc.RUNTIME_SOCKET_DIR)]
    propagated = _propagated_target(plugin, run_dir)
    if propagated is not None:
        binds.append((str(plugin.data_dir / "propagated-mount"), propagated))
    read_only = []
    for bind in plugin.runtime_binds:
        target = run_dir / bind.destination.removeprefix("/run/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch(exist_ok=True)
        binds.append((str(bind.source), bind.destination))
        if bind.read_only:
            read_only.append(bind.destination)
    commands = [f"{shlex.quote(mount)} --bind {shlex.quote(s)} {shlex.quote(d)}" for s, d in binds]
    # A read-only bind is a bind, then a remount of that bind alone (mount(8) cannot
    # make a bind read-only in one call on every kernel).
    commands += [f"{shlex.quote(mount)} -o remount,bind,ro {shlex.quote(d)}" for d in read_only]
    script = " && ".join(commands)
    wrapped = [*unshare, sh, "-c", f'{script} && exec "$@"', "sh", *argv]
    return wrapped, {**env, "EMULATOR_PLUGIN_SOCKET_DIR": pc.RUNTIME_SOCKET_DIR}


def _propagated_target(plugin: ManagedPlugin, run_dir: Path) -> str | None:
    """Where to bind ``propagated-mount`` in the namespace, if it can be done cleanly.

    dockerd shares ``DATA_ROOT/plugins/<id>/propagated-mount`` with the plugin at
    ``PropagatedMount``.  The emulator binds it there when the target lies under
    the plugin's private ``/run`` (created in ``DATA_ROOT/plugins/<id>/run``) or
    already exists on the host; it never creates directories on the host.
    """
    target = os.path.normpath(plugin.obj.Config.PropagatedMount or "")
    host_dir = plugin.data_dir / "propagated-mount"
    if target in ("", ".", "/"):
        return None
    host_dir.mkdir(mode=0o755, exist_ok=True)
    if target.startswith("/run/"):
        (run_dir / target.removeprefix("/run/")).mkdir(parents=True, exist_ok=True)
        return target
    if os.path.isdir(target):
        return target
    LOG.info(
        "plugin %s: PropagatedMount %s does not exist on this host; not bound",
        plugin.id,
        target,
        extra={"plugin": plugin.id},
    )
    return None


async def dockerd_dial_wait(elapsed: float) -> None:
    """Wait (real time) until the dockerd dial that would first have found the socket."""
    dials = max(0, math.ceil((elapsed - FIRST_DIAL) / DIAL_INTERVAL))
    await real_sleep(max(0.0, FIRST_DIAL + DIAL_INTERVAL * dials - elapsed))


def start_failure(exc: BaseException) -> PluginStartError | None:
    """The :class:`PluginStartError` in ``exc`` (or in its groups), if there is one."""
    if isinstance(exc, PluginStartError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = start_failure(inner)
            if found is not None:
                return found
    return None


def dial_error(shown: Path, dialled: Path) -> str:
    """Go's ``net.Dial`` error for the socket as it is now."""
    try:
        exists = os.path.exists(dialled)
    except OSError:
        exists = False
    why = "connection refused" if exists else "no such file or directory"
    return f"dial unix {shown}: connect: {why}"


def _working_dir(rootfs: Path, workdir: str) -> Path:
    """``WorkDir`` resolved inside ``rootfs`` as runc resolves a container's ``cwd``.

    ``..`` and links (absolute or relative) never leave the rootfs; a missing
    directory falls back to the rootfs itself.
    """
    with ScopedFS(rootfs) as fs:
        inside = fs.follow_in_scope(workdir or "/")
        with fs.locate(inside) as found:
            exists = found.is_dir
    return rootfs / inside.lstrip("/") if exists else rootfs


def _find_program(rootfs: Path, program: str, workdir: str) -> Path | None:
    """The host path of the entrypoint, resolved inside ``rootfs`` as the container would."""
    if program.startswith("/"):
        candidates = [program]
    elif "/" in program:
        candidates = [os.path.join(workdir or "/", program)]
    else:
        candidates = [os.path.join(d, program) for d in DEFAULT_PATH.split(":")]
    for candidate in candidates:
        found = resolve_in_rootfs(rootfs, candidate)
        if found is not None and found.is_file() and os.access(found, os.X_OK):
            return found
    return None
