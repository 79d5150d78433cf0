"""Debian's ``rclone serve docker``, a real third-party volume plugin, spoken to directly.

These tests pin down what rclone (1.60.1 in Debian bookworm) answers on its socket, so
that the emulator's own tests can rely on it: the exact error texts (the product passes a
plugin's ``Err`` to the caller unchanged), the status codes, and that Mount makes a real
FUSE mount of the backend.  They use a minimal h11 client of their own, independent of
the emulator.  See docs/rclone.md.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import h11
import pytest
import trio

from tests.rclone import (
    RcloneError,
    mounts_under,
    processes_with,
    rclone_available,
    rclone_version,
    serve_rclone,
)

_MISSING = rclone_available()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

PLUGIN_JSON = "application/vnd.docker.plugins.v1.1+json"  # rclone's Content-Type


@attrs.frozen
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    sock: Path, endpoint: str, payload: Any = None, *, raw: bytes | None = None
) -> Reply:
    """One ``POST /ENDPOINT`` on its own connection, as dockerd's plugin client sends it."""
    body = raw if raw is not None else json.dumps(payload if payload is not None else {}).encode()
    conn = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="POST",
        target=f"/{endpoint}",
        headers=[
            ("Host", "plugin.moby.localhost"),
            ("Accept", "application/vnd.docker.plugins.v1.2+json"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
        ],
    )
    with trio.fail_after(20):
        stream = await trio.open_unix_socket(str(sock))
        async with stream:
            await stream.send_all(
                conn.send(request) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
            )
            response: h11.Response | None = None
            chunks: list[bytes] = []
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    response = event
                elif isinstance(event, h11.Data):
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    raise AssertionError(f"unexpected {event!r} from rclone")
    assert response is not None
    headers = {k.decode().lower(): v.decode() for k, v in response.headers}
    return Reply(response.status_code, headers, b"".join(chunks))


def go_error(text: str) -> bytes:
    """The body rclone writes for an error: Go's json.Encoder output, newline included."""
    return json.dumps({"Err": text}, separators=(",", ":")).encode() + b"\n"


async def ok(sock: Path, endpoint: str, payload: Any = None) -> Any:
    reply = await call(sock, endpoint, payload)
    assert reply.status == 200, (endpoint, payload, reply)
    assert reply.headers["content-type"] == PLUGIN_JSON
    return reply.json()


async def err(sock: Path, endpoint: str, payload: Any = None) -> str:
    reply = await call(sock, endpoint, payload)
    assert reply.status == 500, (endpoint, payload, reply)
    assert reply.headers["content-type"] == PLUGIN_JSON
    text = reply.json()["Err"]
    assert reply.body == go_error(text)
    assert isinstance(text, str)
    return text


def is_fuse_mount(path: Path) -> bool:
    return (path.resolve(), "fuse.rclone") in mounts_under(path)


@contextlib.asynccontextmanager
async def running_rclone(root: Path, **kwargs: Any) -> AsyncIterator[Path]:
    """rclone serving on ROOT/run/docker/plugins/rclone.sock; checks it left nothing behind."""
    async with trio.open_nursery() as nursery:
        sock: Path = await nursery.start(functools.partial(serve_rclone, root, **kwargs))
        yield sock
        nursery.cancel_scope.cancel()
    assert not processes_with(str(sock)), "an rclone process survived"
    assert not mounts_under(root), "a mount survived"
    assert not os.path.lexists(sock), "rclone's socket survived"
    assert not list(root.glob("rclone-*")), "rclone's work directory survived"


@pytest.fixture
def data(short_tmp: Path) -> Path:
    """The local backend directory volumes are made of."""
    path = short_tmp / "data"
    path.mkdir()
    return path


async def test_activate_and_capabilities(short_tmp: Path) -> None:
    async with running_rclone(short_tmp) as sock:
        assert sock == short_tmp / "run/docker/plugins/rclone.sock"
        activate = await call(sock, "Plugin.Activate")
        assert activate.status == 200
        assert activate.headers["content-type"] == PLUGIN_JSON
        assert activate.body == b'{"Implements":["VolumeDriver"]}\n'
        assert await ok(sock, "VolumeDriver.Capabilities") == {"Capabilities": {"Scope": "local"}}
        assert await ok(sock, "VolumeDriver.List") == {"Volumes": []}


