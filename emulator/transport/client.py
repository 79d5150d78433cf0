"""dockerd's plugin client (``pkg/plugins/client.go``), on trio.

One :class:`PluginClient` per plugin for the engine's life, as dockerd keeps one
``*plugins.Client`` per plugin.  :meth:`PluginClient.request` is ``callWithRetry``:
connection errors are retried on dockerd's schedule (attempts at 0, 1, 3, 7, 15 s),
HTTP answers never are; a non-200 answer becomes ``Iface.Method: <Err or body>``.
Every attempt is written to the journal.  All waiting uses trio's clock.
"""

from __future__ import annotations

import json
import logging
import math
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import attrs
import trio

from emulator.errors import (
    PluginCallError,
    PluginDeadlineError,
    PluginHangError,
    PluginResponseError,
    PluginStatusError,
    PluginTransportError,
)
from emulator.faults import Decision, Delay, FaultSet, Respond, Wire
from emulator.golang import errors as goerrors
from emulator.golang import json as gojson
from emulator.golang.time import duration_string as go_duration
from emulator.journal import Journal
from emulator.protocol.http import Target, request_headers, request_path
from emulator.protocol.profiles import EngineProfile
from emulator.protocol.retry import backoff, should_give_up
from emulator.transport.connection import (
    BodyTooLarge,
    Connection,
    ConnectionPool,
    RawResponse,
    StreamedResponse,
    WireFailure,
    WriteMark,
)
from emulator.transport.faulty import StreamFault

log = logging.getLogger("emulator.plugins")

T = TypeVar("T")

#: The emulator stops reading a plugin answer past this size (dockerd has no limit).
DEFAULT_BODY_LIMIT = 64 << 20


@attrs.frozen
class _ResponseErr:
    """What dockerd reads from a non-200 answer (``responseErr`` in ``callWithRetry``)."""

    __go_name__ = "plugins.responseErr"
    Err: str = ""


@attrs.frozen(eq=False)
class CallSettings:
    """What every plugin client of one engine shares, handed whole to what makes clients.

    ``profile`` is the dockerd version emulated (deadlines, retries, dial timeout);
    ``journal`` records every attempt; ``faults`` picks the injected faults (None: none);
    ``hang_guard`` bounds, in engine seconds, a call dockerd would wait on forever (None:
    forever); ``body_limit`` is the largest answer read.
    """

    profile: EngineProfile
    journal: Journal
    faults: FaultSet | None = None
    hang_guard: float | None = 300.0
    body_limit: int = DEFAULT_BODY_LIMIT


