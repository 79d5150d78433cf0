"""The Engine API app: Quart blueprints behind :class:`~emulator.api.attach.EngineASGI`."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from emulator.api import (
    control,
    routes_containers,
    routes_exec,
    routes_networks,
    routes_plugins,
    routes_refused,
    routes_system,
    routes_volumes,
)
from emulator.api.attach import ATTACH_ROUTE, EXEC_START_ROUTE, EngineASGI
from emulator.api.authz import ApiRoutes, AuthzMiddleware
from emulator.api.http import error_response, note_handler_error
from emulator.api.state import ApiState
from emulator.engine.core import Engine
from emulator.engine.plugin_output import PluginOutput
from emulator.errors import EngineError
from emulator.protocol import engine_api as api

log = logging.getLogger("emulator.api")

#: The largest request body accepted (dockerd has no limit; a tar upload may be big).
MAX_BODY = 256 * 1024 * 1024


def create_app(
    engine: Engine,
    *,
    max_body: int = MAX_BODY,
    plugin_outputs: Mapping[str, PluginOutput] | None = None,
) -> AuthzMiddleware:
    """An ASGI app answering the Engine API (1.51) for ``engine``, plus ``/emulator/``.

    Request bodies over ``max_body`` bytes are refused with 413.  Every routed Engine API
    request goes through ``engine.authz`` first (:mod:`emulator.api.authz`).
    ``plugin_outputs`` is what the plugins started beside the engine wrote
    (``GET /emulator/plugin-output``).
    """
    app = QuartTrio("emulator.api")
    app.config["MAX_CONTENT_LENGTH"] = max_body
    app.config["BODY_TIMEOUT"] = 60
    app.config["RESPONSE_TIMEOUT"] = None
    # dockerd answers OPTIONS itself, on every path (routes_system.options).
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    state = ApiState(engine, plugin_outputs=dict(plugin_outputs or {}))
    attached: dict[str, int] = {}
    app.config["EMULATOR_STATE"] = state
    app.config["EMULATOR_ATTACHED"] = attached
    for module in (
        routes_system,
        routes_volumes,
        routes_networks,
        routes_containers,
        routes_exec,
        routes_plugins,
        routes_refused,
        control,
    ):
        app.register_blueprint(module.bp)

    @app.errorhandler(EngineError)
    async def engine_error(exc: EngineError) -> Response:
        note_handler_error(request.scope)
        if exc.http_status >= 500:
            log.error("Handler for %s returned error: %s", _route(), exc)
        return error_response(str(exc), exc.http_status)

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        note_handler_error(request.scope)
        # Unknown routes and wrong methods are both 404 "page not found" in dockerd.
        if exc.code in (404, 405):
            return error_response(api.PAGE_NOT_FOUND, 404)
        return error_response(exc.description or exc.name, exc.code or 500)

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> Response:
        note_handler_error(request.scope)
        log.exception("Handler for %s failed", _route())
        return error_response(str(exc) or type(exc).__name__, 500)

    inner = EngineASGI(app, state, attached)  # type: ignore[arg-type]
    routes = ApiRoutes(app.url_map, [("POST", ATTACH_ROUTE), ("POST", EXEC_START_ROUTE)])
    return AuthzMiddleware(inner, lambda: state.engine, routes)


def _route() -> str:
    return f"{request.method} {request.path}"
