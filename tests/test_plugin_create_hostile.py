"""``POST /plugins/create`` with hostile tars: nothing escapes, blocks, or is left behind.

dockerd splits the body into ``config.json`` (read from the tar, never the disk) and
``rootfs/`` (unpacked in a chroot of a fresh directory) — moby/moby
plugin/backend_linux.go ``CreateFromContext``, v28.5.2.  The emulator does the same
off its event loop, refuses device nodes and FIFOs, bounds the upload, and removes
every staging directory when a create fails.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path

import pytest
import trio

from emulator.engine.core import open_engine
from emulator.engine.unpack import UnpackLimits
from tests.engine_api import RawResponse, raw_request, request_bytes, served
from tests.test_managed import CONFIG, SCRIPT

MINIMAL_CONFIG = json.dumps(
    {"interface": {"socket": "p.sock", "types": ["docker.volumedriver/1.0"]}, "entrypoint": ["/x"]}
).encode()


def member(
    name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **extra: object
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    for key, value in extra.items():
        setattr(info, key, value)
    return info, data


def upload(entries: Iterable[tuple[tarfile.TarInfo, bytes]], *, config: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if config:
            info, data = member("config.json", data=MINIMAL_CONFIG)
            tar.addfile(info, io.BytesIO(data))
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.size else None)
    return buffer.getvalue()


async def create(sock: Path, body: bytes, name: str = "evil") -> RawResponse:
    data = request_bytes(
        "POST", f"/plugins/create?name={name}", body, {"Content-Type": "application/x-tar"}
    )
    return await trio.to_thread.run_sync(raw_request, str(sock), data)


async def ping(sock: Path) -> RawResponse:
    return await trio.to_thread.run_sync(raw_request, str(sock), request_bytes("GET", "/_ping"))


def leftovers(data_root: Path) -> list[str]:
    """Anything a create left in the data-root's plugin store (the tmp dir may stay, empty)."""
    plugins = data_root / "plugins"
    found = [p.name for p in plugins.iterdir() if p.name != "tmp"] if plugins.is_dir() else []
    if (plugins / "tmp").is_dir():
        found += [f"tmp/{p.name}" for p in (plugins / "tmp").iterdir()]
    return found + [p.name for p in data_root.iterdir() if p.name.startswith("plugin-create")]


def message(answer: RawResponse) -> str:
    body = answer.json()
    assert isinstance(body, dict)
    return str(body["message"])


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        (member("rootfs/zero", tarfile.CHRTYPE, devmajor=1, devminor=5), "character device"),
        (member("rootfs/sda", tarfile.BLKTYPE, devmajor=8, devminor=0), "block device"),
        (member("rootfs/pipe", tarfile.FIFOTYPE), "FIFO"),
    ],
)
async def test_device_nodes_and_fifos_are_refused(
    short_tmp: Path, entry: tuple[tarfile.TarInfo, bytes], kind: str
) -> None:
    async with served(short_tmp, mocks=()) as s:
        sock = short_tmp / "d.sock"
        answer = await create(sock, upload([member("rootfs/ok", data=b"x"), entry]))
        assert answer.status == 400
        name = entry[0].name.removeprefix("rootfs")
        assert message(answer).startswith(f'refusing to create the {kind} "{name}"')
        assert (await ping(sock)).body == b"OK"
        assert leftovers(s.engine.data_root) == []
        assert s.engine.managed_plugins.list() == []


async def test_config_json_is_read_from_the_tar_never_opened(short_tmp: Path) -> None:
    async with served(short_tmp, mocks=()) as s:
        sock = short_tmp / "d.sock"
        for entry in (
            member("config.json", tarfile.FIFOTYPE),
            member("config.json", tarfile.SYMTYPE, linkname="/etc/passwd"),
            member("config.json", tarfile.DIRTYPE),
        ):
            answer = await create(sock, upload([member("rootfs/ok", data=b"x"), entry]))
            assert (answer.status, message(answer)) == (
                500,
                "failed to parse config: unexpected end of JSON input",
            )
        assert leftovers(s.engine.data_root) == []


async def test_a_rootfs_link_to_the_host_copies_nothing(short_tmp: Path) -> None:
    async with served(short_tmp, mocks=()) as s:
        sock = short_tmp / "d.sock"
        entries = [
            member("rootfs", tarfile.SYMTYPE, linkname="/etc"),
            member("rootfs/x", data=b"x"),
        ]
        answer = await create(sock, upload(entries))
        assert answer.status == 204, answer.body
        [plugin] = s.engine.managed_plugins.list()
        rootfs = s.engine.data_root / "plugins" / plugin.ID / "rootfs"
        assert not rootfs.is_symlink()
        assert sorted(p.name for p in rootfs.iterdir()) == ["x"]


