"""Go's JSON scanner: one ``Decoder.Decode`` or ``json.Unmarshal`` call on bytes.

dockerd decodes a 200 answer with ``json.NewDecoder(body).Decode(&ret)`` (the first JSON
value; anything after it is ignored) and a non-200 answer with ``json.Unmarshal`` (exactly
one value plus whitespace).  Verdicts and error texts are Go's: ``EOF``, ``unexpected EOF``,
``unexpected end of JSON input`` and ``invalid character 'x' <where>`` (scanner.go).

Python's C parser decodes most inputs; where its verdict or value could differ from Go's
(invalid UTF-8, escapes a time field must see raw, deep nesting, a number cut before ``.``
or ``e``), the scanner here decides.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any, Final

from emulator.golang.json.values import (
    GoFloat,
    GoJSONError,
    NegZero,
    RawStr,
    make_object,
    pairs,
    parse_int,
)
from emulator.golang.strconv import quote

__all__ = ["decode", "decode_stream", "scanner_decode", "unmarshal"]


_WS = " \t\r\n"
_WS_RUN = re.compile(rb"[ \t\r\n]*")
_STR_RUN = re.compile(rb'[^"\\\x00-\x1f]*')
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
_SIMPLE_ESCAPES: Final = {
    ord("b"): "\b",
    ord("f"): "\f",
    ord("n"): "\n",
    ord("r"): "\r",
    ord("t"): "\t",
    ord("\\"): "\\",
    ord("/"): "/",
    ord('"'): '"',
}
_LITERALS: Final = {
    ord("t"): (b"true", True),
    ord("f"): (b"false", False),
    ord("n"): (b"null", None),
}
_MAX_DEPTH = 10000
_SLOW: Final = object()  # the fast path cannot answer
_PENDING: Final = object()  # the parser is inside a container


def _per_byte_replace(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: one U+FFFD per bad byte, as Go's ``utf8.DecodeRune`` loop gives."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "\ufffd", error.start + 1


codecs.register_error("gojson.per-byte-replace", _per_byte_replace)


def _quote_char(byte: int) -> str:
    """Go's ``quoteChar``: a byte as it appears in ``invalid character ...`` (the byte as a
    rune, quoted by ``strconv.Quote`` between single quotes; ``'`` and ``"`` as they are)."""
    if byte == ord("'"):
        return "'\\''"
    if byte == ord('"'):
        return "'\"'"
    return "'" + quote(chr(byte))[1:-1] + "'"


def _syntax(byte: int, context: str) -> GoJSONError:
    """A Go ``SyntaxError``: ``invalid character 'x' <context>``."""
    return GoJSONError(f"invalid character {_quote_char(byte)} {context}")


class _Truncated(Exception):
    """The input ended inside a value.

    ``context`` is the complaint Go's scanner makes when it is then fed a
    space (``json.Unmarshal`` reports it), or None when a space is fine there.
    """

    def __init__(self, context: str | None) -> None:
        super().__init__(context)
        self.context = context


def _unquote(raw: bytes) -> str:
    """The text of a JSON string's body, decoded the way Go's ``unquote`` does.

    Invalid UTF-8 becomes one U+FFFD per byte; a ``\\u`` surrogate that does
    not pair with the next escape becomes U+FFFD.  ``raw`` is known valid.
    """
    if b"\\" not in raw:
        return raw.decode("utf-8", "gojson.per-byte-replace")
    out: list[str] = []
    pos = 0
    while True:
        slash = raw.find(b"\\", pos)
        if slash < 0:
            out.append(raw[pos:].decode("utf-8", "gojson.per-byte-replace"))
            return "".join(out)
        out.append(raw[pos:slash].decode("utf-8", "gojson.per-byte-replace"))
        kind = raw[slash + 1]
        if kind != ord("u"):
            out.append(_SIMPLE_ESCAPES[kind])
            pos = slash + 2
            continue
        code = int(raw[slash + 2 : slash + 6], 16)
        pos = slash + 6
        if 0xD800 <= code <= 0xDFFF:
            low = _u4(raw, pos)
            if code < 0xDC00 and 0xDC00 <= low <= 0xDFFF:
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                pos += 6
            else:
                code = 0xFFFD
        out.append(chr(code))


