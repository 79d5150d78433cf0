"""Tests for emulator.golang.json: Go's encoding/json bytes, verdicts and texts.

Expected texts come from Go's encoding/json and time sources (Go 1.24, the
toolchain of dockerd v28); the decoder tables were also checked against a Go
toolchain, where Go's behaviour did not change between versions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Annotated, Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.golang import json as gojson
from emulator.golang import time as gotime
from emulator.golang.json import GoJSONError, GoType, scanner, values

# ---------------------------------------------------------------------------
# Wire models used below


@attrs.frozen
class CreateRequest:
    __go_name__ = "volume.CreateRequest"
    Name: str
    Opts: dict[str, str] | None


@attrs.frozen
class Empty:
    pass


@attrs.frozen
class Manifest:
    __go_name__ = "plugins.Manifest"
    Implements: list[str] | None = None


@attrs.frozen
class Inner:
    __go_name__ = "main.Inner"
    Name: str = ""
    N: int = 0


_Inner = Inner  # Resp has a field named Inner; its annotations use this alias


@attrs.frozen
class Resp:
    __go_name__ = "main.Resp"
    Name: str = ""
    Implements: list[str] | None = None
    Opts: dict[str, str] | None = None
    Count: int = 0
    Ratio: float = 0.0
    Flag: bool = False
    Inner: _Inner = attrs.field(factory=lambda: _Inner())
    PInner: _Inner | None = None
    Items: list[_Inner] | None = None
    ByName: dict[str, _Inner] | None = None
    Raw: Any = None
    When: dt.datetime = gojson.ZERO_TIME
    PWhen: dt.datetime | None = None
    Small: Annotated[int, GoType("uint16")] = 0
    Err: str = ""


@attrs.frozen
class NoDefaults:
    Str: str
    Int: int
    Flt: float
    Bool: bool
    List: list[str]
    Map: dict[str, int]
    Ptr: Inner | None
    Iface: Any
    Time: dt.datetime
    Nested: Inner


@attrs.frozen
class Tagged:
    RequestURI: str = attrs.field(default="", metadata={"json": {"name": "RequestUri"}})
    Skipped: str = attrs.field(default="x", metadata={"json": {"name": "-"}})
    Maybe: str = attrs.field(default="", metadata={"json": {"omitempty": True}})
    hidden: str = "h"


@attrs.frozen
class OmitAll:
    S: str = attrs.field(default="", metadata={"json": {"omitempty": True}})
    Int: int = attrs.field(default=0, metadata={"json": {"omitempty": True}})
    F: float = attrs.field(default=0.0, metadata={"json": {"omitempty": True}})
    B: bool = attrs.field(default=False, metadata={"json": {"omitempty": True}})
    P: Inner | None = attrs.field(default=None, metadata={"json": {"omitempty": True}})
    L: list[str] = attrs.field(factory=list, metadata={"json": {"omitempty": True}})
    M: dict[str, str] = attrs.field(factory=dict, metadata={"json": {"omitempty": True}})
    Y: bytes = attrs.field(default=b"", metadata={"json": {"omitempty": True}})
    N: Inner = attrs.field(factory=lambda: _Inner(), metadata={"json": {"omitempty": True}})
    T: dt.datetime = attrs.field(default=gojson.ZERO_TIME, metadata={"json": {"omitempty": True}})


@attrs.frozen
class Clash:
    A: str = attrs.field(default="a", metadata={"json": {"name": "X"}})
    X: str = "x"
    B: str = attrs.field(default="b", metadata={"json": {"name": "Y"}})
    C: str = attrs.field(default="c", metadata={"json": {"name": "Y"}})
    Z: str = "z"


@attrs.frozen
class Folded:
    Key: str = ""
    Small: str = ""
    key: str = attrs.field(default="", metadata={"json": {"name": "kEY"}})


@attrs.frozen
class Node:
    Name: str = ""
    Children: list[Node] | None = None


@attrs.frozen
class ErrReply:
    Err: str = ""


@attrs.frozen
class Sizes:
    U8: Annotated[int, GoType("uint8")] = 0
    I8: Annotated[int, GoType("int8")] = 0
    Auth: Annotated[int, GoType("tls.ClientAuthType", "int")] = 0


# ---------------------------------------------------------------------------
# Encoding


def test_encode_known_go_outputs() -> None:
    assert gojson.encode(CreateRequest(Name="v<&>", Opts=None)) == (
        b'{"Name":"v\\u003c\\u0026\\u003e","Opts":null}\n'
    )
    assert gojson.encode(Empty()) == b"{}\n"
    assert gojson.encode({}) == b"{}\n"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, b"null"),
        (True, b"true"),
        (False, b"false"),
        (0, b"0"),
        (-42, b"-42"),
        (2**64, b"18446744073709551616"),
        ("", b'""'),
        ([], b"[]"),
        ((1, "a"), b'[1,"a"]'),
        ([None, [True]], b"[null,[true]]"),
        ({"b": 1, "a": [2]}, b'{"a":[2],"b":1}'),
        (b"", b'""'),
        (b"\x00\xff hi", b'"AP8gaGk="'),
        (bytearray(b"go"), b'"Z28="'),
    ],
)
def test_encode_basic_values(value: object, expected: bytes) -> None:
    assert gojson.encode(value) == expected + b"\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('say "hi"', rb'"say \"hi\""'),
        ("back\\slash", rb'"back\\slash"'),
        ("a\nb\rc\td", rb'"a\nb\rc\td"'),
        ("\b\f", rb'"\b\f"'),  # Go 1.22+ writes the short forms
        ("\x00\x01\x1f", rb'"\u0000\u0001\u001f"'),
        (
            "<a href='x'>&amp;</a>",
            rb'"\u003ca href=' + b"'x'" + rb'\u003e\u0026amp;\u003c/a\u003e"',
        ),
        ("line\u2028para\u2029", rb'"line\u2028para\u2029"'),
        ("lone \ud800 \udfff", rb'"lone \ufffd \ufffd"'),
        ("caf\u00e9 \U0001f600", '"café 😀"'.encode()),
        ("del\x7f/slash", b'"del\x7f/slash"'),
    ],
)
def test_encode_string_escaping(text: str, expected: bytes) -> None:
    assert gojson.encode(text) == expected + b"\n"


def test_encode_escapes_map_keys_too() -> None:
    assert gojson.encode({"<k>": "\n"}) == b'{"\\u003ck\\u003e":"\\n"}\n'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (-1.5, "-1.5"),
        (0.1, "0.1"),
        (100.0, "100"),
        (123456789.0, "123456789"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (-1e21, "-1e+21"),
        (1.5e300, "1.5e+300"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (1e-6, "0.000001"),
        (1.5e-6, "0.0000015"),
        (1e-7, "1e-7"),  # Go trims the exponent's leading zero
        (1.2345e-7, "1.2345e-7"),
        (2.5e-10, "2.5e-10"),
        (5e-324, "5e-324"),
        (12345678901234567890.0, "12345678901234567000"),
        (0.30000000000000004, "0.30000000000000004"),
    ],
)
def test_encode_float_like_go(value: float, expected: str) -> None:
    assert gojson.encode(value) == expected.encode() + b"\n"


@pytest.mark.parametrize(
    ("value", "text"),
    [(math.nan, "NaN"), (math.inf, "+Inf"), (-math.inf, "-Inf")],
)
def test_encode_rejects_non_finite_floats(value: float, text: str) -> None:
    with pytest.raises(GoJSONError) as info:
        gojson.encode({"x": value})
    assert str(info.value) == f"json: unsupported value: {text}"


def test_encode_sorts_map_keys_by_utf8_bytes() -> None:
    value = {"b": 0, "a": 0, "B": 0, "aa": 0, "é": 0, "z": 0, "\U0001f600": 0, "": 0, "\uffff": 0}
    out = gojson.encode(value).decode()
    keys = list(json.loads(out))
    assert keys == sorted(value, key=lambda key: key.encode())
    assert keys == ["", "B", "a", "aa", "b", "z", "é", "\uffff", "\U0001f600"]


def test_encode_rejects_non_string_map_keys() -> None:
    with pytest.raises(TypeError):
        gojson.encode({1: "x"})


def test_encode_rejects_unknown_types() -> None:
    with pytest.raises(TypeError):
        gojson.encode({1, 2})


def test_encode_struct_fields_in_declaration_order_with_tags() -> None:
    assert gojson.encode(Inner(Name="n", N=3)) == b'{"Name":"n","N":3}\n'
    assert gojson.encode(Tagged(RequestURI="/x", Maybe="")) == b'{"RequestUri":"/x"}\n'
    assert gojson.encode(Tagged(Maybe="m")) == b'{"RequestUri":"","Maybe":"m"}\n'


def test_encode_omitempty_omits_go_empty_values_only() -> None:
    assert gojson.encode(OmitAll()) == b'{"N":{"Name":"","N":0},"T":"0001-01-01T00:00:00Z"}\n'
    full = OmitAll(S="s", Int=-1, F=0.5, B=True, P=Inner(), L=["l"], M={"k": "v"}, Y=b"y")
    assert json.loads(gojson.encode(full)) == {
        "S": "s",
        "Int": -1,
        "F": 0.5,
        "B": True,
        "P": {"Name": "", "N": 0},
        "L": ["l"],
        "M": {"k": "v"},
        "Y": "eQ==",
        "N": {"Name": "", "N": 0},
        "T": "0001-01-01T00:00:00Z",
    }


def test_encode_omitempty_keeps_negative_zero() -> None:
    assert gojson.encode(OmitAll(F=-0.0)).startswith(b'{"F":-0,')


def test_encode_settles_clashing_names_like_go() -> None:
    # "X": tagged A beats untagged X; "Y": two tagged fields cancel out.
    assert gojson.encode(Clash()) == b'{"X":"a","Z":"z"}\n'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC), "2024-05-06T07:08:09Z"),
        (dt.datetime(2024, 5, 6, 7, 8, 9, 120000, tzinfo=dt.UTC), "2024-05-06T07:08:09.12Z"),
        (dt.datetime(2024, 5, 6, 7, 8, 9, 1, tzinfo=dt.UTC), "2024-05-06T07:08:09.000001Z"),
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
            "2024-01-02T03:04:05+05:30",
        ),
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(-dt.timedelta(hours=8))),
            "2024-01-02T03:04:05-08:00",
        ),
        (
            dt.datetime(2024, 1, 2, tzinfo=dt.timezone(-dt.timedelta(seconds=90))),
            "2024-01-02T00:00:00-00:01",
        ),
        (
            dt.datetime(2024, 1, 2, tzinfo=dt.timezone(-dt.timedelta(seconds=30))),
            "2024-01-02T00:00:00+00:00",
        ),
        (dt.datetime(1, 1, 1, tzinfo=dt.UTC), "0001-01-01T00:00:00Z"),
    ],
)
def test_encode_datetime_as_rfc3339_nano(value: dt.datetime, expected: str) -> None:
    assert gojson.encode(value) == f'"{expected}"\n'.encode()


def test_encode_rejects_naive_datetime() -> None:
    with pytest.raises(ValueError, match="naive"):
        gojson.encode(dt.datetime(2024, 1, 1))


def test_encode_or_empty() -> None:
    assert gojson.encode_or_empty(None) == b""
    assert gojson.encode_or_empty({}) == b"{}\n"
    assert gojson.encode_or_empty(Empty()) == b"{}\n"
    assert gojson.encode(None) == b"null\n"


# ---------------------------------------------------------------------------
# Decoding: verdicts and texts


def _both(data: bytes, *, stream: bool) -> str:
    """Decode on the fast path and the scanner path; both must agree. Returns a summary."""
    results = []
    decoders: list[Callable[[], object]] = [
        lambda: scanner.decode(data, stream=stream),
        lambda: scanner.scanner_decode(data, stream=stream, keep_raw=False),
    ]
    for decode in decoders:
        try:
            results.append("ok " + repr(_typed(decode())))
        except GoJSONError as err:
            results.append(str(err))
    assert results[0] == results[1], data
    return results[0]


def _typed(value: object) -> object:
    """``value`` with every scalar tagged by its type, to compare int/float/str exactly."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in values.pairs(value)}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    kind = "float" if isinstance(value, float) else type(value).__name__
    return (kind.lstrip("_").replace("NegZero", "int"), value)


