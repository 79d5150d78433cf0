"""Tests for v1 plugin discovery (facts: moby v28.5.2 ``pkg/plugins/discovery.go``).

Everything uses real files and real unix sockets under a short temporary root.
"""

from __future__ import annotations

import errno
import itertools
import os
import socket
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from emulator.discovery import (
    DirEntry,
    DiscoveryError,
    LocalRegistry,
    OSFileSystem,
    PathError,
    PluginNotFound,
    PluginPaths,
    PluginSpec,
    ScanError,
    SpecFileError,
    TLSOptions,
)
from emulator.golang.errors import errno_text

SPEC = "tcp://127.0.0.1:1"
JSON = '{"Addr": "tcp://127.0.0.1:2"}'
INSECURE = TLSOptions(insecure_skip_verify=True)


# ---------------------------------------------------------------------------
# helpers


def make_socket(path: Path) -> Path:
    """Create a unix socket file at ``path`` (the socket itself is closed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
    return path


def write(path: Path, content: str | bytes) -> Path:
    """Create ``path`` (and its parents) with ``content``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


@pytest.fixture
def paths(short_tmp: Path) -> PluginPaths:
    return PluginPaths.under(short_tmp)


@pytest.fixture
def registry(paths: PluginPaths) -> LocalRegistry:
    return LocalRegistry(paths)


@pytest.fixture
def sock(paths: PluginPaths) -> Path:
    return paths.sockets_dir


@pytest.fixture
def etc(paths: PluginPaths) -> Path:
    return paths.spec_dirs[0]


@pytest.fixture
def usr(paths: PluginPaths) -> Path:
    return paths.spec_dirs[1]


@attrs.frozen
class FaultyFS(OSFileSystem):
    """The real file system, except for injected errors (root ignores permissions)."""

    dir_errors: dict[str, PathError] = attrs.field(factory=dict)
    file_errors: dict[str, PathError] = attrs.field(factory=dict)

    def read_dir(self, path: str) -> list[DirEntry]:
        if path in self.dir_errors:
            raise self.dir_errors[path]
        return super().read_dir(path)

    def read_file(self, path: str) -> bytes:
        if path in self.file_errors:
            raise self.file_errors[path]
        return super().read_file(path)


def denied(path: Path) -> dict[str, PathError]:
    return {str(path): PathError("open", str(path), errno.EACCES)}


# ---------------------------------------------------------------------------
# paths


def test_plugin_paths_layout(short_tmp: Path) -> None:
    paths = PluginPaths.under(short_tmp)
    assert paths.sockets_dir == short_tmp / "run/docker/plugins"
    assert paths.spec_dirs == (
        short_tmp / "etc/docker/plugins",
        short_tmp / "usr/lib/docker/plugins",
    )


def test_default_root_is_dockerds_real_layout() -> None:
    paths = LocalRegistry().paths
    assert paths.sockets_dir == Path("/run/docker/plugins")
    assert paths.spec_dirs == (Path("/etc/docker/plugins"), Path("/usr/lib/docker/plugins"))


# ---------------------------------------------------------------------------
# lookup: precedence


@attrs.frozen
class Candidate:
    """One place dockerd looks for plugin ``p``: a directory index and a relative path.

    ``where`` is -1 for the sockets directory, else an index into ``spec_dirs``.
    """

    where: int
    relative: str

    def __str__(self) -> str:
        return f"{('SOCK', 'ETC', 'USR')[self.where + 1]}/{self.relative}"

    def make(self, paths: PluginPaths) -> Path:
        """Create this candidate (a socket, or a valid spec/json file)."""
        if self.where < 0:
            return make_socket(paths.sockets_dir / self.relative)
        content = JSON if self.relative.endswith(".json") else SPEC
        return write(paths.spec_dirs[self.where] / self.relative, content)


CANDIDATES = [Candidate(-1, "p.sock"), Candidate(-1, "p/p.sock")] + [
    Candidate(where, relative)
    for where in (0, 1)
    for relative in ("p.spec", "p/p.spec", "p.json", "p/p.json")
]
PAIRS = list(itertools.combinations(CANDIDATES, 2))


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"{a}>{b}" for a, b in PAIRS])
def test_precedence_pairwise(
    paths: PluginPaths, registry: LocalRegistry, first: Candidate, second: Candidate
) -> None:
    second.make(paths)
    winner = first.make(paths)
    assert registry.lookup("p").source == winner


