"""Tests for the Go ``net/url.Parse`` subset (facts from Go 1.24 ``net/url/url.go``)."""

from __future__ import annotations

import pytest

from emulator.golang.strconv import quote as go_quote
from emulator.golang.url import URL, URLError, Userinfo, parse


@pytest.mark.parametrize(
    ("raw", "scheme", "opaque", "host", "path"),
    [
        ("unix:///run/x.sock", "unix", "", "", "/run/x.sock"),
        ("unix://rel.sock", "unix", "", "rel.sock", ""),
        ("tcp://127.0.0.1:8080", "tcp", "", "127.0.0.1:8080", ""),
        ("http://h:1/some/path", "http", "", "h:1", "/some/path"),
        ("https://example.com/docker/plugin", "https", "", "example.com", "/docker/plugin"),
        ("localhost:8080", "localhost", "8080", "", ""),
        ("/abs/path.sock", "", "", "", "/abs/path.sock"),
        ("foo://x", "foo", "", "x", ""),
        ("unix:/run/x.sock", "unix", "", "", "/run/x.sock"),
        ("relative/path.sock", "", "", "", "relative/path.sock"),
        ("", "", "", "", ""),
    ],
)
def test_split(raw: str, scheme: str, opaque: str, host: str, path: str) -> None:
    url = parse(raw)
    assert (url.scheme, url.opaque, url.host, url.path) == (scheme, opaque, host, path)


def test_scheme_is_lower_cased() -> None:
    assert parse("UNIX:///x").scheme == "unix"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("a\x01b", "net/url: invalid control character in URL"),
        ("tcp://h\x7f", "net/url: invalid control character in URL"),
        ("unix:///run/x.sock\n", "net/url: invalid control character in URL"),
        (":8080", "missing protocol scheme"),
        ("127.0.0.1:8080", "first path segment in URL cannot contain colon"),
        ("cache_object:foo/bar", "first path segment in URL cannot contain colon"),
        ("tcp://h:abc", 'invalid port ":abc" after host'),
        ("tcp://[::1]x", 'invalid port "x" after host'),
        ("tcp://[::1", "missing ']' in host"),
        ("tcp://a b", 'invalid character " " in host name'),
        ("tcp://a{b", 'invalid character "{" in host name'),
        ("http://h/%zz", 'invalid URL escape "%zz"'),
        ("http://h/a%2", 'invalid URL escape "%2"'),
        ("http://%41/", 'invalid URL escape "%41"'),
        ("http://a^b@h", "net/url: invalid userinfo"),
        ("http://ü@h", "net/url: invalid userinfo"),
    ],
)
def test_error_reasons(raw: str, reason: str) -> None:
    with pytest.raises(URLError) as info:
        parse(raw)
    assert info.value.reason == reason
    assert str(info.value) == f"parse {go_quote(raw)}: {reason}"


def test_error_text_is_go_verbatim() -> None:
    with pytest.raises(URLError) as info:
        parse("127.0.0.1:8080")
    assert (
        str(info.value) == 'parse "127.0.0.1:8080": first path segment in URL cannot contain colon'
    )


def test_control_character_is_quoted_in_error() -> None:
    with pytest.raises(URLError) as info:
        parse("unix:///x.sock\n")
    assert str(info.value) == (
        'parse "unix:///x.sock\\n": net/url: invalid control character in URL'
    )


def test_host_is_checked_before_userinfo() -> None:
    with pytest.raises(URLError, match="invalid port"):
        parse("http://a^b@h:x")


def test_error_before_fragment_names_only_the_part_before() -> None:
    with pytest.raises(URLError) as info:
        parse("127.0.0.1:8080#frag")
    assert info.value.url == "127.0.0.1:8080"


def test_error_in_fragment_names_whole_url() -> None:
    with pytest.raises(URLError) as info:
        parse("tcp://h#%zz")
    assert str(info.value) == 'parse "tcp://h#%zz": invalid URL escape "%zz"'


def test_control_character_in_fragment_is_accepted() -> None:
    assert parse("tcp://h#\x01").fragment == "\x01"


@pytest.mark.parametrize(
    ("raw", "scheme_ok"),
    [
        ("a+b-c.d://h", True),
        ("1abc://h", False),
        ("+abc:x", False),
        ("ab_c:x", False),
    ],
)
def test_scheme_rules(raw: str, scheme_ok: bool) -> None:
    """Letter first; then letters, digits, ``+-.``; anything else means no scheme."""
    if scheme_ok:
        assert parse(raw).scheme == raw.split(":")[0]
    else:
        with pytest.raises(URLError, match="first path segment"):
            parse(raw)


def test_no_scheme_when_invalid_char_comes_before_colon() -> None:
    assert parse("a_b/c:d").path == "a_b/c:d"


def test_full_url() -> None:
    assert parse("HTTP://us%20er:p@ss@h:1/a%2Fb?q=1#f%20x") == URL(
        scheme="http",
        user=Userinfo("us er", "p@ss"),
        host="h:1",
        path="/a/b",
        raw_path="/a%2Fb",
        raw_query="q=1",
        fragment="f x",
    )


def test_user_without_password() -> None:
    assert parse("tcp://me@h").user == Userinfo("me", None)


def test_opaque_keeps_query() -> None:
    assert parse("localhost:8080?x") == URL(scheme="localhost", opaque="8080", raw_query="x")


def test_force_query_and_omit_host() -> None:
    url = parse("unix:/x?")
    assert (url.omit_host, url.force_query, url.raw_query) == (True, True, "")


def test_triple_slash_without_scheme_is_a_path() -> None:
    assert parse("///x").path == "///x"


def test_double_slash_without_scheme_is_an_authority() -> None:
    url = parse("//h:1/p")
    assert (url.scheme, url.host, url.path) == ("", "h:1", "/p")


def test_star() -> None:
    assert parse("*") == URL(path="*")


def test_host_escapes() -> None:
    assert parse("tcp://%C3%A9:1").host == "é:1"
    assert parse("tcp://[fe80::1%25en0]:80").host == "[fe80::1%en0]:80"


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", '"plain"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("\n\t\x01\x7f", '"\\n\\t\\x01\\x7f"'),
        ("é", '"é"'),
        ("\u00a0\u200b", '"\\u00a0\\u200b"'),
        (b"\xff\xc3", '"\\xff\\xc3"'),
        ("\U000e0001", '"\\U000e0001"'),
    ],
)
def test_go_quote(text: str | bytes, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_invalid_utf8_round_trips() -> None:
    raw = b"unix:///\xff.sock".decode("utf-8", "surrogateescape")
    assert parse(raw).path == raw[len("unix://") :]