# (input, what one Decoder.Decode gives, what Unmarshal gives)
_SYNTAX_CASES = [
    (b"", "EOF", "unexpected end of JSON input"),
    (b" \t\r\n", "EOF", "unexpected end of JSON input"),
    (b"hello", *["invalid character 'h' looking for beginning of value"] * 2),
    (b"{}}", "ok {}", "invalid character '}' after top-level value"),
    (b'{"a":1} garbage', "ok {'a': ('int', 1)}", "invalid character 'g' after top-level value"),
    (b"01", "ok ('int', 0)", "invalid character '1' after top-level value"),
    (b"1 2", "ok ('int', 1)", "invalid character '2' after top-level value"),
    (b"truex", "ok ('bool', True)", "invalid character 'x' after top-level value"),
    (b"{", "unexpected EOF", "unexpected end of JSON input"),
    (b"[1,", "unexpected EOF", "unexpected end of JSON input"),
    (b'{"a"', "unexpected EOF", "unexpected end of JSON input"),
    (b'"abc', "unexpected EOF", "unexpected end of JSON input"),
    (b"tru", "unexpected EOF", "invalid character ' ' in literal true (expecting 'e')"),
    (b"nul", "unexpected EOF", "invalid character ' ' in literal null (expecting 'l')"),
    (b"-", "unexpected EOF", "invalid character ' ' in numeric literal"),
    (b"1.", "unexpected EOF", "invalid character ' ' after decimal point in numeric literal"),
    (b"1e+", "unexpected EOF", "invalid character ' ' in exponent of numeric literal"),
    (b'"\\', "unexpected EOF", "invalid character ' ' in string escape code"),
    (b'"\\u12', "unexpected EOF", "invalid character ' ' in \\u hexadecimal character escape"),
    (b"{}", "ok {}", "ok {}"),
    (b"{,", *["invalid character ',' looking for beginning of object key string"] * 2),
    (b'{"a":1,}', *["invalid character '}' looking for beginning of object key string"] * 2),
    (b"{1:2}", *["invalid character '1' looking for beginning of object key string"] * 2),
    (b'{"a" 1}', *["invalid character '1' after object key"] * 2),
    (b'{"a":1 "b":2}', *["invalid character '\"' after object key:value pair"] * 2),
    (b"[1 2]", *["invalid character '2' after array element"] * 2),
    (b"[1,]", *["invalid character ']' looking for beginning of value"] * 2),
    (b"[01]", *["invalid character '1' after array element"] * 2),
    (b"trux", *["invalid character 'x' in literal true (expecting 'e')"] * 2),
    (b"tx", *["invalid character 'x' in literal true (expecting 'r')"] * 2),
    (b"fals", "unexpected EOF", "invalid character ' ' in literal false (expecting 'e')"),
    (b"fa1se", *["invalid character '1' in literal false (expecting 'l')"] * 2),
    (b"nUll", *["invalid character 'U' in literal null (expecting 'u')"] * 2),
    (b'"\\x"', *["invalid character 'x' in string escape code"] * 2),
    (b'"\\u12g4"', *["invalid character 'g' in \\u hexadecimal character escape"] * 2),
    (b'"a\nb"', *["invalid character '\\n' in string literal"] * 2),
    (b'"a\tb"', *["invalid character '\\t' in string literal"] * 2),
    (b'"a\x01"', *["invalid character '\\x01' in string literal"] * 2),
    (b"-x", *["invalid character 'x' in numeric literal"] * 2),
    (b"--1", *["invalid character '-' in numeric literal"] * 2),
    (b"1.x", *["invalid character 'x' after decimal point in numeric literal"] * 2),
    (b"1ex", *["invalid character 'x' in exponent of numeric literal"] * 2),
    (b"[1e+]", *["invalid character ']' in exponent of numeric literal"] * 2),
    (b".5", *["invalid character '.' looking for beginning of value"] * 2),
    (b"+1", *["invalid character '+' looking for beginning of value"] * 2),
    (b"NaN", *["invalid character 'N' looking for beginning of value"] * 2),
    (b"Infinity", *["invalid character 'I' looking for beginning of value"] * 2),
    (b"-Infinity", *["invalid character 'I' in numeric literal"] * 2),
    (b"[NaN]", *["invalid character 'N' looking for beginning of value"] * 2),
    (b"'a'", *["invalid character '\\'' looking for beginning of value"] * 2),
    (b"\\", *["invalid character '\\\\' looking for beginning of value"] * 2),
    (b"\x7f", *["invalid character '\\x7f' looking for beginning of value"] * 2),
    (b"\x0b1", *["invalid character '\\v' looking for beginning of value"] * 2),
    (b"\x07", *["invalid character '\\a' looking for beginning of value"] * 2),
    (b"\x08", *["invalid character '\\b' looking for beginning of value"] * 2),
    (b"\x0c", *["invalid character '\\f' looking for beginning of value"] * 2),
    (b"\xff", *["invalid character 'ÿ' looking for beginning of value"] * 2),
    (b"\xc3\xa9", *["invalid character 'Ã' looking for beginning of value"] * 2),
    (b"\x80", *["invalid character '\\u0080' looking for beginning of value"] * 2),
    (b"\xa0", *["invalid character '\\u00a0' looking for beginning of value"] * 2),
    (b"\xad", *["invalid character '\\u00ad' looking for beginning of value"] * 2),
    (b"\xef\xbb\xbf{}", *["invalid character 'ï' looking for beginning of value"] * 2),
    (b"[1]]", "ok [('int', 1)]", "invalid character ']' after top-level value"),
    (b"1.5.", "ok ('float', 1.5)", "invalid character '.' after top-level value"),
    (b"1e5e", "ok ('float', 100000.0)", "invalid character 'e' after top-level value"),
    (b"-0", "ok ('int', 0)", "ok ('int', 0)"),
]


