"""Go strings and ``strconv.Quote``.

Go strings are byte strings.  A Python ``str`` holds one losslessly when the bytes that
are not UTF-8 are kept as lone surrogates (``surrogateescape``); :func:`to_go` and
:func:`from_go` convert between the two.  :func:`quote` is what ``%q`` prints.
"""

from __future__ import annotations

from typing import Final

__all__ = ["from_go", "quote", "to_go"]


def to_go(text: str) -> bytes:
    """The bytes of a Go string held in ``text``."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def from_go(data: bytes) -> str:
    """A Go string (arbitrary bytes) as a Python string, losslessly."""
    return data.decode("utf-8", "surrogateescape")


_SHORT_ESCAPES: Final = {
    0x07: "\\a",
    0x08: "\\b",
    0x0C: "\\f",
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
    0x0B: "\\v",
}


def _rune_at(data: bytes, i: int) -> tuple[str | None, int]:
    """Decode one rune like ``utf8.DecodeRune``: ``(char, width)``, char None if invalid."""
    lead = data[i]
    if lead < 0x80:
        return chr(lead), 1
    width = 2 if 0xC2 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF else 4
    if not 0xC2 <= lead <= 0xF4:
        return None, 1
    try:
        return data[i : i + width].decode("utf-8"), width
    except UnicodeDecodeError:
        return None, 1


def _quote_rune(char: str) -> str:
    """One rune as ``strconv.Quote`` writes it inside double quotes."""
    code = ord(char)
    if char in ('"', "\\"):
        return "\\" + char
    if char.isprintable():
        return char
    if code in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[code]
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def quote(text: str | bytes) -> str:
    """Go's ``strconv.Quote`` (what ``%q`` prints for a string).

    Printable runes are kept, ``"`` and ``\\`` are backslash-escaped, other runes
    use ``\\n``-style, ``\\xHH``, ``\\uHHHH`` or ``\\UHHHHHHHH`` escapes, and bytes
    that are not valid UTF-8 become ``\\xHH``.
    """
    data = text if isinstance(text, bytes) else to_go(text)
    out = ['"']
    i = 0
    while i < len(data):
        char, width = _rune_at(data, i)
        out.append(f"\\x{data[i]:02x}" if char is None else _quote_rune(char))
        i += width
    out.append('"')
    return "".join(out)