def test_precedence_full_chain(paths: PluginPaths, registry: LocalRegistry) -> None:
    made = [candidate.make(paths) for candidate in CANDIDATES]
    for expected in made:
        assert registry.lookup("p").source == expected
        expected.unlink()
    with pytest.raises(PluginNotFound):
        registry.lookup("p")


# ---------------------------------------------------------------------------
# lookup: sockets


def test_socket_hit(sock: Path, registry: LocalRegistry) -> None:
    path = make_socket(sock / "vol.sock")
    assert registry.lookup("vol") == PluginSpec(
        name="vol", addr=f"unix://{path}", tls=INSECURE, source=path, kind="socket"
    )


def test_socket_in_subdirectory(sock: Path, registry: LocalRegistry) -> None:
    path = make_socket(sock / "vol/vol.sock")
    assert registry.lookup("vol").addr == f"unix://{path}"


def test_lookup_follows_symlink_to_socket(
    short_tmp: Path, sock: Path, registry: LocalRegistry
) -> None:
    real = make_socket(short_tmp / "real.sock")
    sock.mkdir(parents=True)
    (sock / "vol.sock").symlink_to(real)
    spec = registry.lookup("vol")
    assert spec.addr == f"unix://{sock}/vol.sock"
    assert spec.kind == "socket"


@pytest.mark.parametrize("make", [lambda p: write(p, "x"), lambda p: p.mkdir(parents=True)])
def test_non_socket_dot_sock_is_skipped(
    sock: Path, etc: Path, registry: LocalRegistry, make: Callable[[Path], object]
) -> None:
    make(sock / "vol.sock")
    later = make_socket(sock / "vol/vol.sock")
    assert registry.lookup("vol").source == later


def test_non_socket_dot_sock_alone_is_not_found(sock: Path, registry: LocalRegistry) -> None:
    write(sock / "vol.sock", "x")
    with pytest.raises(PluginNotFound):
        registry.lookup("vol")


def test_name_is_joined_like_filepath_join(
    short_tmp: Path, sock: Path, registry: LocalRegistry
) -> None:
    path = make_socket(short_tmp / "run/docker/x.sock")
    assert registry.lookup("../x").addr == f"unix://{path}"
    nested = make_socket(sock / "a/b.sock")
    assert registry.lookup("a/b").source == nested


def test_empty_name_is_not_special(sock: Path, registry: LocalRegistry) -> None:
    path = make_socket(sock / ".sock")
    assert registry.lookup("").addr == f"unix://{path}"


# ---------------------------------------------------------------------------
# lookup: not found


def test_not_found(paths: PluginPaths, registry: LocalRegistry) -> None:
    with pytest.raises(PluginNotFound) as info:
        registry.lookup("vol")
    err = info.value
    assert str(err) == "could not find plugin vol in v1 plugin registry: plugin not found"
    assert isinstance(err, DiscoveryError)
    assert (err.name, err.path) == ("vol", None)
    assert str(paths.sockets_dir) in err.hint
    assert "vol.spec" in err.hint


def test_dangling_symlink_spec_is_skipped(etc: Path, usr: Path, registry: LocalRegistry) -> None:
    etc.mkdir(parents=True)
    (etc / "vol.spec").symlink_to(etc / "missing")
    later = write(usr / "vol.spec", SPEC)
    assert registry.lookup("vol").source == later


# ---------------------------------------------------------------------------
# lookup: .spec files


def test_spec_hit(etc: Path, registry: LocalRegistry) -> None:
    path = write(etc / "vol.spec", "tcp://127.0.0.1:8080\n")
    assert registry.lookup("vol") == PluginSpec(
        name="vol", addr="tcp://127.0.0.1:8080", tls=INSECURE, source=path, kind="spec"
    )


def test_spec_content_is_trimmed_like_go(etc: Path, registry: LocalRegistry) -> None:
    write(etc / "vol.spec", " \t\r\n\v\f\u00a0\u3000tcp://h:1\u2028\n \n")
    assert registry.lookup("vol").addr == "tcp://h:1"