def _u4(raw: bytes, pos: int) -> int:
    """The value of a ``\\uXXXX`` escape at ``pos``, or -1 when there is none."""
    chunk = raw[pos : pos + 6]
    if len(chunk) == 6 and chunk[:2] == b"\\u" and all(c in _HEX for c in chunk[2:]):
        return int(chunk[2:], 16)
    return -1


class _Parser:
    """Go's JSON scanner (scanner.go) run over bytes, building the value as it goes.

    Errors are the texts Go's state machine produces for the first bad byte;
    running out of input raises :class:`_Truncated`.  Nesting is handled with
    an explicit stack, so depth is limited only by Go's 10000.
    """

    def __init__(self, data: bytes, keep_raw: bool) -> None:
        self.data = data
        self.size = len(data)
        self.keep_raw = keep_raw

    def skip_space(self, pos: int) -> int:
        """The position of the first non-space byte at or after ``pos``."""
        match = _WS_RUN.match(self.data, pos)
        assert match is not None  # the pattern matches the empty string
        return match.end()

    def peek(self, pos: int) -> int:
        """The byte at ``pos``; running out here leaves nothing for a space to complain about."""
        if pos >= self.size:
            raise _Truncated(None)
        return self.data[pos]

    def value(self, pos: int) -> tuple[object, int]:
        """Parse the value starting at or after ``pos``; return it and the end position."""
        stack: list[list[Any]] = []  # [items] for arrays, [pairs, key] for objects
        while True:
            pos = self.skip_space(pos)
            byte = self.peek(pos)
            if byte in b"{[":
                value, pos = self.open(byte, pos, stack)
                if value is _PENDING:  # a container was entered: parse its first value
                    continue
            else:
                value, pos = self.scalar(byte, pos)
            value, pos = self.close(stack, value, pos)
            if value is not _PENDING:
                return value, pos

    def open(self, byte: int, pos: int, stack: list[list[Any]]) -> tuple[object, int]:
        """Enter the ``{`` or ``[`` at ``pos``.

        An empty one is a complete value, returned with its end; otherwise a
        frame is pushed and ``_PENDING`` is returned with where its first value starts.
        """
        if len(stack) >= _MAX_DEPTH:
            raise _syntax(byte, "exceeded max depth")
        pos = self.skip_space(pos + 1)
        if self.peek(pos) == byte + 2:  # '}' / ']' right away
            return ({} if byte == ord("{") else []), pos + 1
        if byte == ord("["):
            stack.append([[]])
            return _PENDING, pos
        key, pos = self.key(pos)
        stack.append([[], key])
        return _PENDING, pos

    def close(self, stack: list[list[Any]], value: object, pos: int) -> tuple[object, int]:
        """Add a complete ``value`` to the open containers, closing those that end here.

        Returns the top-level value and its end once it is complete, else
        ``_PENDING`` and where the next value of the innermost container starts.
        """
        while stack:
            frame = stack[-1]
            pos = self.skip_space(pos)
            byte = self.peek(pos)
            if len(frame) == 1:  # an array
                frame[0].append(value)
                if byte == ord(","):
                    return _PENDING, pos + 1
                if byte != ord("]"):
                    raise _syntax(byte, "after array element")
                value = stack.pop()[0]
            else:  # an object
                frame[0].append((frame[1], value))
                if byte == ord(","):
                    frame[1], pos = self.key(self.skip_space(pos + 1))
                    return _PENDING, pos
                if byte != ord("}"):
                    raise _syntax(byte, "after object key:value pair")
                value = make_object(stack.pop()[0])
            pos += 1
        return value, pos

    def key(self, pos: int) -> tuple[str, int]:
        """Parse ``"key" :`` at ``pos``; return the key and the position after the colon."""
        byte = self.peek(pos)
        if byte != ord('"'):
            raise _syntax(byte, "looking for beginning of object key string")
        key, pos = self.string(pos)
        pos = self.skip_space(pos)
        byte = self.peek(pos)
        if byte != ord(":"):
            raise _syntax(byte, "after object key")
        return str(key), pos + 1

    def scalar(self, byte: int, pos: int) -> tuple[object, int]:
        """Parse a string, number or literal starting with ``byte`` at ``pos``."""
        if byte == ord('"'):
            return self.string(pos)
        if byte == ord("-") or ord("0") <= byte <= ord("9"):
            return self.number(pos)
        literal = _LITERALS.get(byte)
        if literal is None:
            raise _syntax(byte, "looking for beginning of value")
        return self.literal(pos, *literal)

    def string(self, pos: int) -> tuple[str, int]:
        """Parse the string whose opening quote is at ``pos``."""
        data = self.data
        end = pos + 1
        while True:
            match = _STR_RUN.match(data, end)
            assert match is not None
            end = match.end()
            byte = self.peek(end)
            if byte == ord('"'):
                break
            if byte != ord("\\"):
                raise _syntax(byte, "in string literal")
            end = self.escape(end)
        raw = data[pos + 1 : end]
        text = _unquote(raw)
        if self.keep_raw and text.encode("utf-8") != raw:
            text = RawStr(text, raw)
        return text, end + 1

    def escape(self, pos: int) -> int:
        """Check the escape whose backslash is at ``pos``; return the position after it."""
        if pos + 1 >= self.size:
            raise _Truncated("in string escape code")
        kind = self.data[pos + 1]
        if kind in _SIMPLE_ESCAPES:
            return pos + 2
        if kind != ord("u"):
            raise _syntax(kind, "in string escape code")
        for index in range(pos + 2, pos + 6):
            if index >= self.size:
                raise _Truncated("in \\u hexadecimal character escape")
            if self.data[index] not in _HEX:
                raise _syntax(self.data[index], "in \\u hexadecimal character escape")
        return pos + 6

    def number(self, pos: int) -> tuple[object, int]:
        """Parse the number starting at ``pos`` (its first byte is ``-`` or a digit)."""
        match = _NUMBER.match(self.data, pos)
        if match is None:  # a lone '-'
            self.expect_digit(pos + 1, "in numeric literal", allow_sign=False)
            raise AssertionError("unreachable")
        end = match.end()
        frac, exp = match.group(1), match.group(2)
        nxt = self.data[end : end + 1]
        if nxt == b"." and frac is None and exp is None:
            self.expect_digit(end + 1, "after decimal point in numeric literal", allow_sign=False)
        if nxt in (b"e", b"E") and exp is None:
            self.expect_digit(end + 1, "in exponent of numeric literal", allow_sign=True)
        text = match.group().decode("ascii")
        if frac is None and exp is None:
            return parse_int(text), end
        return GoFloat(text), end

    def expect_digit(self, pos: int, context: str, *, allow_sign: bool) -> None:
        """Fail at ``pos``, where a digit was needed but the number regex found none."""
        if allow_sign and pos < self.size and self.data[pos] in b"+-":
            pos += 1
        if pos >= self.size:
            raise _Truncated(context)
        raise _syntax(self.data[pos], context)

    def literal(self, pos: int, word: bytes, value: object) -> tuple[object, int]:
        """Parse ``true``, ``false`` or ``null`` at ``pos``."""
        name = word.decode("ascii")
        for index in range(1, len(word)):
            context = f"in literal {name} (expecting {chr(word[index])!r})"
            if pos + index >= self.size:
                raise _Truncated(context)
            if self.data[pos + index] != word[index]:
                raise _syntax(self.data[pos + index], context)
        return value, pos + len(word)


