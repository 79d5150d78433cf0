"""``/plugins``: managed (v2) plugins as dockerd answers for them (``engine.managed_plugins``).

v1 plugins never appear here (dockerd lists managed plugins only); the control API's
``GET /emulator/plugins`` shows them.  ``plugin install``/``push``/``upgrade`` need a
registry and answer 501 (``not implemented``) here.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

import trio
from quart import Blueprint, Response, request

from emulator.api.http import ApiError, bool_value, empty, filters, read_json
from emulator.api.routes_system import state
from emulator.golang import json as gojson
from emulator.managed.unpack import UnpackError, unpack_tar
from emulator.protocol import engine_api as api

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


@bp.get("/plugins/privileges")
async def plugin_privileges() -> Response:
    """Privileges of a remote reference: no registry here, so none (dockerd: ``[]`` on
    fetch errors)."""
    return _go_json([])


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
    """``docker plugin create``: an (uncompressed) tar of ``config.json`` and ``rootfs/``."""
    name = request.args.get("name", "")
    data: bytes = await request.get_data(as_text=False)  # type: ignore[assignment]
    engine = state().engine
    work = Path(tempfile.mkdtemp(prefix="plugin-create-", dir=engine.data_root))
    try:
        await trio.to_thread.run_sync(_extract, data, work)
        engine.managed_plugins.create(name, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return empty(204)


def _extract(data: bytes, dest: Path) -> None:
    """dockerd reads the body with ``tar.NewReader``: a gzipped body is not a tar."""
    try:
        unpack_tar(io.BytesIO(data), dest)
    except UnpackError as exc:
        raise ApiError(str(exc), 500) from None


@bp.post("/plugins/pull")
@bp.post("/plugins/<path:name>/push")
@bp.post("/plugins/<path:name>/upgrade")
async def plugin_registry(name: str = "") -> Response:
    raise ApiError("plugin-emulator has no registry: create plugins with docker plugin create", 501)