def test_spec_trim_keeps_non_go_spaces(etc: Path, registry: LocalRegistry) -> None:
    """U+001F is whitespace to Python's ``str.strip`` but not to Go's ``TrimSpace``."""
    write(etc / "vol.spec", "\x1ftcp://h:1")
    with pytest.raises(SpecFileError) as info:
        registry.lookup("vol")
    assert str(info.value) == 'parse "\\x1ftcp://h:1": net/url: invalid control character in URL'


@pytest.mark.parametrize("content", ["/some/path.sock", "", "  \n", "relative.sock"])
def test_spec_without_scheme_is_unknown_protocol(
    etc: Path, registry: LocalRegistry, content: str
) -> None:
    path = write(etc / "vol.spec", content)
    with pytest.raises(SpecFileError) as info:
        registry.lookup("vol")
    err = info.value
    assert str(err) == "Unknown protocol"
    assert (err.name, err.path) == ("vol", path)
    assert str(path) in err.hint
    assert "unix://" in err.hint


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (
            "127.0.0.1:8080",
            'parse "127.0.0.1:8080": first path segment in URL cannot contain colon',
        ),
        ("tcp://h:port", 'parse "tcp://h:port": invalid port ":port" after host'),
        ("tcp://a b:1", 'parse "tcp://a b:1": invalid character " " in host name'),
        ("tcp://h:1\nx", 'parse "tcp://h:1\\nx": net/url: invalid control character in URL'),
    ],
)
def test_spec_url_error_is_go_text(
    etc: Path, registry: LocalRegistry, content: str, text: str
) -> None:
    path = write(etc / "vol.spec", content)
    with pytest.raises(SpecFileError) as info:
        registry.lookup("vol")
    assert str(info.value) == text
    assert info.value.path == path


@pytest.mark.parametrize("addr", ["foo://x", "localhost:8080", "unix://rel.sock", "npipe:////./x"])
def test_spec_accepts_any_scheme(etc: Path, registry: LocalRegistry, addr: str) -> None:
    write(etc / "vol.spec", addr)
    assert registry.lookup("vol").addr == addr


def test_broken_first_spec_does_not_fall_through(
    etc: Path, usr: Path, registry: LocalRegistry
) -> None:
    broken = write(etc / "vol.spec", "/no/scheme.sock")
    write(etc / "vol/vol.spec", SPEC)
    write(etc / "vol.json", JSON)
    write(usr / "vol.spec", SPEC)
    with pytest.raises(SpecFileError) as info:
        registry.lookup("vol")
    assert info.value.path == broken


def test_broken_first_json_does_not_fall_through(
    etc: Path, usr: Path, registry: LocalRegistry
) -> None:
    write(etc / "vol.json", "")
    write(usr / "vol.spec", SPEC)
    with pytest.raises(SpecFileError, match=r"^EOF$"):
        registry.lookup("vol")


def test_directory_named_like_spec_is_a_read_error(
    etc: Path, usr: Path, registry: LocalRegistry
) -> None:
    """os.Stat succeeds on a directory, so it is the first hit; reading it fails."""
    (etc / "vol.spec").mkdir(parents=True)
    write(usr / "vol.spec", SPEC)
    with pytest.raises(SpecFileError) as info:
        registry.lookup("vol")
    assert str(info.value) == f"read {etc}/vol.spec: is a directory"


def test_unreadable_spec_is_go_open_error(paths: PluginPaths, etc: Path) -> None:
    path = write(etc / "vol.spec", SPEC)
    fs = FaultyFS(file_errors={str(path): PathError("open", str(path), errno.EACCES)})
    with pytest.raises(SpecFileError) as info:
        LocalRegistry(paths, fs=fs).lookup("vol")
    assert str(info.value) == f"open {path}: permission denied"
    assert info.value.path == path
    assert str(path) in info.value.hint


def test_unreadable_json_is_go_open_error(paths: PluginPaths, etc: Path) -> None:
    path = write(etc / "vol.json", JSON)
    fs = FaultyFS(file_errors={str(path): PathError("open", str(path), errno.EACCES)})
    with pytest.raises(SpecFileError, match=f"^open {path}: permission denied$"):
        LocalRegistry(paths, fs=fs).lookup("vol")