@pytest.mark.parametrize(("data", "stream", "unmarshal"), _SYNTAX_CASES)
def test_decode_verdicts_and_texts(data: bytes, stream: str, unmarshal: str) -> None:
    assert _both(data, stream=True) == stream
    assert _both(data, stream=False) == unmarshal


def test_public_decoders_raise_go_texts() -> None:
    with pytest.raises(GoJSONError, match=r"^EOF$"):
        gojson.decode_stream(b"")
    with pytest.raises(GoJSONError, match=r"^unexpected end of JSON input$"):
        gojson.unmarshal(b"")
    assert gojson.decode_stream(b' {"a": [1, 2.5, "x", true, null]} trailing') == {
        "a": [1, 2.5, "x", True, None]
    }
    assert gojson.unmarshal(b"\n[]\n") == []


def test_max_depth_is_goes_10000() -> None:
    deep_ok = b"[" * 10000 + b"]" * 10000
    value = gojson.decode_stream(deep_ok)
    depth = 0
    while isinstance(value, list) and value:
        value, depth = value[0], depth + 1
    assert depth == 9999
    too_deep = b"[" * 10001 + b"]" * 10001
    with pytest.raises(GoJSONError, match=r"^invalid character '\[' exceeded max depth$"):
        gojson.unmarshal(too_deep)
    with pytest.raises(GoJSONError, match=r"^invalid character '\{' exceeded max depth$"):
        gojson.decode_stream(b'{"a":' * 10001 + b"1" + b"}" * 10001)


