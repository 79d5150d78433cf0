"""The Engine API with the plugin as dockerd's whole authorization chain, for the authz checks.

:func:`authz_api` serves the check's engine on a unix socket of its own and puts the plugin
in the chain (``--authorization-plugin PLUGIN``) for the duration of one check; every
request then goes through :mod:`emulator.api.authz` exactly as through dockerd's
middleware.  :meth:`AuthzApi.send` returns the engine's answer with the ``AuthZReq`` and
``AuthZRes`` attempts it caused, read back from the journal.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from emulator.api.clients import ApiEndpoint
from emulator.check.answers import describe
from emulator.check.api_client import ApiAnswer, ApiRequest, send
from emulator.check.context import CheckContext
from emulator.errors import EngineError
from emulator.golang import json as gojson
from emulator.journal import JournalEntry
from emulator.protocol import authz as proto
from emulator.protocol import engine_api as api

__all__ = ["AuthzApi", "Exchanged", "authz_api", "everyday", "everyday_requests", "verdict_of"]

#: What the docker CLI sends as ``User-Agent``.
CLI_AGENT = "Docker-Client/28.5.2 (linux)"
#: dockerd's texts for a request the chain stopped (pkg/authorization/authz.go).
DENIED_PREFIX = "authorization denied by plugin "
FAILED_PREFIX = "plugin "
FAILED_MIDDLE = " failed with error: "


def verdict_of(entry: JournalEntry) -> proto.AuthzResponse | None:
    """dockerd's reading of ``entry``'s answer (``authorization.Response``, decoded as Go
    decodes it), or None unless it is a 200 that decodes."""
    if entry.status != 200 or entry.response_body is None:
        return None
    try:
        return gojson.loads_into(entry.response_body, proto.AuthzResponse)
    except gojson.GoJSONError:
        return None


@attrs.frozen
class Exchanged:
    """One API request through the chain: the engine's answer and the plugin calls it made."""

    request: ApiRequest
    answer: ApiAnswer
    calls: tuple[JournalEntry, ...]
    """The ``AuthZReq``/``AuthZRes`` attempts made for it, in order."""
    engine_seconds: float
    wall_seconds: float

    def attempts(self, method: str) -> list[JournalEntry]:
        """The attempts of ``AuthZReq`` or ``AuthZRes`` (the method's short name works)."""
        return [e for e in self.calls if e.method == method or e.method.endswith("." + method)]

    def last(self, method: str) -> JournalEntry | None:
        """The last attempt of ``method``."""
        found = self.attempts(method)
        return found[-1] if found else None

    @property
    def denied(self) -> bool:
        """dockerd answered with the chain's refusal (403)."""
        if self.answer.status != 403:
            return False
        if self.answer.body:
            return self.answer.message.startswith(DENIED_PREFIX)
        verdict = verdict_of(self.calls[-1]) if self.calls else None  # HEAD: no body
        return verdict is not None and not verdict.Allow

    @property
    def plugin_failed(self) -> bool:
        """dockerd answered ``plugin NAME failed with error: …`` (500)."""
        if self.answer.status != 500:
            return False
        if self.answer.body:
            text = self.answer.message
            return text.startswith(FAILED_PREFIX) and FAILED_MIDDLE in text
        return bool(self.calls) and verdict_of(self.calls[-1]) is None  # HEAD: no body

    @property
    def authorized(self) -> bool:
        """The request got past AuthZReq (and AuthZRes) to an answer of its handler."""
        return self.answer.status != 0 and not self.denied and not self.plugin_failed

    @property
    def failed_call(self) -> JournalEntry | None:
        """The plugin call dockerd could not read, when :attr:`plugin_failed`."""
        if not self.plugin_failed:
            return None
        return self.calls[-1] if self.calls else None

    def describe(self) -> str:
        """``GET /v1.51/version → 500 plugin … failed with error: …`` (for an answer
        without a body, a HEAD's, what the plugin answered)."""
        shown = f"{self.request.describe()} → {self.answer.describe()}"
        if self.answer.status and not self.answer.body and self.calls:
            shown += f" (no body; the plugin: {describe(self.calls[-1])})"
        return shown