# ---------------------------------------------------------------------------
# lookup: .json files


def test_json_hit(etc: Path, registry: LocalRegistry) -> None:
    path = write(etc / "vol.json", '{"Addr": "https://h:1/x"}')
    assert registry.lookup("vol") == PluginSpec(
        name="vol", addr="https://h:1/x", tls=None, source=path, kind="json"
    )


def test_json_keys_are_case_insensitive(etc: Path, registry: LocalRegistry) -> None:
    write(
        etc / "vol.json",
        '{"addr": "tcp://h:1", "tlsconfig": {"cafile": "/ca", "CERTFILE": "/c", '
        '"KeyFile": "/k", "insecureSkipVerify": false}}',
    )
    spec = registry.lookup("vol")
    assert spec.addr == "tcp://h:1"
    assert spec.tls == TLSOptions(ca_file="/ca", cert_file="/c", key_file="/k")


def test_json_name_and_unknown_keys_are_ignored(etc: Path, registry: LocalRegistry) -> None:
    write(etc / "vol.json", '{"Name": "other", "Manifest": 1, "Extra": [1], "Addr": "tcp://h:1"}')
    spec = registry.lookup("vol")
    assert (spec.name, spec.addr) == ("vol", "tcp://h:1")


def test_json_tls_without_ca_is_forced_insecure(etc: Path, registry: LocalRegistry) -> None:
    write(
        etc / "vol.json",
        '{"Addr": "https://h:1", "TLSConfig": {"CertFile": "/c", "KeyFile": "/k", '
        '"InsecureSkipVerify": false}}',
    )
    assert registry.lookup("vol").tls == TLSOptions(
        cert_file="/c", key_file="/k", insecure_skip_verify=True
    )


def test_json_empty_tls_object_is_insecure(etc: Path, registry: LocalRegistry) -> None:
    write(etc / "vol.json", '{"Addr": "https://h:1", "TLSConfig": {}}')
    assert registry.lookup("vol").tls == INSECURE


def test_json_repeated_tls_key_fills_the_same_struct(etc: Path, registry: LocalRegistry) -> None:
    """Go decodes a second object into the struct the first one allocated."""
    write(etc / "vol.json", '{"TLSConfig": {"CAFile": "/ca"}, "tlsconfig": {"CertFile": "/c"}}')
    assert registry.lookup("vol").tls == TLSOptions(ca_file="/ca", cert_file="/c")


def test_json_raw_tls_extras_are_kept(etc: Path, registry: LocalRegistry) -> None:
    write(
        etc / "vol.json",
        '{"TLSConfig": {"CAFile": "/ca", "ClientAuth": 4, "ExclusiveRootPools": true,'
        ' "MinVersion": 772}}',
    )
    assert registry.lookup("vol").tls == TLSOptions(
        ca_file="/ca", client_auth=4, exclusive_root_pools=True, min_version=772
    )


def test_json_tls_with_ca_keeps_verification(etc: Path, registry: LocalRegistry) -> None:
    write(etc / "vol.json", '{"Addr": "https://h:1", "TLSConfig": {"CAFile": "/ca"}}')
    assert registry.lookup("vol").tls == TLSOptions(ca_file="/ca")


@pytest.mark.parametrize("body", ['{"Addr": "https://h:1"}', '{"Addr": "x", "TLSConfig": null}'])
def test_json_without_tls_is_none(etc: Path, registry: LocalRegistry, body: str) -> None:
    write(etc / "vol.json", body)
    assert registry.lookup("vol").tls is None


@pytest.mark.parametrize(
    ("body", "addr"),
    [("{}", ""), ("null", ""), ('{"Addr": "127.0.0.1:8080"}', "127.0.0.1:8080")],
)
def test_json_addr_is_not_validated(
    etc: Path, registry: LocalRegistry, body: str, addr: str
) -> None:
    write(etc / "vol.json", body)
    assert registry.lookup("vol").addr == addr


