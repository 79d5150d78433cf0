"""The built-in mock authorization plugin: allow/deny rules, and a record of what it was asked.

:class:`MockAuthzPlugin` answers ``AuthZPlugin.AuthZReq`` and ``AuthZPlugin.AuthZRes`` the
way a plugin built on docker/go-plugins-helpers' ``authorization`` package does:
``Plugin.Activate`` gives ``{"Implements": ["authz"]}``, a verdict is HTTP 200 with
``{"Allow": ...}`` (and ``Msg`` when there is one), a failure HTTP 500 with
``{"Err": "..."}``, a body that does not decode HTTP 400 with Go's decoder error::

    authz = MockAuthzPlugin(
        [
            AuthzRule(allow=False, method="POST", path=r"^/volumes/create$", msg="no volumes"),
            AuthzRule(allow=False, user="mallory"),
        ]
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(authz.serve, "unix:/tmp/x/run/docker/plugins/authz.sock")

Rules are tried in order for each call; the first that matches decides, and when none
does the plugin allows.  A rule matches when every condition it sets holds:

* ``method``: the HTTP method (``RequestMethod``), exact;
* ``path``: a regular expression searched in the request path without its API-version
  prefix and query (``/volumes/create`` for ``/v1.51/volumes/create?x=1``);
* ``user``: the TLS client's common name (``User``), exact;
* ``body``: a mapping that the JSON request body must contain (nested mappings as
  subsets, the rules of docs/matching.md);
* ``phase``: ``request`` (the default: ``AuthZReq`` only), ``response`` or ``both``.

A rule's answer is ``allow`` with ``msg``, or, with ``error``, a plugin failure
(HTTP 500 ``{"Err": error}``, which dockerd reports as ``plugin NAME failed with error:
AuthZPlugin.AuthZReq: <error>``).  Every call is recorded in :attr:`MockAuthzPlugin.asked`
(decoded: bodies as bytes, certificates as PEM) with the verdict given.

``bugs`` (names from :data:`AUTHZ_BUGS`) make the plugin misbehave in the ways real authz
plugins do, for ``plugin-emulator check``'s tests; without bugs it is the correct plugin
every check passes against.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal

import attrs
import trio

from emulator.golang import json as gojson
from emulator.matching import value_matches
from emulator.mocks.authz_bugs import AUTHZ_BUGS, AuthzBugs
from emulator.mocks.bugs import validate_bugs
from emulator.mocks.host import PLUGIN_CONTENT_TYPE, Handler, MockPlugin, RecordedRequest, Reply
from emulator.protocol import authz as proto
from emulator.protocol import engine_api as api

__all__ = ["AUTHZ_BUGS", "AuthzAsked", "AuthzRule", "MockAuthzPlugin"]

Phase = Literal["request", "response", "both"]
PHASES: Final = ("request", "response", "both")

#: What go-plugins-helpers' SDK answers ``Plugin.Activate`` with (``fmt.Fprintln``).
_ACTIVATE_BODY: Final = b'{"Implements": ["authz"]}\n'


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


class MockAuthzPlugin:
    """A built-in authz plugin: ``rules`` decide, :attr:`asked` records (module docstring)."""

    def __init__(
        self,
        rules: Sequence[AuthzRule] = (),
        *,
        name: str = "authz",
        bugs: Iterable[str] = (),
    ) -> None:
        self.rules: list[AuthzRule] = list(rules)
        self.asked: list[AuthzAsked] = []
        self.bugs = AuthzBugs(validate_bugs(bugs, AUTHZ_BUGS))
        activate = Reply(body=_ACTIVATE_BODY, content_type=PLUGIN_CONTENT_TYPE)
        handlers: dict[str, Handler] = {
            "Plugin.Activate": self.bugs.activation(activate),
            proto.AUTHZ_REQ: self.bugs.wrap("request", lambda r: self._answer("request", r)),
            proto.AUTHZ_RES: self.bugs.wrap("response", lambda r: self._answer("response", r)),
        }
        self.plugin = MockPlugin(("authz",), handlers, name=name)

    def __repr__(self) -> str:
        return f"<MockAuthzPlugin {self.plugin.name!r} rules={len(self.rules)}>"

    async def serve(
        self, bind: str, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve on ``bind`` (see :meth:`MockPlugin.serve`) until cancelled."""
        await self.plugin.serve(bind, task_status=task_status)

    def requests(self) -> list[AuthzAsked]:
        """The ``AuthZReq`` calls received."""
        return [a for a in self.asked if a.phase == "request"]

    def responses(self) -> list[AuthzAsked]:
        """The ``AuthZRes`` calls received."""
        return [a for a in self.asked if a.phase == "response"]

    def _answer(self, phase: str, recorded: RecordedRequest) -> Reply:
        try:
            wire = gojson.decode_stream(recorded.body)
        except gojson.GoJSONError as exc:
            # An empty body (dockerd's re-send after a reset): EOF.
            return self.bugs.failure(_bad_request(str(exc)), str(exc), unreadable=True)
        if not isinstance(wire, dict):
            text = (
                f"json: cannot unmarshal {_go_kind(wire)} into Go value of type "
                "authorization.Request"
            )
            return self.bugs.failure(_bad_request(text), text, unreadable=True)
        probe = AuthzAsked(phase, wire, None, "")
        forced = self.bugs.forced_verdict(probe.path, probe.user)
        if forced is not None:
            rule = AuthzRule(allow=forced[0], msg=forced[1])
        else:
            rule = next((r for r in self.rules if r.matches(phase, probe)), AuthzRule())
        if rule.error is not None:
            self.asked.append(probe)
            return self.bugs.failure(_error_reply(rule.error), rule.error)
        self.asked.append(attrs.evolve(probe, allowed=rule.allow, msg=rule.msg))
        return Reply(
            body=json.dumps(self.bugs.verdict(_verdict(rule)), separators=(",", ":")) + "\n",
            content_type=PLUGIN_CONTENT_TYPE,
        )


def _verdict(rule: AuthzRule) -> dict[str, Any]:
    """``authorization.Response`` as go-plugins-helpers encodes it (``Msg`` omitempty)."""
    out: dict[str, Any] = {"Allow": rule.allow}
    if rule.msg:
        out["Msg"] = rule.msg
    return out


def _bad_request(text: str) -> Reply:
    """go-plugins-helpers on a body it cannot decode: ``http.Error(w, err, 400)``."""
    return Reply(
        status=400,
        body=text + "\n",
        content_type="text/plain; charset=utf-8",
        headers=(("X-Content-Type-Options", "nosniff"),),
    )


def _go_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "null"


def _error_reply(text: str, status: int = 500) -> Reply:
    return Reply(
        status=status,
        body=json.dumps({"Allow": False, "Err": text}, separators=(",", ":")) + "\n",
        content_type=PLUGIN_CONTENT_TYPE,
    )