@pytest.mark.parametrize(
    "entries",
    [
        # a link to the host, then a file through it
        [("rootfs/out", tarfile.SYMTYPE, "{outside}"), ("rootfs/out/planted", tarfile.REGTYPE, "")],
        [("rootfs/up", tarfile.SYMTYPE, "../../../../../../../../.."),
         ("rootfs/up{outside}/planted", tarfile.REGTYPE, "")],
        [("rootfs/d", tarfile.DIRTYPE, ""), ("rootfs/d/l", tarfile.SYMTYPE, "/"),
         ("rootfs/d/l{outside}/planted", tarfile.REGTYPE, "")],
        # hard links to a host file
        [("rootfs/h", tarfile.LNKTYPE, "{outside}/secret")],
        [("rootfs/h", tarfile.LNKTYPE, "rootfs/../../../../../../..{outside}/secret")],
        # names that climb
        [("../../../../../../..{outside}/planted", tarfile.REGTYPE, "")],
        [("rootfs/../../../../../../..{outside}/planted", tarfile.REGTYPE, "")],
    ],
)  # fmt: skip
async def test_nothing_lands_outside_the_upload(
    short_tmp: Path, entries: list[tuple[str, bytes, str]]
) -> None:
    outside = short_tmp / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host secret")
    built = []
    for name, kind, link in entries:
        name, link = name.format(outside=outside), link.format(outside=outside)
        data = b"planted" if kind == tarfile.REGTYPE else b""
        built.append(member(name, kind, data, linkname=link))
    async with served(short_tmp, mocks=()) as s:
        answer = await create(
            short_tmp / "d.sock", upload([member("rootfs/ok", data=b"x"), *built])
        )
        assert "Errno" not in answer.body.decode()
        assert sorted(p.name for p in outside.iterdir()) == ["secret"]
        assert (outside / "secret").stat().st_nlink == 1
        if answer.status != 204:
            assert answer.status == 500
            assert leftovers(s.engine.data_root) == []
            return
        [plugin] = s.engine.managed_plugins.list()
        rootfs = s.engine.data_root / "plugins" / plugin.ID / "rootfs"
        for path in rootfs.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert path.read_bytes() in (b"x", b"planted")


async def test_a_failed_create_answers_dockerds_text_and_leaves_nothing(short_tmp: Path) -> None:
    async with served(short_tmp, mocks=()) as s:
        sock = short_tmp / "d.sock"
        cases = [
            (upload([member("rootfs/h", tarfile.LNKTYPE, linkname="missing")]),
             "link /missing /h: no such file or directory"),
            (upload([member("rootfs/x", data=b"x")], config=False), "config not found"),
            (upload([]), "no rootfs found: EOF"),
            (b"\x1f\x8b" + b"\0" * 600, "failed to read from tar: archive/tar: invalid tar header"),
            (upload([member("rootfs/big", data=b"y" * 5000)])[:2000],
             "error copying tar data: unexpected EOF"),
            (_corrupt_second_header(), "failed to read from tar: archive/tar: invalid tar header"),
        ]  # fmt: skip
        for body, text in cases:
            answer = await create(sock, body)
            assert (answer.status, message(answer)) == (500, text)
            assert leftovers(s.engine.data_root) == []
        assert s.engine.managed_plugins.list() == []


def _corrupt_second_header() -> bytes:
    """A tar whose second header is garbage (Go: ``archive/tar: invalid tar header``)."""
    body = bytearray(upload([member("rootfs/x", data=b"x")]))
    body[1024 + 100 : 1024 + 108] = b"garbage!"  # rootfs/x's mode field, checksum now wrong
    return bytes(body)


def _sparse_member(name: str, real_size: int) -> bytes:
    """A PAX 1.0 sparse file: one data byte, ``real_size`` bytes once expanded."""
    sparse_map = b"1\n0\n1\n".ljust(512, b"\0")
    info = tarfile.TarInfo("GNUSparseFile.0/" + name.rsplit("/", 1)[-1])
    info.size = len(sparse_map) + 1
    info.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": name,
        "GNU.sparse.realsize": str(real_size),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info_c, data = member("config.json", data=MINIMAL_CONFIG)
        tar.addfile(info_c, io.BytesIO(data))
        tar.addfile(info, io.BytesIO(sparse_map + b"x"))
    return buffer.getvalue()


async def test_uploads_are_bounded(short_tmp: Path) -> None:
    async with served(short_tmp, mocks=(), max_body=8 << 20) as s:
        sock = short_tmp / "d.sock"
        managed = s.engine.managed_plugins
        body = _sparse_member("rootfs/bomb", 100 << 30)
        assert len(body) <= 10_240  # one tar record
        answer = await create(sock, body)
        assert answer.status == 500
        assert message(answer).startswith("the archive holds more than 4294967296 bytes of files")
        managed.upload_limits = UnpackLimits(max_entries=5)
        answer = await create(sock, upload([member(f"rootfs/f{i}", data=b"x") for i in range(9)]))
        assert (answer.status, message(answer)) == (
            500,
            "the archive has more than 5 entries: plugin-emulator refuses it "
            "(split it, or raise UnpackLimits.max_entries)",
        )
        answer = await create(sock, upload([member("config.json", data=b" " * (2 << 20))]))
        assert answer.status == 400
        assert leftovers(s.engine.data_root) == []


async def test_workdir_and_socket_stay_inside_the_rootfs(
    short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    directory = short_tmp / "pkg"
    (directory / "rootfs/bin").mkdir(parents=True)
    (directory / "rootfs/work").mkdir()
    exe = directory / "rootfs/bin/mockvol"
    exe.write_text(SCRIPT)
    exe.chmod(0o755)
    config = {**CONFIG, "workdir": "../../../../../../work", "propagatedmount": ""}
    config["interface"] = {**CONFIG["interface"], "socket": "../../../mockvol.sock"}
    (directory / "config.json").write_text(json.dumps(config))
    host_work = Path("/work")
    async with open_engine(short_tmp) as engine:
        managed = engine.managed_plugins
        plugin_id = managed.create("mockvol", directory)
        plugin = managed.resolve(plugin_id)
        assert plugin.socket_path == plugin.exec_dir / "mockvol.sock"
        await managed.enable("mockvol", timeout=30)
        await managed.disable("mockvol")
    started = [r.getMessage() for r in caplog.records if "mockvol starting in" in r.getMessage()]
    assert started, caplog.text
    cwd = started[0].split("mockvol starting in ", 1)[1].split(" args ", 1)[0]
    assert cwd == f"{short_tmp}/var/lib/docker/plugins/{plugin_id}/rootfs/work"
    assert Path(cwd) != host_work
    assert os.path.commonpath([cwd, str(short_tmp)]) == str(short_tmp)
