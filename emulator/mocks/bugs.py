"""Deliberate bugs for the built-in mocks: one switch per bug class ``plugin-emulator check``
must catch (issue: real plugins driven through the emulator had each of them).

A mock built with ``bugs={"html_errors", ...}`` misbehaves in those ways only; without
bugs it is the correct plugin the checks pass against.  :func:`with_bugs` wraps a handler
with the bugs every method shares; the method-specific ones live in each mock.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Final

from emulator.mocks.host import PLUGIN_CONTENT_TYPE, RecordedRequest, Reply

__all__ = ["HANDLER_BUGS", "crash_page", "validate_bugs", "with_bugs"]

#: Bugs that act on every method of a mock.
HANDLER_BUGS: Final = {
    "require_content_type": "answer 415 to requests without Content-Type: application/json",
    "crash_on_empty_body": "crash (an HTML 500 page) on an empty request body",
    "html_errors": "answer every error as an HTML 500 page instead of JSON",
    "errors_under_other_key": "answer errors 200 under the key dockerd does not read for the "
    'type ("Error" for volume and network drivers, "Err" for IPAM)',
    "strict_keys": "refuse requests with keys the plugin does not know",
}

#: Methods whose request has no body (dockerd sends an empty one).
_BODYLESS: Final = (
    "Plugin.Activate",
    ".GetCapabilities",
    ".GetDefaultAddressSpaces",
    "LogDriver.Capabilities",
)


def crash_page(status: int = 500) -> Reply:
    """What a Python framework answers for an unhandled exception (Flask's page)."""
    return Reply(
        status=status,
        body=(
            "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
            "<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and "
            "was unable to complete your request.</p>\n"
        ),
        content_type="text/html; charset=utf-8",
    )


def validate_bugs(bugs: Iterable[str], known: Collection[str]) -> frozenset[str]:
    """``bugs`` as a set; ValueError naming the unknown ones and the known ones."""
    chosen = frozenset(bugs)
    unknown = sorted(chosen - set(known))
    if unknown:
        raise ValueError(f"unknown mock bug(s) {unknown}; known: {sorted(known)}")
    return chosen


def _is_error(reply: Reply) -> tuple[bool, str]:
    """Whether ``reply`` is a driver error, and its text."""
    try:
        body = json.loads(reply.encoded_body() or b"null")
    except ValueError:
        return reply.status >= 500, ""
    if not isinstance(body, dict):
        return reply.status >= 500, ""
    text = body.get("Err") or body.get("Error")
    return bool(text) and (reply.status >= 500 or reply.status == 200), str(text or "")


Handler = Callable[[RecordedRequest], Reply | Awaitable[Reply]]


def with_bugs(
    method: str,
    handler: Handler,
    bugs: frozenset[str],
    *,
    error_key: str,
    known_keys: Collection[str] | None = None,
) -> Callable[[RecordedRequest], Awaitable[Reply]]:
    """``handler`` with the :data:`HANDLER_BUGS` in ``bugs``; ``error_key`` is the key the
    plugin type's errors belong under (the bug puts them under the other one)."""

    async def buggy(recorded: RecordedRequest) -> Reply:
        if "require_content_type" in bugs and not (
            (recorded.header("content-type") or "").startswith("application/json")
        ):
            return Reply(status=415, body=b"Unsupported Media Type\n", content_type="text/plain")
        if "crash_on_empty_body" in bugs and not recorded.body and not method.endswith(_BODYLESS):
            return crash_page()
        if "strict_keys" in bugs and known_keys is not None and recorded.body.strip():
            try:
                keys = set(json.loads(recorded.body))
            except (ValueError, TypeError):
                keys = set()
            extra = sorted(keys - set(known_keys))
            if extra:
                return Reply(status=400, body={"Err": f"unknown field(s) {extra}"})
        result = handler(recorded)
        reply = await result if not isinstance(result, Reply) else result
        failed, text = _is_error(reply)
        if failed and "html_errors" in bugs:
            return crash_page()
        if failed and "errors_under_other_key" in bugs:
            other = "Error" if error_key == "Err" else "Err"
            return Reply(status=200, body={other: text}, content_type=PLUGIN_CONTENT_TYPE)
        return reply

    buggy.__name__ = getattr(handler, "__name__", "handler")
    return buggy
