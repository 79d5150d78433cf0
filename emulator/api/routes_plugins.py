"""``/plugins``: managed (v2) plugins as dockerd answers for them (``engine.managed_plugins``).

v1 plugins never appear here (dockerd lists managed plugins only); the control API's
``GET /emulator/plugins`` shows them.  ``privileges``, ``pull``, ``push`` and
``upgrade`` talk to registries (moby v28.5.2 ``api/server/router/plugin/plugin_routes.go``:
``X-Registry-Auth`` and ``X-Meta-*`` headers, ``parseRemoteRef``, ``getName``, the
``Docker-Plugin-Name`` header, a JSON progress stream).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable

from quart import Blueprint, Response, request

from emulator.api.http import ApiError, bool_value, empty, filters, read_json, spool_body
from emulator.api.progress import progress_response
from emulator.api.state import state
from emulator.engine.managed.remote import RemoteOptions
from emulator.golang import json as gojson
from emulator.protocol import engine_api as api
from emulator.protocol import jsonmessage as jm
from emulator.protocol import plugin_config as pc
from emulator.protocol.reference import ReferenceError, local_name, parse_remote_ref
from emulator.protocol.registry_auth import decode_auth_header

bp = Blueprint("plugins", __name__)


def _go_json(value: object, status: int = 200) -> Response:
    return Response(gojson.encode(value), status=status, content_type=api.JSON_CONTENT_TYPE)


@bp.get("/plugins")
async def plugins_list() -> Response:
    """``Manager.List`` with dockerd's filter checks (``enabled``, ``capability``)."""
    return _go_json(state().engine.managed_plugins.list(filters(request)))


@bp.get("/plugins/<path:name>/json")
async def plugin_inspect(name: str) -> Response:
    return _go_json(state().engine.managed_plugins.inspect(name))


def _remote_options() -> RemoteOptions:
    """``parseHeaders``: ``X-Meta-*`` headers and the decoded ``X-Registry-Auth``."""
    meta = tuple((k, v) for k, v in request.headers.items() if k.lower().startswith("x-meta-"))
    return RemoteOptions(
        auth=decode_auth_header(request.headers.get("X-Registry-Auth", "")),
        meta_headers=meta,
        client_agent=request.headers.get("User-Agent", ""),
    )


async def _privileges_body() -> list[pc.PluginPrivilege]:
    """``httputils.ReadJSON`` into ``types.PluginPrivileges`` (``null`` or empty: none)."""
    body = await read_json(request)
    if body is None:
        return []
    try:
        return gojson.structure(body, list[pc.PluginPrivilege])
    except gojson.GoJSONError as exc:
        raise ApiError(f"invalid JSON: {exc}") from None


def _names(remote: str, name: str) -> str:
    """``parseRemoteRef`` + ``getName``: the local name (errors are 500, as dockerd's)."""
    try:
        ref, tag = parse_remote_ref(remote)
        return local_name(ref, tag, name)
    except ReferenceError as exc:
        raise ApiError(str(exc), 500) from None


@bp.get("/plugins/privileges")
async def plugin_privileges() -> Response:
    """``getPrivileges``: what the remote plugin asks for; ``[]`` when it cannot be fetched."""
    remote = request.args.get("remote", "")
    try:
        parse_remote_ref(remote)
    except ReferenceError as exc:
        raise ApiError(str(exc), 500) from None
    found = await state().engine.managed_plugins.remote_privileges(remote, _remote_options())
    return _go_json(found)


@bp.post("/plugins/pull")
async def plugin_pull() -> Response:
    """``pullPlugin``: install ``remote`` (as ``name``), streaming dockerd's progress."""
    privileges = await _privileges_body()
    remote = request.args.get("remote", "")
    name = _names(remote, request.args.get("name", ""))
    engine, options = state().engine, _remote_options()

    async def operation(out: Callable[[jm.Progress], None]) -> None:
        await engine.managed_plugins.pull(
            remote, name, privileges=privileges, options=options, out=out
        )

    return await progress_response(engine.nursery, operation, {"Docker-Plugin-Name": name})


@bp.post("/plugins/<path:name>/upgrade")
async def plugin_upgrade(name: str) -> Response:
    """``upgradePlugin``: the disabled plugin ``name`` gets ``remote``'s rootfs and config."""
    privileges = await _privileges_body()
    remote = request.args.get("remote", "")
    local = _names(remote, name)
    engine, options = state().engine, _remote_options()

    async def operation(out: Callable[[jm.Progress], None]) -> None:
        await engine.managed_plugins.upgrade(
            local, remote, privileges=privileges, options=options, out=out
        )

    return await progress_response(engine.nursery, operation, {"Docker-Plugin-Name": local})


@bp.post("/plugins/<path:name>/push")
async def plugin_push(name: str) -> Response:
    """``pushPlugin``: to the registry in the plugin's name; the last line is the aux result."""
    engine, options = state().engine, _remote_options()

    async def operation(out: Callable[[jm.Progress], None]) -> None:
        await engine.managed_plugins.push(name, options=options, out=out)

    return await progress_response(engine.nursery, operation)


@bp.post("/plugins/<path:name>/enable")
async def plugin_enable(name: str) -> Response:
    """``timeout`` is required (``strconv.Atoi`` of an empty string fails, 500)."""
    text = request.args.get("timeout", "")
    try:
        timeout = int(text, 10)
    except ValueError:
        raise ApiError(f'strconv.Atoi: parsing "{text}": invalid syntax', 500) from None
    await state().engine.managed_plugins.enable(name, timeout)
    return empty(200)


@bp.post("/plugins/<path:name>/disable")
async def plugin_disable(name: str) -> Response:
    await state().engine.managed_plugins.disable(name, force=bool_value(request, "force"))
    return empty(200)


@bp.delete("/plugins/<path:name>")
async def plugin_remove(name: str) -> Response:
    await state().engine.managed_plugins.remove(name, force=bool_value(request, "force"))
    return empty(200)


@bp.post("/plugins/<path:name>/set")
async def plugin_set(name: str) -> Response:
    """Body: ``["k=v", ...]``; every error is 500, as in dockerd."""
    body = await read_json(request)
    if body is not None and (
        not isinstance(body, list) or not all(isinstance(v, str) for v in body)
    ):
        raise ApiError("invalid JSON: json: cannot unmarshal into Go value of type []string")
    state().engine.managed_plugins.set(name, body or [])
    return empty(204)


@bp.post("/plugins/create")
async def plugin_create() -> Response:
    """``docker plugin create``: an (uncompressed) tar of ``config.json`` and ``rootfs/``.

    The body is spooled as it arrives and unpacked in a worker thread
    (:mod:`emulator.engine.managed.upload`).
    """
    name = request.args.get("name", "")
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
        await spool_body(spool)
        await state().engine.managed_plugins.create_from_tar(name, spool)
    return empty(204)
