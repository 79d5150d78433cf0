"""The registry protocol as pure data: references, manifest bytes, auth, hosts, progress lines.

Expected values are dockerd's (moby v28.5.2 and the containerd v2.1.4 it vendors);
the manifest bytes were produced by Go's ``json.Marshal`` of moby's ``manifest``
struct, and are re-checked against Go when a Go toolchain with the OCI image-spec
sources is installed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from emulator.protocol import distribution as dist
from emulator.protocol import jsonmessage as jm
from emulator.protocol import plugin_config as pc
from emulator.protocol import registry_auth as ra
from emulator.protocol import registry_hosts as rh
from emulator.protocol.reference import (
    ReferenceError,
    local_name,
    parse_normalized_named,
    parse_remote_ref,
)

CONFIG = "sha256:" + "c0ffee00" * 8
LAYER = "sha256:" + "a11ce000" * 8
GO_MANIFEST = (
    '{"schemaVersion":2,"config":{"mediaType":"application/vnd.docker.plugin.v1+json",'
    f'"digest":"{CONFIG}","size":138}},"layers":[{{"mediaType":'
    f'"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{LAYER}","size":300}}],'
    '"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}'
)


# -- references ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("vieux/sshfs", "docker.io/vieux/sshfs", "vieux/sshfs"),
        ("busybox:1", "docker.io/library/busybox:1", "busybox:1"),
        ("127.0.0.1:5000/test/plug:1.0", "127.0.0.1:5000/test/plug:1.0", None),
        ("localhost/foo", "localhost/foo", None),
        ("index.docker.io/vieux/sshfs:next", "docker.io/vieux/sshfs:next", "vieux/sshfs:next"),
        ("Foo/bar", "Foo/bar", None),  # an upper-case first component is a domain
    ],
)
def test_parse_normalized_named(text: str, full: str, familiar: str | None) -> None:
    ref = parse_normalized_named(text)
    assert ref.string() == full
    assert ref.familiar_string() == (familiar or text)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "invalid reference format"),
        ("a/B:1", "invalid reference format: repository name (a/B) must be lowercase"),
        (
            "a" * 64,
            f"invalid repository name ({'a' * 64}), cannot specify 64-byte hexadecimal strings",
        ),
        ("foo@sha256:abc", "invalid reference format"),
        ("foo@sha256:" + "0" * 63 + "g", "invalid reference format"),
        ("foo@md5:" + "0" * 32, "unsupported digest algorithm"),
        ("foo@sha256:" + "0" * 65, "invalid checksum digest length"),
        ("x/" + "a" * 256, "repository name must not be more than 255 characters"),
    ],
)
def test_reference_errors(text: str, error: str) -> None:
    with pytest.raises(ReferenceError) as info:
        parse_normalized_named(text)
    assert str(info.value) == error


def test_remote_ref_and_local_name_as_getname() -> None:
    digest = "sha256:" + "ab" * 32
    ref, tag = parse_remote_ref("127.0.0.1:5000/test/plug")
    assert (ref.string(), tag) == ("127.0.0.1:5000/test/plug:latest", "")
    assert local_name(ref, tag, "") == "127.0.0.1:5000/test/plug:latest"
    ref, tag = parse_remote_ref(f"127.0.0.1:5000/test/plug:1.0@{digest}")
    assert (ref.string(), tag) == (f"127.0.0.1:5000/test/plug@{digest}", "1.0")
    assert local_name(ref, tag, "") == "127.0.0.1:5000/test/plug:1.0"
    ref, tag = parse_remote_ref(f"vieux/sshfs@{digest}")
    assert local_name(ref, tag, "") == "vieux/sshfs:latest"
    assert local_name(ref, tag, "myplug") == "myplug:latest"
    assert local_name(ref, tag, "docker.io/library/x:2") == "docker.io/library/x:2"  # kept
    with pytest.raises(ReferenceError, match=r"^cannot use digest in plugin tag$"):
        local_name(ref, tag, f"x@{digest}")


# -- manifest, errors, retries ---------------------------------------------------------------


def test_manifest_bytes_are_dockers() -> None:
    data = dist.manifest_bytes(
        dist.Descriptor(Digest=CONFIG, Size=138),
        [dist.Descriptor(MediaType="application/octet-stream", Digest=LAYER, Size=300)],
    )
    assert data.decode() == GO_MANIFEST  # mediaType last, layers declared gzip, no newline
    assert dist.parse_manifest(data).Layers == [
        dist.Descriptor(MediaType=dist.LAYER_GZIP_MEDIA_TYPE, Digest=LAYER, Size=300)
    ]
    none = dist.manifest_bytes(dist.Descriptor(Digest=CONFIG, Size=1), [])
    assert b'"layers":null' in none  # a Go nil slice


GO_SOURCES = Path("/usr/share/gocode/src/github.com/opencontainers/image-spec")


@pytest.mark.skipif(
    shutil.which("go") is None or not GO_SOURCES.is_dir(),
    reason="needs go and the OCI image-spec Go sources (golang-github-opencontainers-"
    "image-spec-dev)",
)
def test_manifest_bytes_against_go(tmp_path: Path) -> None:
    program = tmp_path / "main.go"
    program.write_text(
        """package main
