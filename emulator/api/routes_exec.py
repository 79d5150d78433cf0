"""``docker exec`` over the API: create and inspect (start is hijacked: :mod:`emulator.api.attach`).

moby/moby ``api/server/router/container/exec.go`` and ``daemon/exec.go`` (v28.5.2):
``POST /containers/{id}/exec`` answers 201 ``{"Id"}``, ``GET /exec/{id}/json`` the
``ExecInspect`` the CLI reads the exit code from.  Terminals and privileged execs are
refused: the emulator's processes have neither.
"""

from __future__ import annotations

from quart import Blueprint, Response, request

from emulator.api.http import ApiError, field, json_object, json_response, read_json
from emulator.api.state import state

bp = Blueprint("exec", __name__)


@bp.post("/containers/<ref>/exec")
async def create(ref: str) -> Response:
    """``postContainerExecCreate``: 201 ``{"Id": ...}``."""
    body = json_object(await read_json(request), "container.ExecOptions")
    what = "ExecOptions"
    if field(body, "Tty", bool, what):
        raise ApiError(
            "plugin-emulator cannot honour -t/--tty for docker exec: its containers have no "
            "terminal (docs/containers.md); run without it"
        )
    if field(body, "Privileged", bool, what):
        raise ApiError(
            "plugin-emulator cannot honour --privileged for docker exec: no privileged "
            "processes (docs/containers.md)"
        )
    command = [str(w) for w in field(body, "Cmd", list, what) or []]
    instance = state().engine.containers.execs.create(
        ref,
        command,
        env=[str(e) for e in field(body, "Env", list, what) or []],
        user=field(body, "User", str, what) or "",
        working_dir=field(body, "WorkingDir", str, what) or "",
        stdin=bool(field(body, "AttachStdin", bool, what)),
        stdout=bool(field(body, "AttachStdout", bool, what)),
        stderr=bool(field(body, "AttachStderr", bool, what)),
    )
    return json_response({"Id": instance.id}, 201)


@bp.get("/exec/<exec_id>/json")
async def inspect(exec_id: str) -> Response:
    """``ExecInspect``."""
    return json_response(state().engine.containers.execs.get(exec_id).inspect())


@bp.post("/exec/<exec_id>/resize")
async def resize(exec_id: str) -> Response:
    """Execs have no terminal here: nothing to resize."""
    state().engine.containers.execs.get(exec_id)
    raise ApiError(f"exec {exec_id} has no terminal to resize (plugin-emulator runs none)")
