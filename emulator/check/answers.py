"""How the checks read a plugin's answers from the journal, and how they describe them."""

from __future__ import annotations

import json
from typing import Any

from emulator.journal import JournalEntry
from emulator.protocol.authz import AUTHZ_REQ, AUTHZ_RES

__all__ = ["crash_problem", "describe", "error_problem", "short", "snippet"]

_SHORT = 160


def short(text: str, limit: int = _SHORT) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def snippet(body: bytes | None, limit: int = 100) -> str:
    """A body as text for a sentence: ``(empty)`` or its first characters."""
    if not body:
        return "(empty)"
    return repr(short(body.decode("utf-8", "replace"), limit))


def describe(entry: JournalEntry) -> str:
    """One exchange as a table line: ``Mount {"Name":"v"} → 500 {"Err":"…"}``."""
    method = entry.method.partition(".")[2] or entry.method
    request = _authz_summary(entry) or short(entry.request_body.decode("utf-8", "replace"), 70)
    request = request or "(empty)"
    if entry.status is None:
        outcome = f"✗ {short(entry.error or 'no answer', 70)}"
    else:
        body = entry.response_body or b""
        outcome = f"{entry.status} {short(body.decode('utf-8', 'replace'), 70) or '(empty)'}"
    retry = f" #{entry.attempt}" if entry.attempt > 1 else ""
    fault = f" [{entry.fault}]" if entry.fault else ""
    return f"{method}{retry} {request} → {outcome}{fault}"


def _authz_summary(entry: JournalEntry) -> str | None:
    """An authz call's request in a few words: ``GET /v1.51/version body=12B status=200``."""
    data = entry.request
    if entry.method not in (AUTHZ_REQ, AUTHZ_RES) or not isinstance(data, dict):
        return None
    words = [str(data.get("RequestMethod", "?")), short(str(data.get("RequestUri", "?")), 50)]
    for key, label in (("RequestBody", "body"), ("ResponseBody", "response body")):
        if isinstance(data.get(key), str):
            words.append(f"{label}={len(data[key]) * 3 // 4}B")
    if "RequestHeaders" not in data:
        words.append("no RequestHeaders")
    if entry.method == AUTHZ_RES:
        words.append(f"status={data.get('ResponseStatusCode', 'absent')}")
    return " ".join(words)


def _json(body: bytes | None) -> Any:
    if not body or not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _looks_like_html(body: bytes | None) -> bool:
    head = (body or b"").lstrip()[:15].lower()
    return head.startswith((b"<!doctype", b"<html", b"<head", b"<title", b"<body"))


def crash_problem(entry: JournalEntry | None) -> str | None:
    """What shows the plugin crashed on a request, or None for an answer a plugin meant.

    A crash: no answer (a dropped connection, a hang), an HTML page, or a 5xx whose body
    is not dockerd's ``{"Err": "..."}``.  A refusal in Go's style (4xx with a text body,
    ``EOF`` for an empty request) is an answer, not a crash.
    """
    if entry is None:
        return "no request reached the plugin"
    if entry.status is None:
        return f"gave no answer ({entry.error})"
    if _looks_like_html(entry.response_body):
        return f"answered {entry.status} with an HTML page {snippet(entry.response_body)}"
    if entry.status >= 500:
        body = _json(entry.response_body)
        if not (isinstance(body, dict) and isinstance(body.get("Err"), str) and body["Err"]):
            return (
                f"answered {entry.status} with {snippet(entry.response_body)}, "
                'not a JSON {"Err": "..."} (an unhandled exception?)'
            )
    return None


def error_problem(entry: JournalEntry | None, key: str) -> str | None:
    """What is wrong with an error answer dockerd must read, or None when it reads it well.

    On a status other than 200 dockerd reads ``{"Err": "..."}`` (falling back to the raw
    body); on 200 it reads ``key`` (``Err``, or ``Error`` for IPAM) and takes an empty or
    absent one as success.
    """
    if entry is None:
        return "no request reached the plugin"
    if entry.status is None:
        return f"gave no answer ({entry.error})"
    body = _json(entry.response_body)
    mapping = body if isinstance(body, dict) else {}
    if entry.status == 200:
        if isinstance(mapping.get(key), str) and mapping[key]:
            return None
        other = "Error" if key == "Err" else "Err"
        if isinstance(mapping.get(other), str) and mapping[other]:
            return (
                f'answered 200 with the error under "{other}"; dockerd reads only "{key}" '
                "on a 200 answer and took it as success"
            )
        return f"answered 200 {snippet(entry.response_body)}: dockerd took it as success"
    if isinstance(mapping.get("Err"), str) and mapping["Err"]:
        return None
    if _looks_like_html(entry.response_body):
        return (
            f"answered {entry.status} with an HTML page; dockerd shows it raw to the user: "
            f"{snippet(entry.response_body)}"
        )
    return (
        f'answered {entry.status} without a JSON {{"Err": "..."}}: dockerd shows the raw body '
        f"{snippet(entry.response_body)}"
    )
