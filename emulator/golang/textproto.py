"""Go's ``net/textproto`` header-name rule, as Go's HTTP server applies it to requests.

``CanonicalMIMEHeaderKey``: the first letter and every letter after a ``-`` upper
case, the others lower case (``x-registry-auth`` → ``X-Registry-Auth``).  A name
with a byte that is not a token character (RFC 7230) is left as it is.  Go's
server stores every request header under this key, so that is the name an
authorization plugin sees in ``RequestHeaders``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["canonical_mime_header_key"]

_TOKEN_SPECIALS: Final = frozenset("!#$%&'*+-.^_`|~")


def _valid_byte(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char in _TOKEN_SPECIALS)


def canonical_mime_header_key(name: str) -> str:
    """``textproto.CanonicalMIMEHeaderKey(name)``."""
    if not name or not all(_valid_byte(c) for c in name):
        return name
    out = []
    upper = True
    for char in name:
        if upper and "a" <= char <= "z":
            char = char.upper()
        elif not upper and "A" <= char <= "Z":
            char = char.lower()
        out.append(char)
        upper = char == "-"
    return "".join(out)
