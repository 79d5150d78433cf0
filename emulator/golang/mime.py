"""Go's ``mime.ParseMediaType`` (Go 1.24), as dockerd's authorization middleware uses it.

dockerd forwards a request or response body to an authorization plugin only when
``mime.ParseMediaType(Content-Type)`` succeeds and yields ``application/json``
(moby/moby pkg/authorization/authz.go ``sendBody``, v28.5.2), so the verdict on odd
values (``application/json;``, ``application/json; x``, ``APPLICATION/JSON``) must be
Go's.  Only the media type and the error are reproduced: RFC 2231 continuations are
checked for duplicates, as Go does, but their values are not decoded.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MediaTypeError", "parse_media_type"]

_TSPECIALS: Final = frozenset('()<>@,;:\\"/[]?=')


class MediaTypeError(ValueError):
    """Go's error from ``ParseMediaType`` (``mime: no media type`` ...)."""


def _is_token_char(char: str) -> bool:
    return " " < char < "\x7f" and char not in _TSPECIALS


def _consume_token(text: str) -> tuple[str, str]:
    for index, char in enumerate(text):
        if not _is_token_char(char):
            return text[:index], text[index:]
    return text, ""


def _consume_value(text: str) -> tuple[str, str]:
    """A token or a quoted string (with Go's lenient backslash rule)."""
    if text == "":
        return "", ""
    if text[0] != '"':
        return _consume_token(text)
    out: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == '"':
            return "".join(out), text[index + 1 :]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in _TSPECIALS:
            out.append(text[index + 1])
            index += 2
            continue
        if char in "\r\n":
            return "", text
        out.append(char)
        index += 1
    return "", text  # no closing quote


def _consume_param(text: str) -> tuple[str, str, str]:
    """``; key=value``: (key lower-cased, value, rest), or ("", "", text) when it is not one."""
    rest = text.lstrip()
    if not rest.startswith(";"):
        return "", "", text
    rest = rest[1:].lstrip()
    key, rest = _consume_token(rest)
    key = key.lower()
    if key == "":
        return "", "", text
    rest = rest.lstrip()
    if not rest.startswith("="):
        return "", "", text
    rest = rest[1:].lstrip()
    value, after = _consume_value(rest)
    if value == "" and after == rest:
        return "", "", text
    return key, value, after


def _check_type(media_type: str) -> None:
    """``checkMediaTypeDisposition``."""
    kind, rest = _consume_token(media_type)
    if kind == "":
        raise MediaTypeError("mime: no media type")
    if rest == "":
        return
    if not rest.startswith("/"):
        raise MediaTypeError("mime: expected slash after first token")
    subtype, rest = _consume_token(rest[1:])
    if subtype == "":
        raise MediaTypeError("mime: expected token after slash")
    if rest != "":
        raise MediaTypeError("mime: unexpected content after media subtype")


def parse_media_type(value: str) -> tuple[str, dict[str, str]]:
    """The lower-cased media type and the plain parameters, or :class:`MediaTypeError`."""
    base = value.split(";", 1)[0]
    media_type = base.lower().strip()
    _check_type(media_type)
    params: dict[str, str] = {}
    continued: dict[str, dict[str, str]] = {}
    rest = value[len(base) :]
    while rest:
        rest = rest.lstrip()
        if not rest:
            break
        key, param, after = _consume_param(rest)
        if key == "":
            if after.strip() == ";":
                break  # a trailing semicolon is no error
            raise MediaTypeError("mime: invalid media parameter")
        target = continued.setdefault(key.split("*", 1)[0], {}) if "*" in key else params
        if key in target and target[key] != param:
            raise MediaTypeError("mime: duplicate parameter name")
        target[key] = param
        rest = after
    return media_type, params
