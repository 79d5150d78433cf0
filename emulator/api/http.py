"""Request and response helpers shaped as moby's ``httputils``: JSON out, JSON and forms in."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import IO, Any, Final

import attrs
import trio
from quart import Request, Response

from emulator.errors import EngineError
from emulator.golang import json as gojson
from emulator.protocol import engine_api as api


class ApiError(EngineError):
    """An error answered directly by the API layer (bad JSON, bad filters, …)."""

    default_hint = (
        "the request itself is wrong (what the message names: a parameter, a filter, the "
        "JSON body); docs/engine-api.md lists what the emulator accepts"
    )

    def __init__(self, text: str, http_status: int = 400) -> None:
        super().__init__(text)
        self.http_status = http_status


#: The ASGI scope key under which the authz middleware learns that the answer is an error
#: the handler returned (dockerd writes those after its middlewares, see emulator.api.authz).
OUTCOME_KEY = "emulator.handler_outcome"


@attrs.define
class HandlerOutcome:
    """Whether the handler "returned an error" rather than writing an answer."""

    error: bool = False


def note_handler_error(scope: Mapping[str, Any]) -> None:
    """Mark the request of ``scope`` as answered by an error (no-op outside authz)."""
    outcome = scope.get(OUTCOME_KEY)
    if isinstance(outcome, HandlerOutcome):
        outcome.error = True


def json_body(value: Any) -> bytes:
    """``json.Encoder`` with HTML escaping off: compact, UTF-8, newline-terminated.

    Numbers are written as Go writes a ``float64``: a whole number without ``.0``
    (a plugin's ``Status: {"mounts": 0}`` comes back as ``0``, not ``0.0``).  Known
    gap: below 1e-4 Python's exponent form (``1e-05``) differs from Go's (``0.00001``).
    """
    text = json.dumps(_go_numbers(value), separators=(",", ":"), ensure_ascii=False)
    return (text + "\n").encode()


#: Values ``_go_numbers`` passes through as they are.
_LEAVES: Final = frozenset({str, int, bool, type(None)})


def _go_numbers(value: Any) -> Any:
    """``value`` with whole floats (below 1e21, where Go switches to exponents) as ints."""
    kind = type(value)
    if kind in _LEAVES:
        return value  # the common leaves, answered before the isinstance checks below
    if kind is dict:
        return {k: v if type(v) in _LEAVES else _go_numbers(v) for k, v in value.items()}
    if isinstance(value, float):
        negative_zero = value == 0 and math.copysign(1.0, value) < 0
        if value.is_integer() and abs(value) < 1e21 and not negative_zero:
            return int(value)
        return value
    if isinstance(value, dict):
        return {k: _go_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_go_numbers(v) for v in value]
    return value


def json_response(value: Any, status: int = 200) -> Response:
    """``httputils.WriteJSON``."""
    return Response(json_body(value), status=status, content_type=api.JSON_CONTENT_TYPE)


def error_response(message: str, status: int) -> Response:
    """dockerd's error body: ``{"message": ...}`` as ``application/json``."""
    return json_response({"message": message}, status)


def empty(status: int) -> Response:
    """A bodiless answer (204, 304, or 200 with nothing to say)."""
    response = Response(b"", status=status)
    response.headers.pop("Content-Type", None)
    return response


async def read_json(request: Request) -> Any:
    """``httputils.ReadJSON``: None for an empty body, else the decoded JSON (400s as dockerd)."""
    data: bytes = await request.get_data(as_text=False)  # type: ignore[assignment]
    content_type = request.headers.get("Content-Type", "")
    if content_type == "" and not data:
        return None
    if content_type.split(";", 1)[0].strip().lower() != api.JSON_CONTENT_TYPE:
        raise ApiError(api.content_type_error(content_type))
    if not data:
        return None
    try:
        value = gojson.decode_stream(data)
    except gojson.GoJSONError as exc:
        if str(exc) == "EOF":
            raise ApiError(api.JSON_EOF) from None
        raise ApiError(f"invalid JSON: {exc}") from None
    if _more(data):
        raise ApiError(api.JSON_TRAILING)
    return value


def _more(data: bytes) -> bool:
    """``Decoder.More`` after the first value: another value follows (not ``]`` or ``}``)."""
    end = _value_end(data)
    rest = data[end:].lstrip(b" \t\r\n")
    return bool(rest) and rest[:1] not in (b"]", b"}")


def _value_end(data: bytes) -> int:
    """Where the first JSON value of ``data`` ends (it decoded, so it is well formed)."""
    depth = 0
    in_string = escaped = False
    start = len(data) - len(data.lstrip(b" \t\r\n"))
    for index in range(start, len(data)):
        byte = data[index]
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
                if depth == 0:
                    return index + 1
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
        elif byte in (0x5D, 0x7D):
            depth -= 1
            if depth == 0:
                return index + 1
        elif depth == 0 and byte in b" \t\r\n,:]}[{":
            return index
    return len(data)


async def spool_body(spool: IO[bytes]) -> None:
    """Copy the request body into ``spool`` (off the event loop) and rewind it.

    The body is read as it arrives (the app's ``MAX_CONTENT_LENGTH`` still applies),
    so an upload never has to fit in memory.
    """
    async for chunk in request_body():
        await trio.to_thread.run_sync(spool.write, chunk)
    await trio.to_thread.run_sync(spool.seek, 0)


def request_body() -> Any:
    """The current request's body as an async iterator of byte chunks."""
    from quart import request

    return request.body


def json_object(value: Any, what: str) -> dict[str, Any]:
    """A decoded body that must be an object (Go's unmarshal error otherwise)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(
            f"invalid JSON: json: cannot unmarshal {_go_kind(value)} into Go value of type {what}"
        )
    return value


def field(body: Mapping[str, Any], key: str, kind: type, what: str) -> Any:
    """A field with Go's case-insensitive key match and a type check (None when absent)."""
    value = None
    for k, v in body.items():
        if k.lower() == key.lower():
            value = v
            if k == key:
                break
    if value is None:
        return None
    if kind is dict and isinstance(value, dict):
        return value
    if kind is list and isinstance(value, list):
        return value
    if kind is str and isinstance(value, str):
        return value
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ApiError(
        f"invalid JSON: json: cannot unmarshal {_go_kind(value)} into Go struct field "
        f"{what}.{key} of type {_go_type(kind)}"
    )


def string_map(value: Any, what: str) -> dict[str, str] | None:
    """A ``map[string]string`` field."""
    if value is None:
        return None
    if not all(isinstance(v, str) for v in value.values()):
        bad = next(v for v in value.values() if not isinstance(v, str))
        raise ApiError(
            f"invalid JSON: json: cannot unmarshal {_go_kind(bad)} into Go struct field "
            f"{what} of type string"
        )
    return {str(k): v for k, v in value.items()}


def _go_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _go_type(kind: type) -> str:
    return {dict: "map[string]string", list: "[]string", str: "string", bool: "bool"}.get(
        kind, "int"
    )


def bool_value(request: Request, key: str) -> bool:
    """``httputils.BoolValue``."""
    text = request.args.get(key, "").strip().lower()
    return text not in ("", "0", "no", "false", "none")


def filters(request: Request, *, context: str = "") -> dict[str, list[str]]:
    """``filters.FromJSON`` of the ``filters`` query parameter (map or legacy list form)."""
    raw = request.args.get("filters", "")
    if raw == "":
        return {}
    try:
        value = gojson.unmarshal(raw.encode("utf-8", "surrogatepass"))
    except (gojson.GoJSONError, UnicodeError):
        value = None
    result: dict[str, list[str]] = {}
    if isinstance(value, dict):
        for key, inner in value.items():
            if isinstance(inner, dict) and all(isinstance(v, bool) for v in inner.values()):
                result[key] = [k for k, on in inner.items() if on]
            elif isinstance(inner, list) and all(isinstance(v, str) for v in inner):
                result[key] = list(inner)
            else:
                value = None
                break
        else:
            return result
    message = "invalid filter"
    raise ApiError(f"{context}: {message}" if context else message)