def test_numbers_are_int_only_when_integers_in_the_text() -> None:
    value = gojson.unmarshal(b"[1, -7, 1.0, 1e3, 2E-2, 12345678901234567890123, 1e400]")
    assert isinstance(value, list)
    assert [type(item) for item in value[:5]] == [
        int,
        int,
        values.GoFloat,
        values.GoFloat,
        values.GoFloat,
    ]
    assert value[:6] == [1, -7, 1.0, 1000.0, 0.02, 12345678901234567890123]
    assert value[6] == math.inf  # Go reports the range only when it stores the number
    assert value[3].literal == "1e3"


def test_duplicate_keys_last_wins_but_pairs_are_kept() -> None:
    for data in (b'{"a":1,"b":2,"a":3}', b'{"a":1,"b":2,"a":3} '):
        value = gojson.decode_stream(data)
        assert value == {"a": 3, "b": 2}
        assert isinstance(value, values.PairsDict)
        assert value.pairs == [("a", 1), ("b", 2), ("a", 3)]
    assert type(gojson.decode_stream(b'{"a":1,"b":2}')) is dict


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b'"\\ud83d\\ude00"', "\U0001f600"),
        (b'"\\ud800"', "\ufffd"),
        (b'"\\udc00\\ud800"', "\ufffd\ufffd"),
        (b'"\\ud800\\u0041"', "\ufffdA"),
        (b'"\\ud800\\ud800\\udc00"', "\ufffd\U00010000"),
        (b'"\\ud800x"', "\ufffdx"),
        (b'"\\\\ud800"', "\\ud800"),
        (b'"\\u00e9\\n\\/\\b\\f\\r\\t\\"\\\\"', 'é\n/\b\f\r\t"\\'),
        (b'"\xff\xfe"', "\ufffd\ufffd"),
        (b'"\xe2\x82a"', "\ufffd\ufffda"),
        (b'"\xed\xa0\x80"', "\ufffd\ufffd\ufffd"),
        (b'"\xc0\x80"', "\ufffd\ufffd"),
        (b'"\xe2\x82\\n"', "\ufffd\ufffd\n"),
        (b'"caf\xc3\xa9 \x7f"', "café \x7f"),
    ],
)
def test_string_decoding_replaces_bad_utf8_and_surrogates(data: bytes, text: str) -> None:
    assert _both(data, stream=True) == "ok " + repr(("str", text))


def test_surrogate_keys_that_collide_after_replacement_stay_pairs() -> None:
    value = gojson.unmarshal(b'{"\\ud800":1,"\\udbff":2}')
    assert value == {"\ufffd": 2}
    assert isinstance(value, values.PairsDict)
    assert value.pairs == [("\ufffd", 1), ("\ufffd", 2)]


def test_long_integers_beyond_pythons_digit_limit() -> None:
    value = gojson.unmarshal(b"1" * 5000)
    assert isinstance(value, float)
    assert _both(b"[" + b"9" * 5000 + b"]", stream=True) == "ok [('float', inf)]"


def test_large_string_decodes() -> None:
    assert gojson.unmarshal(b'"' + b"a" * 100_000 + b'"') == "a" * 100_000


# ---------------------------------------------------------------------------
# structure(): Go's struct decoding


def _decode_into(data: bytes, cls: type[Any]) -> Any:
    return gojson.loads_into(data, cls)


