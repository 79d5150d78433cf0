"""Go's ``net/url.Parse``, as linked into dockerd v28 (Go 1.24).

dockerd parses the content of a ``.spec`` plugin file with ``url.Parse`` and
reports its errors verbatim, so the emulator needs the same split into scheme,
host and path and the same error texts, e.g.::

    parse "127.0.0.1:8080": first path segment in URL cannot contain colon

Go strings are byte strings.  To stay exact for any input, parsing works on the
UTF-8 bytes of the argument (lone surrogates from ``surrogateescape`` decoding
stand for the raw bytes they came from), and the decoded fields are returned
the same way.

Known gap: Go 1.24.8 and later also require the content of a bracketed host
(``[...]``) to be an IPv6 address; that check is not reproduced here (plugin
addresses do not use IPv6 literals in practice).
"""

from __future__ import annotations

import enum

import attrs

from emulator.golang.strconv import from_go, quote, to_go

__all__ = ["URL", "URLError", "Userinfo", "parse", "split_host_port"]


@attrs.frozen
class Userinfo:
    """The ``user[:password]`` part of an authority, unescaped.

    ``password`` is ``None`` when no ``:`` was present (Go's ``passwordSet``).
    """

    username: str
    password: str | None = None


@attrs.frozen
class URL:
    """The fields of Go's ``url.URL`` that ``Parse`` fills in."""

    scheme: str = ""
    opaque: str = ""
    user: Userinfo | None = None
    host: str = ""
    path: str = ""
    raw_path: str = ""
    omit_host: bool = False
    force_query: bool = False
    raw_query: str = ""
    fragment: str = ""
    raw_fragment: str = ""


def split_host_port(host_port: str) -> tuple[str, str]:
    """``url.URL.Hostname`` and ``Port`` at once: a valid ``:digits`` suffix is the port,
    and brackets around an IPv6 literal are removed."""
    host, port = host_port, ""
    colon = host.rfind(":")
    if colon >= 0 and _valid_optional_port(host[colon:].encode("utf-8", "surrogateescape")):
        host, port = host[:colon], host[colon + 1 :]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


class URLError(ValueError):
    """Go's ``*url.Error``: ``str()`` is ``<op> "<url>": <reason>``."""

    def __init__(self, op: str, url: str, reason: str) -> None:
        super().__init__(op, url, reason)
        self.op = op
        self.url = url
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.op} {quote(self.url)}: {self.reason}"


class _Fail(Exception):
    """Internal: a reason text that ``parse`` wraps into a :class:`URLError`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Mode(enum.Enum):
    """Go's ``encoding`` constants: which URL component is being (un)escaped."""

    PATH = enum.auto()
    HOST = enum.auto()
    ZONE = enum.auto()
    USER_PASSWORD = enum.auto()
    FRAGMENT = enum.auto()


# ---------------------------------------------------------------------------
# escaping (url.go: shouldEscape, unescape, escape)

_HOST_EXTRA = frozenset(b"!$&'()*+,;=:[]<>\"")
_RESERVED = frozenset(b"$&+,/:;=?@")
_UPPERHEX = b"0123456789ABCDEF"


def _is_alnum(c: int) -> bool:
    return 0x61 <= c <= 0x7A or 0x41 <= c <= 0x5A or 0x30 <= c <= 0x39


def _is_hex(c: int) -> bool:
    return 0x30 <= c <= 0x39 or 0x61 <= c <= 0x66 or 0x41 <= c <= 0x46


def _should_escape_reserved(c: int, mode: _Mode) -> bool:
    """``shouldEscape`` for one of the RFC 3986 reserved characters."""
    if mode is _Mode.PATH:
        return c == ord("?")
    if mode is _Mode.USER_PASSWORD:
        return c in b"@/?:"
    return mode is not _Mode.FRAGMENT


