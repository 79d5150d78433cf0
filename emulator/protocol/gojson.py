"""Go's ``encoding/json`` as dockerd v28 (Go 1.24) uses it with plugins.

dockerd encodes a plugin request with ``json.NewEncoder(&buf).Encode(args)``,
decodes a 200 answer with ``json.NewDecoder(body).Decode(&ret)`` and a non-200
answer with ``json.Unmarshal(b, &struct{ Err string }{})``.  This module gives
the same bytes and the same verdicts, with Go's error texts:

* :func:`encode` / :func:`encode_or_empty` -- ``Encoder.Encode``: compact
  output and one ``\\n``, HTML-safe string escaping, sorted map keys, Go's
  float formatting, ``[]byte`` as base64 and ``time.Time`` as RFC 3339.
* :func:`decode_stream` -- one ``Decoder.Decode`` call on a complete body: the
  first JSON value, anything after it ignored.
* :func:`unmarshal` -- ``json.Unmarshal``: exactly one value plus whitespace.
* :func:`structure` -- Go's lenient struct decoding of an already decoded value
  into an attrs wire model (case-insensitive keys, unknown keys ignored,
  ``null`` leaves a field alone, first type error reported with Go's text).
* :func:`loads_into` / :func:`unmarshal_into` -- the two together, the way
  dockerd reads a 200 / non-200 answer.

Decoded values are plain JSON data (``dict``, ``list``, ``str``, ``int``,
``float``, ``bool``, ``None``).  Some are private subclasses that remember
what Go would still know: a ``float`` keeps its literal text, ``-0`` is an
``int`` that remembers its sign, and an object with duplicate keys is a
``dict`` (last value wins) that keeps every pair in order.

Wire models are frozen ``attrs`` classes whose field names are the Go names.
A field may carry ``metadata={"json": {"name": "RequestUri", "omitempty": True}}``
(Go's ``json:"RequestUri,omitempty"``; name ``"-"`` skips the field); a field
whose name does not start with an upper-case letter is unexported in Go and
skipped unless it carries such metadata.  A class attribute
``__go_name__ = "plugins.Manifest"`` gives the Go type name used in error
texts.  Go integer types other than ``int`` are written
``Annotated[int, GoType("uint16")]``.  ``Any`` fields receive what Go stores
in an ``interface{}``: numbers become ``float``.

Where Go decides by the destination type, so does this module: a number out
of float64 range decodes (as ``inf``) and :func:`structure` reports it when a
field has to hold it; a ``time.Time`` parses the raw bytes between the quotes,
which :func:`loads_into` and :func:`unmarshal_into` keep for it.  Encoding
follows the Python type of each value (an ``int`` in a float field is written
as an integer).

Known gaps (none reachable with the plugin protocols' types): ``[]byte`` fields
are encoded but not decoded; Go's reuse of a slice's old elements when the same
key appears twice in one object is not reproduced (the later array replaces the
earlier one); times keep microseconds (Python's limit), and years before 1 or
zone offsets of 24 hours or more, which Go accepts, raise :class:`GoJSONError`.
"""

from __future__ import annotations

import base64
import codecs
import contextvars
import datetime as dt
import functools
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Final, TypeVar

import attrs
import cattrs

__all__ = [
    "ZERO_TIME",
    "GoJSONError",
    "GoType",
    "decode_stream",
    "encode",
    "encode_or_empty",
    "loads_into",
    "structure",
    "unmarshal",
    "unmarshal_into",
]

T = TypeVar("T")

#: Go's zero ``time.Time`` (``0001-01-01T00:00:00Z``).
ZERO_TIME: Final = dt.datetime(1, 1, 1, tzinfo=dt.UTC)


class GoJSONError(Exception):
    """A JSON error whose ``str()`` is the text Go's ``encoding/json`` gives."""


@attrs.frozen
class GoType:
    """Marks the Go integer type of a field: ``Annotated[int, GoType("uint16")]``.

    ``name`` is what error texts print; ``kind`` is the underlying integer kind
    when ``name`` is a named type, e.g. ``GoType("tls.ClientAuthType", "int")``.
    """

    name: str
    kind: str | None = None


# ---------------------------------------------------------------------------
# Encoding


_HTML_UNSAFE = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')
_SHORT_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _escape(match: re.Match[str]) -> str:
    """The escape Go's encoder writes for one unsafe character."""
    char = match.group()
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:  # cannot be UTF-8: Go writes the replacement
        return "\\ufffd"
    return f"\\u{code:04x}"


def _quote(text: str) -> str:
    """``text`` as a JSON string the way Go's ``Encoder`` (HTML escaping on) writes it."""
    if _HTML_UNSAFE.search(text) is None:
        return f'"{text}"'
    return '"' + _HTML_UNSAFE.sub(_escape, text) + '"'


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of ``abs(value)`` and the point position.

    ``value == 0.<digits> * 10**point``; ``value`` is finite and not zero.
    """
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    return stripped.rstrip("0"), point


def _format_float(value: float) -> str:
    """A float64 as Go's encoder writes it (ES6 number formatting)."""
    if math.isnan(value) or math.isinf(value):
        text = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        raise GoJSONError(f"json: unsupported value: {text}")
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    digits, point = _shortest_digits(value)
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        exponent = point - 1
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        if exponent < 0:  # Go trims e-07 to e-7
            return f"{sign}{mantissa}e-{-exponent}"
        return f"{sign}{mantissa}e+{exponent:02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _format_time(value: dt.datetime) -> str:
    """``time.Time.MarshalJSON`` content: RFC 3339 with trimmed nanoseconds."""
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"gojson: cannot encode a naive datetime ({value!r}); give it a tzinfo")
    text = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    if value.microsecond:
        text += "." + f"{value.microsecond * 1000:09d}".rstrip("0")
    seconds = int(offset.total_seconds())
    if seconds == 0:
        return text + "Z"
    minutes = abs(seconds) // 60  # Go divides toward zero
    sign = "-" if seconds < 0 and minutes else "+"
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _is_empty(value: object) -> bool:
    """Go's ``isEmptyValue`` for ``omitempty``: false, 0, "", nil, empty slice/map."""
    if value is None or value is False:
        return True
    if isinstance(value, str | bytes | bytearray | list | tuple | dict):
        return len(value) == 0
    if isinstance(value, float):  # -0.0 is not the zero value (its bits differ)
        return value == 0 and math.copysign(1.0, value) > 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value == 0
    return False