def _error(data: bytes, cls: type[Any] = Resp) -> str:
    with pytest.raises(GoJSONError) as info:
        gojson.loads_into(data, cls)
    return str(info.value)


def test_structure_brief_examples() -> None:
    with pytest.raises(GoJSONError) as info:
        gojson.structure({"Implements": "x"}, Manifest)
    assert str(info.value) == (
        "json: cannot unmarshal string into Go struct field Manifest.Implements of type []string"
    )
    with pytest.raises(GoJSONError) as info:
        gojson.structure([], Manifest)
    assert str(info.value) == "json: cannot unmarshal array into Go value of type plugins.Manifest"


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b'{"Name":5}', "number into Go struct field Resp.Name of type string"),
        (b'{"Implements":"x"}', "string into Go struct field Resp.Implements of type []string"),
        (b'{"Implements":[1]}', "number into Go struct field Resp.Implements of type string"),
        (b'{"Opts":{"a":1}}', "number into Go struct field Resp.Opts of type string"),
        (b'{"Opts":[]}', "array into Go struct field Resp.Opts of type map[string]string"),
        (b'{"Count":1.5}', "number 1.5 into Go struct field Resp.Count of type int"),
        (b'{"Count":1e3}', "number 1e3 into Go struct field Resp.Count of type int"),
        (b'{"Count":1.0}', "number 1.0 into Go struct field Resp.Count of type int"),
        (b'{"Count":"1"}', "string into Go struct field Resp.Count of type int"),
        (
            b'{"Count":9223372036854775808}',
            "number 9223372036854775808 into Go struct field Resp.Count of type int",
        ),
        (b'{"Count":true}', "bool into Go struct field Resp.Count of type int"),
        (b'{"Ratio":1e400}', "number 1e400 into Go struct field Resp.Ratio of type float64"),
        (b'{"Ratio":"x"}', "string into Go struct field Resp.Ratio of type float64"),
        (b'{"Flag":1}', "number into Go struct field Resp.Flag of type bool"),
        (b'{"Flag":"true"}', "string into Go struct field Resp.Flag of type bool"),
        (b'{"Flag":[]}', "array into Go struct field Resp.Flag of type bool"),
        (b'{"Inner":"x"}', "string into Go struct field Resp.Inner of type main.Inner"),
        (b'{"Inner":{"Name":5}}', "number into Go struct field Inner.Inner.Name of type string"),
        (b'{"Inner":{"N":"5"}}', "string into Go struct field Inner.Inner.N of type int"),
        (b'{"PInner":{"N":1.5}}', "number 1.5 into Go struct field Inner.PInner.N of type int"),
        (b'{"PInner":[]}', "array into Go struct field Resp.PInner of type main.Inner"),
        (b'{"Items":[{"Name":1}]}', "number into Go struct field Inner.Items.Name of type string"),
        (b'{"Items":{}}', "object into Go struct field Resp.Items of type []main.Inner"),
        (
            b'{"ByName":{"k":{"Name":2}}}',
            "number into Go struct field Inner.ByName.Name of type string",
        ),
        (b'{"ByName":{"k":5}}', "number into Go struct field Resp.ByName of type main.Inner"),
        (b'{"Raw":{"a":[1,2e400]}}', "number 2e400 into Go struct field Resp.Raw of type float64"),
        (b'{"Small":65536}', "number 65536 into Go struct field Resp.Small of type uint16"),
        (b'{"Small":-1}', "number -1 into Go struct field Resp.Small of type uint16"),
        (b'{"Err":"boom","Name":{"x":1}}', "object into Go struct field Resp.Name of type string"),
        (b'{"name":5}', "number into Go struct field Resp.Name of type string"),
        (b"[1]", "array into Go value of type main.Resp"),
        (b'"x"', "string into Go value of type main.Resp"),
        (b"5", "number into Go value of type main.Resp"),
        (b"true", "bool into Go value of type main.Resp"),
    ],
)
def test_structure_type_errors_have_go_texts(data: bytes, text: str) -> None:
    assert _error(data) == "json: cannot unmarshal " + text


def test_structure_reports_the_first_type_error_in_text_order() -> None:
    assert _error(b'{"Name":1,"Count":"x"}').endswith("Resp.Name of type string")
    assert _error(b'{"Count":"x","Name":1}').endswith("Resp.Count of type int")
    # the same field twice: the first (bad) value is reported even though the second fits
    assert _error(b'{"Name":1,"Name":"ok"}').endswith("Resp.Name of type string")


def test_structure_go_integer_types() -> None:
    assert _decode_into(b'{"U8":255,"I8":-128,"Auth":4}', Sizes) == Sizes(U8=255, I8=-128, Auth=4)
    assert _error(b'{"U8":256}', Sizes).endswith("Sizes.U8 of type uint8")
    assert _error(b'{"I8":-129}', Sizes) == (
        "json: cannot unmarshal number -129 into Go struct field Sizes.I8 of type int8"
    )
    assert _error(b'{"Auth":"x"}', Sizes).endswith("Sizes.Auth of type tls.ClientAuthType")
    assert _decode_into(b'{"Count":-9223372036854775808}', Resp).Count == -(2**63)


def test_structure_accepts_and_fills_fields() -> None:
    reply = _decode_into(
        b'{"Name":"v","Implements":["VolumeDriver"],"Opts":{"a":"b"},"Count":3,"Ratio":2,'
        b'"Flag":true,"Inner":{"Name":"i","N":1},"PInner":{"N":2},"Items":[{"Name":"x"}],'
        b'"ByName":{"k":{"N":4}},"Raw":{"n":1,"l":[true,null,"s"]},"Small":65535,"Err":""}',
        Resp,
    )
    assert reply == Resp(
        Name="v",
        Implements=["VolumeDriver"],
        Opts={"a": "b"},
        Count=3,
        Ratio=2.0,
        Flag=True,
        Inner=Inner(Name="i", N=1),
        PInner=Inner(N=2),
        Items=[Inner(Name="x")],
        ByName={"k": Inner(N=4)},
        Raw={"n": 1.0, "l": [True, None, "s"]},
        Small=65535,
    )
    assert type(reply.Ratio) is float
    assert type(reply.Raw["n"]) is float  # interface{} holds float64