def scanner_decode(data: bytes, *, stream: bool, keep_raw: bool) -> object:
    """Decode with :class:`_Parser`: authoritative for every input."""
    parser = _Parser(data, keep_raw)
    start = parser.skip_space(0)
    if start >= len(data):
        raise GoJSONError("EOF" if stream else "unexpected end of JSON input")
    try:
        value, end = parser.value(start)
    except _Truncated as cut:
        if stream:
            raise GoJSONError("unexpected EOF") from None
        if cut.context is None:
            raise GoJSONError("unexpected end of JSON input") from None
        raise GoJSONError(f"invalid character ' ' {cut.context}") from None
    if not stream:
        end = parser.skip_space(end)
        if end < len(data):
            raise _syntax(data[end], "after top-level value")
    return value


def _reject_constant(name: str) -> object:
    """``parse_constant`` hook: Go has no NaN or Infinity literals."""
    raise ValueError(name)


_PY_DECODER = json.JSONDecoder(
    object_pairs_hook=make_object,
    parse_float=GoFloat,
    parse_int=parse_int,
    parse_constant=_reject_constant,
)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _fix_surrogates(value: object) -> object:
    """Replace unpaired UTF-16 surrogates (from ``\\u`` escapes) with U+FFFD, as Go does."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_fix_surrogates(item) for item in value]
    if isinstance(value, dict):
        return make_object(
            [(_SURROGATE.sub("\ufffd", k), _fix_surrogates(v)) for k, v in pairs(value)]
        )
    return value


def _fast_decode(data: bytes, *, stream: bool, keep_raw: bool) -> object:
    """Decode with Python's C parser when that gives Go's answer; else return ``_SLOW``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _SLOW
    if keep_raw and "\\" in text:
        return _SLOW
    if len(data) > _MAX_DEPTH and data.count(b"[") + data.count(b"{") > _MAX_DEPTH:
        return _SLOW  # may nest deeper than Go allows; let the scanner count
    start = len(text) - len(text.lstrip(_WS))
    if start == len(text):
        raise GoJSONError("EOF" if stream else "unexpected end of JSON input")
    try:
        value, end = _PY_DECODER.raw_decode(text, start)
        if end < len(text):
            # Python stops a number before '.', 'e' or 'E' where Go's scanner fails.
            if text[end] in ".eE" and type(value) in (int, NegZero, GoFloat):
                return _SLOW
            if not stream and text[end:].strip(_WS):
                return _SLOW
        if _SURROGATE_ESCAPE.search(text):
            value = _fix_surrogates(value)
    except (ValueError, RecursionError):
        return _SLOW
    return value


