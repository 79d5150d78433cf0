"""The emulator's own control API under ``/emulator/`` (never part of dockerd's answers).

``GET/DELETE /emulator/journal``, ``GET/POST/DELETE /emulator/faults`` (the fault
words of docs/faults.md, JSON or YAML), ``POST /emulator/reset``, ``GET /emulator/plugins``
(the v1 plugins and their activation, as ``plugin-emulator plugins ls`` shows them) and
``GET /emulator/managed-plugins`` (managed plugins and their processes, for
``plugin-emulator plugin ps`` and ``plugin exec``), ``GET /emulator/client`` (who the
server thinks the caller is: the verified TLS client certificate, whose common name
dockerd gives authorization plugins as ``User``) and ``GET /emulator/plugin-output`` (what
the plugins ``serve`` started wrote).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import attrs
import trio
from quart import Blueprint, Response, request

from emulator.api.http import ApiError, empty, json_response
from emulator.api.state import state
from emulator.api.tls import client_identity
from emulator.faults.vocabulary import read_fault_text
from emulator.journal import JournalEntry
from emulator.vocabulary.nodes import ScenarioError, too_big

bp = Blueprint("control", __name__, url_prefix="/emulator")


def _body_text(body: bytes | None) -> Any:
    if body is None:
        return None
    return body.decode("utf-8", errors="replace")


def entry_json(entry: JournalEntry) -> dict[str, Any]:
    """One journal entry; bodies decoded as JSON when they are JSON, as text otherwise."""
    return {
        "seq": entry.seq,
        "call_id": entry.call_id,
        "attempt": entry.attempt,
        "plugin": entry.plugin,
        "method": entry.method,
        "address": entry.address,
        "started": entry.started,
        "duration": entry.duration,
        "request": entry.shown_request,
        "status": entry.status,
        "response": (
            entry.response if entry.response is not None else _body_text(entry.response_body)
        ),
        "error": entry.error,
        "fault": entry.fault,
    }


@bp.get("/journal")
async def journal() -> Response:
    """Every plugin call attempt (``?method=`` and ``?plugin=`` filter)."""
    entries = state().engine.journal.calls(
        request.args.get("method") or None, plugin=request.args.get("plugin") or None
    )
    return json_response([entry_json(e) for e in entries])


@bp.delete("/journal")
async def journal_clear() -> Response:
    state().engine.journal.clear()
    state().logged_calls = 0
    return empty(204)


@bp.get("/faults")
async def faults() -> Response:
    """The active faults (described) and those that fired."""
    fault_set = state().engine.faults
    return json_response(
        {
            "seed": fault_set.seed,
            "faults": [f.describe() for f in fault_set.faults],
            "fired": [
                {
                    "time": f.time,
                    "fault": f.fault,
                    "plugin": f.plugin,
                    "method": f.method,
                    "action": f.action,
                }
                for f in fault_set.fired
            ],
        }
    )


@bp.post("/faults")
async def faults_add() -> Response:
    """Add faults: one fault's words or a list of them (YAML or JSON), as under a
    scenario's ``faults:`` key, nested or flat (docs/faults.md).  A mistake is a 400 with
    the scenario loader's message and its position in the body; the loader's limits
    (``MAX_BYTES``, checked against ``Content-Length`` first, and nodes) apply."""
    length = request.content_length
    problem = too_big(length) if length is not None else None
    if problem is not None:  # refused before the body is read
        raise ApiError(f"invalid fault: <request>:1:1: {problem}")
    data: bytes = await request.get_data(as_text=False)  # type: ignore[assignment]
    try:
        # parsed in a worker thread: a big document never holds up other requests
        faults = await trio.to_thread.run_sync(partial(read_fault_text, data, filename="<request>"))
    except ScenarioError as exc:
        raise ApiError(f"invalid fault: {exc}") from None
    for fault in faults:
        state().engine.faults.add(fault)
    return json_response({"added": [f.describe() for f in faults]}, 201)


@bp.delete("/faults")
async def faults_clear() -> Response:
    state().engine.faults.clear()
    return empty(204)


@bp.post("/reset")
async def reset() -> Response:
    """Forget faults, what fired and the journal."""
    engine = state().engine
    engine.faults.reset()
    engine.journal.clear()
    state().logged_calls = 0
    return empty(204)


@bp.get("/client")
async def client() -> Response:
    """The caller as the server authenticated it (``{"user": "", ...}`` without TLS)."""
    identity = client_identity(request.scope)
    if identity is None:
        return json_response({"authenticated": False, "user": "", "subject": ""})
    return json_response(
        {"authenticated": True, "user": identity.common_name, "subject": identity.subject}
    )


@bp.get("/plugins")
async def plugins() -> Response:
    """v1 plugins, each activated as dockerd does when it enumerates them."""
    reports = await state().engine.plugins.survey()
    return json_response(
        [
            {
                "name": r.name,
                "address": r.spec.addr if r.spec else None,
                "source": str(r.source) if r.source else None,
                "implements": list(r.implements) if r.implements is not None else None,
                "error": r.error,
            }
            for r in reports
        ]
    )


@bp.get("/managed-plugins")
async def managed_plugins() -> Response:
    """Managed plugins with their process (pid, status), socket, working directory and env."""
    return json_response([attrs.asdict(p) for p in state().engine.managed_plugins.processes()])


@bp.get("/plugin-output")
async def plugin_output() -> Response:
    """What each plugin ``serve`` started wrote: ``[{plugin, lines: [{number, stream,
    text}]}]``; ``?plugin=NAME`` picks one, ``?since=N`` only lines numbered above N."""
    wanted = request.args.get("plugin") or None
    outputs = state().plugin_outputs
    if wanted is not None and wanted not in outputs:
        known = ", ".join(sorted(outputs)) or "none"
        raise ApiError(f"no plugin {wanted!r} was started by serve (started: {known})", 404)
    try:
        since = int(request.args.get("since") or 0)
    except ValueError:
        raise ApiError(f"since must be a line number, not {request.args['since']!r}") from None
    return json_response(
        [
            {"plugin": name, "lines": [attrs.asdict(line) for line in output.lines(since)]}
            for name, output in sorted(outputs.items())
            if wanted is None or name == wanted
        ]
    )