def test_structure_keys_match_case_insensitively_exact_first() -> None:
    assert _decode_into(b'{"name":"a"}', Resp).Name == "a"
    assert _decode_into(b'{"NAME":"a","nAmE":"b"}', Resp).Name == "b"  # the last one wins
    folded = _decode_into(b'{"key":"exact-kEY-folds-first","KEY":"k"}', Folded)
    assert folded == Folded(Key="k")  # "key" and "KEY" fold onto the first field, Key
    assert _decode_into(b'{"kEY":"tagged"}', Folded) == Folded(key="tagged")
    assert _decode_into(b'{"Key":"x"}', Folded) == Folded(Key="x")


def test_structure_case_folding_is_unicode_simple_folding() -> None:
    assert _decode_into('{"\u212aey":"kelvin"}'.encode(), Folded).Key == "kelvin"
    assert _decode_into('{"\u017fmall":"long s"}'.encode(), Folded).Small == "long s"
    assert _decode_into('{"Kéy":"x"}'.encode(), Folded) == Folded()


def test_structure_uses_json_names_and_skips_hidden_fields() -> None:
    decoded = gojson.structure({"requesturi": "/x", "Skipped": "no", "hidden": "no"}, Tagged)
    assert decoded == Tagged(RequestURI="/x")
    assert gojson.structure({"RequestURI": "/y"}, Tagged) == Tagged(RequestURI="/y")  # folds


def test_structure_ignores_unknown_keys() -> None:
    assert _decode_into(b'{"Nope":1,"Name":"n","Extra":{"x":[1]}}', Resp) == Resp(Name="n")


def test_structure_null_leaves_values_alone_or_makes_them_nil() -> None:
    reply = _decode_into(b'{"Name":null,"Count":null,"Inner":null,"When":null}', Resp)
    assert reply == Resp()
    nils = _decode_into(b'{"PInner":{"N":1},"PInner":null,"Opts":null,"Raw":null}', Resp)
    assert nils.PInner is None
    assert nils.Opts is None
    assert nils.Raw is None
    assert _decode_into(b"null", Resp) == Resp()
    assert _decode_into(b'{"Implements":[null,"a"],"Opts":{"k":null}}', Resp) == Resp(
        Implements=["", "a"], Opts={"k": ""}
    )


def test_structure_missing_fields_get_defaults_then_go_zero_values() -> None:
    assert gojson.structure({}, NoDefaults) == NoDefaults(
        Str="",
        Int=0,
        Flt=0.0,
        Bool=False,
        List=[],
        Map={},
        Ptr=None,
        Iface=None,
        Time=gojson.ZERO_TIME,
        Nested=Inner(),
    )
    nils = gojson.structure({"List": None, "Map": None, "Nested": None, "Str": None}, NoDefaults)
    assert nils.List == []
    assert nils.Map == {}
    assert nils.Nested == Inner()
    assert nils.Str == ""
    assert gojson.structure({}, Resp).Inner == Inner()


def test_structure_repeated_keys_decode_into_the_earlier_value() -> None:
    merged = _decode_into(b'{"Inner":{"Name":"a","N":1},"inner":{"Name":"b"}}', Resp)
    assert merged.Inner == Inner(Name="b", N=1)
    merged = _decode_into(b'{"PInner":{"N":2},"PInner":{"Name":"z"}}', Resp)
    assert merged.PInner == Inner(Name="z", N=2)
    merged = _decode_into(b'{"PInner":{"N":2},"PInner":null,"PInner":{"Name":"z"}}', Resp)
    assert merged.PInner == Inner(Name="z")
    merged = _decode_into(b'{"Opts":{"a":"1","c":"3"},"opts":{"b":"2","c":"4"}}', Resp)
    assert merged.Opts == {"a": "1", "b": "2", "c": "4"}
    assert _decode_into(b'{"Implements":["a","b"],"Implements":["c"]}', Resp).Implements == ["c"]
    assert _decode_into(b'{"Raw":{"a":1},"Raw":{"b":2}}', Resp).Raw == {"b": 2.0}
    assert _decode_into(b'{"Raw":{"a":1,"a":"s"}}', Resp).Raw == {"a": "s"}


def test_structure_top_level_non_struct_types() -> None:
    assert gojson.structure([1, None], list[int]) == [1, 0]
    assert gojson.structure(None, list[str]) == []
    assert gojson.structure(None, dict[str, str] | None) is None  # type: ignore[arg-type]
    assert gojson.structure(5, int) == 5
    assert gojson.structure(None, str) == ""
    with pytest.raises(
        GoJSONError, match=r"^json: cannot unmarshal string into Go value of type \[\]string$"
    ):
        gojson.structure("x", list[str])
    with pytest.raises(
        GoJSONError, match=r"^json: cannot unmarshal number into Go value of type string$"
    ):
        gojson.structure([1], list[str])
    with pytest.raises(
        GoJSONError, match=r"^json: cannot unmarshal object into Go value of type \[\]\*main.Inner$"
    ):
        gojson.structure({}, list[Inner | None])


def test_structure_recursive_models() -> None:
    tree = gojson.structure({"Name": "r", "Children": [{"Name": "c", "Children": None}]}, Node)
    assert tree == Node(Name="r", Children=[Node(Name="c")])


