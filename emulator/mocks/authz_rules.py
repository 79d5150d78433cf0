"""The built-in mock authz plugin's rules and what it was asked (:mod:`emulator.mocks.authz`).

Kept apart from the plugin so that reading a scenario file's ``authz`` rules loads
neither the plugin nor its table of deliberate bugs.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any, Final, Literal

import attrs

from emulator.matching import value_matches
from emulator.protocol import engine_api as api

__all__ = ["PHASES", "AuthzAsked", "AuthzRule", "Phase"]

Phase = Literal["request", "response", "both"]
PHASES: Final = ("request", "response", "both")


@attrs.frozen
class AuthzRule:
    """One allow/deny rule (see the module docstring for how it matches)."""

    allow: bool = True
    msg: str = ""
    method: str | None = None
    path: str | None = None
    user: str | None = None
    body: Mapping[str, Any] | None = None
    phase: Phase = "request"
    error: str | None = None
    """Answer HTTP 500 ``{"Err": error}`` instead of a verdict."""

    def __attrs_post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, not {self.phase!r}")
        if self.path is not None:
            re.compile(self.path)

    def matches(self, phase: str, request: AuthzAsked) -> bool:
        """Whether this rule decides ``request`` in ``phase`` (``request``/``response``)."""
        if self.phase not in (phase, "both"):
            return False
        if self.method is not None and request.method != self.method:
            return False
        if self.path is not None and not re.search(self.path, request.path):
            return False
        if self.user is not None and request.user != self.user:
            return False
        return self.body is None or value_matches(dict(self.body), request.body_json())


@attrs.frozen
class AuthzAsked:
    """One call the plugin received, decoded, with the answer it gave."""

    phase: str
    """``request`` (AuthZReq) or ``response`` (AuthZRes)."""
    wire: Mapping[str, Any]
    """The request JSON as sent (base64 bodies)."""
    allowed: bool | None
    """The verdict; None when the plugin answered with an error."""
    msg: str

    @property
    def method(self) -> str:
        return str(self.wire.get("RequestMethod", ""))

    @property
    def uri(self) -> str:
        """``RequestUri``: the request-target as the client sent it."""
        return str(self.wire.get("RequestUri", ""))

    @property
    def path(self) -> str:
        """The request path without API-version prefix and query."""
        path = self.uri.split("?", 1)[0]
        match = api.VERSIONED_PATH.match(path)
        return match.group(2) if match else path

    @property
    def user(self) -> str:
        return str(self.wire.get("User", ""))

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.wire.get("RequestHeaders") or {})

    @property
    def body(self) -> bytes:
        """``RequestBody``, decoded (``b""`` when dockerd did not forward it)."""
        return _bytes(self.wire.get("RequestBody"))

    @property
    def response_body(self) -> bytes:
        return _bytes(self.wire.get("ResponseBody"))

    @property
    def status(self) -> int:
        """``ResponseStatusCode`` (0 when absent)."""
        return int(self.wire.get("ResponseStatusCode") or 0)

    @property
    def certificates(self) -> list[str]:
        """The client's certificates as PEM text."""
        return [_bytes(c).decode() for c in self.wire.get("RequestPeerCertificates") or ()]

    def body_json(self) -> Any:
        """The request body as JSON data (None when absent or not JSON)."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


def _bytes(value: object) -> bytes:
    return base64.b64decode(value) if isinstance(value, str) else b""
