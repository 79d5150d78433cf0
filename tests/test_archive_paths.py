"""``docker cp`` never reads or writes outside the container's root or a volume's path.

dockerd resolves archive paths inside the container's mount namespace (moby/moby
daemon/containerfs_linux.go, v28.5.2): ``..`` stops at the root and every link,
absolute or relative, resolves inside it, volumes included.  The planted tree below
holds a secret and a writable directory *outside* the container; hypothesis throws
paths made of ``..``, links and the outside directory's own path at the archive
functions, and the real CLI repeats the attacks over the API.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import secrets
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.engine.container_archive import (
    ArchiveError,
    archive_path,
    extract_to_dir,
    stat_path,
)
from emulator.engine.scoped_fs import Mount, ScopedFS
from tests.engine_api import DOCKER, raw_request, request_bytes, served

SECRET = b"host-secret-" * 700  # a size no file of the tree shares


@attrs.frozen
class Tree:
    base: Path
    outside: Path
    rootfs: Path
    volume: Path

    def view(self) -> ScopedFS:
        return ScopedFS(self.rootfs, [Mount("/data", self.volume)])


def plant(base: Path, outside: Path | None = None) -> Tree:
    """A container rootfs and a volume full of escape attempts, and a host dir beside them."""
    outside = outside or base / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret").write_bytes(SECRET)
    (outside / "dir").mkdir(exist_ok=True)
    rootfs, volume = base / "rootfs", base / "vol"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc/file").write_text("inside")
    volume.mkdir()
    (volume / "vfile").write_text("volume")
    deep = "../" * 12
    links = {
        rootfs / "up_abs": "/../../../..",
        rootfs / "up_rel": deep,
        rootfs / "host_abs": str(outside),
        rootfs / "host_rel": "../outside",
        rootfs / "secret_abs": str(outside / "secret"),
        rootfs / "loop": "loop",
        rootfs / "etc/deep": deep + str(outside).lstrip("/"),
        volume / "v_root": "/",
        volume / "v_up": deep,
        volume / "v_host": str(outside),
        volume / "v_secret": deep + str(outside / "secret").lstrip("/"),
    }
    for link, target in links.items():
        link.symlink_to(target)
    return Tree(base, outside, rootfs, volume)


def _components(tree: Tree) -> list[str]:
    names = [
        "..", ".", "", "etc", "file", "up_abs", "up_rel", "host_abs", "host_rel",
        "secret_abs", "loop", "deep", "data", "v_root", "v_up", "v_host", "v_secret",
        "vfile", "outside", "secret", "dir", "new",
    ]  # fmt: skip
    return names + [p for p in str(tree.outside).split("/") if p]


def paths(tree: Tree) -> st.SearchStrategy[str]:
    parts = st.lists(st.sampled_from(_components(tree)), max_size=14)
    return st.builds(
        lambda lead, items, trail: lead + "/".join(items) + trail,
        st.sampled_from(["/", ""]),
        parts,
        st.sampled_from(["", "/", "/."]),
    )


def _tar_bytes(data: bytes) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return b"".join(
            (tar.extractfile(m) or io.BytesIO()).read() for m in tar.getmembers() if m.isreg()
        )


def _read(fs: ScopedFS, path: str) -> bytes:
    out = io.BytesIO()
    archive_path(fs, path, out)
    return _tar_bytes(out.getvalue())


def test_links_resolve_as_inside_the_container(short_tmp: Path) -> None:
    tree = plant(short_tmp)
    with tree.view() as fs:
        assert _read(fs, "/up_rel/etc/file") == b"inside"
        assert _read(fs, "/up_abs/data/vfile") == b"volume"
        assert _read(fs, "/data/v_up/etc/file") == b"inside"
        assert _read(fs, "/data/v_root/data/vfile") == b"volume"
        assert _read(fs, "/data/../../etc/./file") == b"inside"
        assert stat_path(fs, "/secret_abs").link_target == f"{tree.outside}/secret"
        assert stat_path(fs, "/data/v_secret").link_target == f"{tree.outside}/secret"
        assert stat_path(fs, "/etc/deep").link_target == str(tree.outside)
        assert stat_path(fs, "/data/v_up").link_target == "/"
        with pytest.raises(FileNotFoundError):
            stat_path(fs, "/host_abs/secret")
        with pytest.raises(OSError, match="Too many levels of symbolic links"):
            stat_path(fs, "/loop/x")
        upload = _upload([Entry("a/b", "file", ""), Entry("l", "symlink", "/etc/file")])
        extract_to_dir(fs, "/data/v_up/etc", upload)
    assert (tree.rootfs / "etc/a/b").read_bytes() == b"payload"
    assert os.readlink(tree.rootfs / "etc/l") == "/etc/file"


def test_reads_stay_inside(short_tmp: Path) -> None:
    tree = plant(short_tmp)

    @settings(max_examples=400, deadline=None)
    @given(paths(tree))
    def check(path: str) -> None:
        with tree.view() as fs:
            try:
                stat = stat_path(fs, path)
            except (OSError, ArchiveError):
                pass
            else:
                assert stat.size != len(SECRET), path
            out = io.BytesIO()
            try:
                archive_path(fs, path, out)
            except (OSError, ArchiveError):
                return
            assert b"host-secret" not in _tar_bytes(out.getvalue()), path

    check()


@attrs.frozen
class Entry:
    name: str
    kind: str
    target: str


def _entries(tree: Tree, leaf: str) -> st.SearchStrategy[list[Entry]]:
    names = st.builds(lambda p: f"{p.rstrip('/')}/{leaf}".lstrip("/"), paths(tree))
    entry = st.builds(
        Entry,
        st.one_of(names, paths(tree)),
        st.sampled_from(["file", "dir", "symlink", "hardlink"]),
        paths(tree),
    )
    return st.lists(entry, min_size=1, max_size=6)


def _upload(entries: list[Entry]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name or ".")
            if e.kind == "file":
                info.size = 7
                tar.addfile(info, io.BytesIO(b"payload"))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
            }[e.kind]
            info.linkname = e.target
            tar.addfile(info)
    buffer.seek(0)
    return buffer


def _snapshot(directory: Path) -> dict[str, tuple[object, ...]]:
    seen: dict[str, tuple[object, ...]] = {}
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        target = os.readlink(path) if path.is_symlink() else ""
        seen[str(path)] = (info.st_mode, info.st_nlink, content, target)
    return seen


def _leaves(directory: Path, leaf: str) -> Iterator[Path]:
    with os.scandir(directory) as entries:
        for entry in entries:
            if leaf in entry.name:
                yield Path(entry.path)


def test_writes_stay_inside(short_tmp: Path) -> None:
    leaf = f"leaf-{secrets.token_hex(4)}"
    outside = short_tmp / "outside"
    plant(short_tmp / "proto", outside)
    shutil.rmtree(short_tmp / "proto")
    before = _snapshot(outside)
    components = plant(Path(tempfile.mkdtemp(dir=short_tmp)), outside)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.sampled_from(["/", "/data", "/etc", "etc/deep", "/up_rel", "data/v_up"]),
        _entries(components, leaf),
    )
    def check(dest: str, entries: list[Entry]) -> None:
        base = Path(tempfile.mkdtemp(dir=short_tmp))
        try:
            tree = plant(base, outside)
            with tree.view() as fs, contextlib.suppress(OSError, ArchiveError):
                extract_to_dir(fs, dest, _upload(entries))
            assert _snapshot(outside) == before
            assert sorted(p.name for p in base.iterdir()) == ["rootfs", "vol"]
            for directory in (short_tmp, short_tmp.parent, Path("/")):
                assert list(_leaves(directory, leaf)) == []
        finally:
            shutil.rmtree(base)

    check()


def test_plain_uploads_land_where_named(short_tmp: Path) -> None:
    """The other half: safety costs nothing to honest archives (implied parents included)."""
    plain = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=5)

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(plain, min_size=1, max_size=6, unique_by=lambda p: "/".join(p)))
    def check(names: list[list[str]]) -> None:
        base = Path(tempfile.mkdtemp(dir=short_tmp))
        try:
            tree = plant(base, short_tmp / "outside")
            files = ["/".join(["new", *parts, "leaf"]) for parts in names]
            with tree.view() as fs:
                extract_to_dir(fs, "/data", _upload([Entry(f, "file", "") for f in files]))
            for name in files:
                assert (tree.volume / name).read_bytes() == b"payload"
        finally:
            shutil.rmtree(base)

    check()


# -- the same attacks over the Engine API, with the real docker CLI ---------------------


def _raw(sock: Path, method: str, path: str, body: bytes = b"") -> tuple[int, bytes, str]:
    headers = {"Content-Type": "application/x-tar"} if body else {}
    answer = raw_request(str(sock), request_bytes(method, path, body, headers))
    return answer.status, answer.body, answer.headers.get("x-docker-container-path-stat", "")


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")


@pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")
async def test_docker_cp_cannot_leave_the_container(short_tmp: Path) -> None:
    outside = short_tmp / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(SECRET)
    up = "/.." * 16
    async with served(short_tmp) as s:
        await s.docker("volume", "create", "-d", "mv", "data")
        r = await s.docker("run", "-d", "--name", "c1", "-v", "data:/data", "busybox", "top")
        assert r.rc == 0, r.err
        for path in (f"{up}{outside}/secret", f"/data{up}{outside}/secret"):
            r = await s.docker("cp", f"c1:{path}", "-")
            assert r.rc == 1
            assert "host-secret" not in r.out
            assert f"Could not find the file {path} in container c1" in r.err
        (short_tmp / "x.txt").write_text("written")
        for path in (f"{up}{outside}/", f"/data{up}{outside}/"):
            r = await s.docker("cp", str(short_tmp / "x.txt"), f"c1:{path}")
            assert r.rc == 1
            assert not (outside / "x.txt").exists()
        sock = short_tmp / "d.sock"
        for method in ("HEAD", "GET"):
            target = f"/containers/c1/archive?path={_quote(f'{up}{outside}/secret')}"
            status, body, header = await trio.to_thread.run_sync(_raw, sock, method, target)
            assert status == 404
            assert b"host-secret" not in body
            assert header == ""
        upload = io.BytesIO()
        with tarfile.open(fileobj=upload, mode="w") as tar:
            info = tarfile.TarInfo("planted")
            info.size = 5
            tar.addfile(info, io.BytesIO(b"owned"))
        target = f"/containers/c1/archive?path={_quote(f'{up}{short_tmp}')}"
        status, _, _ = await trio.to_thread.run_sync(_raw, sock, "PUT", target, upload.getvalue())
        assert status == 404
        assert not (short_tmp / "planted").exists()
        await s.docker("rm", "-f", "c1")


@pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")
async def test_links_a_plugin_plants_in_its_volume_stay_inside(short_tmp: Path) -> None:
    outside = short_tmp / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(SECRET)
    async with served(short_tmp) as s:
        await s.docker("volume", "create", "-d", "mv", "data")
        r = await s.docker("run", "-d", "--name", "c1", "-v", "data:/data", "busybox", "top")
        assert r.rc == 0, r.err
        r = await s.docker("volume", "inspect", "-f", "{{.Mountpoint}}", "data")
        mountpoint = Path(r.out.strip())
        (mountpoint / "to_root").symlink_to("/")
        (mountpoint / "to_parent").symlink_to("../" * 16)
        (mountpoint / "to_secret").symlink_to(outside / "secret")
        for path in (
            f"/data/to_root{outside}/secret",
            f"/data/to_parent{outside}/secret",
            "/data/to_secret",
        ):
            r = await s.docker("cp", f"c1:{path}", "-")
            assert "host-secret" not in r.out, path
        # -L follows the link: dockerd resolves it inside the container (linkTarget)
        r = await s.docker("cp", "-L", "c1:/data/to_secret", "-")
        assert r.rc == 1
        assert "host-secret" not in r.out
        status, _, header = await trio.to_thread.run_sync(
            _raw, short_tmp / "d.sock", "HEAD", "/containers/c1/archive?path=/data/to_secret"
        )
        assert status == 200
        stat = json.loads(base64.b64decode(header))
        assert stat["linkTarget"] == f"{outside}/secret"  # a path inside the container
        (short_tmp / "x.txt").write_text("written")
        r = await s.docker("cp", str(short_tmp / "x.txt"), f"c1:/data/to_root{outside}/")
        assert r.rc == 1
        r = await s.docker("cp", str(short_tmp / "x.txt"), "c1:/data/to_parent/")
        assert r.rc == 0, r.err
        assert not (outside / "x.txt").exists()
        rootfs = s.engine.containers.rootfs(s.engine.containers.get("c1"))
        assert (rootfs / "x.txt").read_text() == "written"  # "/" of the container
        await s.docker("rm", "-f", "c1")
