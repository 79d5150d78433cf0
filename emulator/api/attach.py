"""The ASGI layer in front of the Quart app: API versions, common headers, hijacked streams.

dockerd's router strips ``/v<version>`` and rejects versions it does not serve; every
answer carries ``Server``, ``Api-Version``, ``Ostype`` and ``Docker-Experimental``.
``POST /containers/{id}/attach`` and ``POST /exec/{id}/start`` answer ``101 UPGRADED``
and hijack the connection (:mod:`emulator.api.hijack`): output as stdcopy frames, stdin
from the client, until the run (or the exec) is over.  A container that follows the
command table prints nothing: its attachment ends when it stops.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import trio

from emulator.api.connections import HijackedStream
from emulator.api.hijack import AttachOptions, serve_attach, serve_exec
from emulator.api.http import ApiError, json_body, json_object, note_handler_error
from emulator.api.state import ApiState
from emulator.engine.containers import ContainerError
from emulator.engine.events import Event
from emulator.errors import EngineError
from emulator.protocol import engine_api as api

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("emulator.api")

#: ``POST /containers/{id}/attach``, served here rather than by the Quart app.
ATTACH_ROUTE = re.compile(r"^/containers/([^/]+)/attach$")
#: ``POST /exec/{id}/start``, hijacked too.
EXEC_START_ROUTE = re.compile(r"^/exec/([^/]+)/start$")
_MAX_EXEC_BODY = 1 << 20
_COMMON = [(k.lower().encode(), v.encode()) for k, v in api.COMMON_HEADERS]


class EngineASGI:
    """Wraps the Quart app: version prefix, version checks, headers, attach."""

    def __init__(self, app: ASGIApp, state: ApiState, attached: dict[str, int]) -> None:
        self.app = app
        self.state = state
        self.attached = attached

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        log.debug("Calling %s %s", scope["method"], path)
        version = api.API_VERSION
        match = api.VERSIONED_PATH.match(path)
        if match:
            version, path = match.group(1), match.group(2)
            problem = api.version_error(version)
            if problem is not None:
                note_handler_error(scope)  # the version middleware's error
                await _send_json(send, 400, {"message": problem})
                return
            scope = dict(scope, path=path, raw_path=path.encode())
        scope["emulator_api_version"] = version

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"server"]
                message = dict(message, headers=[*headers, *_COMMON])
            await send(message)

        attach = ATTACH_ROUTE.match(path)
        exec_start = EXEC_START_ROUTE.match(path)
        try:
            if attach and scope["method"] == "POST":
                await self._attach(attach.group(1), scope, send_with_headers)
            elif exec_start and scope["method"] == "POST":
                await self._exec_start(exec_start.group(1), scope, receive, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
        finally:
            self._log_plugin_calls()

    async def _attach(self, ref: str, scope: Scope, send: Send) -> None:
        """``postContainersAttach``: 101, then the streams until the run is over."""
        engine = self.state.engine
        try:
            container = engine.containers.get(ref)
        except ContainerError as exc:
            await _send_json(send, exc.http_status, {"message": str(exc)})
            return
        query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
        options = AttachOptions(**{k: _flag(query, k) for k in _ATTACH_FLAGS})
        hijack = (scope.get("extensions") or {}).get("emulator.hijack")
        cid = container.id
        self.attached[cid] = self.attached.get(cid, 0) + 1
        try:
            with engine.events.subscribe() as live:
                raw = hijack() if hijack is not None else None
                switched = await self._upgrade("attach", scope, send, raw)
                if raw is not None and engine.runtime.runs(container):
                    await serve_attach(engine.containers, container, raw, options)
                else:
                    engine.containers.emit_event(container, "attach", {})
                    if container.state == "created" or container.running:
                        await _until_ended(live, cid)
                if not switched:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                # The connection is then closed, which is how the CLI learns the output
                # is over.
        finally:
            self.attached[cid] -= 1
            if self.attached[cid] == 0:
                del self.attached[cid]

    async def _upgrade(
        self, kind: str, scope: Scope, send: Send, raw: HijackedStream | None
    ) -> bool:
        """dockerd's ``101 UPGRADED`` (the client sent ``Upgrade``) or ``200 OK`` head,
        written on the hijacked connection.  True when the ASGI answer is a 101 (no body
        follows it).

        The ASGI answer still goes to hypercorn, which writes nothing on a hijacked
        connection: a 200 there, whatever the head (h11 refuses a 101 to a client that
        did not also send ``Connection: Upgrade``, which dockerd does not ask for).
        Without a hijackable connection, the 101 goes through ASGI.
        """
        headers = dict(scope.get("headers", []))
        upgrade = b"upgrade" in headers
        version = scope["emulator_api_version"]
        head = api.hijack_head(kind, upgrade=upgrade, multiplexed=True, version=version)
        lines = head.decode("latin-1").split("\r\n")
        response_headers = [
            (name.lower().encode(), value.encode())
            for name, _, value in (line.partition(": ") for line in lines[1:] if line)
        ]
        switched = upgrade and raw is None
        if raw is not None:
            await raw.send_all(head)
        status = 101 if switched else 200
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        return switched

    async def _exec_start(self, exec_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        """``postContainerExecStart``: detached, or hijacked until the exec ends."""
        engine = self.state.engine
        try:
            body = json_object(_decode(await _read_body(receive)), "container.ExecStartOptions")
            if body.get("Tty"):
                raise ContainerError(
                    "plugin-emulator cannot honour a terminal for docker exec (-t): its "
                    "containers have none",
                    http_status=400,
                )
            engine.containers.execs.get(exec_id)
            if body.get("Detach"):
                await engine.nursery.start(engine.containers.execs.start, exec_id, _discard)
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
        except EngineError as exc:
            await _send_json(send, exc.http_status, {"message": str(exc)})
            return
        hijack = (scope.get("extensions") or {}).get("emulator.hijack")
        raw = hijack() if hijack is not None else None
        switched = await self._upgrade("exec", scope, send, raw)
        if raw is not None:
            await serve_exec(engine.containers, exec_id, raw)
        if not switched:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _log_plugin_calls(self) -> None:
        """One debug line per plugin call made since the last request."""
        journal = self.state.engine.journal
        start = self.state.logged_calls
        if start > journal.recorded:  # the journal was cleared or replaced
            start = 0
        for entry in journal.since(start):
            outcome = entry.error or f"status {entry.status}"
            log.debug(
                "plugin call %s %s (%.3fs): %s",
                entry.plugin,
                entry.method,
                entry.duration,
                outcome,
                extra={"fields": {"plugin": entry.plugin, "method": entry.method}},
            )
        self.state.logged_calls = journal.recorded


_ATTACH_FLAGS = ("stdin", "stdout", "stderr", "stream", "logs")


async def _until_ended(live: trio.MemoryReceiveChannel[Event], cid: str) -> None:
    """Until the container dies or is removed (a container of the command table)."""
    async for event in live:
        if (
            event.type == "container"
            and event.attributes.get("id") == cid
            and event.action in ("die", "destroy")
        ):
            return


def _flag(query: dict[str, list[str]], key: str) -> bool:
    """``httputils.BoolValue``."""
    value = (query.get(key) or [""])[0].strip().lower()
    return value not in ("", "0", "no", "false", "none")


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body
        body += bytes(message.get("body", b""))
        if len(body) > _MAX_EXEC_BODY:
            raise ApiError("request body too large")
        if not message.get("more_body"):
            return body


def _decode(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ApiError(f"invalid JSON: {exc}") from None


async def _discard(stream: str, data: bytes) -> None:
    """A detached exec's output goes nowhere (dockerd gives it no streams)."""


async def _send_json(send: Send, status: int, value: Any) -> None:
    body = json_body(value)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", api.JSON_CONTENT_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                *_COMMON,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