class AuthzApi:
    """The engine's API on ``socket``, with the check's plugin as the authz chain."""

    def __init__(self, ctx: CheckContext, socket: Path) -> None:
        self.ctx = ctx
        self.socket = socket
        self.version = f"/v{api.API_VERSION}"

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        json_body: Any = None,
        headers: Sequence[tuple[str, str]] | None = None,
        chunked: bool = False,
        label: str = "",
        versioned: bool = True,
    ) -> ApiRequest:
        """A request as the docker CLI writes it (its ``User-Agent``; ``Content-Type:
        application/json`` with a JSON body), unless ``headers`` are given."""
        if json_body is not None:
            body = gojson.encode(json_body)
        if headers is None:
            headers = [("User-Agent", CLI_AGENT)]
            if body or json_body is not None:
                headers.append(("Content-Type", "application/json"))
        target = (self.version if versioned else "") + path
        return ApiRequest(method, target, tuple(headers), body, chunked, label)

    async def send(self, request: ApiRequest) -> Exchanged:
        """Send ``request``; the answer and the plugin calls made meanwhile."""
        journal = self.ctx.engine.journal
        before = len(journal)
        started, wall = trio.current_time(), time.perf_counter()
        answer = await send(self.socket, request)
        calls = tuple(e for e in journal.entries[before:] if self._ours(e))
        return Exchanged(
            request,
            answer,
            calls,
            trio.current_time() - started,
            time.perf_counter() - wall,
        )

    async def send_all(self, requests: Sequence[ApiRequest]) -> list[Exchanged]:
        """Send ``requests`` at once (one connection each); calls are matched by
        ``RequestMethod`` and ``RequestUri``, so the targets must differ."""
        journal = self.ctx.engine.journal
        before = len(journal)
        answers: list[ApiAnswer | None] = [None] * len(requests)
        started, wall = trio.current_time(), time.perf_counter()

        async def one(index: int) -> None:
            answers[index] = await send(self.socket, requests[index])

        async with trio.open_nursery() as nursery:
            for index in range(len(requests)):
                nursery.start_soon(one, index)
        engine, elapsed = trio.current_time() - started, time.perf_counter() - wall
        made = [e for e in journal.entries[before:] if self._ours(e)]
        out = []
        for request, answer in zip(requests, answers, strict=True):
            assert answer is not None
            mine = tuple(e for e in made if _asks_about(e, request))
            out.append(Exchanged(request, answer, mine, engine, elapsed))
        return out

    def _ours(self, entry: JournalEntry) -> bool:
        return entry.method in (proto.AUTHZ_REQ, proto.AUTHZ_RES) and entry.plugin in (
            self.ctx.plugin,
            *self.ctx.engine.authz.names,
        )


def _asks_about(entry: JournalEntry, request: ApiRequest) -> bool:
    data = entry.request
    return (
        isinstance(data, dict)
        and data.get("RequestMethod") == request.method
        and data.get("RequestUri") == request.target
    )


class _QuietChain(logging.Filter):
    """Drops dockerd's error lines about the chain's requests and the plugin's answers
    (the check reports them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not text.startswith(("AuthZRequest for", "AuthZResponse for", "AuthZPlugin."))


@asynccontextmanager
async def authz_api(ctx: CheckContext) -> AsyncIterator[AuthzApi]:
    """Serve ``ctx.engine``'s API with ``ctx.plugin`` as the chain, for one check.

    The server runs in the engine's nursery (a check's verdict raised meanwhile reaches
    the runner as itself, not in an exception group).
    """
    quiet = _QuietChain()
    loggers = [logging.getLogger(name) for name in ("emulator.api", "emulator.plugins")]
    for logger in loggers:
        logger.addFilter(quiet)
    endpoint = ApiEndpoint(ctx.workdir / "api.sock")
    try:
        await endpoint.start(ctx.engine)
        ctx.engine.authz.set_plugins([ctx.plugin])
        yield AuthzApi(ctx, endpoint.socket_path)
    finally:
        with trio.CancelScope(shield=True):
            ctx.engine.authz.set_plugins([])
            await endpoint.aclose()
        for logger in loggers:
            logger.removeFilter(quiet)


def everyday_requests(api: AuthzApi, volume: str) -> list[ApiRequest]:
    """What ``docker version``, ``info``, ``ps -a`` and ``volume create/inspect/ls/rm``
    send (the CLI's ping first), with a local volume called ``volume``."""
    create = {"Driver": "local", "DriverOpts": {}, "Labels": {}, "Name": volume}
    return [
        api.request("HEAD", "/_ping", versioned=False, label="the CLI's ping"),
        api.request("GET", "/_ping", versioned=False, label="the ping's fallback"),
        api.request("GET", "/version", label="docker version"),
        api.request("GET", "/info", label="docker info"),
        api.request("GET", "/containers/json?all=1", label="docker ps -a"),
        api.request("POST", "/volumes/create", json_body=create, label="docker volume create"),
        api.request("GET", f"/volumes/{volume}", label="docker volume inspect"),
        api.request("GET", "/volumes", label="docker volume ls"),
        api.request("DELETE", f"/volumes/{volume}", label="docker volume rm"),
    ]


async def everyday(api: AuthzApi) -> list[Exchanged]:
    """:func:`everyday_requests`, one after the other (the volume is removed after the check)."""
    ctx = api.ctx
    volume = ctx.unique("authz")

    async def remove() -> None:
        with contextlib.suppress(EngineError):
            await ctx.engine.volumes.remove(volume, force=True)

    ctx.defer(remove)
    return [await api.send(r) for r in everyday_requests(api, volume)]