async def test_create_list_get_path_remove_without_mounting(short_tmp: Path, data: Path) -> None:
    async with running_rclone(short_tmp) as sock:
        by_remote = {"Name": "byremote", "Opts": {"remote": f":local:{data}"}}
        by_type = {"Name": "bytype", "Opts": {"type": "local", "path": str(data)}}
        for request in (by_remote, by_type):
            reply = await call(sock, "VolumeDriver.Create", request)
            assert (reply.status, reply.body) == (200, b"{}\n")

        volumes = (await ok(sock, "VolumeDriver.List"))["Volumes"]
        assert [v["Name"] for v in volumes] == ["byremote", "bytype"]
        for volume in volumes:
            mountpoint = Path(volume["Mountpoint"])
            assert mountpoint.parent.name == "base"
            assert mountpoint.is_relative_to(short_tmp)
            assert mountpoint.name == volume["Name"]
            assert volume["CreatedAt"].endswith("Z")
            assert volume["Status"] == {"Mounts": []}
            assert not is_fuse_mount(mountpoint)
            got = await ok(sock, "VolumeDriver.Get", {"Name": volume["Name"]})
            assert got == {"Volume": volume}
            path = await ok(sock, "VolumeDriver.Path", {"Name": volume["Name"]})
            assert path == {"Mountpoint": volume["Mountpoint"]}  # even when not mounted

        assert await ok(sock, "VolumeDriver.Remove", {"Name": "byremote"}) == {}
        assert await err(sock, "VolumeDriver.Get", {"Name": "byremote"}) == "volume not found"
        assert [v["Name"] for v in (await ok(sock, "VolumeDriver.List"))["Volumes"]] == ["bytype"]
        assert await ok(sock, "VolumeDriver.Remove", {"Name": "bytype"}) == {}
        assert await ok(sock, "VolumeDriver.List") == {"Volumes": []}


async def test_mount_is_a_fuse_mount_of_the_backend(short_tmp: Path, data: Path) -> None:
    (data / "from-backend").write_text("written in the backend\n")
    async with running_rclone(short_tmp) as sock:
        await ok(sock, "VolumeDriver.Create", {"Name": "vol", "Opts": {"remote": f":local:{data}"}})
        reply = await ok(sock, "VolumeDriver.Mount", {"Name": "vol", "ID": "c1"})
        mountpoint = Path(reply["Mountpoint"])
        assert mountpoint.is_dir()
        assert is_fuse_mount(mountpoint)

        # rclone serves the FUSE requests: do the file I/O off the trio thread
        seen = await trio.to_thread.run_sync((mountpoint / "from-backend").read_text)
        assert seen == "written in the backend\n"
        await trio.to_thread.run_sync((mountpoint / "from-mount").write_text, "through FUSE\n")
        assert (data / "from-mount").read_text() == "through FUSE\n"

        volume = (await ok(sock, "VolumeDriver.Get", {"Name": "vol"}))["Volume"]
        assert volume["Status"] == {"Mounts": ["c1"]}
        assert volume["Mountpoint"] == str(mountpoint)

        # a second mount ID shares the one FUSE mount
        again = await ok(sock, "VolumeDriver.Mount", {"Name": "vol", "ID": "c2"})
        assert again == {"Mountpoint": str(mountpoint)}
        assert mounts_under(mountpoint) == [(mountpoint.resolve(), "fuse.rclone")]
        assert await ok(sock, "VolumeDriver.Unmount", {"Name": "vol", "ID": "c1"}) == {}
        assert is_fuse_mount(mountpoint)
        assert await ok(sock, "VolumeDriver.Unmount", {"Name": "vol", "ID": "c2"}) == {}
        assert not is_fuse_mount(mountpoint)
        assert (await ok(sock, "VolumeDriver.Get", {"Name": "vol"}))["Volume"]["Status"] == {
            "Mounts": []
        }
        assert await ok(sock, "VolumeDriver.Remove", {"Name": "vol"}) == {}
    assert sorted(p.name for p in data.iterdir()) == ["from-backend", "from-mount"]


