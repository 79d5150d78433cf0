"""dockerd's authz rules as data: the wire bytes, headers, bodies, media types, profiles.

Sources: moby/moby v28.5.2 pkg/authorization/api.go, authz.go, response.go; Go 1.24
net/http (server.go ``readRequest``, transfer.go), mime/mediatype.go and
net/textproto ``CanonicalMIMEHeaderKey``.
"""

from __future__ import annotations

import pytest

from emulator.golang import json as gojson
from emulator.golang.mime import MediaTypeError, parse_media_type
from emulator.golang.textproto import canonical_mime_header_key
from emulator.protocol import authz as proto
from emulator.protocol.profiles import PROFILES


def test_request_wire_bytes() -> None:
    """api.go: keys RequestUri/RequestHeaders/ResponseHeaders, every field omitempty,
    []byte as base64, map keys sorted, Go's HTML escaping, one newline."""
    request = proto.AuthzRequest(
        RequestMethod="POST",
        RequestURI="/v1.51/volumes/create?x=<&>",
        RequestBody=b'{"Name":"v1"}\n',
        RequestHeaders={"User-Agent": "Docker-Client/28", "Content-Type": "application/json"},
    )
    assert gojson.encode(request) == (
        b'{"RequestMethod":"POST","RequestUri":"/v1.51/volumes/create?x=\\u003c\\u0026\\u003e",'
        b'"RequestBody":"eyJOYW1lIjoidjEifQo=",'
        b'"RequestHeaders":{"Content-Type":"application/json","User-Agent":"Docker-Client/28"}}\n'
    )
    response = proto.AuthzRequest(
        User="alice",
        UserAuthNMethod="TLS",
        RequestMethod="GET",
        RequestURI="/_ping",
        RequestHeaders={},
        RequestPeerCertificates=(
            b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        ),
        ResponseStatusCode=200,
        ResponseBody=b"OK",
        ResponseHeaders={"Api-Version": "1.51"},
    )
    assert gojson.encode(response) == (
        b'{"User":"alice","UserAuthNMethod":"TLS","RequestMethod":"GET","RequestUri":"/_ping",'
        b'"RequestPeerCertificates":["LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkFBPT0KLS0tLS1FTkQgQ0VS'
        b'VElGSUNBVEUtLS0tLQo="],"ResponseStatusCode":200,"ResponseBody":"T0s=",'
        b'"ResponseHeaders":{"Api-Version":"1.51"}}\n'
    )


def test_response_decoding_is_gos() -> None:
    """``Allow`` and ``Msg`` matched case-insensitively; a wrong type is an error."""
    answer = gojson.loads_into(b'{"allow":true,"msg":"ok","Extra":1}', proto.AuthzResponse)
    assert answer == proto.AuthzResponse(Allow=True, Msg="ok")
    with pytest.raises(gojson.GoJSONError) as wrong:
        gojson.loads_into(b'{"Allow":"yes"}', proto.AuthzResponse)
    assert str(wrong.value) == (
        "json: cannot unmarshal string into Go struct field Response.Allow of type bool"
    )


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("content-type", "Content-Type"),
        ("X-REGISTRY-AUTH", "X-Registry-Auth"),
        ("x-foo_bar", "X-Foo_bar"),
        ("content-md5", "Content-Md5"),
        ("x forwarded", "x forwarded"),  # not a token: left alone
    ],
)
def test_canonical_header_names(name: str, canonical: str) -> None:
    assert canonical_mime_header_key(name) == canonical


def test_request_headers_as_gos_server_keeps_them() -> None:
    """Host moved out; last value wins; credentials out; Pragma implies Cache-Control."""
    raw = [
        (b"host", b"api.moby.localhost"),
        (b"x-a", b"1"),
        (b"X-A", b"2"),
        (b"authorization", b"Basic eA=="),
        (b"X-Registry-Config", b"e30="),
        (b"x-registry-auth", b"e30="),
        (b"pragma", b"no-cache"),
        (b"x-bytes", b"caf\xc3\xa9 \xff"),
    ]
    assert proto.request_headers(raw) == {
        "X-A": "2",
        "Pragma": "no-cache",
        "Cache-Control": "no-cache",
        "X-Bytes": "café \udcff",  # a byte that is not UTF-8 stays a byte (Go: \ufffd)
    }
    assert gojson.encode({"X-Bytes": "café \udcff"}) == b'{"X-Bytes":"caf\xc3\xa9 \\ufffd"}\n'
    chunked = [(b"transfer-encoding", b"chunked"), (b"content-length", b"5"), (b"trailer", b"X")]
    assert proto.request_headers(chunked) == {}
    assert proto.request_headers([(b"content-length", b"5")]) == {"Content-Length": "5"}