def test_json_trailing_data_after_first_value_is_ignored(
    etc: Path, registry: LocalRegistry
) -> None:
    write(etc / "vol.json", '{"Addr": "tcp://h:1"} trailing garbage')
    assert registry.lookup("vol").addr == "tcp://h:1"


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("", "EOF"),
        (" \n\t", "EOF"),
        ('{"Addr": "tcp://h:1"', "unexpected EOF"),
        ("x", "invalid character 'x' looking for beginning of value"),
        (
            '{"Addr": 1}',
            "json: cannot unmarshal number into Go struct field Plugin.Addr of type string",
        ),
        ('"tcp://h:1"', "json: cannot unmarshal string into Go value of type plugins.Plugin"),
        ('{"Addr" 1}', "invalid character '1' after object key"),
        (
            '{"TLSConfig": "x"}',
            "json: cannot unmarshal string into Go struct field Plugin.TLSConfig"
            " of type tlsconfig.Options",
        ),
        (
            '{"TLSConfig": {"CAFile": 1}}',
            "json: cannot unmarshal number into Go struct field Options.TLSConfig.CAFile"
            " of type string",
        ),
        (
            '{"TLSConfig": {"MinVersion": 70000}}',
            "json: cannot unmarshal number 70000 into Go struct field"
            " Options.TLSConfig.MinVersion of type uint16",
        ),
    ],
)
def test_json_decode_errors_are_go_text(
    etc: Path, registry: LocalRegistry, body: str, text: str
) -> None:
    path = write(etc / "vol.json", body)
    with pytest.raises(SpecFileError) as info:
        registry.lookup("vol")
    assert str(info.value) == text
    assert info.value.path == path
    assert "Addr" in info.value.hint


# ---------------------------------------------------------------------------
# scan


def test_scan_missing_dirs_are_skipped(registry: LocalRegistry) -> None:
    assert registry.scan() == []


def test_scan_order_and_duplicates(
    sock: Path, etc: Path, usr: Path, registry: LocalRegistry
) -> None:
    make_socket(sock / "b.sock")
    make_socket(sock / "a.sock")
    write(usr / "a.spec", SPEC)
    write(etc / "z.json", JSON)
    write(etc / "a.spec", SPEC)
    assert registry.scan() == ["a", "b", "a", "z", "a"]


def test_scan_strips_any_extension(sock: Path, etc: Path, registry: LocalRegistry) -> None:
    make_socket(sock / "foo.bar")
    make_socket(sock / ".sock")
    make_socket(sock / "noext")
    make_socket(sock / "x.y.sock")
    write(etc / "v.x.spec", SPEC)
    assert registry.scan() == ["", "foo", "noext", "x.y", "v.x"]


def test_scan_ignores_other_extensions(sock: Path, etc: Path, registry: LocalRegistry) -> None:
    write(sock / "file.sock", "not a socket")
    write(etc / "a.txt", "x")
    write(etc / "b.spec.bak", "x")
    write(etc / "c", "x")
    assert registry.scan() == []


def test_scan_socket_subdirectory(sock: Path, registry: LocalRegistry) -> None:
    make_socket(sock / "vol/vol.sock")
    make_socket(sock / "other/wrong.sock")
    write(sock / "plain/plain.sock", "not a socket")
    assert registry.scan() == ["vol"]


def test_scan_does_not_follow_symlinks_but_lookup_does(
    short_tmp: Path, sock: Path, registry: LocalRegistry
) -> None:
    real = make_socket(short_tmp / "real.sock")
    sock.mkdir(parents=True)
    (sock / "vol.sock").symlink_to(real)
    assert registry.scan() == []
    assert registry.lookup("vol").kind == "socket"


def test_scan_socket_subdirectory_follows_symlink(
    short_tmp: Path, sock: Path, registry: LocalRegistry
) -> None:
    real = make_socket(short_tmp / "real.sock")
    (sock / "vol").mkdir(parents=True)
    (sock / "vol/vol.sock").symlink_to(real)
    assert registry.scan() == ["vol"]


def test_scan_spec_subdirectory_takes_first_match(etc: Path, registry: LocalRegistry) -> None:
    write(etc / "vol/vol.spec", SPEC)
    write(etc / "vol/vol.json", JSON)
    write(etc / "vol/other.spec", SPEC)
    assert registry.scan() == ["vol"]


def test_scan_spec_subdirectory_first_match_may_not_count(
    etc: Path, registry: LocalRegistry
) -> None:
    """``vol/vol`` sorts before ``vol/vol.spec`` and has no ``.spec``/``.json`` extension."""
    write(etc / "vol/vol", "x")
    write(etc / "vol/vol.spec", SPEC)
    assert registry.scan() == []


