"""Deliberate bugs of the mock authorization plugin: one per bug class the authz checks of
``plugin-emulator check`` must catch.

Most come from following the plugin docs where dockerd's code differs (``"Allow":
"true"`` as a string, ``Err`` in a 200 answer), the rest from plugins meeting requests
their authors did not expect (no body, no headers, a stream's ``AuthZRes``, an empty
re-send, calls at once).  :class:`AuthzBugs` applies the chosen ones around the mock's
handlers (:class:`~emulator.mocks.authz.MockAuthzPlugin` ``bugs=``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Final

import trio

from emulator.mocks.bugs import crash_page
from emulator.mocks.host import NOT_FOUND, PLUGIN_CONTENT_TYPE, RecordedRequest, Reply
from emulator.protocol import authz as proto

__all__ = ["AUTHZ_BUGS", "SLOW_ANSWER", "AuthzBugs"]

AUTHZ_BUGS: Final = {
    "implements_capitalized": 'answer Plugin.Activate with "Implements": ["Authz"]',
    "allow_as_string": 'answer "Allow": "true" (a string, as the plugin docs print it)',
    "errors_on_200": 'answer failures with 200 {"Allow": false, "Err": ...} (the docs\' Err)',
    "deny_empty_msg": "deny without a Msg",
    "no_authz_res": "implement AuthZReq only (AuthZRes: 404 page not found)",
    "crash_on_absent_body": "crash (an HTML 500 page) on a call without RequestBody",
    "block_on_big_body": "never answer a call of more than 1 MiB (a body near dockerd's limit)",
    "crash_on_absent_headers": "crash on a call without RequestHeaders",
    "crash_on_absent_status": "crash on an AuthZRes without ResponseStatusCode (streams)",
    "deny_ping": "deny GET and HEAD /_ping",
    "user_required": "deny every request without a User (no TLS client certificate)",
    "busy_errors": 'answer 500 {"Err": "database is locked"} to a call made while another '
    "is being answered",
    "slow_answers": "take 1.5 s over every call",
    "activate_once": "answer Plugin.Activate once, then 500 (a restarted dockerd is refused)",
    "stale_socket": "(as a process) refuse to start while its socket file exists, as after a crash",
    "html_errors": "answer every failure with an HTML 500 page",
    "allow_unreadable": "answer a call it cannot decode (an empty body) with Allow: true",
    "require_content_type": "answer 415 to calls without Content-Type: application/json",
    "strict_keys": "refuse calls with keys it does not know",
}

#: Engine seconds ``slow_answers`` takes over each call.
SLOW_ANSWER: Final = 1.5
#: Engine seconds ``busy_errors`` holds each call (so that calls made at once overlap).
_BUSY_HOLD: Final = 0.05

#: The keys of ``authorization.Request`` (pkg/authorization/api.go).
_KNOWN_KEYS: Final = frozenset(
    {
        "User",
        "UserAuthNMethod",
        "RequestMethod",
        "RequestUri",
        "RequestBody",
        "RequestHeaders",
        "RequestPeerCertificates",
        "ResponseStatusCode",
        "ResponseBody",
        "ResponseHeaders",
    }
)

Answer = Callable[[RecordedRequest], Reply]


def _wire(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class AuthzBugs:
    """The chosen bugs, applied around the mock's handlers."""

    def __init__(self, bugs: frozenset[str]) -> None:
        self.bugs = bugs
        self._in_flight = 0
        self._activations = 0

    def __contains__(self, bug: str) -> bool:
        return bug in self.bugs

    def activation(self, reply: Reply) -> Reply | Answer:
        """``Plugin.Activate``'s handler."""
        if "implements_capitalized" in self:
            reply = Reply(body={"Implements": ["Authz"]}, content_type=PLUGIN_CONTENT_TYPE)
        if "activate_once" not in self:
            return reply

        def once(_recorded: RecordedRequest) -> Reply:
            self._activations += 1
            if self._activations == 1:
                return reply
            return Reply(status=500, body={"Err": "plugin already activated"})

        return once

    def wrap(self, phase: str, answer: Answer) -> Callable[[RecordedRequest], Awaitable[Reply]]:
        """``answer`` for ``phase`` (``request``/``response``) with the call-level bugs."""

        async def buggy(recorded: RecordedRequest) -> Reply:
            early = self._refusal(phase, recorded)
            if early is not None:
                return early
            if "block_on_big_body" in self and len(recorded.body) > proto.MAX_BODY_SIZE:
                await trio.sleep_forever()
            if "slow_answers" in self:
                await trio.sleep(SLOW_ANSWER)
            if "busy_errors" not in self:
                return answer(recorded)
            self._in_flight += 1
            try:
                if self._in_flight > 1:
                    return Reply(status=500, body={"Err": "database is locked"})
                await trio.sleep(_BUSY_HOLD)
                return answer(recorded)
            finally:
                self._in_flight -= 1

        return buggy

    def _refusal(self, phase: str, recorded: RecordedRequest) -> Reply | None:
        """What the bugs answer before the policy is consulted, if anything."""
        content_type = recorded.header("content-type") or ""
        if "require_content_type" in self and not content_type.startswith("application/json"):
            return Reply(status=415, body=b"Unsupported Media Type\n", content_type="text/plain")
        if "no_authz_res" in self and phase == "response":
            return NOT_FOUND
        wire = _wire(recorded.body)
        if wire is None:
            return None
        if "strict_keys" in self and set(wire) - _KNOWN_KEYS:
            unknown = sorted(set(wire) - _KNOWN_KEYS)
            return Reply(status=400, body={"Err": f"unknown field(s) {unknown}"})
        crashes = (
            ("crash_on_absent_body", "RequestBody", ("request", "response")),
            ("crash_on_absent_headers", "RequestHeaders", ("request", "response")),
            ("crash_on_absent_status", "ResponseStatusCode", ("response",)),
        )
        for bug, key, phases in crashes:
            if bug in self and phase in phases and key not in wire:
                return crash_page()
        return None

    def forced_verdict(self, path: str, user: str) -> tuple[bool, str] | None:
        """A verdict the bugs impose whatever the rules say (``path`` without version)."""
        if "deny_ping" in self and path == "/_ping":
            return False, "ping is not allowed"
        if "user_required" in self and not user:
            return False, "authentication required"
        return None

    def verdict(self, out: dict[str, Any]) -> dict[str, Any]:
        """The verdict's JSON as the bugs spell it."""
        if "deny_empty_msg" in self and not out["Allow"]:
            out = {"Allow": False}
        if "allow_as_string" in self:
            out = {**out, "Allow": "true" if out["Allow"] else "false"}
        return out

    def failure(self, reply: Reply, text: str, *, unreadable: bool = False) -> Reply:
        """The answer to a call the plugin fails (``reply`` when correct)."""
        if "allow_unreadable" in self and unreadable:
            return Reply(body={"Allow": True}, content_type=PLUGIN_CONTENT_TYPE)
        if "errors_on_200" in self:
            return Reply(body={"Allow": False, "Err": text}, content_type=PLUGIN_CONTENT_TYPE)
        if "html_errors" in self:
            return crash_page()
        return reply