class PluginClient:
    """Sends dockerd's requests to one plugin and records each attempt."""

    def __init__(
        self,
        plugin: str,
        target: Target,
        settings: CallSettings,
        *,
        ssl_context: ssl.SSLContext | None = None,
        client_timeout: float | None = None,
    ) -> None:
        self.plugin = plugin
        self.client_timeout = client_timeout
        """Go's ``http.Client.Timeout`` (managed plugins: the ``enable`` timeout; None/0 = none).
        It bounds every attempt, answer body included, on top of any per-call deadline."""
        self._faults = settings.faults
        self.target = target
        self.profile = settings.profile
        self._journal = settings.journal
        self._hang_guard = settings.hang_guard
        self._body_limit = settings.body_limit
        self._paths: dict[str, bytes] = {}  # method → request target, made once
        self._pool = ConnectionPool(
            target, dial_timeout=settings.profile.dial_timeout, ssl_context=ssl_context
        )

    @property
    def dials(self) -> int:
        """How many connections were opened so far (keep-alive reuse keeps this low)."""
        return self._pool.dials

    async def aclose(self) -> None:
        """Close idle connections."""
        await self._pool.aclose()

    async def call(
        self,
        method: str,
        args: object | None,
        ret: type[T],
        *,
        timeout: float | None = None,
    ) -> T:
        """``CallWithOptions``: encode ``args`` (None → empty body), send, decode into ``ret``.

        A 200 answer is decoded as Go's ``json.Decoder`` would (first JSON value,
        case-insensitive keys); an undecodable one raises :class:`PluginResponseError`
        with Go's text (``EOF`` for an empty body).
        """
        body = gojson.encode_or_empty(args)
        response = await self.request(method, body, timeout=timeout)
        try:
            return gojson.loads_into(response.body, ret)
        except gojson.GoJSONError as exc:
            log.error("%s: error reading plugin resp: %s", method, exc)
            raise PluginResponseError(
                str(exc),
                plugin=self.plugin,
                method=method,
                hint=(
                    f"plugin {self.plugin!r} answered {method} with 200 but the body is not "
                    f"the JSON dockerd expects: {_excerpt(response.body)}"
                ),
            ) from None

    async def call_raw(
        self, method: str, args: object | None, *, timeout: float | None = None
    ) -> Any:
        """Like :meth:`call` but returns the first JSON value of the answer as Python data."""
        body = gojson.encode_or_empty(args)
        response = await self.request(method, body, timeout=timeout)
        try:
            return gojson.decode_stream(response.body)
        except gojson.GoJSONError as exc:
            log.error("%s: error reading plugin resp: %s", method, exc)
            raise PluginResponseError(str(exc), plugin=self.plugin, method=method) from None

    async def request(
        self, method: str, body: bytes, *, timeout: float | None = None, retry: bool = True
    ) -> RawResponse:
        """``callWithRetry``: send ``body`` to ``/method`` until an HTTP answer or the budget ends.

        ``timeout`` is dockerd's per-attempt deadline (None = none).  Returns the 200
        answer; raises :class:`PluginStatusError` for any other status,
        :class:`PluginTransportError` when no answer came within the retry budget.
        """
        call_id = self._journal.new_call_id()
        start = trio.current_time()
        payload = body
        number = 1
        while True:
            decision = self._faults.decide(self.plugin, method, payload) if self._faults else None
            attempt = AttemptRecord(
                call_id,
                number,
                method,
                trio.current_time(),
                decision.describe() if decision else None,
            )
            try:
                response = await self._attempt(method, payload, timeout, decision)
            except WireFailure as failure:
                error = self._failure_error(
                    method, self.target.url(method), failure, attempts=number
                )
                self._record(attempt, payload, failure.status, None, str(error))
                if failure.written and self.profile.retry_resends_empty_body:
                    payload = b""  # dockerd reuses one drained bytes.Buffer for every attempt
                delay = self._retry_delay(error, number - 1, start) if retry else None
                if delay is None:
                    raise error from None
                number += 1
                await trio.sleep(delay)
                continue
            except BodyTooLarge as exc:
                raise self._too_large(attempt, payload, exc) from None
            except _Hung:
                raise self._hung(attempt, payload) from None
            return self._answered(attempt, payload, response)

    @asynccontextmanager
    async def stream(self, method: str, args: object) -> AsyncIterator[AsyncIterator[bytes]]:
        """``Client.Stream``: send ``args`` (JSON), retry as :meth:`request` does until an
        answer's head arrives, then give the 200 answer's body as it comes.

        dockerd sets no deadline on a stream (a ``follow`` read lasts as long as the
        plugin sends).  A non-200 answer raises :class:`PluginStatusError` with its
        ``Err``; a body cut short raises :class:`PluginResponseError` (``unexpected EOF``)
        from the iteration.  The journal records the attempt when the head arrives
        (its response body is not kept).
        """
        payload = gojson.encode(args)
        call_id = self._journal.new_call_id()
        start = trio.current_time()
        number = 1
        while True:
            decision = self._faults.decide(self.plugin, method, payload) if self._faults else None
            attempt = AttemptRecord(
                call_id,
                number,
                method,
                trio.current_time(),
                decision.describe() if decision else None,
            )
            try:
                opened = await self._open_stream(method, payload, decision)
            except WireFailure as failure:
                error = self._failure_error(
                    method, self.target.url(method), failure, attempts=number
                )
                self._record(attempt, payload, failure.status, None, str(error))
                if failure.written and self.profile.retry_resends_empty_body:
                    payload = b""
                delay = self._retry_delay(error, number - 1, start)
                if delay is None:
                    raise error from None
                number += 1
                await trio.sleep(delay)
                continue
            break
        if isinstance(opened, RawResponse):
            response = self._answered(attempt, payload, opened)
            yield _once(response.body)
            return
        conn, streamed = opened
        try:
            if streamed.status != 200:
                body = b"".join([c async for c in streamed.chunks()])
                self._answered(
                    attempt, payload, RawResponse(streamed.status, streamed.headers, body)
                )
            self._record(attempt, payload, 200, None, None)
            yield self._body(method, streamed)
        finally:
            if streamed.complete and (decision is None or _stream_fault(decision) is None):
                await self._pool.release(conn)
            else:
                await conn.aclose()

    async def _open_stream(
        self, method: str, body: bytes, decision: Decision | None
    ) -> RawResponse | tuple[Connection, StreamedResponse]:
        if decision is not None and isinstance(decision.action, Respond):
            await trio.lowlevel.checkpoint()
            return _synthesized(decision.action)
        fault = _stream_fault(decision)
        conn = await self._pool.acquire()
        try:
            streamed = await conn.open_stream(
                request_path(method).encode(),
                request_headers(self.target, len(body)),
                body,
                body_limit=self._body_limit,
                fault=fault,
            )
        except BaseException:
            await conn.aclose()
            raise
        return conn, streamed

    async def _body(self, method: str, streamed: StreamedResponse) -> AsyncIterator[bytes]:
        try:
            async for chunk in streamed.chunks():
                yield chunk
        except WireFailure as failure:
            raise PluginResponseError(failure.cause, plugin=self.plugin, method=method) from None

    def _retry_delay(self, error: PluginCallError, retries: int, start: float) -> float | None:
        """How long to wait before retrying after ``error``, or None to give up (dockerd's
        ``backoff`` and ``abort``: only connection errors are retried, within the budget)."""
        if not isinstance(error, PluginTransportError):
            return None
        delay = backoff(retries, self.profile.retry_budget)
        if should_give_up(trio.current_time() - start, delay, self.profile.retry_budget):
            return None
        log.warning(
            "Unable to connect to plugin: %s%s: %s, retrying in %s",
            self.target.host_header,
            request_path(error.method),
            error,
            go_duration(delay),
        )
        return delay

    def _answered(
        self, attempt: AttemptRecord, payload: bytes, response: RawResponse
    ) -> RawResponse:
        """Record an HTTP answer; a status other than 200 is dockerd's error."""
        if response.status != 200:
            detail = _status_detail(response.body)
            self._record(attempt, payload, response.status, response.body, None)
            raise PluginStatusError(
                plugin=self.plugin, method=attempt.method, status=response.status, detail=detail
            )
        self._record(attempt, payload, 200, response.body, None)
        return response

    def _too_large(
        self, attempt: AttemptRecord, payload: bytes, exc: BodyTooLarge
    ) -> PluginResponseError:
        text = f"{attempt.method}: {exc}"
        self._record(attempt, payload, exc.status, None, text)
        return PluginResponseError(
            text,
            plugin=self.plugin,
            method=attempt.method,
            attempts=attempt.number,
            hint="dockerd reads any size: raise open_engine(body_limit=...) if real",
        )

    def _hung(self, attempt: AttemptRecord, payload: bytes) -> PluginHangError:
        text = (
            f"{attempt.method}: no answer from plugin {self.plugin} within "
            f"{go_duration(self._hang_guard or 0)}"
        )
        self._record(attempt, payload, None, None, text)
        return PluginHangError(
            text,
            plugin=self.plugin,
            method=attempt.method,
            attempts=attempt.number,
            hint=(
                "dockerd sets no deadline on this call and would wait forever; the "
                "emulator's hang guard stopped it (open_engine(hang_guard=...))"
            ),
        )

    async def _attempt(
        self, method: str, body: bytes, timeout: float | None, decision: Decision | None
    ) -> RawResponse:
        client = self.client_timeout or None
        # The shorter of the two bounds (None when neither is set).
        shorter = client is None or (timeout is not None and timeout <= client)
        bound = timeout if shorter else client
        deadline = bound if bound is not None else self._hang_guard
        mark = WriteMark()
        with trio.CancelScope(
            deadline=trio.current_time() + deadline if deadline is not None else math.inf
        ) as scope:
            if decision is not None and isinstance(decision.action, Respond):
                await trio.lowlevel.checkpoint()  # answered instead of the plugin
                return _synthesized(decision.action)
            return await self._exchange(method, body, mark, _stream_fault(decision))
        assert scope.cancelled_caught
        if bound is None:
            raise _Hung
        # The request buffer is drained only if the request was being written.
        if client is not None and (timeout is None or client < timeout):
            raise WireFailure(goerrors.CLIENT_TIMEOUT, phase="head", written=mark.written)
        raise WireFailure(goerrors.DEADLINE_EXCEEDED, phase="head", written=mark.written)

    async def _exchange(
        self, method: str, body: bytes, mark: WriteMark, fault: StreamFault | None
    ) -> RawResponse:
        """One round trip on a pooled connection; ``fault`` shapes its bytes (see
        ``emulator.transport.faulty``): the connection's own parser and error paths
        report what the fault does."""
        path = self._paths.get(method)
        if path is None:
            path = self._paths[method] = request_path(method).encode()
        conn = await self._pool.acquire()
        ok = False
        try:
            response = await conn.round_trip(
                path,
                request_headers(self.target, len(body)),
                body,
                body_limit=self._body_limit,
                fault=fault,
                mark=mark,
            )
            ok = True
            return response
        finally:
            if ok and (fault is None or fault.keeps_connection):
                await self._pool.release(conn)
            else:
                await conn.aclose()

    def _failure_error(
        self, method: str, url: str, failure: WireFailure, *, attempts: int
    ) -> PluginCallError:
        if failure.phase == "body":
            # Errors while reading the body are not wrapped and never retried.
            if failure.status is not None and failure.status != 200:
                return PluginStatusError(
                    plugin=self.plugin, method=method, status=failure.status, detail=failure.cause
                )
            return PluginResponseError(
                failure.cause, plugin=self.plugin, method=method, attempts=attempts
            )
        text = goerrors.url_error(url, failure.cause)
        deadline = failure.cause in (goerrors.DEADLINE_EXCEEDED, goerrors.CLIENT_TIMEOUT)
        cls = PluginDeadlineError if deadline else PluginTransportError
        return cls(text, plugin=self.plugin, method=method, cause=failure.cause, attempts=attempts)

    def _record(
        self,
        attempt: AttemptRecord,
        request_body: bytes,
        status: int | None,
        response_body: bytes | None,
        error: str | None,
    ) -> None:
        self._journal.record(
            call_id=attempt.call_id,
            attempt=attempt.number,
            plugin=self.plugin,
            method=attempt.method,
            address=self.target.address,
            started=attempt.started,
            duration=trio.current_time() - attempt.started,
            request_body=request_body,
            status=status,
            response_body=response_body,
            error=error,
            fault=attempt.fault,
        )