def _create(name: str = "vol", **opts: str) -> tuple[str, dict[str, Any]]:
    return ("VolumeDriver.Create", {"Name": name, "Opts": opts or {"remote": ":local:DATA"}})


_MOUNT_C1 = ("VolumeDriver.Mount", {"Name": "vol", "ID": "c1"})

# (setup calls, failing call, rclone's exact Err text)
ERRORS: dict[str, tuple[list[tuple[str, dict[str, Any]]], tuple[str, dict[str, Any]], str]] = {
    "get-unknown": ([], ("VolumeDriver.Get", {"Name": "nope"}), "volume not found"),
    "path-unknown": ([], ("VolumeDriver.Path", {"Name": "nope"}), "volume not found"),
    "mount-unknown": ([], ("VolumeDriver.Mount", {"Name": "nope", "ID": "c1"}), "volume not found"),
    "unmount-unknown": (
        [],
        ("VolumeDriver.Unmount", {"Name": "nope", "ID": "c1"}),
        "volume not found",
    ),
    "remove-unknown": ([], ("VolumeDriver.Remove", {"Name": "nope"}), "volume not found"),
    "create-twice": ([_create()], _create(), "volume already exists"),
    "create-no-name": ([], _create(""), "volume name is required"),
    "create-no-options": (
        [],
        ("VolumeDriver.Create", {"Name": "vol"}),
        "volume must have either remote or backend type",
    ),
    "create-remote-and-type": (
        [],
        _create(remote=":local:DATA", type="local"),
        "volume must have either remote or backend type",
    ),
    "create-unknown-backend": (
        [],
        _create(type="nosuchbackend"),
        'unknown filesystem type "nosuchbackend"',
    ),
    "create-unconfigured-remote": (
        [],
        _create(remote="nosuch:DATA"),
        "didn't find section in config file",
    ),
    "create-unparsable-remote": (
        [],
        _create(remote=":"),
        'cannot parse path ":": config name needs a trailing `:`',
    ),
    "create-unknown-option": (
        [],
        _create(remote=":local:DATA", bogus="1"),
        'unsupported backend option "bogus"',
    ),
    "create-bad-vfs-option": (
        [],
        _create(remote=":local:DATA", **{"vfs-cache-mode": "bogus"}),
        'cannot parse vfs option "vfs-cache-mode": unknown cache mode level "bogus"',
    ),
    "unmount-never-mounted": (
        [_create()],
        ("VolumeDriver.Unmount", {"Name": "vol", "ID": "c1"}),
        "volume is not mounted",
    ),
    "mount-same-id-twice": (
        [_create(), _MOUNT_C1],
        _MOUNT_C1,
        "volume is already mounted by this id",
    ),
    "unmount-other-id": (
        [_create(), _MOUNT_C1],
        ("VolumeDriver.Unmount", {"Name": "vol", "ID": "c2"}),
        "volume is not mounted by this id",
    ),
    "remove-in-use": (
        [_create(), _MOUNT_C1],
        ("VolumeDriver.Remove", {"Name": "vol"}),
        "volume is in use",
    ),
}