def _encode_struct(value: object, out: list[str]) -> None:
    """Append an attrs instance as a JSON object, fields in declaration order."""
    out.append("{")
    first = True
    for spec in _struct_fields(type(value)):
        field_value = getattr(value, spec.attr)
        if spec.omitempty and _is_empty(field_value):
            continue
        if not first:
            out.append(",")
        first = False
        out.append(spec.prefix)
        _encode_into(field_value, out)
    out.append("}")


def _encode_map(value: dict[Any, Any], out: list[str]) -> None:
    """Append a dict as a JSON object with keys sorted like Go's ``sort.Strings``."""
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"gojson: map keys must be str, not {type(key).__name__}")
    out.append("{")
    for index, key in enumerate(sorted(value)):
        if index:
            out.append(",")
        out.append(_quote(key))
        out.append(":")
        _encode_into(value[key], out)
    out.append("}")


def _encode_array(value: Iterable[object], out: list[str]) -> None:
    """Append a list or tuple as a JSON array."""
    out.append("[")
    for index, item in enumerate(value):
        if index:
            out.append(",")
        _encode_into(item, out)
    out.append("]")


def _encode_into(value: object, out: list[str]) -> None:
    """Append the JSON text of ``value`` to ``out``."""
    if value is None:
        out.append("null")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, str):
        out.append(_quote(value))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_format_float(value))
    elif attrs.has(type(value)):
        _encode_struct(value, out)
    elif isinstance(value, dict):
        _encode_map(value, out)
    elif isinstance(value, list | tuple):
        _encode_array(value, out)
    elif isinstance(value, bytes | bytearray | memoryview):
        out.append('"' + base64.b64encode(value).decode("ascii") + '"')
    elif isinstance(value, dt.datetime):
        out.append('"' + _format_time(value) + '"')
    else:
        raise TypeError(f"gojson: cannot encode a value of type {type(value).__name__}")


def encode(value: object) -> bytes:
    """What Go's ``json.NewEncoder(w).Encode(value)`` writes: compact JSON and ``\\n``.

    Raises :class:`GoJSONError` for NaN and infinities (Go's
    ``json: unsupported value: NaN``), ``TypeError`` for a value with no Go
    counterpart and ``ValueError`` for a naive datetime.
    """
    out: list[str] = []
    _encode_into(value, out)
    out.append("\n")
    return "".join(out).encode("utf-8")


def encode_or_empty(value: object) -> bytes:
    """The request body dockerd sends: empty for ``None`` (``args == nil``), else :func:`encode`."""
    return b"" if value is None else encode(value)


# ---------------------------------------------------------------------------
# Decoded values that remember what Go still knows


class _GoFloat(float):
    """A JSON number that is not an integer in the text; keeps the literal."""

    __slots__ = ("literal",)
    literal: str

    def __new__(cls, literal: str) -> _GoFloat:
        """Parse ``literal`` (valid JSON number text)."""
        self = super().__new__(cls, literal)
        self.literal = literal
        return self


class _NegZero(int):
    """The JSON integer ``-0``: zero, but a float64 field gets ``-0.0``."""

    __slots__ = ()

    def __new__(cls) -> _NegZero:
        """The only value: 0."""
        return super().__new__(cls, 0)


class _RawStr(str):
    """A decoded string that also keeps its bytes as written between the quotes.

    Go's ``time.Time`` parses those raw bytes (no unescaping), so a time field
    needs them when the text had escapes or invalid UTF-8.
    """

    __slots__ = ("raw",)
    raw: bytes

    def __new__(cls, text: str, raw: bytes) -> _RawStr:
        """Wrap ``text`` decoded from ``raw``."""
        self = super().__new__(cls, text)
        self.raw = raw
        return self


class _PairsDict(dict[str, Any]):
    """An object with a repeated key: a dict (last wins) that keeps all pairs in order."""

    __slots__ = ("pairs",)
    pairs: list[tuple[str, Any]]


