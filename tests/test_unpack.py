"""The one unpacker (emulator.engine.unpack): moby/go-archive's rules and texts, plus limits.

``Unpack`` (archive.go) and ``UnpackLayer`` (diff.go) of moby/go-archive as vendored by
moby v28.5.2; the traversal properties are in test_archive_paths.py, plugin create's in
test_plugin_create_hostile.py.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from emulator.engine.managed.layers import unpack_tar
from emulator.engine.scoped_fs import ScopedFS
from emulator.engine.unpack import UnpackError, UnpackLimits, UnpackOptions, unpack


def _tar(*entries: tuple[str, bytes, object]) -> io.BytesIO:
    """``(name, type, data-or-linkname)`` entries as an uncompressed tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, extra in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            if kind == tarfile.REGTYPE:
                data = bytes(extra) if isinstance(extra, bytes) else b""
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.linkname = str(extra or "")
                tar.addfile(info)
    buffer.seek(0)
    return buffer


def _unpack(root: Path, archive: io.BytesIO, dest: str = "/", **options: object) -> None:
    with ScopedFS(root) as fs:
        unpack(archive, fs, dest, UnpackOptions(**options))  # type: ignore[arg-type]


def test_gos_breakout_texts(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    cases = [
        (_tar(("../x", tarfile.REGTYPE, b"x")), '"../x" is outside of "/data"'),
        (_tar(("l", tarfile.SYMTYPE, "../../etc")), 'invalid symlink "/data/l" -> "../../etc"'),
        (_tar(("h", tarfile.LNKTYPE, "../etc/passwd")),
         'invalid hardlink "/etc/passwd" -> "../etc/passwd"'),
    ]  # fmt: skip
    for archive, text in cases:
        with pytest.raises(UnpackError) as info:
            _unpack(tmp_path, archive, "/data")
        assert str(info.value) == text
    # absolute link targets are joined below the destination by Go's filepath.Join: allowed
    _unpack(tmp_path, _tar(("abs", tarfile.SYMTYPE, "/etc/passwd")), "/data")
    assert os.readlink(tmp_path / "data/abs") == "/etc/passwd"


def test_no_overwrite_dir_non_dir(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(
        UnpackError, match=r'^cannot overwrite directory "/dir" with non-directory "/"$'
    ):
        _unpack(tmp_path, _tar(("dir", tarfile.REGTYPE, b"y")), no_overwrite_dir_non_dir=True)
    with pytest.raises(
        UnpackError, match=r'^cannot overwrite non-directory "/file" with directory "/"$'
    ):
        _unpack(tmp_path, _tar(("file", tarfile.DIRTYPE, None)), no_overwrite_dir_non_dir=True)
    _unpack(tmp_path, _tar(("dir", tarfile.REGTYPE, b"y")))  # without it: replaced
    assert (tmp_path / "dir").read_bytes() == b"y"


def test_missing_parent_directories_are_implied(tmp_path: Path) -> None:
    _unpack(
        tmp_path, _tar(("a/b/c/file", tarfile.REGTYPE, b"deep"), ("x/y/z", tarfile.DIRTYPE, None))
    )
    assert (tmp_path / "a/b/c/file").read_bytes() == b"deep"
    assert (tmp_path / "x/y/z").is_dir()
    assert stat.S_IMODE((tmp_path / "a/b").stat().st_mode) == 0o755  # ImpliedDirectoryMode


def test_an_existing_link_is_replaced_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "f").symlink_to(outside / "target")
    _unpack(root, _tar(("f", tarfile.REGTYPE, b"new")))
    assert not (outside / "target").exists()
    assert (root / "f").read_bytes() == b"new"


def test_tar_errors_are_gos(tmp_path: Path) -> None:
    archive = _tar(("a", tarfile.REGTYPE, b"a" * 3000))
    cut = io.BytesIO(archive.getvalue()[:1500])
    with pytest.raises(UnpackError, match=r"^unexpected EOF$"):
        _unpack(tmp_path, cut)
    with pytest.raises(UnpackError, match=r"^archive/tar: invalid tar header$"):
        _unpack(tmp_path, io.BytesIO(b"not a tar" * 100))
    _unpack(tmp_path, io.BytesIO(b""))  # an empty body is an empty archive (Go: EOF)


def test_limits(tmp_path: Path) -> None:
    many = _tar(*[(f"f{i}", tarfile.REGTYPE, b"x") for i in range(4)])
    with pytest.raises(UnpackError, match="more than 3 entries"):
        _unpack(tmp_path, many, limits=UnpackLimits(max_entries=3))
    big = _tar(("big", tarfile.REGTYPE, b"x" * 100))
    with pytest.raises(UnpackError, match="more than 99 bytes of files"):
        _unpack(tmp_path, big, limits=UnpackLimits(max_bytes=99))


def test_layers_apply_aufs_whiteouts(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    unpack_tar(
        _tar(("etc", tarfile.DIRTYPE, None), ("etc/old", tarfile.REGTYPE, b"1"),
             ("etc/keep", tarfile.REGTYPE, b"2"), ("opq", tarfile.DIRTYPE, None),
             ("opq/gone", tarfile.REGTYPE, b"3")),
        rootfs,
    )  # fmt: skip
    unpack_tar(
        _tar(("etc/.wh.old", tarfile.REGTYPE, b""), ("opq/new", tarfile.REGTYPE, b"4"),
             ("opq/.wh..wh..opq", tarfile.REGTYPE, b"")),
        rootfs,
    )  # fmt: skip
    assert sorted(p.name for p in (rootfs / "etc").iterdir()) == ["keep"]
    assert sorted(p.name for p in (rootfs / "opq").iterdir()) == ["new"]


def test_a_pulled_layer_gets_the_same_rules(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    layer = _tar(
        ("up", tarfile.SYMTYPE, "../../../../../../.." + str(outside)),
        ("up/planted", tarfile.REGTYPE, b"x"),
    )
    with pytest.raises(UnpackError):
        unpack_tar(layer, tmp_path / "rootfs")
    assert list(outside.iterdir()) == []
    with pytest.raises(UnpackError, match="character device"):
        unpack_tar(_tar(("null", tarfile.CHRTYPE, None)), tmp_path / "rootfs2")
