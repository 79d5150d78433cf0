"""The ASGI layer in front of the Quart app: API versions, common headers, attach (101).

dockerd's router strips ``/v<version>`` and rejects versions it does not serve; every
answer carries ``Server``, ``Api-Version``, ``Ostype`` and ``Docker-Experimental``.
``POST /containers/{id}/attach`` answers ``101 UPGRADED`` and keeps the stream open
(raw stdcopy frames; fake containers print nothing) until the container stops.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from emulator.api.http import json_body, note_handler_error
from emulator.api.state import ApiState
from emulator.engine.containers import ContainerError
from emulator.protocol import engine_api as api

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("emulator.api")

#: ``POST /containers/{id}/attach``, served here rather than by the Quart app.
ATTACH_ROUTE = re.compile(r"^/containers/([^/]+)/attach$")
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
        try:
            if attach and scope["method"] == "POST":
                await self._attach(attach.group(1), scope, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
        finally:
            self._log_plugin_calls()

    async def _attach(self, ref: str, scope: Scope, send: Send) -> None:
        """``postContainersAttach``: 101, then the stream until the container stops."""
        engine = self.state.engine
        try:
            container = engine.containers.get(ref)
        except ContainerError as exc:
            await _send_json(send, exc.http_status, {"message": str(exc)})
            return
        headers = dict(scope.get("headers", []))
        upgrade = headers.get(b"upgrade", b"").lower() == b"tcp"
        media = api.MULTIPLEXED_STREAM
        if api.version_tuple(scope["emulator_api_version"]) < api.version_tuple("1.42"):
            media = api.RAW_STREAM
        cid = container.id
        with engine.events.subscribe() as live:
            self.attached[cid] = self.attached.get(cid, 0) + 1
            try:
                response_headers = [(b"content-type", media.encode())]
                if upgrade:
                    response_headers += [(b"connection", b"Upgrade"), (b"upgrade", b"tcp")]
                await send(
                    {
                        "type": "http.response.start",
                        "status": 101 if upgrade else 200,
                        "headers": response_headers,
                    }
                )
                if container.state == "created" or container.running:
                    async for event in live:
                        if (
                            event.type == "container"
                            and event.attributes.get("id") == cid
                            and event.action in ("die", "destroy")
                        ):
                            break
                if not upgrade:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                # After a 101 the stream ends by returning without a body: hypercorn then
                # closes the connection, which is how the CLI learns the output is over.
            finally:
                self.attached[cid] -= 1
                if self.attached[cid] == 0:
                    del self.attached[cid]

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