def _should_escape(c: int, mode: _Mode) -> bool:
    """Go's ``shouldEscape``: must byte ``c`` be %-escaped in a ``mode`` component?"""
    if _is_alnum(c):
        return False
    if mode in (_Mode.HOST, _Mode.ZONE) and c in _HOST_EXTRA:
        return False
    if c in b"-_.~":
        return False
    if c in _RESERVED:
        return _should_escape_reserved(c, mode)
    return not (mode is _Mode.FRAGMENT and c in b"!()*")


def _check_percent(s: bytes, i: int, mode: _Mode) -> None:
    """Validate the ``%XX`` escape at ``s[i]`` (raises ``invalid URL escape``)."""
    if i + 2 >= len(s) or not _is_hex(s[i + 1]) or not _is_hex(s[i + 2]):
        raise _Fail("invalid URL escape " + quote(s[i : i + 3]))
    triple = s[i : i + 3]
    if mode is _Mode.HOST and int(triple[1:2], 16) < 8 and triple != b"%25":
        raise _Fail("invalid URL escape " + quote(triple))
    if mode is _Mode.ZONE:
        value = int(triple[1:], 16)
        if triple != b"%25" and value != 0x20 and _should_escape(value, _Mode.HOST):
            raise _Fail("invalid URL escape " + quote(triple))