def test_structure_negative_zero_keeps_its_sign_in_float_fields() -> None:
    ratio = _decode_into(b'{"Ratio":-0}', Resp).Ratio
    assert ratio == 0
    assert math.copysign(1.0, ratio) == -1.0


def test_structure_rejects_unsupported_annotations() -> None:
    with pytest.raises(TypeError):
        gojson.structure({}, set[str])


def test_unmarshal_into_for_error_replies() -> None:
    assert gojson.unmarshal_into(b'{"Err":"volume not found"}', ErrReply).Err == "volume not found"
    assert gojson.unmarshal_into(b'{"err":"x"} \n', ErrReply).Err == "x"
    with pytest.raises(GoJSONError, match="after top-level value"):
        gojson.unmarshal_into(b'{"Err":"x"}{}', ErrReply)
    assert gojson.structure(gojson.unmarshal(b'{"Err":"boom"}'), ErrReply).Err == "boom"


def test_loads_into_reads_the_first_value_only() -> None:
    assert gojson.loads_into(b'{"Implements":["NetworkDriver"]}\nnot json', Manifest) == Manifest(
        Implements=["NetworkDriver"]
    )
    with pytest.raises(GoJSONError, match=r"^EOF$"):
        gojson.loads_into(b"", Manifest)
    with pytest.raises(GoJSONError, match=r"^unexpected EOF$"):
        gojson.loads_into(b'{"Implements":[', Manifest)


# ---------------------------------------------------------------------------
# time.Time fields


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2006-01-02T15:04:05Z", dt.datetime(2006, 1, 2, 15, 4, 5, tzinfo=dt.UTC)),
        (
            "2006-01-02T15:04:05.123456789+05:30",
            dt.datetime(
                2006, 1, 2, 15, 4, 5, 123456, tzinfo=dt.timezone(dt.timedelta(minutes=330))
            ),
        ),
        ("2006-01-02T15:04:05.5-00:00", dt.datetime(2006, 1, 2, 15, 4, 5, 500000, tzinfo=dt.UTC)),
        ("2006-01-02T15:04:05,25Z", dt.datetime(2006, 1, 2, 15, 4, 5, 250000, tzinfo=dt.UTC)),
        ("2006-01-02T1:04:05Z", dt.datetime(2006, 1, 2, 1, 4, 5, tzinfo=dt.UTC)),
        (
            "2024-02-29T23:59:59.9999999999Z",
            dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.UTC),
        ),
        ("0001-01-01T00:00:00Z", gojson.ZERO_TIME),
    ],
)
def test_time_fields_parse_rfc3339(text: str, expected: dt.datetime) -> None:
    reply = _decode_into(json.dumps({"When": text}).encode(), Resp)
    assert reply.When == expected
    assert reply.When.utcoffset() == expected.utcoffset()


def _cannot(text: str, value_elem: str, layout_elem: str) -> str:
    """Go's ``ParseError`` text for RFC 3339 without a message."""
    return (
        f'parsing time "{text}" as "2006-01-02T15:04:05Z07:00": '
        f'cannot parse "{value_elem}" as "{layout_elem}"'
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", _cannot("", "", "2006")),
        ("2006", _cannot("2006", "", "-")),
        ("20x6-01-02T15:04:05Z", _cannot("20x6-01-02T15:04:05Z", "20x6-01-02T15:04:05Z", "2006")),
        ("2006-1-02T15:04:05Z", _cannot("2006-1-02T15:04:05Z", "1-02T15:04:05Z", "01")),
        ("2006-13-01T00:00:00Z", 'parsing time "2006-13-01T00:00:00Z": month out of range'),
        ("2006-02-30T00:00:00Z", 'parsing time "2006-02-30T00:00:00Z": day out of range'),
        ("2006-01-02T24:00:00Z", 'parsing time "2006-01-02T24:00:00Z": hour out of range'),
        ("2006-01-02T15:60:00Z", 'parsing time "2006-01-02T15:60:00Z": minute out of range'),
        ("2006-01-02T15:04:60Z", 'parsing time "2006-01-02T15:04:60Z": second out of range'),
        ("2006-01-02 15:04:05Z", _cannot("2006-01-02 15:04:05Z", " 15:04:05Z", "T")),
        ("2006-01-02T15:04:05", _cannot("2006-01-02T15:04:05", "", "Z07:00")),
        ("2006-01-02T15:04:05z", _cannot("2006-01-02T15:04:05z", "z", "Z07:00")),
        ("2006-01-02T15:04:05+0530", _cannot("2006-01-02T15:04:05+0530", "+0530", "Z07:00")),
        ("2006-01-02T15:04:05+2a:00", _cannot("2006-01-02T15:04:05+2a:00", "+2a:00", "Z07:00")),
        (
            "2006-01-02T15:04:05+25:00",
            'parsing time "2006-01-02T15:04:05+25:00": time zone offset hour out of range',
        ),
        (
            "2006-01-02T15:04:05+05:61",
            'parsing time "2006-01-02T15:04:05+05:61": time zone offset minute out of range',
        ),
        ("2006-01-02T15:04:05Zjunk", 'parsing time "2006-01-02T15:04:05Zjunk": extra text: "junk"'),
        ("2006-01-02T15:04:.5Z", _cannot("2006-01-02T15:04:.5Z", ".5Z", "05")),
        ("\u00e92006", _cannot("\\xc3\\xa92006", "\\xc3\\xa92006", "2006")),
    ],
)
def test_time_fields_report_go_parse_errors(text: str, message: str) -> None:
    assert _error(json.dumps({"When": text}, ensure_ascii=False).encode()) == message


def test_time_errors_quote_like_the_time_package() -> None:
    assert gotime.time_quote(b'a"b\\c\x01\x7f\xc3\xa9') == '"a\\"b\\\\c\\x01\x7f\\xc3\\xa9"'