def _make_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build the dict for a JSON object, keeping the pairs when a key repeats."""
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    dup = _PairsDict(pairs)
    dup.pairs = pairs
    return dup


def _pairs(value: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    """The key/value pairs of a decoded object in text order, repeats included."""
    return value.pairs if isinstance(value, _PairsDict) else value.items()


def _parse_int(literal: str) -> object:
    """An integer literal as a Python value (too long for ``int()``: a float)."""
    if literal == "-0":
        return _NegZero()
    try:
        return int(literal)
    except ValueError:  # beyond sys.get_int_max_str_digits()
        return _GoFloat(literal)


# ---------------------------------------------------------------------------
# Decoding: Go's scanner, token at a time


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


_GO_CHAR_ESCAPES: Final = {
    0x27: "\\'",
    0x22: '"',
    0x5C: "\\\\",
    0x07: "\\a",
    0x08: "\\b",
    0x0C: "\\f",
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
    0x0B: "\\v",
}


def _quote_char(byte: int) -> str:
    """Go's ``quoteChar``: a byte as it appears in ``invalid character ...``."""
    escaped = _GO_CHAR_ESCAPES.get(byte)
    if escaped is not None:
        return f"'{escaped}'"
    if byte < 0x20 or byte == 0x7F:
        return f"'\\x{byte:02x}'"
    if byte < 0x7F or (byte >= 0xA1 and byte != 0xAD):  # strconv.IsPrint on Latin-1
        return f"'{chr(byte)}'"
    return f"'\\u{byte:04x}'"


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
                value = _make_object(stack.pop()[0])
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
            text = _RawStr(text, raw)
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
            return _parse_int(text), end
        return _GoFloat(text), end

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