def test_scan_directory_named_json_counts(etc: Path, usr: Path, registry: LocalRegistry) -> None:
    """Quirk: with no match inside, the directory entry itself is kept."""
    (etc / "foo.json").mkdir(parents=True)
    write(usr / "bar.spec/unrelated.txt", "x")
    (etc / "plain").mkdir()
    assert registry.scan() == ["foo", "bar"]


def test_scan_unreadable_subdirectory_is_skipped(paths: PluginPaths, etc: Path) -> None:
    write(etc / "a.spec", SPEC)
    write(etc / "vol.json/vol.json", JSON)
    write(etc / "z.spec", SPEC)
    fs = FaultyFS(dir_errors=denied(etc / "vol.json"))
    assert LocalRegistry(paths, fs=fs).scan() == ["a", "z"]


def test_scan_spec_dir_that_is_a_file_fails(etc: Path, registry: LocalRegistry) -> None:
    write(etc, "not a directory")
    with pytest.raises(ScanError) as info:
        registry.scan()
    err = info.value
    assert str(err) == f"error reading dir entries: readdirent {etc}: not a directory"
    assert (err.name, err.path) == ("", etc)
    assert str(etc) in err.hint


def test_scan_sockets_dir_below_a_file_fails(
    short_tmp: Path, sock: Path, registry: LocalRegistry
) -> None:
    write(short_tmp / "run", "not a directory")
    with pytest.raises(
        ScanError, match=f"^error reading dir entries: open {sock}: not a directory$"
    ):
        registry.scan()


def test_scan_permission_error_fails(paths: PluginPaths, etc: Path) -> None:
    etc.mkdir(parents=True)
    registry = LocalRegistry(paths, fs=FaultyFS(dir_errors=denied(etc)))
    with pytest.raises(ScanError) as info:
        registry.scan()
    assert str(info.value) == f"error reading dir entries: open {etc}: permission denied"


def test_scan_permission_error_on_spec_dir_skipped_in_userns(
    paths: PluginPaths, etc: Path, usr: Path
) -> None:
    write(usr / "u.spec", SPEC)
    fs = FaultyFS(dir_errors=denied(etc))
    assert LocalRegistry(paths, in_userns=True, fs=fs).scan() == ["u"]


def test_scan_other_errors_fail_even_in_userns(paths: PluginPaths, etc: Path) -> None:
    write(etc, "not a directory")
    with pytest.raises(ScanError, match="not a directory"):
        LocalRegistry(paths, in_userns=True).scan()


def test_scan_permission_error_on_sockets_dir_fails_even_in_userns(
    paths: PluginPaths, sock: Path
) -> None:
    sock.mkdir(parents=True)
    registry = LocalRegistry(paths, in_userns=True, fs=FaultyFS(dir_errors=denied(sock)))
    with pytest.raises(ScanError, match=f"^error reading dir entries: open {sock}: permission"):
        registry.scan()


# ---------------------------------------------------------------------------
# Go error texts


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (errno.EACCES, "permission denied"),
        (errno.ENOENT, "no such file or directory"),
        (errno.ENOTDIR, "not a directory"),
        (errno.EISDIR, "is a directory"),
        (errno.ESTALE, "stale NFS file handle"),
        (errno.EDOTDOT, "RFS specific error"),
        (errno.ECONNRESET, "connection reset by peer"),
    ],
)
def test_go_errno_text(code: int, text: str) -> None:
    assert errno_text(code) == text


def test_path_error_text_and_classes() -> None:
    err = PathError("open", "/x", errno.ENOENT)
    assert str(err) == "open /x: no such file or directory"
    assert err.not_exist
    assert not err.permission
    assert PathError("open", "/x", errno.EPERM).permission


def test_read_dir_is_sorted_by_bytes(short_tmp: Path) -> None:
    for name in ("b", "B", "a", "é", "_"):
        write(short_tmp / name, "")
    names = [entry.name for entry in OSFileSystem().read_dir(str(short_tmp))]
    assert names == sorted(names, key=os.fsencode)
    assert names == ["B", "_", "a", "b", "é"]