def _unescape(s: bytes, mode: _Mode) -> bytes:
    """Go's ``unescape``: decode ``%XX`` escapes, validating them for ``mode``."""
    i = 0
    while i < len(s):
        c = s[i]
        if c == ord("%"):
            _check_percent(s, i, mode)
            i += 3
            continue
        if mode in (_Mode.HOST, _Mode.ZONE) and c < 0x80 and _should_escape(c, mode):
            raise _Fail("invalid character " + quote(s[i : i + 1]) + " in host name")
        i += 1
    if b"%" not in s:
        return s
    out = bytearray()
    i = 0
    while i < len(s):
        if s[i] == ord("%"):
            out.append(int(s[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(s[i])
            i += 1
    return bytes(out)


def _escape(s: bytes, mode: _Mode) -> bytes:
    """Go's ``escape`` for the path and fragment modes."""
    out = bytearray()
    for c in s:
        if _should_escape(c, mode):
            out += b"%" + _UPPERHEX[c >> 4 : (c >> 4) + 1] + _UPPERHEX[c & 15 : (c & 15) + 1]
        else:
            out.append(c)
    return bytes(out)


# ---------------------------------------------------------------------------
# parsing (url.go: getScheme, parse, parseAuthority, parseHost)


def _get_scheme(raw: bytes) -> tuple[bytes, bytes]:
    """Go's ``getScheme``: ``(scheme, rest)``; no valid scheme gives ``(b"", raw)``."""
    for i, c in enumerate(raw):
        if 0x61 <= c <= 0x7A or 0x41 <= c <= 0x5A:
            continue
        if 0x30 <= c <= 0x39 or c in b"+-.":
            if i == 0:
                return b"", raw
            continue
        if c == ord(":"):
            if i == 0:
                raise _Fail("missing protocol scheme")
            return raw[:i], raw[i + 1 :]
        return b"", raw
    return b"", raw


def _valid_optional_port(port: bytes) -> bool:
    """Go's ``validOptionalPort``: empty, or ``:`` followed by digits only."""
    if not port:
        return True
    return port[:1] == b":" and all(0x30 <= c <= 0x39 for c in port[1:])


def _check_port(colon_port: bytes) -> None:
    if not _valid_optional_port(colon_port):
        raise _Fail(f"invalid port {quote(colon_port)} after host")


def _parse_host(host: bytes) -> bytes:
    """Go's ``parseHost``: validate ``host[:port]`` and unescape it."""
    if host.startswith(b"["):
        end = host.rfind(b"]")
        if end < 0:
            raise _Fail("missing ']' in host")
        _check_port(host[end + 1 :])
        zone = host[:end].find(b"%25")
        if zone >= 0:
            return (
                _unescape(host[:zone], _Mode.HOST)
                + _unescape(host[zone:end], _Mode.ZONE)
                + _unescape(host[end:], _Mode.HOST)
            )
    elif (colon := host.rfind(b":")) >= 0:
        _check_port(host[colon:])
    return _unescape(host, _Mode.HOST)


_USERINFO_EXTRA = frozenset(b"-._:~!$&'()*+,;=%@")


def _valid_userinfo(userinfo: bytes) -> bool:
    """Go's ``validUserinfo``: only unreserved, sub-delim, ``:``, ``%`` and ``@``."""
    return all(_is_alnum(c) or c in _USERINFO_EXTRA for c in userinfo)


def _parse_userinfo(userinfo: bytes) -> Userinfo:
    if not _valid_userinfo(userinfo):
        raise _Fail("net/url: invalid userinfo")
    if b":" not in userinfo:
        return Userinfo(from_go(_unescape(userinfo, _Mode.USER_PASSWORD)))
    username, _, password = userinfo.partition(b":")
    return Userinfo(
        from_go(_unescape(username, _Mode.USER_PASSWORD)),
        from_go(_unescape(password, _Mode.USER_PASSWORD)),
    )


def _parse_authority(authority: bytes) -> tuple[Userinfo | None, bytes]:
    """Go's ``parseAuthority``: the host is checked before the userinfo."""
    at = authority.rfind(b"@")
    host = _parse_host(authority[at + 1 :])
    if at < 0:
        return None, host
    return _parse_userinfo(authority[:at]), host


def _split_path(raw: bytes, mode: _Mode) -> tuple[str, str]:
    """Go's ``setPath``/``setFragment``: ``(decoded, raw-if-not-default-encoding)``."""
    decoded = _unescape(raw, mode)
    hint = b"" if _escape(decoded, mode) == raw else raw
    return from_go(decoded), from_go(hint)


def _split_query(rest: bytes) -> tuple[bytes, bool, bytes]:
    """Cut ``?query`` off: ``(rest, force_query, raw_query)``."""
    if rest.endswith(b"?") and rest.count(b"?") == 1:
        return rest[:-1], True, b""
    before, _, query = rest.partition(b"?")
    return before, False, query


def _parse(raw: bytes) -> URL:
    """Go's ``parse(rawURL, viaRequest=false)`` on a URL without its fragment."""
    if any(c < 0x20 or c == 0x7F for c in raw):
        raise _Fail("net/url: invalid control character in URL")
    if raw == b"*":
        return URL(path="*")
    scheme_bytes, rest = _get_scheme(raw)
    scheme = from_go(scheme_bytes).lower()
    rest, force_query, raw_query = _split_query(rest)
    query = from_go(raw_query)
    if not rest.startswith(b"/"):
        if scheme:
            return URL(
                scheme=scheme, opaque=from_go(rest), force_query=force_query, raw_query=query
            )
        if b":" in rest.partition(b"/")[0]:
            raise _Fail("first path segment in URL cannot contain colon")
    user: Userinfo | None = None
    host = b""
    omit_host = False
    if (scheme or not rest.startswith(b"///")) and rest.startswith(b"//"):
        authority, slash, tail = rest[2:].partition(b"/")
        rest = slash + tail
        user, host = _parse_authority(authority)
    elif scheme and rest.startswith(b"/"):
        omit_host = True
    path, raw_path = _split_path(rest, _Mode.PATH)
    return URL(
        scheme=scheme,
        user=user,
        host=from_go(host),
        path=path,
        raw_path=raw_path,
        omit_host=omit_host,
        force_query=force_query,
        raw_query=query,
    )


def parse(raw: str) -> URL:
    """Go's ``url.Parse``.

    Raises :class:`URLError` with Go's text.  As in Go, an error in the part
    before ``#`` names only that part; an error in the fragment names all of it.
    """
    data = to_go(raw)
    before, _, fragment = data.partition(b"#")
    try:
        url = _parse(before)
    except _Fail as fail:
        raise URLError("parse", from_go(before), fail.reason) from None
    if not fragment:
        return url
    try:
        decoded, hint = _split_path(fragment, _Mode.FRAGMENT)
    except _Fail as fail:
        raise URLError("parse", raw, fail.reason) from None
    return attrs.evolve(url, fragment=decoded, raw_fragment=hint)
