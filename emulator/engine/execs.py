"""``docker exec``: processes in a running container (moby/moby ``daemon/exec.go``, v28.5.2).

:class:`ExecService` keeps dockerd's exec instances: ``create`` checks the container
runs (409 ``container ID is not running``) and the user exists, and logs
``exec_create: CMD ARGS``; ``start`` runs the process in the container's namespaces
(:class:`~emulator.runtime.process.ExecProcess`) with the container's environment,
user, working directory and capabilities unless the exec overrides them, copies its
output to the caller, and when it ends records the exit code and logs ``exec_die``.
A container that follows the command table has no process to exec into: ``create``
says so (409).  Exec output is not the container's log.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import trio

from emulator.engine.container_model import ContainerError
from emulator.engine.container_runtime import unavailable_text
from emulator.runtime.process import ExecProcess, ProcessStartError
from emulator.runtime.spec import (
    CAPABILITIES,
    DEFAULT_PATH,
    CapabilityError,
    UserError,
    capabilities,
    resolve_user,
)

if TYPE_CHECKING:
    from emulator.engine.containers import ContainerService

__all__ = ["ExecInstance", "ExecResult", "ExecService"]

#: How containerd and runc wrap an exec's start failure.
EXEC_PREFIX = "OCI runtime exec failed: exec failed: unable to start container process: "
#: Output of the exec: ``(stream, chunk)`` to the attached client.
Writer = Callable[[str, bytes], Awaitable[None]]
#: The client's stdin: the next chunk, ``b""`` at its end.
Reader = Callable[[], Awaitable[bytes]]


@attrs.define(eq=False)
class ExecInstance:
    """One exec (``container.ExecConfig``)."""

    id: str
    container_id: str
    command: list[str]
    env: list[str]
    user: str
    working_dir: str
    open_stdin: bool = False
    open_stdout: bool = True
    open_stderr: bool = True
    running: bool = False
    exit_code: int | None = None
    pid: int = 0

    def inspect(self) -> dict[str, Any]:
        """``GET /exec/ID/json`` (``ExecInspect``)."""
        process: dict[str, Any] = {
            "tty": False,
            "entrypoint": self.command[0],
            "arguments": self.command[1:],
            "privileged": False,
        }
        if self.user:
            process["user"] = self.user
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": process,
            "OpenStdin": self.open_stdin,
            "OpenStderr": self.open_stderr,
            "OpenStdout": self.open_stdout,
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": "",
            "Pid": self.pid,
        }


@attrs.frozen
class ExecResult:
    """What :meth:`ExecService.run` (``engine.containers.exec``) gives back."""

    exec: ExecInstance
    exit_code: int
    stdout: bytes
    stderr: bytes

    @property
    def output(self) -> str:
        """stdout then stderr, as text."""
        return (self.stdout + self.stderr).decode(errors="replace")


class ExecService:
    """The exec instances of one container service."""

    def __init__(self, containers: ContainerService) -> None:
        self._containers = containers
        self._by_id: dict[str, ExecInstance] = {}

    def get(self, exec_id: str) -> ExecInstance:
        """An exec by ID; 404 ``No such exec instance: ID``."""
        found = self._by_id.get(exec_id)
        if found is None:
            raise ContainerError(f"No such exec instance: {exec_id}", http_status=404)
        return found

    def create(
        self,
        ref: str,
        command: Sequence[str],
        *,
        env: Sequence[str] = (),
        user: str = "",
        working_dir: str = "",
        stdin: bool = False,
        stdout: bool = True,
        stderr: bool = True,
    ) -> ExecInstance:
        """``ContainerExecCreate``."""
        if not command:
            raise ContainerError("No exec command specified", http_status=400)
        containers = self._containers
        container = containers.get(ref)
        if not container.running:
            raise ContainerError(f"container {container.id} is not running", http_status=409)
        if containers.processes.get(container) is None:
            raise ContainerError(unavailable_text(containers.runtime.support), http_status=409)
        config = container.config
        if user:
            try:
                resolve_user(containers.rootfs(container), user)
            except UserError as exc:
                raise ContainerError(str(exc), http_status=400) from None
        hostname = config.hostname or container.id[:12]
        base = _replace_env([f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"], config.env)
        instance = ExecInstance(
            id=secrets.token_hex(32),
            container_id=container.id,
            command=list(command),
            env=_replace_env(base, env),
            user=user or config.user,
            working_dir=working_dir or config.working_dir,
            open_stdin=stdin,
            open_stdout=stdout,
            open_stderr=stderr,
        )
        self._by_id[instance.id] = instance
        containers.emit_event(
            container, "exec_create: " + " ".join(instance.command), {"execID": instance.id}
        )
        return instance

    async def start(
        self,
        exec_id: str,
        write: Writer,
        read: Reader | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> int:
        """``ContainerExecStart``: run it to its end, output to ``write``; its exit code.

        ``task_status`` is told once the process runs (``nursery.start`` for a detached
        exec).  A start failure (the command not found …) is raised as
        :class:`ContainerError` with runc's text; the exec's exit code is then 126 or 127.
        """
        instance = self.get(exec_id)
        containers = self._containers
        container = containers.get(instance.container_id)
        if not container.running or containers.processes.get(container) is None:
            raise ContainerError(f"container {container.id} is not running", http_status=409)
        if instance.exit_code is not None:
            raise ContainerError(f"exec command {instance.id} has already run", http_status=409)
        if instance.running:
            raise ContainerError(f"exec command {instance.id} is already running", http_status=409)
        instance.running = True
        containers.emit_event(
            container, "exec_start: " + " ".join(instance.command), {"execID": instance.id}
        )
        try:
            plan = self._plan(container, instance)
        except ContainerError:
            instance.running, instance.exit_code = False, 126
            raise
        process = ExecProcess(
            containers.directory(container), container.name, plan, stdin=instance.open_stdin
        )
        try:
            await process.start(f"exec-{instance.id[:12]}-")
        except ProcessStartError as exc:
            instance.running, instance.exit_code = False, exc.exit_code
            raise ContainerError(EXEC_PREFIX + str(exc) + ": unknown", http_status=500) from None
        instance.pid = process.pid or 0
        task_status.started()
        try:
            code = await _run(process, instance, write, read)
        finally:
            with trio.CancelScope(shield=True):
                await process.aclose()
        instance.running, instance.exit_code, instance.pid = False, code, 0
        containers.emit_event(container, "exec_die", {"execID": instance.id, "exitCode": str(code)})
        return code

    async def run(
        self,
        ref: str,
        command: Sequence[str],
        *,
        env: Sequence[str] = (),
        user: str = "",
        working_dir: str = "",
        stdin: bytes | None = None,
    ) -> ExecResult:
        """Create and start an exec, collecting its output (``stdin``, then end-of-file)."""
        instance = self.create(
            ref, command, env=env, user=user, working_dir=working_dir, stdin=stdin is not None
        )
        output: dict[str, list[bytes]] = {"stdout": [], "stderr": []}

        async def write(stream: str, data: bytes) -> None:
            output[stream].append(data)

        pending = [stdin] if stdin else []

        async def read() -> bytes:
            return pending.pop() if pending else b""

        code = await self.start(instance.id, write, read if stdin is not None else None)
        return ExecResult(instance, code, b"".join(output["stdout"]), b"".join(output["stderr"]))

    def _plan(self, container: Any, instance: ExecInstance) -> dict[str, Any]:
        containers = self._containers
        config = container.config
        try:
            user = resolve_user(containers.rootfs(container), instance.user, config.group_add)
            kept = capabilities(config.cap_add, config.cap_drop)
        except (UserError, CapabilityError) as exc:
            raise ContainerError(str(exc)) from None
        env = list(instance.env)
        if not any(item.startswith("HOME=") for item in env):
            env.append(f"HOME={user.home}")
        return {
            "mode": "exec",
            "target_pid": container.pid,
            "process": {
                "args": list(instance.command),
                "env": env,
                "cwd": instance.working_dir or "/",
                "uid": user.uid,
                "gid": user.gid,
                "groups": list(user.groups),
                "capabilities": sorted(CAPABILITIES[name] for name in kept),
                "no_new_privileges": config.no_new_privileges,
                "in_user_namespace": containers.runtime.support.rootless,
            },
        }


def _replace_env(base: Sequence[str], given: Sequence[str]) -> list[str]:
    """``ReplaceOrAppendEnvValues``."""
    result = list(base)
    for item in given:
        key = item.split("=", 1)[0]
        for index, existing in enumerate(result):
            if existing.split("=", 1)[0] == key:
                result[index] = item
                break
        else:
            result.append(item)
    return result


async def _run(
    process: ExecProcess, instance: ExecInstance, write: Writer, read: Reader | None
) -> int:
    """Output to ``write`` (what the exec opened), stdin from ``read``, until the exit."""
    wanted: Mapping[str, bool] = {"stdout": instance.open_stdout, "stderr": instance.open_stderr}

    async def pump(source: trio.abc.ReceiveStream, name: str) -> None:
        try:
            while chunk := await source.receive_some(32 * 1024):
                if wanted[name]:
                    await write(name, bytes(chunk))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return

    async def feed(sink: trio.abc.SendStream, source: Reader) -> None:
        try:
            while data := await source():
                await sink.send_all(data)
            await sink.aclose()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return

    async with trio.open_nursery() as nursery:
        if read is not None and process.stdin is not None:
            nursery.start_soon(feed, process.stdin, read)
        async with trio.open_nursery() as output:
            output.start_soon(pump, process.stdout, "stdout")
            output.start_soon(pump, process.stderr, "stderr")
            code = await process.wait()
        nursery.cancel_scope.cancel()
    return code
