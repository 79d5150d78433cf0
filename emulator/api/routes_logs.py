"""``GET /containers/{id}/logs`` as dockerd v28.5.2 answers it.

moby/moby ``api/server/router/container/container_routes.go`` ``getContainersLogs``,
``daemon/logs.go`` ``ContainerLogs`` and ``api/server/httputils/write_log_stream.go``:

* no stream chosen: 400 ``Bad parameters: you must choose at least one stream``;
* ``since``/``until`` are ``seconds[.nanoseconds]`` (the CLI turns ``10m`` into one);
  ``until`` ``0`` means unset; a bad number is ``strconv.ParseInt``'s text; ``tail`` that
  is not a number means all;
* the driver's refusals come before the stream starts (``configured logging driver does
  not support reading``: 501);
* then 200 and the lines, multiplexed (stdcopy frames, API ≥ 1.42) or raw; each line
  as the driver gave it back (``json-file``, ``local`` and the cache end lines with
  ``\\n``; a plugin's ``ReadLogs`` lines are written as the plugin sent them), with
  ``timestamps`` the time first (``2006-01-02T15:04:05.000000000Z07:00``), with
  ``details`` a space first (the emulator's records have no attributes);
* an error while reading is written in band on the system-error stream:
  ``Error grabbing logs: <error>``.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import AsyncIterator
from typing import Final

from quart import Response, request

from emulator.api.http import ApiError, bool_value
from emulator.api.state import state
from emulator.engine.containers import ContainerError
from emulator.engine.log_drivers import LogReadError
from emulator.engine.log_store import LogLine, ReadOptions
from emulator.engine.logs import LoggingError
from emulator.protocol import engine_api as api

__all__ = ["container_logs", "parse_timestamp"]

_STDCOPY: Final = struct.Struct(">BxxxI")
_STREAM_IDS: Final = {"stdout": 1, "stderr": 2, "system": 3}


def parse_timestamp(text: str) -> int:
    """``timetypes.ParseTimestamps``: ``seconds[.fraction]`` as Unix nanoseconds."""
    seconds_text, dot, fraction = text.partition(".")
    seconds = _parse_int(seconds_text)
    if not dot:
        return seconds * 1_000_000_000
    nanos = _parse_int(fraction)
    nanos = int(nanos * 10 ** (9 - len(fraction)))
    return seconds * 1_000_000_000 + nanos


def _parse_int(text: str) -> int:
    body = text[1:] if text[:1] in "+-" else text
    if not body.isdigit() or not body.isascii():
        raise ApiError(f'strconv.ParseInt: parsing "{text}": invalid syntax', http_status=500)
    return int(text)


def _options() -> tuple[ReadOptions, bool, bool, bool, bool]:
    stdout, stderr = bool_value(request, "stdout"), bool_value(request, "stderr")
    if not stdout and not stderr:
        raise ApiError("Bad parameters: you must choose at least one stream")
    since_text = request.args.get("since", "")
    until_text = request.args.get("until", "")
    try:
        tail = int(request.args.get("tail", ""))
    except ValueError:
        tail = -1
    options = ReadOptions(
        since=parse_timestamp(since_text) if since_text else None,
        until=parse_timestamp(until_text) if until_text not in ("", "0") else None,
        tail=tail,
        follow=bool_value(request, "follow"),
    )
    timestamps, details = bool_value(request, "timestamps"), bool_value(request, "details")
    return options, stdout, stderr, timestamps, details


def fixed_time(unix_nanos: int, *, local: bool) -> str:
    """``rfc3339NanoFixed``: nine fraction digits, ``Z`` or the zone offset."""
    seconds, nanos = divmod(unix_nanos, 1_000_000_000)
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    if local:
        moment = moment.astimezone()
    offset = int((moment.utcoffset() or dt.timedelta(0)).total_seconds()) // 60
    zone = (
        "Z"
        if offset == 0
        else f"{'-' if offset < 0 else '+'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    )
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{nanos:09d}{zone}"


async def container_logs(ref: str) -> Response:
    """The route's work (``routes_containers`` registers it)."""
    options, stdout, stderr, timestamps, details = _options()
    engine = state().engine
    container = engine.containers.get(ref)
    try:
        reading = await engine.logs.open(container, options, running=container.running)
    except LoggingError as exc:
        raise ContainerError(str(exc), http_status=exc.http_status) from None
    version = str(request.scope.get("emulator_api_version", api.API_VERSION))
    mux = api.version_tuple(version) >= (1, 42)
    wanted = {"stdout": stdout, "stderr": stderr}

    def frame(stream: str, data: bytes) -> bytes:
        return _STDCOPY.pack(_STREAM_IDS[stream], len(data)) + data if mux else data

    def render(line: LogLine) -> bytes:
        data = line.line
        if details:
            data = b" " + data
        if timestamps:
            data = fixed_time(line.time_nano, local=line.local).encode() + b" " + data
        return data

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b""
            async for line in reading.lines():
                if wanted.get(line.source):
                    yield frame(line.source, render(line))
        except LogReadError as exc:
            yield frame("system", f"Error grabbing logs: {exc}\n".encode())
        finally:
            await reading.aclose()

    content_type = api.MULTIPLEXED_STREAM if mux else api.RAW_STREAM
    response = Response(body(), status=200, content_type=content_type)
    response.timeout = None
    return response