def _fill(value: Any, data: Path) -> Any:
    if isinstance(value, str):
        return value.replace("DATA", str(data))
    if isinstance(value, dict):
        return {k: _fill(v, data) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", list(ERRORS))
async def test_error_texts(case: str, short_tmp: Path, data: Path) -> None:
    setup, (endpoint, payload), expected = ERRORS[case]
    async with running_rclone(short_tmp) as sock:
        for step, step_payload in setup:
            await ok(sock, step, _fill(step_payload, data))
        assert await err(sock, endpoint, _fill(payload, data)) == expected
    # a volume still mounted when the test ends is unmounted by rclone on SIGTERM


async def test_mount_fails_when_the_mountpoint_is_gone(short_tmp: Path, data: Path) -> None:
    async with running_rclone(short_tmp) as sock:
        await ok(sock, "VolumeDriver.Create", {"Name": "vol", "Opts": {"remote": f":local:{data}"}})
        mountpoint = Path((await ok(sock, "VolumeDriver.Path", {"Name": "vol"}))["Mountpoint"])
        mountpoint.rmdir()  # rclone made it at Create and does not make it again at Mount
        text = await err(sock, "VolumeDriver.Mount", {"Name": "vol", "ID": "c1"})
        assert text == f"failed to mount FUSE fs: mountpoint does not exist: {mountpoint}"
        volume = (await ok(sock, "VolumeDriver.Get", {"Name": "vol"}))["Volume"]
        assert volume["Status"] == {"Mounts": []}  # the failed mount is not recorded

        mountpoint.mkdir()
        assert await ok(sock, "VolumeDriver.Mount", {"Name": "vol", "ID": "c1"}) == {
            "Mountpoint": str(mountpoint)
        }
        assert is_fuse_mount(mountpoint)
        assert await ok(sock, "VolumeDriver.Unmount", {"Name": "vol", "ID": "c1"}) == {}


async def test_mount_fails_in_fusermount(
    short_tmp: Path, data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="emulator.plugin.rclone")
    async with running_rclone(short_tmp) as sock:
        await ok(sock, "VolumeDriver.Create", {"Name": "vol", "Opts": {"remote": f":local:{data}"}})
        mountpoint = Path((await ok(sock, "VolumeDriver.Path", {"Name": "vol"}))["Mountpoint"])
        mountpoint.rmdir()
        mountpoint.symlink_to(short_tmp / "nowhere")  # exists for rclone, not for fusermount3
        text = await err(sock, "VolumeDriver.Mount", {"Name": "vol", "ID": "c1"})
        assert text == "failed to mount FUSE fs: fusermount: exit status 1"
        assert not mounts_under(short_tmp)
    # fusermount3's own complaint reaches Python logging through rclone's stderr
    rclone_lines = [r for r in caplog.records if r.name == "emulator.plugin.rclone"]
    helper_error = "mount helper error: fusermount: mount failed: No such file or directory"
    assert [r.levelname for r in rclone_lines if r.getMessage() == helper_error] == ["WARNING"]
    assert any(r.getMessage() == f"Serving unix socket: {sock}" for r in rclone_lines)


async def test_bad_requests_are_not_plugin_errors(short_tmp: Path) -> None:
    """Undecodable bodies and unknown endpoints get Go net/http's plain-text answers."""
    async with running_rclone(short_tmp) as sock:
        garbage = await call(sock, "VolumeDriver.Create", raw=b"garbage")
        assert garbage.status == 400
        assert garbage.headers["content-type"] == "text/plain; charset=utf-8"
        assert garbage.body == b"invalid character 'g' looking for beginning of value\n"
        empty = await call(sock, "VolumeDriver.Get", raw=b"")
        assert (empty.status, empty.body) == (400, b"EOF\n")
        unknown = await call(sock, "VolumeDriver.Nope")
        assert (unknown.status, unknown.body) == (404, b"404 page not found\n")


async def test_stopping_unmounts_a_mounted_volume(short_tmp: Path, data: Path) -> None:
    async with running_rclone(short_tmp) as sock:
        await ok(sock, "VolumeDriver.Create", {"Name": "vol", "Opts": {"remote": f":local:{data}"}})
        mountpoint = Path(
            (await ok(sock, "VolumeDriver.Mount", {"Name": "vol", "ID": "c"}))["Mountpoint"]
        )
        assert is_fuse_mount(mountpoint)
    # running_rclone checked: no process, mount, socket or directory left


async def test_stopping_with_two_mounted_volumes(
    short_tmp: Path, data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rclone 1.60 deadlocks on SIGTERM with two volumes mounted; the helper still cleans up."""
    caplog.set_level(logging.INFO, logger="emulator.plugin.rclone")
    async with running_rclone(short_tmp, grace=1.0) as sock:
        for name in ("one", "two"):
            await ok(
                sock, "VolumeDriver.Create", {"Name": name, "Opts": {"remote": f":local:{data}"}}
            )
            await ok(sock, "VolumeDriver.Mount", {"Name": name, "ID": "c"})
        assert len(mounts_under(short_tmp)) == 2
    killed = any("after SIGTERM: SIGKILL" in r.getMessage() for r in caplog.records)
    if rclone_version().startswith("1.60."):
        assert killed, "rclone 1.60 was expected to hang on SIGTERM with two mounts"


async def test_startup_failure_reports_rclone_output(short_tmp: Path) -> None:
    with pytest.raises(RcloneError) as caught:
        await serve_rclone(short_tmp, extra_args=["--vfs-cache-mode=bogus"])
    message = str(caught.value)
    assert "exited with status 1 before serving" in message
    assert 'invalid argument "bogus" for "--vfs-cache-mode" flag' in message
    sock = short_tmp / "run/docker/plugins/rclone.sock"
    assert not processes_with(str(sock))
    assert not list(short_tmp.glob("rclone-*"))
    assert not os.path.lexists(sock)


async def test_startup_timeout_reports_and_stops_rclone(short_tmp: Path) -> None:
    with pytest.raises(RcloneError, match=r"did not accept connections on \S+ within 0\.0s"):
        await serve_rclone(short_tmp, startup_timeout=0.0)
    sock = short_tmp / "run/docker/plugins/rclone.sock"
    assert not processes_with(str(sock))
    assert not list(short_tmp.glob("rclone-*"))
    assert not os.path.lexists(sock)


async def test_errors_reach_nursery_start_unwrapped(short_tmp: Path) -> None:
    async with trio.open_nursery() as nursery:
        with pytest.raises(RcloneError, match="Fatal error: unknown flag: --bogus-flag"):
            await nursery.start(
                functools.partial(serve_rclone, short_tmp, extra_args=["--bogus-flag"])
            )
    assert not list(short_tmp.glob("rclone-*"))


async def test_socket_path_too_long_is_refused(short_tmp: Path) -> None:
    deep = short_tmp / ("d" * 90)
    with pytest.raises(ValueError, match="max 107"):
        await serve_rclone(deep)
    assert not deep.exists()


async def test_two_plugins_side_by_side(short_tmp: Path, data: Path) -> None:
    async with trio.open_nursery() as nursery:
        first = await nursery.start(serve_rclone, short_tmp)
        second = await nursery.start(functools.partial(serve_rclone, short_tmp, "rclone2"))
        assert second == short_tmp / "run/docker/plugins/rclone2.sock"
        await ok(first, "VolumeDriver.Create", {"Name": "a", "Opts": {"remote": f":local:{data}"}})
        assert await ok(second, "VolumeDriver.List") == {"Volumes": []}
        nursery.cancel_scope.cancel()
    assert not processes_with(str(short_tmp))
    assert not [p for p in short_tmp.iterdir() if p.name.startswith("rclone")]


async def test_rclone_killed_while_serving(
    short_tmp: Path, data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A dead rclone leaves a dead FUSE mount; the helper detaches it and reports the death."""
    caplog.set_level(logging.INFO, logger="emulator.plugin.rclone")
    sock = short_tmp / "run/docker/plugins/rclone.sock"
    with pytest.RaisesGroup(pytest.RaisesExc(RcloneError, match="exited with status -9 while")):
        async with running_rclone(short_tmp) as sock:
            await ok(
                sock, "VolumeDriver.Create", {"Name": "v", "Opts": {"remote": f":local:{data}"}}
            )
            await ok(sock, "VolumeDriver.Mount", {"Name": "v", "ID": "c"})
            [pid] = processes_with(str(sock))
            os.kill(pid, signal.SIGKILL)
            await trio.sleep_forever()
    assert any(r.getMessage().startswith("rclone left ") for r in caplog.records)
    assert not processes_with(str(sock))
    assert not mounts_under(short_tmp)
    assert not list(short_tmp.glob("rclone-*"))
    assert not os.path.lexists(sock)