def _slow_decode(data: bytes, *, stream: bool, keep_raw: bool) -> object:
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
    object_pairs_hook=_make_object,
    parse_float=_GoFloat,
    parse_int=_parse_int,
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
        return _make_object(
            [(_SURROGATE.sub("\ufffd", k), _fix_surrogates(v)) for k, v in _pairs(value)]
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
            if text[end] in ".eE" and type(value) in (int, _NegZero, _GoFloat):
                return _SLOW
            if not stream and text[end:].strip(_WS):
                return _SLOW
        if _SURROGATE_ESCAPE.search(text):
            value = _fix_surrogates(value)
    except (ValueError, RecursionError):
        return _SLOW
    return value


def _decode(data: bytes, *, stream: bool, keep_raw: bool = False) -> object:
    """Decode ``data`` as one ``Decoder.Decode`` (stream) or ``Unmarshal`` call."""
    value = _fast_decode(data, stream=stream, keep_raw=keep_raw)
    if value is _SLOW:
        value = _slow_decode(data, stream=stream, keep_raw=keep_raw)
    return value


def decode_stream(data: bytes) -> object:
    """The first JSON value of ``data``, as one ``json.Decoder.Decode`` call reads it.

    Leading whitespace is skipped and anything after the first value is ignored.
    Raises :class:`GoJSONError`: ``EOF`` for an empty or all-space body,
    ``unexpected EOF`` for a value cut short, Go's syntax error text otherwise.
    """
    return _decode(bytes(data), stream=True)


def unmarshal(data: bytes) -> object:
    """``json.Unmarshal``: ``data`` must hold exactly one JSON value (and whitespace).

    Raises :class:`GoJSONError` with Go's text, e.g. ``unexpected end of JSON
    input`` or ``invalid character 'x' after top-level value``.
    """
    return _decode(bytes(data), stream=False)


# ---------------------------------------------------------------------------
# Go time parsing (time.Time.UnmarshalJSON, RFC 3339)


_RFC3339: Final = b"2006-01-02T15:04:05Z07:00"
_DAYS_BEFORE_MONTH: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class _Fatal(Exception):
    """An error that ends Go's decoding at once (returned, not saved), e.g. from time.Time."""


def _time_quote(text: bytes) -> str:
    """The ``time`` package's own ``quote``: non-ASCII and control bytes as ``\\xNN``."""
    out = ['"']
    for byte in text:
        if byte >= 0x80 or byte < 0x20:
            out.append(f"\\x{byte:02x}")
        elif byte in b'"\\':
            out.append("\\" + chr(byte))
        else:
            out.append(chr(byte))
    out.append('"')
    return "".join(out)


def _days_in(month: int, year: int) -> int:
    """Days in ``month`` of ``year`` (proleptic Gregorian, year 0 is a leap year)."""
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_BEFORE_MONTH[month - 1]


def _nanos(digits: bytes) -> int:
    """Fraction digits as nanoseconds, truncated to nine digits."""
    return int(digits[:9].ljust(9, b"0"))


def _uint(text: bytes, low: int, high: int) -> int | None:
    """``text`` as a decimal in ``[low, high]``, or None."""
    if not text.isdigit() or not text.isascii():
        return None
    number = int(text)
    return number if low <= number <= high else None


_TimeParts = tuple[int, int, int, int, int, int, int, int | None]


def _fast_rfc3339(text: bytes) -> _TimeParts | None:
    """Go's ``parseRFC3339`` fast path: the parts, or None to fall back to ``time.Parse``."""
    if (
        len(text) < 19
        or text[4:5] + text[7:8] + text[10:11] + text[13:14] + text[16:17] != b"--T::"
    ):
        return None
    year = _uint(text[0:4], 0, 9999)
    month = _uint(text[5:7], 1, 12)
    if year is None or month is None:
        return None
    day = _uint(text[8:10], 1, _days_in(month, year))
    hour = _uint(text[11:13], 0, 23)
    minute = _uint(text[14:16], 0, 59)
    second = _uint(text[17:19], 0, 59)
    if day is None or hour is None or minute is None or second is None:
        return None
    rest, nsec = text[19:], 0
    if len(rest) >= 2 and rest[0:1] == b"." and rest[1:2].isdigit():
        count = 2
        while count < len(rest) and rest[count : count + 1].isdigit():
            count += 1
        nsec, rest = _nanos(rest[1:count]), rest[count:]
    if rest == b"Z":
        return year, month, day, hour, minute, second, nsec, None
    if len(rest) != 6 or rest[0:1] not in (b"+", b"-") or rest[3:4] != b":":
        return None
    zone_hour, zone_minute = _uint(rest[1:3], 0, 23), _uint(rest[4:6], 0, 59)
    if zone_hour is None or zone_minute is None:
        return None
    offset = (zone_hour * 60 + zone_minute) * 60
    return year, month, day, hour, minute, second, nsec, -offset if rest[0:1] == b"-" else offset


def _getnum(text: bytes, *, fixed: bool) -> tuple[int, bytes] | None:
    """Go's ``getnum``: one or two leading digits (exactly two when ``fixed``)."""
    if not text[0:1].isdigit():
        return None
    if not text[1:2].isdigit():
        return None if fixed else (text[0] - 48, text[1:])
    return (text[0] - 48) * 10 + text[1] - 48, text[2:]


class _LayoutParse:
    """Go's general ``time.Parse`` for the one layout ``2006-01-02T15:04:05Z07:00``."""

    def __init__(self, text: bytes) -> None:
        self.text = text
        self.rest = text

    def cannot(self, layout_elem: bytes, value_elem: bytes) -> _Fatal:
        """A ``ParseError`` without a message."""
        q = _time_quote
        return _Fatal(
            f"parsing time {q(self.text)} as {q(_RFC3339)}: "
            f"cannot parse {q(value_elem)} as {q(layout_elem)}"
        )

    def out_of_range(self, what: str) -> _Fatal:
        """A ``ParseError`` with a ``: ... out of range`` message."""
        return _Fatal(f"parsing time {_time_quote(self.text)}: {what} out of range")

    def skip(self, prefix: bytes) -> None:
        """Consume a literal layout byte."""
        if self.rest[0:1] != prefix:
            raise self.cannot(prefix, self.rest)
        self.rest = self.rest[1:]

    def number(self, layout_elem: bytes, *, fixed: bool, limit: int, what: str) -> int:
        """Consume a one/two-digit field that must be below ``limit``."""
        got = _getnum(self.rest, fixed=fixed)
        if got is None:
            raise self.cannot(layout_elem, self.rest)
        number, self.rest = got
        if number >= limit:
            raise self.out_of_range(what)
        return number

    def year(self) -> int:
        """Consume ``2006``: four digits."""
        head = self.rest[:4]
        if len(head) < 4 or not head.isdigit():
            raise self.cannot(b"2006", self.rest)
        self.rest = self.rest[4:]
        return int(head)

    def fraction(self) -> int:
        """Consume a fractional second the layout does not mention (``.`` or ``,``)."""
        rest = self.rest
        if len(rest) < 2 or rest[0:1] not in (b".", b",") or not rest[1:2].isdigit():
            return 0
        count = 2
        while count < len(rest) and rest[count : count + 1].isdigit():
            count += 1
        self.rest = rest[count:]
        return _nanos(rest[1:count])

    def zone(self) -> int | None:
        """Consume ``Z07:00``: ``Z`` (UTC, None) or ``±hh:mm`` (offset in seconds)."""
        hold = self.rest
        if hold[0:1] == b"Z":
            self.rest = hold[1:]
            return None
        if len(hold) < 6 or hold[3:4] != b":":
            raise self.cannot(b"Z07:00", hold)
        hour = _getnum(hold[1:3], fixed=True)
        minute = _getnum(hold[4:6], fixed=True) if hour is not None else None
        self.rest = hold[6:]
        hours = hour[0] if hour is not None else 0
        minutes = minute[0] if minute is not None else 0
        if minutes > 60:
            raise self.out_of_range("time zone offset minute")
        if hours > 24:
            raise self.out_of_range("time zone offset hour")
        if minute is None or hold[0:1] not in (b"+", b"-"):
            raise self.cannot(b"Z07:00", hold)
        offset = (hours * 60 + minutes) * 60
        return -offset if hold[0:1] == b"-" else offset

    def parse(self) -> _TimeParts:
        """Run the layout; return the parts or raise :class:`_Fatal` with Go's text."""
        year = self.year()
        self.skip(b"-")
        got = _getnum(self.rest, fixed=True)
        if got is None:
            raise self.cannot(b"01", self.rest)
        month, self.rest = got
        if not 1 <= month <= 12:
            raise self.out_of_range("month")
        self.skip(b"-")
        got = _getnum(self.rest, fixed=True)
        if got is None:
            raise self.cannot(b"02", self.rest)
        day, self.rest = got
        self.skip(b"T")
        hour = self.number(b"15", fixed=False, limit=24, what="hour")
        self.skip(b":")
        minute = self.number(b"04", fixed=True, limit=60, what="minute")
        self.skip(b":")
        second = self.number(b"05", fixed=True, limit=60, what="second")
        nsec = self.fraction()
        offset = self.zone()
        if self.rest:
            q = _time_quote
            raise _Fatal(f"parsing time {q(self.text)}: extra text: {q(self.rest)}")
        if not 1 <= day <= _days_in(month, year):
            raise _Fatal(f"parsing time {_time_quote(self.text)}: day out of range")
        return year, month, day, hour, minute, second, nsec, offset


def _parse_time(raw: bytes) -> dt.datetime:
    """``time.Time.UnmarshalJSON`` on the bytes between the quotes (Go does not unescape)."""
    parts = _fast_rfc3339(raw) or _LayoutParse(raw).parse()
    year, month, day, hour, minute, second, nsec, offset = parts
    if year < 1:
        raise _Fatal(f"parsing time {_time_quote(raw)}: year 0 cannot be held by a Python datetime")
    tz = dt.UTC
    if offset:
        if abs(offset) >= 86400:
            raise _Fatal(
                f"parsing time {_time_quote(raw)}: a zone offset of 24 hours or more "
                "cannot be held by a Python datetime"
            )
        tz = dt.timezone(dt.timedelta(seconds=offset))
    return dt.datetime(year, month, day, hour, minute, second, nsec // 1000, tzinfo=tz)


# ---------------------------------------------------------------------------
# Struct decoding: Go's rules on top of a cattrs Converter


_KEEP: Final = object()  # "leave the destination as it is" (null, or a type error)
_UNSET: Final = object()

_INT_RANGES: Final = {
    "int": (-(2**63), 2**63 - 1),
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint": (0, 2**64 - 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "uintptr": (0, 2**64 - 1),
}


@attrs.define
class _Session:
    """Go's ``decodeState`` error bookkeeping for one :func:`structure` call."""

    fields: list[str] = attrs.Factory(list)  # errorContext.FieldStack
    struct: str = ""  # errorContext.Struct.Name()
    error: GoJSONError | None = None  # savedError


_SESSION: contextvars.ContextVar[_Session] = contextvars.ContextVar("gojson_session")


def _kind(value: object) -> str:
    """The JSON kind Go names in ``cannot unmarshal <kind>``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"gojson: not a decoded JSON value: {type(value).__name__}")


def _literal(value: int | float) -> str:
    """The JSON text of a decoded number, as Go quotes it in type errors."""
    if isinstance(value, _GoFloat):
        return value.literal
    if isinstance(value, _NegZero):
        return "-0"
    if isinstance(value, int):
        return int.__repr__(value)
    return _format_float(value) if math.isfinite(value) else repr(value)


def _mismatch(what: str, go_type: str) -> object:
    """Save Go's ``UnmarshalTypeError`` (the first one wins) and leave the destination alone."""
    session = _SESSION.get()
    if session.error is None:
        if session.fields:
            where = f"Go struct field {session.struct}.{'.'.join(session.fields)}"
        else:
            where = "Go value"
        session.error = GoJSONError(f"json: cannot unmarshal {what} into {where} of type {go_type}")
    return _KEEP


def _origin(tp: Any) -> Any:
    """``typing.get_origin`` typed loosely (``list`` for ``list[int]``, ...)."""
    return typing.get_origin(tp)


def _optional_inner(tp: Any) -> Any:
    """``X`` for ``X | None`` / ``Optional[X]``, else None."""
    if _origin(tp) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
    return None


def _go_type(tp: Any) -> GoType | None:
    """The :class:`GoType` marker of ``Annotated[int, GoType(...)]``, else None."""
    if _origin(tp) is Annotated:
        for meta in tp.__metadata__:
            if isinstance(meta, GoType):
                return meta
    return None


def _is_any(tp: Any) -> bool:
    """``Any`` or ``object``: Go's ``interface{}``."""
    return tp is Any or tp is object


def _nilable(tp: Any) -> bool:
    """Whether Go's type for ``tp`` has nil without a pointer (slice, map, interface)."""
    return _is_any(tp) or _origin(tp) in (list, dict)


def _go_name(cls: type) -> str:
    """The Go type name of a wire model (``__go_name__`` or the class name)."""
    name = getattr(cls, "__go_name__", None)
    return name if isinstance(name, str) else cls.__name__


def _go_type_name(tp: Any) -> str:
    """What Go's ``reflect.Type.String()`` prints for the Go type of annotation ``tp``."""
    simple = {str: "string", bool: "bool", int: "int", float: "float64", bytes: "[]uint8"}
    if tp in simple:
        return simple[tp]
    if _is_any(tp):
        return "interface {}"
    if tp is dt.datetime:
        return "time.Time"
    marker = _go_type(tp)
    if marker is not None:
        return marker.name
    inner = _optional_inner(tp)
    if inner is not None:
        return _go_type_name(inner) if _nilable(inner) else "*" + _go_type_name(inner)
    origin, args = _origin(tp), typing.get_args(tp)
    if origin is list:
        return "[]" + _go_type_name(args[0])
    if origin is dict:
        return "map[string]" + _go_type_name(args[1])
    if isinstance(tp, type) and attrs.has(tp):
        return _go_name(tp)
    raise TypeError(f"gojson: no Go type for {tp!r}")


def _zero(tp: Any) -> object:
    """Go's zero value for the Go type of annotation ``tp``, in its Python form."""
    if tp is str:
        return ""
    if tp is bool:
        return False
    if tp is int or _go_type(tp) is not None:
        return 0
    if tp is float:
        return 0.0
    if tp is dt.datetime:
        return ZERO_TIME
    if _is_any(tp) or _optional_inner(tp) is not None:
        return None
    origin = _origin(tp)
    if origin is list:
        return []
    if origin is dict:
        return {}
    if isinstance(tp, type) and attrs.has(tp):
        return _plan(tp).build({})
    raise TypeError(f"gojson: no Go zero value for {tp!r}")


def _or_zero(result: object, tp: Any) -> object:
    """``result``, or the zero value of ``tp`` when the destination was left alone."""
    return _zero(tp) if result is _KEEP else result


Hook = Callable[[Any, Any], Any]


class _LazyHook:
    """A converter hook looked up on first use (so recursive wire models work)."""

    __slots__ = ("_converter", "_hook", "_tp")

    def __init__(self, converter: cattrs.Converter, tp: Any) -> None:
        self._converter = converter
        self._tp = tp
        self._hook: Hook | None = None

    def __call__(self, value: Any, _tp: Any = None) -> Any:
        """Decode ``value`` into the Go type of the annotation given at creation."""
        if self._hook is None:
            self._hook = self._converter.get_structure_hook(self._tp)
        return self._hook(value, self._tp)


def _structure_str(value: Any, _tp: Any) -> Any:
    """JSON into a Go ``string``."""
    if isinstance(value, str):
        return str(value)
    return _KEEP if value is None else _mismatch(_kind(value), "string")


def _structure_bool(value: Any, _tp: Any) -> Any:
    """JSON into a Go ``bool``."""
    if isinstance(value, bool):
        return value
    return _KEEP if value is None else _mismatch(_kind(value), "bool")


def _structure_float(value: Any, _tp: Any) -> Any:
    """JSON into a Go ``float64`` (a literal beyond its range is a type error)."""
    if value is None:
        return _KEEP
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _mismatch(_kind(value), "float64")
    if isinstance(value, _NegZero):
        return -0.0
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        return _mismatch("number " + _literal(value), "float64")
    return number


def _int_hook(name: str, kind: str) -> Hook:
    """A hook for a Go integer type ``name`` whose kind (range) is ``kind``."""
    low, high = _INT_RANGES[kind]

    def structure_int(value: Any, _tp: Any) -> Any:
        """JSON into a Go integer: only an integer literal within range fits."""
        if value is None:
            return _KEEP
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _mismatch(_kind(value), name)
        if isinstance(value, int) and low <= value <= high:
            return int(value)
        return _mismatch("number " + _literal(value), name)

    return structure_int


def _structure_time(value: Any, _tp: Any) -> Any:
    """JSON into a Go ``time.Time`` (its ``UnmarshalJSON``: errors end the decoding)."""
    if value is None:
        return _KEEP
    if not isinstance(value, str):
        raise _Fatal("Time.UnmarshalJSON: input is not a JSON string")
    raw = value.raw if isinstance(value, _RawStr) else value.encode("utf-8", "surrogatepass")
    return _parse_time(raw)


def _interface_scalar(value: Any) -> Any:
    """One JSON scalar as Go stores it in an ``interface{}`` (numbers are float64)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    number = _structure_float(value, float)
    return None if number is _KEEP else number


def _structure_any(value: Any, _tp: Any) -> Any:
    """JSON into a Go ``interface{}``: maps, slices, strings, float64s, bools, nil."""
    if not isinstance(value, dict | list):
        if not isinstance(value, str | int | float) and value is not None:
            _kind(value)  # raises TypeError for non-JSON data
        return _interface_scalar(value)
    root: dict[str, Any] | list[Any] = {} if isinstance(value, dict) else []
    stack: list[tuple[typing.Iterator[Any], dict[str, Any] | list[Any]]] = []
    stack.append((iter(_pairs(value) if isinstance(value, dict) else value), root))
    while stack:
        items, out = stack[-1]
        item: Any = next(items, _UNSET)
        if item is _UNSET:
            stack.pop()
            continue
        child = item[1] if isinstance(out, dict) else item
        if isinstance(child, dict | list):
            converted: Any = {} if isinstance(child, dict) else []
            stack.append((iter(_pairs(child) if isinstance(child, dict) else child), converted))
        else:
            converted = _interface_scalar(child)
        if isinstance(out, dict):
            out[str(item[0])] = converted
        else:
            out.append(converted)
    return root


@attrs.frozen
class _FieldSpec:
    """One struct field as Go's ``typeFields`` sees it."""

    attr: str  # the Python attribute (Go field) name
    key: str  # the JSON name
    prefix: str  # '"key":' ready for the encoder
    omitempty: bool
    tagged: bool  # the name came from a json tag
    type: Any


def _exported(name: str) -> bool:
    """Go's export rule: the name starts with an upper-case letter."""
    return name[:1].isupper()


_FIELDS: dict[type, tuple[_FieldSpec, ...]] = {}


def _struct_fields(cls: type) -> tuple[_FieldSpec, ...]:
    """The JSON fields of an attrs wire model, in declaration order (cached)."""
    cached = _FIELDS.get(cls)
    if cached is None:
        cached = _FIELDS[cls] = tuple(_dominant(list(_declared_fields(cls))))
    return cached


def _declared_fields(cls: type) -> Iterable[_FieldSpec]:
    """Every field Go's ``typeFields`` would see, before name clashes are settled."""
    attrs.resolve_types(cls)
    for field in attrs.fields(cls):
        options = field.metadata.get("json")
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"gojson: {cls.__name__}.{field.name}: json metadata must be a dict")
        options = options or {}
        key = options.get("name") or field.name
        if key == "-" or (not options and not _exported(field.name)):
            continue
        omit = bool(options.get("omitempty", False))
        yield _FieldSpec(field.name, key, _quote(key) + ":", omit, "name" in options, field.type)


def _dominant(specs: list[_FieldSpec]) -> Iterable[_FieldSpec]:
    """Go's rule for clashing JSON names: a lone tagged field wins, else all are dropped."""
    for spec in specs:
        rivals = [other for other in specs if other.key == spec.key]
        if len(rivals) == 1:
            yield spec
        else:
            tagged = [other for other in rivals if other.tagged]
            if len(tagged) == 1 and tagged[0] is spec:
                yield spec


@functools.cache
def _fold_table() -> dict[str, str]:
    """Each non-ASCII cased character -> the smallest character of its case-folding set."""
    parent: dict[str, str] = {}

    def find(char: str) -> str:
        root = char
        while parent.get(root, root) != root:
            root = parent[root]
        parent[char] = root
        return root

    for code in range(0x1F000):  # ASCII too: U+212A KELVIN SIGN joins 'k' and 'K'
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        for mapped in (char.lower(), char.upper(), char.title(), char.casefold()):
            if len(mapped) == 1 and mapped != char:
                a, b = find(char), find(mapped)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return {char: find(char) for char in parent if not char.isascii()}


def _fold(name: str) -> str:
    """Go's ``foldName``: names equal under it are equal under ``bytes.EqualFold``."""
    if name.isascii():
        return name.upper()
    table = _fold_table()
    return "".join(char.upper() if char.isascii() else table.get(char, char) for char in name)


def _merge_kind(tp: Any) -> str | None:
    """How Go decodes a second object into a field of type ``tp``: into a struct or a map."""
    target = _optional_inner(tp) or tp
    if isinstance(target, type) and attrs.has(target):
        return "struct"
    return "map" if _origin(target) is dict else None


class _StructPlan:
    """How Go decodes a JSON object into one wire model."""

    def __init__(self, cls: type, converter: cattrs.Converter) -> None:
        self.cls = cls
        self.go_name = _go_name(cls)
        self.short_name = self.go_name.rsplit(".", 1)[-1]
        self.fields = _struct_fields(cls)
        self.exact: dict[str, _FieldSpec] = {spec.key: spec for spec in self.fields}
        self.folded: dict[str, _FieldSpec] = {}
        for spec in self.fields:
            self.folded.setdefault(_fold(spec.key), spec)  # the first one wins, as in Go
        self.hooks = {spec.attr: _LazyHook(converter, spec.type) for spec in self.fields}
        self.merges = {spec.attr: _merge_kind(spec.type) for spec in self.fields}
        self.inits = [f for f in attrs.fields(cls) if f.init]

    def lookup(self, key: str) -> _FieldSpec | None:
        """The field a JSON key decodes into: exact name first, then case-insensitively."""
        spec = self.exact.get(key)
        return spec if spec is not None else self.folded.get(_fold(key))

    def decode(self, value: dict[str, Any], base: object = None) -> object:
        """Decode a JSON object; with ``base``, into a copy of that instance (Go reuses it)."""
        values: dict[str, Any] = {}
        if base is not None:
            values = {spec.attr: getattr(base, spec.attr) for spec in self.fields}
        session = _SESSION.get()
        for key, item in _pairs(value):
            spec = self.lookup(key)
            if spec is None:
                continue
            depth, outer = len(session.fields), session.struct
            session.fields.append(spec.key)
            session.struct = self.short_name
            try:
                result = self.decode_field(spec, item, values.get(spec.attr, _UNSET))
            finally:
                del session.fields[depth:]
                session.struct = outer
            if result is not _KEEP:
                values[spec.attr] = result
        return self.build(values)

    def decode_field(self, spec: _FieldSpec, item: Any, current: Any) -> Any:
        """Decode one member; a repeated key decodes into what the earlier one left.

        Go decodes into the destination in place: a second object for a struct
        (or pointer to struct) field fills in the struct the first one made, a
        second object for a map field adds to the map.
        """
        hook = self.hooks[spec.attr]
        if not isinstance(item, dict) or current is _UNSET or current is None:
            return hook(item)
        merge = self.merges[spec.attr]
        if merge == "struct":
            return _plan(type(current)).decode(item, current)
        if merge == "map":
            fresh = hook(item)
            return _KEEP if fresh is _KEEP else {**current, **fresh}
        return hook(item)

    def build(self, values: dict[str, Any]) -> object:
        """The instance: decoded values, else attrs defaults, else Go zero values."""
        kwargs: dict[str, Any] = {}
        for field in self.inits:
            if field.name in values:
                kwargs[field.alias] = values[field.name]
            elif field.default is attrs.NOTHING:
                kwargs[field.alias] = _zero(field.type)
        try:
            return self.cls(**kwargs)
        except (TypeError, ValueError):
            if _SESSION.get().error is None:  # not caused by a value Go rejected
                raise
            return None


_PLANS: dict[type, _StructPlan] = {}


def _plan(cls: type) -> _StructPlan:
    """The decoding plan of a wire model (cached)."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _StructPlan(cls, _CONVERTER)
    return plan


def _struct_hook_for(cls: type) -> Hook:
    """The hook decoding JSON into wire model ``cls``."""
    plan = _plan(cls)

    def structure_struct(value: Any, _tp: Any) -> Any:
        """JSON into a Go struct: only an object fits; null leaves it alone."""
        if value is None:
            return _KEEP
        if not isinstance(value, dict):
            return _mismatch(_kind(value), plan.go_name)
        return plan.decode(value)

    return structure_struct


def _optional_factory(tp: Any, converter: cattrs.Converter) -> Hook:
    """Hook for ``X | None`` (a Go pointer, or a nil-able slice/map/interface)."""
    inner = _optional_inner(tp)
    hook = _LazyHook(converter, inner)

    def structure_optional(value: Any, _tp: Any) -> Any:
        """null makes it nil (None); anything else decodes into ``X``."""
        return None if value is None else hook(value)

    return structure_optional


def _list_factory(tp: Any, converter: cattrs.Converter) -> Hook:
    """Hook for ``list[X]`` (a Go slice)."""
    (elem,) = typing.get_args(tp) or (Any,)
    hook = _LazyHook(converter, elem)
    go_name = _go_type_name(tp)

    def structure_list(value: Any, _tp: Any) -> Any:
        """An array fits; null gives a nil slice (empty); elements start from zero."""
        if value is None:
            return []
        if not isinstance(value, list):
            return _mismatch(_kind(value), go_name)
        return [_or_zero(hook(item), elem) for item in value]

    return structure_list


def _dict_factory(tp: Any, converter: cattrs.Converter) -> Hook:
    """Hook for ``dict[str, X]`` (a Go ``map[string]X``)."""
    key_type, elem = typing.get_args(tp) or (str, Any)
    if key_type is not str:
        raise TypeError(f"gojson: only str map keys are supported, not {key_type!r}")
    hook = _LazyHook(converter, elem)
    go_name = _go_type_name(tp)

    def structure_dict(value: Any, _tp: Any) -> Any:
        """An object fits; null gives a nil map (empty); each value starts from zero."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            return _mismatch(_kind(value), go_name)
        return {str(key): _or_zero(hook(item), elem) for key, item in _pairs(value)}

    return structure_dict


def _annotated_int_factory(tp: Any) -> Hook:
    """Hook for ``Annotated[int, GoType(...)]``."""
    marker = _go_type(tp)
    assert marker is not None
    kind = marker.kind or marker.name
    if kind not in _INT_RANGES:
        raise TypeError(f"gojson: {marker.name!r} needs an integer kind, e.g. GoType(name, 'int')")
    return _int_hook(marker.name, kind)


def _unsupported(tp: Any) -> Hook:
    """Refuse annotations with no Go decoding here (rather than cattrs' own rules)."""
    raise TypeError(f"gojson: cannot decode JSON into {tp!r}")


def _make_converter() -> cattrs.Converter:
    """A cattrs Converter whose structure hooks follow Go's ``encoding/json``."""
    converter = cattrs.Converter()
    converter.register_structure_hook_factory(lambda _tp: True, _unsupported)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(int, _int_hook("int", "int"))
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(dt.datetime, _structure_time)
    converter.register_structure_hook_func(_is_any, _structure_any)
    converter.register_structure_hook_factory(lambda tp: attrs.has(tp), _struct_hook_for)
    converter.register_structure_hook_factory(
        lambda tp: _origin(tp) is dict, lambda tp: _dict_factory(tp, converter)
    )
    converter.register_structure_hook_factory(
        lambda tp: _origin(tp) is list, lambda tp: _list_factory(tp, converter)
    )
    converter.register_structure_hook_factory(
        lambda tp: _optional_inner(tp) is not None, lambda tp: _optional_factory(tp, converter)
    )
    converter.register_structure_hook_factory(
        lambda tp: _go_type(tp) is not None, _annotated_int_factory
    )
    return converter


_CONVERTER: Final = _make_converter()


def structure(value: object, cls: type[T]) -> T:
    """Decode an already decoded JSON value into ``cls`` the way Go decodes into its type.

    ``cls`` is usually an attrs wire model; ``str``, ``bool``, ``int``,
    ``float``, ``list[X]``, ``dict[str, X]``, ``X | None``, ``Any``/``object``
    and ``datetime`` work too, at the top and inside models.  Raises
    :class:`GoJSONError` with Go's text for the first value that does not fit,
    or for a ``time.Time`` that does not parse (that one wins, as in Go).
    """
    session = _Session()
    token = _SESSION.set(session)
    try:
        hook = _CONVERTER.get_structure_hook(cls)
        try:
            result = hook(value, cls)
        except _Fatal as fatal:
            raise GoJSONError(str(fatal)) from None
    finally:
        _SESSION.reset(token)
    if session.error is not None:
        raise session.error
    return typing.cast(T, _or_zero(result, cls))


_HAS_TIME: dict[Any, bool] = {}


def _has_time(tp: Any) -> bool:
    """Whether decoding into ``tp`` can reach a ``time.Time`` (which reads raw string bytes)."""
    cached = _HAS_TIME.get(tp)
    if cached is None:
        cached = _HAS_TIME[tp] = _reaches_time(tp, set())
    return cached


def _reaches_time(tp: Any, seen: set[Any]) -> bool:
    """Walk the annotations reachable from ``tp`` looking for ``datetime``."""
    if tp is dt.datetime:
        return True
    if tp in seen:
        return False
    seen.add(tp)
    if isinstance(tp, type) and attrs.has(tp):
        return any(_reaches_time(spec.type, seen) for spec in _struct_fields(tp))
    return any(
        _reaches_time(arg, seen) for arg in typing.get_args(tp) if not isinstance(arg, GoType)
    )


def loads_into(data: bytes, cls: type[T]) -> T:
    """How dockerd reads a 200 answer: ``json.NewDecoder(body).Decode(&ret)``.

    :func:`decode_stream` then :func:`structure`.
    """
    return structure(_decode(bytes(data), stream=True, keep_raw=_has_time(cls)), cls)


def unmarshal_into(data: bytes, cls: type[T]) -> T:
    """``json.Unmarshal(data, &ret)``: :func:`unmarshal` then :func:`structure`."""
    return structure(_decode(bytes(data), stream=False, keep_raw=_has_time(cls)), cls)