def decode(data: bytes, *, stream: bool, keep_raw: bool = False) -> object:
    """Decode ``data`` as one ``Decoder.Decode`` (stream) or ``Unmarshal`` call.

    ``keep_raw`` keeps the raw bytes of strings that differ from their text (for
    ``time.Time`` fields).  The C parser answers when it gives Go's answer; otherwise the
    scanner (:func:`scanner_decode`) does, which is authoritative for every input.
    """
    value = _fast_decode(data, stream=stream, keep_raw=keep_raw)
    if value is _SLOW:
        value = scanner_decode(data, stream=stream, keep_raw=keep_raw)
    return value


def decode_stream(data: bytes) -> object:
    """The first JSON value of ``data``, as one ``json.Decoder.Decode`` call reads it.

    Leading whitespace is skipped and anything after the first value is ignored.
    Raises :class:`GoJSONError`: ``EOF`` for an empty or all-space body,
    ``unexpected EOF`` for a value cut short, Go's syntax error text otherwise.
    """
    return decode(bytes(data), stream=True)


def unmarshal(data: bytes) -> object:
    """``json.Unmarshal``: ``data`` must hold exactly one JSON value (and whitespace).

    Raises :class:`GoJSONError` with Go's text, e.g. ``unexpected end of JSON
    input`` or ``invalid character 'x' after top-level value``.
    """
    return decode(bytes(data), stream=False)