@pytest.mark.parametrize(
    ("uri", "sent"),
    [
        ("/v1.51/volumes/create", True),
        ("/volumes/create?auth=1", True),
        ("/auth", False),
        ("/v1.51/auth", False),
        ("/v1/auth", False),
        ("/v1.51/authorize", False),  # `auth.*`: anything starting with auth
        ("/authx", False),
        ("/vx/auth", True),  # not a version prefix
        ("/v1.51/volumes/auth", True),
        ("http://host/v1.51/auth", False),  # [^/]* before the first slash... of the path
    ],
)
def test_auth_endpoints(uri: str, sent: bool) -> None:
    """isAuthEndpoint on url.Parse(RequestURI).Path."""
    assert proto.send_body(uri, "application/json") is sent


@pytest.mark.parametrize(
    ("value", "media_type"),
    [
        ("application/json", "application/json"),
        (" Application/JSON ; charset=UTF-8", "application/json"),
        ("application/json;", "application/json"),
        ('application/json; a="x;y"', "application/json"),
        ("application/json; a=1; a=1", "application/json"),  # equal duplicates (Go 1.24)
        ("text/plain", "text/plain"),
    ],
)
def test_media_types(value: str, media_type: str) -> None:
    assert parse_media_type(value)[0] == media_type


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("", "mime: no media type"),
        ("application", None),
        ("application/", "mime: expected token after slash"),
        ("application json", "mime: expected slash after first token"),
        ("application/json x", "mime: unexpected content after media subtype"),
        ("application/json; charset", "mime: invalid media parameter"),
        ("application/json; a=1; a=2", "mime: duplicate parameter name"),
        ('application/json; a="open', "mime: invalid media parameter"),
    ],
)
def test_media_type_errors(value: str, error: str | None) -> None:
    if error is None:
        assert parse_media_type(value)[0] == value
        return
    with pytest.raises(MediaTypeError) as failed:
        parse_media_type(value)
    assert str(failed.value) == error


@pytest.mark.parametrize(
    ("headers", "chunked_fix", "wanted"),
    [
        ([(b"content-type", b"application/json"), (b"content-length", b"2")], True, True),
        ([(b"content-type", b"application/json"), (b"content-length", b"0")], True, False),
        ([(b"content-type", b"application/json")], True, False),
        ([(b"content-type", b"application/json"), (b"content-length", b"1048575")], True, True),
        ([(b"content-type", b"application/json"), (b"content-length", b"1048576")], True, False),
        ([(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")], True, True),
        ([(b"content-type", b"application/json"), (b"transfer-encoding", b"Chunked")], True, True),
        (
            [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
            False,
            False,
        ),
        ([(b"content-type", b"text/plain"), (b"content-length", b"2")], True, False),
    ],
)
def test_when_the_request_body_is_read(
    headers: list[tuple[bytes, bytes]], chunked_fix: bool, wanted: bool
) -> None:
    """authz.go AuthZRequest: sendBody && (ContentLength > 0 || isChunked) && < maxBodySize."""
    assert proto.wants_request_body("/v1.51/x", headers, forwards_chunked=chunked_fix) is wanted


def test_chunked_fix_per_profile() -> None:
    """isChunked appears in v23.0.15, v25.0.6, v26.1.5, v27.1.1 and v28; the profiles' last
    releases: v24.0.9, v25.0.5 and v26.1.4 lack it, v27.5.1 and v28.5.2 have it."""
    have = {key: p.authz_forwards_chunked_body for key, p in PROFILES.items()}
    assert have == {"24": False, "25": False, "26": False, "27": True, "28": True}


@pytest.mark.parametrize(
    ("method", "path", "flushing"),
    [
        ("GET", "/events", proto.Flushing.EVERY_WRITE),
        ("POST", "/containers/abc/wait", proto.Flushing.HEADER),
        ("POST", "/containers/abc/attach", proto.Flushing.HIJACK),
        ("GET", "/containers/abc/logs", proto.Flushing.EVERY_WRITE),
        ("POST", "/plugins/pull", proto.Flushing.EVERY_WRITE),
        ("GET", "/containers/abc/archive", proto.Flushing.BUFFERED),
        ("GET", "/volumes", proto.Flushing.BUFFERED),
        ("POST", "/events", proto.Flushing.BUFFERED),
    ],
)
def test_streaming_routes(method: str, path: str, flushing: proto.Flushing) -> None:
    assert proto.flushing_of(method, path) is flushing


def test_response_header_map() -> None:
    """Content-Length is Go's server's, except where the handler sets it (HEAD /_ping);
    GET /_ping writes no Content-Type (Go sniffs one after the middleware looked)."""
    sent = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"2")]
    assert proto.response_headers("GET", "/volumes", sent) == [
        ("Content-Type", "text/plain; charset=utf-8")
    ]
    assert proto.response_headers("HEAD", "/_ping", sent) == [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", "2"),
    ]
    assert proto.response_headers("GET", "/_ping", sent) == []


def test_readable_shows_bodies_decoded() -> None:
    wire = {"RequestBody": "eyJOYW1lIjoidjEifQo=", "ResponseBody": "T0s=", "RequestUri": "/x"}
    assert proto.readable(wire) == {
        "RequestBody": {"Name": "v1"},
        "ResponseBody": "OK",
        "RequestUri": "/x",
    }