import (
	"encoding/json"
	"fmt"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
)
type manifest struct {
	ocispec.Manifest
	MediaType string `json:"mediaType,omitempty"`
}
func main() {
	var m manifest
	m.MediaType = "application/vnd.docker.distribution.manifest.v2+json"
	m.SchemaVersion = 2
	m.Config = ocispec.Descriptor{MediaType: "application/vnd.docker.plugin.v1+json",
		Size: 138, Digest: digest.Digest("CONFIG")}
	m.Layers = append(m.Layers, ocispec.Descriptor{
		MediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", Size: 300,
		Digest: digest.Digest("LAYER")})
	b, _ := json.Marshal(&m)
	fmt.Print(string(b))
}
""".replace("CONFIG", CONFIG).replace("LAYER", LAYER)
    )
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": "/usr/share/gocode",
        "GOCACHE": str(tmp_path / "cache"),
    }
    out = subprocess.run(
        ["go", "run", str(program)], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout == GO_MANIFEST


def test_unexpected_status_joins_the_registrys_errors() -> None:
    url = "http://127.0.0.1:5000/v2/test/plug/manifests/1.0"
    unauthorized = (
        b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required",'
        b'"detail":[{"Type":"repository","Name":"test/plug","Action":"pull"}]}]}'
    )
    assert dist.unexpected_status_text("PUT", url, "401 Unauthorized", unauthorized) == (
        f"unexpected status from PUT request to {url}: 401 Unauthorized\n"
        "unauthorized: authentication required"
    )
    # Codes containerd does not know decode as UNKNOWN; a bare known code is just its name.
    two = b'{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"},{"code":"DENIED"}]}'
    assert dist.unexpected_status_text("PUT", url, "400 Bad Request", two).endswith(
        "400 Bad Request\nerrors:\nunknown: manifest invalid\ndenied\n"
    )
    assert dist.unexpected_status_text("HEAD", url, "403 Forbidden", b"not json").endswith(
        ": 403 Forbidden"
    )


def test_retry_rules_are_containerds() -> None:
    assert {code: rule.action for code, rule in dist.RETRY_RULES.items()} == {
        401: "authorize",
        405: "get",
        408: "always",
        429: "always",
        500: "once_on_last_host",
        503: "once_on_last_host",
        504: "once_on_last_host",
    }
    assert dist.MAX_RESPONSES == 6
    assert [m for m, _ in dist.PUSH_BLOB_REQUESTS] == ["HEAD", "POST", "PUT"]


# -- auth ------------------------------------------------------------------------------------


def test_challenges_bearer_first_and_quoted_values() -> None:
    found = ra.parse_challenges(
        [
            'Basic realm="basic-realm"',
            'Bearer realm="https://auth.example/token",service="registry",'
            'scope="repository:test/plug:pull,push",error="insufficient_scope"',
            "Negotiate abc",
        ]
    )
    assert [c.scheme for c in found] == ["bearer", "basic"]
    assert found[0].params == {
        "realm": "https://auth.example/token",
        "service": "registry",
        "scope": "repository:test/plug:pull,push",
        "error": "insufficient_scope",
    }
    assert ra.parse_challenges(['Bearer realm="a\\"b"'])[0].params["realm"] == 'a"b'


def test_scopes_token_url_and_oauth_form() -> None:
    scopes = ra.token_scopes("test/plug", push=True)
    assert scopes == ["repository(plugin):test/plug:pull,push", "repository:test/plug:pull,push"]
    url = ra.token_url("http://127.0.0.1:9/token?account=me", "reg", scopes)
    assert url == (
        "http://127.0.0.1:9/token?account=me"
        "&scope=repository%28plugin%29%3Atest%2Fplug%3Apull%2Cpush"
        "&scope=repository%3Atest%2Fplug%3Apull%2Cpush&service=reg"
    )
    form = ra.oauth_form("reg", scopes[:1], "user", "secret").decode()
    assert form == (
        "client_id=containerd-client&grant_type=password&password=secret"
        "&scope=repository%28plugin%29%3Atest%2Fplug%3Apull%2Cpush&service=reg&username=user"
    )
    assert ra.parse_token(b'{"token":"t","access_token":"a","expires_in":60}', oauth=False) == (
        "a",
        60,
    )
    with pytest.raises(ra.TokenError, match="did not include a token"):
        ra.parse_token(b'{"token":"t"}', oauth=True)


def test_registry_auth_header() -> None:
    encoded = base64.urlsafe_b64encode(
        json.dumps({"username": "docker", "password": "pw", "serveraddress": "x"}).encode()
    ).decode()
    assert ra.decode_auth_header(encoded).credentials() == ("docker", "pw")
    assert ra.decode_auth_header("e30=") == ra.AuthConfig()  # the CLI's "{}"
    assert ra.decode_auth_header("%%%") == ra.AuthConfig()  # invalid: anonymous, no error
    token = base64.urlsafe_b64encode(b'{"identitytoken":"tok","username":"u"}').decode()
    assert ra.decode_auth_header(token).credentials() == ("", "tok")


# -- hosts -----------------------------------------------------------------------------------


def test_loopback_is_insecure_https_then_http() -> None:
    config = rh.RegistryConfig.load()
    assert [e.base for e in rh.endpoints(config, "127.0.0.1:5000")] == [
        "https://127.0.0.1:5000",
        "http://127.0.0.1:5000",
    ]
    assert all(not e.verify for e in rh.endpoints(config, "[::1]:5000"))
    assert rh.needs_lookup(config, "localhost:5000") == "localhost"
    assert [e.scheme for e in rh.endpoints(config, "localhost:5000", ["127.0.0.1"])] == [
        "https",
        "http",
    ]
    secure = rh.endpoints(config, "registry.example:443", ["192.0.2.1"])
    assert secure == [
        rh.Endpoint("https", "registry.example:443", certs_host="registry.example:443")
    ]


def test_insecure_registry_options_and_mirrors() -> None:
    config = rh.RegistryConfig.load(
        ["registry.example:5000", "10.0.0.0/8", "http://other.example"],
        ["http://127.0.0.1:5001", "http://127.0.0.1:5001/"],
    )
    assert [e.scheme for e in rh.endpoints(config, "registry.example:5000")] == ["https", "http"]
    assert [e.scheme for e in rh.endpoints(config, "other.example")] == ["https", "http"]
    assert len(rh.endpoints(config, "10.1.2.3:5000")) == 2
    hub = rh.endpoints(config, "docker.io")
    assert [(e.base, e.mirror, e.proxy_ns) for e in hub] == [
        ("http://127.0.0.1:5001", True, "docker.io"),
        ("https://registry-1.docker.io", False, ""),
    ]
    with pytest.raises(rh.RegistryConfigError) as info:
        rh.RegistryConfig.load(mirrors=["127.0.0.1:5000"])
    assert str(info.value) == (
        'invalid mirror: no scheme specified for "127.0.0.1:5000": '
        "must use either 'https://' or 'http://'"
    )
    with pytest.raises(rh.RegistryConfigError, match="should not contain '://'"):
        rh.RegistryConfig.load(["ftp://x"])
    with pytest.raises(rh.RegistryConfigError, match="Cannot begin or end with a hyphen"):
        rh.RegistryConfig.load(["-bad"])


# -- progress lines and privileges -----------------------------------------------------------


def test_progress_lines_are_streamformatters() -> None:
    assert jm.format_progress(jm.message("1.0", "Pulling from 127.0.0.1:5000/test/plug")) == (
        b'{"status":"Pulling from 127.0.0.1:5000/test/plug","id":"1.0"}\r\n'
    )
    assert jm.format_progress(jm.update("40dc7e61277c", "Waiting")) == (
        b'{"status":"Waiting","progressDetail":{},"id":"40dc7e61277c"}\r\n'
    )
    line = jm.format_progress(jm.Progress(id="x", action="Downloading", current=69, total=138))
    assert (
        json.loads(line)["progress"] == "[=========================>" + " " * 25 + "]      69B/138B"
    )
    assert jm.format_progress(
        jm.Progress(aux={"Tag": "1.0", "Digest": "sha256:x", "Size": 414})
    ) == (b'{"progressDetail":{},"aux":{"Tag":"1.0","Digest":"sha256:x","Size":414}}\r\n')
    assert jm.format_error("incorrect privileges") == (
        b'{"errorDetail":{"message":"incorrect privileges"},"error":"incorrect privileges"}\r\n'
    )
    assert jm.human_size(10_485_760) == "10.49MB"
    assert jm.progress_bar(5, 0) == "      5B"


def test_privileges_compare_skips_the_first_element() -> None:
    net = pc.PluginPrivilege("network", "permissions to access a network", ["host"])
    caps = pc.PluginPrivilege("capabilities", "caps", ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"])
    other_caps = pc.PluginPrivilege("capabilities", "caps", ["CAP_SYS_ADMIN"])
    assert pc.privileges_match([net, caps], [net, caps])
    assert not pc.privileges_match([net], [])
    # dockerd's loop starts at index 1: after sorting, "capabilities" is first, never compared.
    assert pc.privileges_match([net, caps], [net, other_caps])
    assert pc.privileges_match([net], [pc.PluginPrivilege("network", "", ["none"])])
    assert not pc.privileges_match([net, caps], [pc.PluginPrivilege("network", "", ["none"]), caps])
