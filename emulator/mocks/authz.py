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

import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

import attrs
import trio

from emulator.golang import json as gojson
from emulator.mocks.authz_bugs import AUTHZ_BUGS, AuthzBugs
from emulator.mocks.authz_rules import AuthzAsked, AuthzRule
from emulator.mocks.bugs import validate_bugs
from emulator.mocks.host import PLUGIN_CONTENT_TYPE, Handler, MockPlugin, RecordedRequest, Reply
from emulator.protocol import authz as proto

__all__ = ["AUTHZ_BUGS", "AuthzAsked", "AuthzRule", "MockAuthzPlugin"]

#: What go-plugins-helpers' SDK answers ``Plugin.Activate`` with (``fmt.Fprintln``).
_ACTIVATE_BODY: Final = b'{"Implements": ["authz"]}\n'


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
