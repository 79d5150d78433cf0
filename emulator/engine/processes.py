"""Plugin processes: run a plugin command (any language) the way a host runs a legacy plugin.

A legacy Docker plugin is just a process that serves HTTP on a unix socket; dockerd does
not start it, it only finds the socket.  :class:`PluginProcess` plays the host's part for
tests and scenarios: it starts the command in its own process group, logs its output,
waits until the socket accepts connections, keeps watching it, and offers the faults a
real host produces (crash, freeze, restart, a vanished socket)::

    spec = ProcessSpec("myvol", ["./myvol", "--socket", "{socket}"],
                       socket=root / "run/docker/plugins/myvol.sock")
    plugin = PluginProcess(spec, root=root)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)      # returns once the socket accepts
        ...                                  # plugin.kill(), .stop(), .restart(), ...
        nursery.cancel_scope.cancel()        # the group is terminated, the socket removed

Output: kept in :attr:`PluginProcess.output_log` (see :mod:`emulator.engine.plugin_output`),
never logged as the emulator's errors; with ``log_output=True`` (managed plugins) logged
as dockerd does: stdout at INFO, stderr at ERROR, ``<line> plugin=<name>``.

Time: every wait on the plugin (startup, exit, draining its output) is on the *real*
clock (:func:`time.monotonic`, :func:`emulator.clock.real_sleep`) and marked
:func:`emulator.clock.real_io`, so virtual time neither fires nor freezes it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import trio

from emulator.clock import real_io, real_sleep
from emulator.engine.plugin_output import PluginOutput
from emulator.engine.private_run import (
    PropagatedMount,
    private_run_command,
    private_run_support,
    socket_dir_redirect,
)
from emulator.engine.process_spec import ProcessSpec
from emulator.engine.process_table import (
    accepts_connections,
    bytes_pending,
    group_members,
    kill_pipe_holders,
    proc_state,
    status_text,
    wait_real,
)
from emulator.errors import EmulatorError

__all__ = ["PluginProcess", "PluginStartError", "ProcessSpec", "private_run_support"]

LOG = logging.getLogger("emulator.plugin")

#: sun_path holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107
#: Output lines quoted in a :class:`PluginStartError`.
ERROR_LINES = 20
#: Real seconds to wait for a dead plugin's last output before looking for pipe holders.
DRAIN_WAIT = 1.0
#: Real seconds to wait for SIGKILLed processes to disappear.
KILL_WAIT = 10.0
_POLL_FIRST = 0.002
_POLL_MAX = 0.05
_LINE_MAX = 65536
_PLACEHOLDER = re.compile(r"\{(socket|root|name)\}")


class PluginStartError(EmulatorError):
    """A plugin process did not come up: it exited, or its socket stayed silent.

    ``exit_status`` is the process's status if it exited on its own (negative: killed
    by that signal), else None; ``output`` its last lines, also quoted in the message.
    """

    default_hint = "run the plugin's command by hand to see why it does not serve its socket"

    def __init__(
        self, text: str, *, name: str, exit_status: int | None, output: Sequence[str]
    ) -> None:
        super().__init__(text)
        self.name = name
        self.exit_status = exit_status
        self.output = list(output)


class _Launch:
    """One started process of a :class:`PluginProcess` (a restart makes a new one)."""

    def __init__(self, proc: trio.Process, command: Sequence[str]) -> None:
        self.proc = proc
        self.command = list(command)
        self.pgid = proc.pid  # start_new_session: the plugin leads its own group
        self.exited = trio.Event()
        self.drained = trio.Event()
        self.open_pipes = 2
        self.pump_scopes: list[trio.CancelScope] = []
        self.reap_scope = trio.CancelScope(shield=True)  # the process is killed before we leave
        self.pipe_inodes: set[int] = set()
        #: Why we ended it (None while it runs or when it died on its own).
        self.ended_by: str | None = None
        self.closed = False


class PluginProcess:
    """Run one plugin command as a process in its own group; see the module docstring.

    ``spec`` says what to run and how (:class:`~emulator.engine.process_spec.ProcessSpec`,
    its ``socket`` set); ``root`` is the test root (``{root}``).  With ``private_run`` the
    command runs in a mount namespace where only the socket directory is redirected
    under the root (a plugin that hard-codes ``/run/docker/plugins/NAME.sock`` lands
    under the test root), while the mounts it makes elsewhere propagate back to the host
    where the host's mount is shared; ``propagated_mount`` makes one host directory
    shared for the plugin's life, as dockerd does for a managed plugin's
    ``PropagatedMount`` (see :mod:`emulator.engine.private_run`; without a namespace a
    warning is logged and the command runs normally).  ``log_output`` logs the output
    as dockerd logs a managed plugin's (see the module docstring).
    """

    def __init__(self, spec: ProcessSpec, *, root: Path) -> None:
        name = spec.name
        if not spec.argv:
            raise ValueError(f"plugin {name}: empty command")
        if spec.socket is None:
            raise ValueError(f"plugin {name}: no socket path")
        socket, root = spec.socket, Path(root)
        if len(os.fsencode(socket)) > MAX_SOCKET_PATH:
            raise ValueError(
                f"plugin {name}: socket path is {len(os.fsencode(socket))} bytes "
                f"(unix sockets allow {MAX_SOCKET_PATH}): {socket}"
            )
        values = {"socket": str(socket), "root": str(root), "name": name}
        self._name = name
        self._argv = [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in spec.argv]
        self._socket = socket
        self._root = root
        self._env = dict(spec.env)
        self._startup_timeout = spec.startup_timeout
        self._grace = spec.grace
        self._private_run = spec.private_run
        self._cwd = spec.cwd
        self._inherit_env = spec.inherit_env
        self._propagated = (
            None
            if spec.propagated_mount is None
            else PropagatedMount(spec.propagated_mount, plugin=name)
        )
        self._log_output = spec.log_output
        self._output = PluginOutput(name)
        self._current: _Launch | None = None
        self._exit_status: int | None = None
        self._stopped = False
        self._nursery: trio.Nursery | None = None
        self._closing = False

    def __repr__(self) -> str:
        state = "running" if self.running else f"exit_status={self._exit_status}"
        return f"<PluginProcess {self._name} pid={self.pid} {state}>"

    # -- what it is ----------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The plugin's name (``{name}``)."""
        return self._name

    @property
    def socket(self) -> Path:
        """The socket path waited for (``{socket}``)."""
        return self._socket

    @property
    def root(self) -> Path:
        """The test root (``{root}``)."""
        return self._root

    @property
    def argv(self) -> list[str]:
        """The command with its placeholders replaced."""
        return list(self._argv)

    @property
    def command(self) -> list[str] | None:
        """What was actually executed last (with the private-namespace wrapper, if any)."""
        return None if self._current is None else list(self._current.command)

    @property
    def pid(self) -> int | None:
        """The current (or last) process's pid, which is also its process group id."""
        return None if self._current is None else self._current.proc.pid

    @property
    def running(self) -> bool:
        """True while the current process exists (stopped with :meth:`stop` included)."""
        return self._current is not None and not self._current.exited.is_set()

    @property
    def stopped(self) -> bool:
        """True between :meth:`stop` and :meth:`cont` (or the process's end)."""
        return self._stopped and self.running

    @property
    def exit_status(self) -> int | None:
        """The last process's exit status once it exited (negative: killed by that signal)."""
        return self._exit_status

    @property
    def output(self) -> list[str]:
        """The plugin's output lines (the last 10000), stdout and stderr interleaved."""
        return self._output.texts()

    @property
    def output_log(self) -> PluginOutput:
        """Everything the plugin wrote, with line numbers and streams (across restarts)."""
        return self._output

    async def settle_output(self) -> None:
        """Return once what the plugin has written so far is in :attr:`output`."""
        launch = self._current
        if launch is None or launch.closed:
            return
        streams = [s for s in (launch.proc.stdout, launch.proc.stderr) if s is not None]
        for _ in range(1000):  # the pumps run at the next checkpoints
            if not any(
                isinstance(s, trio.lowlevel.FdStream) and bytes_pending(s.fileno()) for s in streams
            ):
                return
            await trio.lowlevel.checkpoint()

    # -- running it ----------------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[PluginProcess] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Start the plugin, report it started once its socket accepts, watch it until cancelled.

        Raises :class:`PluginStartError` if it does not come up.  A plugin that dies later
        is logged (``plugin NAME exited with status N``) and this task keeps running, as
        dockerd keeps running with a dead plugin.  On cancellation the process group is
        terminated (SIGTERM, SIGKILL after ``grace``) and reaped, and the socket removed.
        """
        if self._nursery is not None:
            raise RuntimeError(f"plugin {self._name} is already running")
        self._closing = False
        failure: PluginStartError | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    await self._share_propagated_mount()
                    await self._launch()
                    task_status.started(self)
                    await trio.sleep_forever()
                except PluginStartError as exc:
                    failure = exc
                finally:
                    with trio.CancelScope(shield=True):
                        await self._teardown()
        finally:
            self._nursery = None
        if failure is not None:
            raise failure

    async def kill(self) -> None:
        """SIGKILL the process group (a crash) and wait until it is gone; the socket stays."""
        if self._current is not None:
            await self._end(self._current, graceful=False, why="kill()")

    async def terminate(self) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace`` real seconds, wait."""
        if self._current is not None:
            await self._end(self._current, graceful=True, why="terminate()")

    async def stop(self) -> None:
        """SIGSTOP the process group: it freezes, connections are accepted but hang."""
        launch = self._alive("stop")
        if launch is not None and self._signal(launch, signal.SIGSTOP):
            self._stopped = True
            await self._wait_state(launch, stopped=True)
            LOG.info("plugin %s stopped (SIGSTOP)", self._name, extra={"plugin": self._name})

    async def cont(self) -> None:
        """SIGCONT the process group after :meth:`stop`."""
        launch = self._alive("cont")
        if launch is not None and self._signal(launch, signal.SIGCONT):
            self._stopped = False
            await self._wait_state(launch, stopped=False)
            LOG.info("plugin %s continued (SIGCONT)", self._name, extra={"plugin": self._name})

    async def restart(self, *, keep_socket: bool = False) -> None:
        """Terminate the process (if still running) and start it again; wait for the socket.

        ``keep_socket`` leaves a stale socket file where the dead process left it (after
        :meth:`kill`), as a host restarting a crashed plugin does: the plugin must replace
        it.  Raises :class:`PluginStartError` if the new process does not come up (the
        :meth:`run` task keeps running, with a dead plugin).
        """
        if self._current is not None:
            await self._end(self._current, graceful=True, why="restart()")
        await self._launch(keep_socket=keep_socket)

    def remove_socket(self) -> None:
        """Unlink the socket file while the process keeps running (it stops being found)."""
        with contextlib.suppress(FileNotFoundError):
            self._socket.unlink()
            LOG.info(
                "plugin %s: removed %s", self._name, self._socket, extra={"plugin": self._name}
            )

    # -- starting ------------------------------------------------------------------------

    async def _share_propagated_mount(self) -> None:
        if self._propagated is None:
            return
        try:
            with real_io():
                await self._propagated.setup()
        except OSError as exc:
            raise PluginStartError(
                f"plugin {self._name}: cannot share {self._propagated.path} with the host: {exc}",
                name=self._name,
                exit_status=None,
                output=(),
            ) from exc

    async def _launch(self, *, keep_socket: bool = False) -> None:
        nursery = self._nursery
        if nursery is None or self._closing:
            raise RuntimeError(
                f"plugin {self._name} is not running: use `await nursery.start(plugin.run)`"
            )
        with real_io():  # spawning, probing and waiting for the socket are real-world I/O
            command = await self._command()
            self._socket.parent.mkdir(parents=True, exist_ok=True)
            # A stale socket is removed unless asked (only a live one would fool the
            # readiness check, and the process that served it is gone).
            if self._socket.is_socket() and not keep_socket:
                self._socket.unlink()
            LOG.info(
                "starting plugin %s: %s",
                self._name,
                shlex.join(command),
                extra={"plugin": self._name},
            )
            try:
                proc = await trio.lowlevel.open_process(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                    env={**(os.environ if self._inherit_env else {}), **self._env},
                    cwd=self._cwd,
                )
            except OSError as exc:
                raise PluginStartError(
                    f"plugin {self._name} could not be started: {exc}\n"
                    f"command: {shlex.join(command)}",
                    name=self._name,
                    exit_status=None,
                    output=(),
                ) from exc
            launch = _Launch(proc, command)
            self._current, self._exit_status, self._stopped = launch, None, False
            for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
                assert isinstance(stream, trio.lowlevel.FdStream)
                launch.pipe_inodes.add(os.fstat(stream.fileno()).st_ino)
                scope = trio.CancelScope(shield=True)  # keeps reading while we stop the plugin
                launch.pump_scopes.append(scope)
                nursery.start_soon(self._pump, launch, stream, name, scope)
            nursery.start_soon(self._reap, launch)
            await self._wait_ready(launch)

    async def _command(self) -> list[str]:
        if not self._private_run:
            return list(self._argv)
        source, target = socket_dir_redirect(self._root)
        source.mkdir(parents=True, exist_ok=True)
        command, reason = await private_run_command(source, target, self._argv)
        if command is None:
            LOG.warning(
                "plugin %s: private_run is not available here (%s); running it in this "
                "mount namespace, so a hard-coded %s path is the host's, not %s",
                self._name,
                reason,
                target,
                source,
                extra={"plugin": self._name},
            )
            return list(self._argv)
        return command

    async def _wait_ready(self, launch: _Launch) -> None:
        started = time.monotonic()
        deadline = started + self._startup_timeout
        interval = _POLL_FIRST
        while True:
            if await accepts_connections(self._socket):
                LOG.info(
                    "plugin %s accepts connections on %s (%.3fs after start)",
                    self._name,
                    self._socket,
                    time.monotonic() - started,
                    extra={"plugin": self._name},
                )
                return
            if launch.exited.is_set():
                await self._end(launch, graceful=False, why="startup failure")
                raise self._start_error(
                    f"plugin {self._name} exited with status {status_text(launch.proc.returncode)} "
                    f"before accepting connections on {self._socket}",
                    launch,
                    exit_status=launch.proc.returncode,
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await self._end(launch, graceful=False, why="startup timeout")
                raise self._start_error(
                    f"plugin {self._name} did not accept connections on {self._socket} "
                    f"within {self._startup_timeout:g}s (real time); it was still running "
                    f"and has been killed",
                    launch,
                    exit_status=None,
                )
            await real_sleep(min(interval, remaining))
            interval = min(interval * 2, _POLL_MAX)

    def _start_error(
        self, headline: str, launch: _Launch, exit_status: int | None
    ) -> PluginStartError:
        tail = self.output[-ERROR_LINES:]
        quoted = "\n".join(f"  {line}" for line in tail) or "  (no output)"
        return PluginStartError(
            f"{headline}\ncommand: {shlex.join(launch.command)}\nlast output:\n{quoted}",
            name=self._name,
            exit_status=exit_status,
            output=tail,
        )

    # -- watching ------------------------------------------------------------------------

    async def _pump(
        self,
        launch: _Launch,
        stream: trio.lowlevel.FdStream,
        name: str,
        scope: trio.CancelScope,
    ) -> None:
        pending = b""
        try:
            with scope:
                while chunk := await stream.receive_some(_LINE_MAX):
                    *lines, pending = (pending + chunk).split(b"\n")
                    for raw in lines:
                        self._line(raw, name)
                    if len(pending) >= _LINE_MAX:  # a very long line: keep it in pieces
                        self._line(pending, name)
                        pending = b""
        finally:
            if pending:
                self._line(pending, name)
            launch.open_pipes -= 1
            if launch.open_pipes == 0:
                launch.drained.set()

    def _line(self, raw: bytes, stream: str) -> None:
        line = raw.decode(errors="replace").rstrip("\r")
        if not line:
            return
        self._output.add(stream, line)
        if self._log_output:  # as dockerd logs a managed plugin's output
            level = logging.INFO if stream == "stdout" else logging.ERROR
            LOG.log(level, "%s plugin=%s", line, self._name, extra={"plugin": self._name})

    async def _reap(self, launch: _Launch) -> None:
        with launch.reap_scope:
            await launch.proc.wait()
        status = launch.proc.returncode
        if status is None:  # given up on: it survived SIGKILL (see _end)
            return
        if launch is self._current:
            self._exit_status = status
            self._stopped = False
        launch.exited.set()
        if launch.ended_by is None:
            LOG.error(
                "plugin %s exited with status %s",
                self._name,
                status_text(status),
                extra={"plugin": self._name},
            )
        else:
            LOG.info(
                "plugin %s exited with status %s after %s",
                self._name,
                status_text(status),
                launch.ended_by,
                extra={"plugin": self._name},
            )

    # -- ending --------------------------------------------------------------------------

    async def _teardown(self) -> None:
        self._closing = True
        if self._current is not None:
            await self._end(self._current, graceful=True, why="teardown")
        self.remove_socket()
        if self._propagated is not None:
            with real_io():
                await self._propagated.teardown()

    async def _end(self, launch: _Launch, *, graceful: bool, why: str) -> None:
        """End ``launch``: its whole group gone and reaped, its output drained, pipes closed."""
        with real_io():
            if not launch.exited.is_set() and launch.ended_by is None:
                launch.ended_by = why
            gone = False
            if graceful and self._signal(launch, signal.SIGTERM):
                self._signal(
                    launch, signal.SIGCONT
                )  # a stopped process acts on SIGTERM once continued
                gone = await self._wait_gone(launch, self._grace)
                if not gone:
                    LOG.warning(
                        "plugin %s still running %gs after SIGTERM: SIGKILL",
                        self._name,
                        self._grace,
                        extra={"plugin": self._name},
                    )
            if not gone:
                self._signal(launch, signal.SIGKILL)
                if not await self._wait_gone(launch, KILL_WAIT):
                    LOG.error(
                        "plugin %s: processes %s survived SIGKILL for %gs (uninterruptible "
                        "sleep?); giving up on them",
                        self._name,
                        group_members(launch.pgid),
                        KILL_WAIT,
                        extra={"plugin": self._name},
                    )
                    launch.reap_scope.cancel()
            await self._drain(launch)
        self._stopped = False

    def _signal(self, launch: _Launch, sig: signal.Signals) -> bool:
        """Signal the group if any of it is left; True if it was."""
        if launch.exited.is_set() and not group_members(launch.pgid):
            return False
        try:
            os.killpg(launch.pgid, sig)
        except ProcessLookupError:
            return False
        return True

    async def _wait_gone(self, launch: _Launch, timeout: float) -> bool:
        """Wait (real time) until the leader is reaped and no group member is left."""
        deadline = time.monotonic() + timeout
        if not await wait_real(launch.exited, timeout):
            return False
        while group_members(launch.pgid):
            if time.monotonic() >= deadline:
                return False
            await real_sleep(0.01)
        return True

    async def _wait_state(self, launch: _Launch, *, stopped: bool) -> None:
        """Wait (real time, at most a second) until the group is (no longer) stopped."""
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and not launch.exited.is_set():
            states = [proc_state(pid) for pid in group_members(launch.pgid)]
            if all((state in ("T", "t")) == stopped for state in states if state):
                return
            await real_sleep(0.002)

    async def _drain(self, launch: _Launch) -> None:
        """Read the plugin's last output, then close its pipes."""
        if launch.closed:
            return
        if not await wait_real(launch.drained, DRAIN_WAIT):
            # Something outside the group (a daemonized child) still holds the pipes.
            await kill_pipe_holders(launch.pipe_inodes, self._name, KILL_WAIT)
            if not await wait_real(launch.drained, DRAIN_WAIT):
                LOG.warning(
                    "plugin %s: output still open; no longer reading it",
                    self._name,
                    extra={"plugin": self._name},
                )
                for scope in launch.pump_scopes:
                    scope.cancel()
                await launch.drained.wait()
        if not launch.closed:
            launch.closed = True
            for stream in (launch.proc.stdout, launch.proc.stderr):
                if stream is not None:
                    await stream.aclose()

    def _alive(self, action: str) -> _Launch | None:
        if self._current is None or not self.running:
            LOG.warning(
                "plugin %s is not running: %s() does nothing",
                self._name,
                action,
                extra={"plugin": self._name},
            )
            return None
        return self._current
