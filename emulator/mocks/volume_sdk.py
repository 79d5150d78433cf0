"""docker/go-plugins-helpers' volume SDK, as far as its bytes go: wire structs and replies.

The structs keep the SDK's Go type names (they appear in decode error texts); the
replies are what the SDK writes: ``sdk.EncodeResponse`` for success (200) and driver
errors (500 ``{"Err": ...}``), Go's ``http.Error`` for a body that does not decode
(400, ``text/plain``).  :func:`answering` turns a driver method into a handler of
:class:`~emulator.mocks.host.MockPlugin` with those rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

import attrs

from emulator.golang import json as gojson
from emulator.mocks.host import PLUGIN_CONTENT_TYPE, RecordedRequest, Reply

T = TypeVar("T")

# The structs of go-plugins-helpers' volume package, with its Go type names
# (they appear in decode error texts).


@attrs.frozen
class CreateRequest:
    __go_name__ = "volume.CreateRequest"
    Name: str = ""
    Options: dict[str, str] | None = attrs.field(
        default=None, metadata={"json": {"name": "Opts", "omitempty": True}}
    )


@attrs.frozen
class RemoveRequest:
    __go_name__ = "volume.RemoveRequest"
    Name: str = ""


@attrs.frozen
class PathRequest:
    __go_name__ = "volume.PathRequest"
    Name: str = ""


@attrs.frozen
class GetRequest:
    __go_name__ = "volume.GetRequest"
    Name: str = ""


@attrs.frozen
class MountRequest:
    __go_name__ = "volume.MountRequest"
    Name: str = ""
    ID: str = ""


@attrs.frozen
class UnmountRequest:
    __go_name__ = "volume.UnmountRequest"
    Name: str = ""
    ID: str = ""


_OMITEMPTY: Final = {"json": {"omitempty": True}}


@attrs.frozen
class Volume:
    Name: str
    Mountpoint: str = attrs.field(default="", metadata=_OMITEMPTY)
    CreatedAt: str = attrs.field(default="", metadata=_OMITEMPTY)
    Status: dict[str, Any] | None = attrs.field(default=None, metadata=_OMITEMPTY)


@attrs.frozen
class Empty:
    """``struct{}{}``: ``{}``."""


@attrs.frozen
class MountResponse:
    Mountpoint: str


@attrs.frozen
class GetResponse:
    Volume: Volume


@attrs.frozen
class ListResponse:
    Volumes: list[Volume]


@attrs.frozen
class Capability:
    Scope: str


@attrs.frozen
class CapabilitiesResponse:
    Capabilities: Capability


@attrs.frozen
class ErrorResponse:
    Err: str


class DriverError(Exception):
    """A driver refusal, answered ``500 {"Err": "<text>"}``."""


class BadRequest(Exception):
    """A body that does not decode, answered like Go's ``http.Error(w, text, 400)``."""


def ok_reply(response: object) -> Reply:
    """``sdk.EncodeResponse(w, res, false)``."""
    return Reply(status=200, body=gojson.encode(response), content_type=PLUGIN_CONTENT_TYPE)


def error_reply(text: str) -> Reply:
    """``sdk.EncodeResponse(w, NewErrorResponse(text), true)``."""
    return Reply(
        status=500, body=gojson.encode(ErrorResponse(text)), content_type=PLUGIN_CONTENT_TYPE
    )


def bad_request_reply(text: str) -> Reply:
    """Go's ``http.Error(w, text, http.StatusBadRequest)``."""
    return Reply(
        status=400,
        body=text + "\n",
        content_type="text/plain; charset=utf-8",
        headers=(("X-Content-Type-Options", "nosniff"),),
    )


def decode(recorded: RecordedRequest, model: type[T]) -> T:
    """``json.NewDecoder(r.Body).Decode(&req)`` on the raw body."""
    try:
        return gojson.loads_into(recorded.body, model)
    except gojson.GoJSONError as err:
        raise BadRequest(str(err)) from None


def answering(
    driver_call: Callable[[RecordedRequest], object],
) -> Callable[[RecordedRequest], Reply]:
    """Wrap a driver method: its result is encoded, its refusals become error replies."""

    def handler(recorded: RecordedRequest) -> Reply:
        try:
            return ok_reply(driver_call(recorded))
        except BadRequest as bad:
            return bad_request_reply(str(bad))
        except DriverError as err:
            return error_reply(str(err))

    handler.__name__ = getattr(driver_call, "__name__", "handler")
    handler.__doc__ = driver_call.__doc__
    return handler