def test_time_fields_parse_the_raw_bytes_between_the_quotes() -> None:
    # Go's Time.UnmarshalJSON does not unescape: an escaped "Z" does not parse.
    raw = "2006-01-02T15:04:05\\\\u005a"  # Go's quote doubles the backslash
    assert _error(b'{"When":"2006-01-02T15:04:05\\u005a"}') == _cannot(raw, "\\\\u005a", "Z07:00")
    assert _error(b'{"When":"\xff"}') == _cannot("\\xff", "\\xff", "2006")


@pytest.mark.parametrize("value", [b"5", b"true", b"{}", b"[]", b'{"a":1}'])
def test_time_fields_need_a_json_string(value: bytes) -> None:
    assert _error(b'{"When":' + value + b"}") == "Time.UnmarshalJSON: input is not a JSON string"


def test_time_errors_end_decoding_and_beat_earlier_type_errors() -> None:
    assert _error(b'{"Name":1,"When":5}') == "Time.UnmarshalJSON: input is not a JSON string"
    assert _error(b'{"Name":1,"When":"2006-01-02T15:04:05Z"}').endswith("Resp.Name of type string")


def test_time_values_python_cannot_hold_are_errors() -> None:
    assert "year 0" in _error(b'{"When":"0000-01-01T00:00:00Z"}')
    assert "24 hours" in _error(b'{"When":"2006-01-02T15:04:05+24:00"}')


def test_time_round_trip_through_encode() -> None:
    when = dt.datetime(2024, 3, 4, 5, 6, 7, 890000, tzinfo=dt.timezone(dt.timedelta(hours=-3)))
    reply = _decode_into(gojson.encode(Resp(When=when, PWhen=when)), Resp)
    assert reply.When == when
    assert reply.PWhen == when


# ---------------------------------------------------------------------------
# Properties


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]))
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=["Cs"]), max_size=8), inner, max_size=5
        )
    ),
    max_leaves=30,
)


def _same_json(decoded: object, original: object) -> bool:
    """Equal as JSON: a float may come back as an int (Go writes 3.0 as ``3``)."""
    if isinstance(original, float):
        return isinstance(decoded, int | float) and float(decoded) == original
    if isinstance(original, list):
        return (
            isinstance(decoded, list)
            and len(decoded) == len(original)
            and all(_same_json(d, o) for d, o in zip(decoded, original, strict=True))
        )
    if isinstance(original, dict):
        return (
            isinstance(decoded, dict)
            and decoded.keys() == original.keys()
            and all(_same_json(decoded[key], original[key]) for key in original)
        )
    return type(decoded) is type(original) and decoded == original


@given(_json_values)
def test_property_encode_round_trips_through_python_json(value: object) -> None:
    encoded = gojson.encode(value)
    assert encoded.endswith(b"\n")
    assert b"\n" not in encoded[:-1]
    assert _same_json(json.loads(encoded), value)


@given(_json_values)
def test_property_decode_reads_what_encode_wrote(value: object) -> None:
    encoded = gojson.encode(value)
    assert _same_json(gojson.unmarshal(encoded), value)
    assert _same_json(gojson.decode_stream(encoded + b"garbage"), value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_property_floats_round_trip_exactly(value: float) -> None:
    text = gojson.encode(value)[:-1].decode()
    assert float(text) == value
    assert "e" not in text or text[text.index("e") + 1] in "+-"
    magnitude = abs(value)
    assert ("e" in text) == (magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21))


_json_bytes = st.one_of(
    st.binary(max_size=40),
    st.lists(
        st.sampled_from(
            [
                b"{",
                b"}",
                b"[",
                b"]",
                b'"',
                b":",
                b",",
                b" ",
                b"\\",
                b"u",
                b"0",
                b"1",
                b"-",
                b".",
                b"e",
                b"+",
                b"t",
                b"r",
                b"n",
                b"l",
                b"f",
                b"a",
                b"\xff",
                b"\x01",
                b'"k"',
                b"true",
                b"null",
                b"12",
                b"\\ud800",
                b"\xc3\xa9",
                b"\n",
            ]
        ),
        max_size=20,
    ).map(b"".join),
)


@settings(max_examples=400)
@given(_json_bytes)
def test_property_decoders_only_raise_go_errors_and_both_paths_agree(data: bytes) -> None:
    _both(data, stream=True)
    _both(data, stream=False)


@attrs.frozen
class Everything:
    S: str = ""
    Int: int = 0
    F: float = 0.0
    B: bool = False
    L: list[int] | None = None
    M: dict[str, str] = attrs.field(factory=dict)
    N: Inner | None = None
    Ns: list[Inner] = attrs.field(factory=list)
    A: Any = None
    T: dt.datetime | None = None


_field_names = st.sampled_from(
    ["S", "s", "I", "F", "B", "L", "M", "N", "Ns", "A", "T", "Name", "x"]
)
_struct_like = st.dictionaries(_field_names, _json_values, max_size=6)


@settings(max_examples=300)
@given(st.one_of(_json_values, _struct_like, st.lists(_struct_like, max_size=2)))
def test_property_structure_only_raises_go_errors(value: object) -> None:
    for cls in (Everything, list[Everything], dict[str, Inner], Any):
        with contextlib.suppress(GoJSONError):
            gojson.structure(value, cls)


def test_decode_is_fast_for_a_normal_reply() -> None:
    import timeit

    body = (
        b'{"Volume":{"Name":"myvolume","Mountpoint":"/var/lib/docker/volumes/myvolume/_data",'
        b'"CreatedAt":"2024-01-01T00:00:00Z","Status":{"a":"b"}},"Err":""}\n'
    )
    runs = 2000
    seconds = min(timeit.repeat(lambda: gojson.decode_stream(body), number=runs, repeat=3))
    assert seconds / runs < 50e-6