@attrs.frozen
class AttemptRecord:
    """One HTTP attempt of a call, as the journal will record it."""

    call_id: int
    number: int
    """1 for the first attempt, 2 … for retries."""
    method: str
    started: float
    fault: str | None
    """The injected fault that shapes it, described."""


def _stream_fault(decision: Decision | None) -> StreamFault | None:
    """What a delay or wire fault does to the bytes of one round trip."""
    if decision is None:
        return None
    action = decision.action
    if isinstance(action, Delay):
        return StreamFault("delay", delay=decision.delay)
    assert isinstance(action, Wire)
    return StreamFault(action.kind, rate=action.rate)


class _Hung(Exception):
    """Internal: the hang guard fired on a call dockerd does not bound."""


def _synthesized(respond: Respond) -> RawResponse:
    """The answer a ``respond`` fault gives instead of the plugin."""
    if respond.err is not None:
        body = json.dumps({"Err": respond.err}, separators=(",", ":")).encode() + b"\n"
    elif respond.body is None:
        body = b""
    elif isinstance(respond.body, str):
        body = respond.body.encode()
    else:
        body = json.dumps(dict(respond.body), separators=(",", ":")).encode() + b"\n"
    headers: tuple[tuple[bytes, bytes], ...] = ()
    if respond.content_type:
        headers = ((b"Content-Type", respond.content_type.encode()),)
    return RawResponse(status=respond.status, headers=headers, body=body)


def _status_detail(body: bytes) -> str:
    """What follows ``Iface.Method: `` for a non-200 answer: its ``Err``, else the raw body."""
    try:
        parsed = gojson.structure(gojson.unmarshal(body), _ResponseErr)
    except gojson.GoJSONError:
        return body.decode("utf-8", "replace")
    return parsed.Err or body.decode("utf-8", "replace")


def _excerpt(body: bytes, limit: int = 80) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return repr(text) + ("…" if len(body) > limit else "")


async def _once(data: bytes) -> AsyncIterator[bytes]:
    """A synthesized answer's body as a stream."""
    if data:
        yield data
