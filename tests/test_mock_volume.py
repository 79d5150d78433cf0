"""Tests for :mod:`emulator.mocks.volume`: the built-in volume driver over a real unix socket.

Most calls go through the emulated daemon (``engine.plugins.call``), the way
dockerd would make them; exact bytes (status lines, headers, bodies that are
not JSON) go through a minimal h11 client defined here, which like dockerd
sends no ``Content-Type``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import h11
import pytest
import trio

from emulator import open_engine
from emulator.engine.core import Engine
from emulator.errors import PluginStatusError
from emulator.mocks import PLUGIN_CONTENT_TYPE, MockVolumePlugin, Reply, VolumeState

pytestmark = pytest.mark.filterwarnings(
    "error::ResourceWarning", "error::pytest.PytestUnraisableExceptionWarning"
)

ID1 = "1" * 64
ID2 = "2" * 64


# --------------------------------------------------------------------------- raw client


@attrs.frozen
class Answer:
    """One HTTP answer: status, lower-cased header pairs, body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, or ``None``."""
        return next((value for key, value in self.headers if key == name.lower()), None)


async def raw_post(socket_path: Path, method: str, body: bytes) -> Answer:
    """POST ``body`` to ``/method`` on a new connection, with no Content-Type (as dockerd)."""
    conn = h11.Connection(h11.CLIENT)
    stream = await trio.open_unix_socket(str(socket_path))
    async with stream:
        head = [("Host", "plugin.moby.localhost"), ("Content-Length", str(len(body)))]
        data = conn.send(h11.Request(method="POST", target=f"/{method}", headers=head))
        if body:
            data += conn.send(h11.Data(data=body))
        data += conn.send(h11.EndOfMessage())
        await stream.send_all(data)
        response: h11.Response | None = None
        chunks: list[bytes] = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(bytes(await stream.receive_some(65536)))
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
    assert response is not None
    return Answer(
        response.status_code,
        tuple((k.decode(), v.decode()) for k, v in response.headers),
        b"".join(chunks),
    )


# --------------------------------------------------------------------------- harness


@attrs.define
class Harness:
    """A served driver, an engine that finds it, and the socket for raw requests."""

    driver: MockVolumePlugin
    engine: Engine
    socket: Path

    async def call(self, method: str, args: object | None) -> Any:
        """``VolumeDriver.<method>`` through the engine; returns the decoded answer."""
        return await self.engine.plugins.call(self.driver.name, f"VolumeDriver.{method}", args)

    async def fails(self, method: str, args: object | None) -> PluginStatusError:
        """Call and expect a non-200 answer; returns the error."""
        with pytest.raises(PluginStatusError) as caught:
            await self.call(method, args)
        return caught.value

    async def raw(self, method: str, body: bytes) -> Answer:
        """POST raw bytes to ``/method``."""
        return await raw_post(self.socket, method, body)

    async def create(self, name: str, opts: dict[str, str] | None = None) -> None:
        assert await self.call("Create", {"Name": name, "Opts": opts}) == {}

    async def mount(self, name: str, mount_id: str = ID1) -> str:
        reply = await self.call("Mount", {"Name": name, "ID": mount_id})
        assert set(reply) == {"Mountpoint"}
        mountpoint = reply["Mountpoint"]
        assert isinstance(mountpoint, str)
        return mountpoint

    async def unmount(self, name: str, mount_id: str = ID1) -> None:
        assert await self.call("Unmount", {"Name": name, "ID": mount_id}) == {}


def socket_path(root: Path, name: str) -> Path:
    return root / "run/docker/plugins" / f"{name}.sock"


@asynccontextmanager
async def serving(driver: MockVolumePlugin, root: Path) -> AsyncIterator[Harness]:
    """Serve ``driver`` where an engine rooted at ``root`` discovers it."""
    path = socket_path(root, driver.name)
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.serve, f"unix:{path}")
        async with open_engine(root=root) as engine:
            yield Harness(driver, engine, path)
        nursery.cancel_scope.cancel()


@pytest.fixture
async def h(short_tmp: Path) -> AsyncIterator[Harness]:
    async with serving(MockVolumePlugin(short_tmp / "state"), short_tmp) as harness:
        yield harness


# --------------------------------------------------------------------------- activation, shapes


async def test_activate_answers_the_sdk_manifest(h: Harness) -> None:
    answer = await h.raw("Plugin.Activate", b"")
    assert answer.status == 200
    assert answer.header("content-type") == PLUGIN_CONTENT_TYPE
    assert answer.body == b'{"Implements": ["VolumeDriver"]}\n'
    plugin = await h.engine.plugins.get("mockvol", "VolumeDriver")
    assert plugin.implements == ("VolumeDriver",)


async def test_success_and_error_bytes_are_the_sdk_encoding(h: Harness) -> None:
    answer = await h.raw("VolumeDriver.Create", b'{"Name":"v","Opts":{}}\n')
    assert (answer.status, answer.body) == (200, b"{}\n")
    assert answer.header("content-type") == PLUGIN_CONTENT_TYPE
    answer = await h.raw("VolumeDriver.Mount", b'{"Name":"v","ID":"' + ID1.encode() + b'"}\n')
    path = h.driver.volumes()["v"].path
    assert (answer.status, answer.body) == (200, f'{{"Mountpoint":"{path}"}}\n'.encode())
    answer = await h.raw("VolumeDriver.Get", b'{"Name":"nope"}\n')
    assert answer.status == 500
    assert answer.header("content-type") == PLUGIN_CONTENT_TYPE
    assert answer.body == b'{"Err":"no such volume"}\n'
    # The requests carried no Content-Type, like dockerd's.
    assert all(r.header("content-type") is None for r in h.driver.plugin.requests)


async def test_request_keys_are_matched_case_insensitively_like_go(h: Harness) -> None:
    answer = await h.raw("VolumeDriver.Create", b'{"name":"v","OPTS":{"size":"1G"}} trailing')
    assert answer.status == 200
    assert h.driver.volumes()["v"].options == {"size": "1G"}


async def test_unknown_method_is_404_like_go_servemux(h: Harness) -> None:
    answer = await h.raw("VolumeDriver.Nope", b"{}")
    assert (answer.status, answer.body) == (404, b"404 page not found\n")


# --------------------------------------------------------------------------- Create


async def test_create_makes_the_data_directory_and_get_describes_it(h: Harness) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    await h.create("v", {"size": "10G", "k": "x"})
    after = dt.datetime.now(dt.UTC)
    state = h.driver.volumes()["v"]
    assert state.path == h.driver.root / "volumes/v/data"
    assert state.path.is_dir()
    assert state.options == {"size": "10G", "k": "x"}
    assert state.mounts == {}
    assert before <= state.created_at <= after

    reply = await h.call("Get", {"Name": "v"})
    assert reply == {
        "Volume": {
            "Name": "v",
            "CreatedAt": state.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Status": {"mounts": 0, "options": {"k": "x", "size": "10G"}},
        }
    }  # no Mountpoint while unmounted (omitempty)
    assert dt.datetime.fromisoformat(reply["Volume"]["CreatedAt"]) == state.created_at


async def test_create_with_null_opts_has_no_options(h: Harness) -> None:
    await h.create("v", None)
    assert h.driver.volumes()["v"].options == {}
    reply = await h.call("Get", {"Name": "v"})
    assert reply["Volume"]["Status"] == {"mounts": 0, "options": {}}


async def test_create_of_an_existing_volume_succeeds_and_keeps_its_options(h: Harness) -> None:
    await h.create("v", {"size": "1G"})
    created = h.driver.volumes()["v"]
    (created.path / "file").write_text("kept")
    await h.create("v", {"size": "2G"})
    again = h.driver.volumes()["v"]
    assert again == created
    assert (again.path / "file").read_text() == "kept"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "/abs", "nul\x00"])
async def test_create_refuses_invalid_names(h: Harness, name: str) -> None:
    error = await h.fails("Create", {"Name": name, "Opts": {}})
    assert error.status == 500
    assert str(error).startswith("VolumeDriver.Create: invalid volume name ")
    assert h.driver.volumes() == {}
    assert list((h.driver.root / "volumes").iterdir()) == []


@pytest.mark.parametrize("value", ["", "bogus", "mount,bogus", ","])
async def test_create_refuses_an_unknown_fail_option(h: Harness, value: str) -> None:
    error = await h.fails("Create", {"Name": "v", "Opts": {"fail": value}})
    assert str(error).startswith(f"VolumeDriver.Create: invalid option fail={value}: ")
    assert h.driver.volumes() == {}


# --------------------------------------------------------------------------- Mount / Unmount / Path


async def test_mount_answers_an_existing_absolute_data_directory(h: Harness) -> None:
    await h.create("v")
    mountpoint = await h.mount("v")
    state = h.driver.volumes()["v"]
    assert mountpoint == str(state.path)
    assert os.path.isabs(mountpoint)
    assert os.path.isdir(mountpoint)
    assert state.mounts == {ID1: 1}
    assert h.driver.mount_count("v") == 1
    Path(mountpoint, "hello").write_text("hi")
    assert (state.path / "hello").read_text() == "hi"

    assert await h.call("Path", {"Name": "v"}) == {"Mountpoint": mountpoint}
    volume = (await h.call("Get", {"Name": "v"}))["Volume"]
    assert volume["Mountpoint"] == mountpoint
    assert volume["Status"]["mounts"] == 1

    await h.unmount("v")
    assert h.driver.mount_count("v") == 0
    assert await h.call("Path", {"Name": "v"}) == {"Mountpoint": ""}
    assert "Mountpoint" not in (await h.call("Get", {"Name": "v"}))["Volume"]


async def test_mount_recreates_a_data_directory_removed_behind_its_back(h: Harness) -> None:
    await h.create("v")
    shutil.rmtree(h.driver.volumes()["v"].path)
    mountpoint = await h.mount("v")
    assert os.path.isdir(mountpoint)


async def test_the_same_id_mounted_twice_needs_two_unmounts(h: Harness) -> None:
    """dockerd re-sends a running container's mount ID for ``docker cp``."""
    await h.create("v")
    first = await h.mount("v", ID1)
    assert await h.mount("v", ID1) == first
    assert h.driver.volumes()["v"].mounts == {ID1: 2}
    assert h.driver.mount_count("v") == 2
    assert (await h.call("Get", {"Name": "v"}))["Volume"]["Status"]["mounts"] == 2

    await h.unmount("v", ID1)
    assert h.driver.volumes()["v"].mounts == {ID1: 1}
    assert await h.call("Path", {"Name": "v"}) == {"Mountpoint": first}
    error = await h.fails("Remove", {"Name": "v"})
    assert str(error) == "VolumeDriver.Remove: volume v is in use"

    await h.unmount("v", ID1)
    assert h.driver.volumes()["v"].mounts == {}
    error = await h.fails("Unmount", {"Name": "v", "ID": ID1})
    assert str(error) == f"VolumeDriver.Unmount: volume v is not mounted with ID {ID1}"


async def test_different_ids_are_counted_apart(h: Harness) -> None:
    await h.create("v")
    await h.mount("v", ID1)
    await h.mount("v", ID2)
    assert h.driver.volumes()["v"].mounts == {ID1: 1, ID2: 1}
    await h.unmount("v", ID2)
    assert h.driver.volumes()["v"].mounts == {ID1: 1}
    assert h.driver.mount_count("v") == 1


async def test_unmount_is_strict_about_ids(h: Harness) -> None:
    await h.create("v")
    error = await h.fails("Unmount", {"Name": "v", "ID": ID1})
    assert error.status == 500
    assert str(error) == f"VolumeDriver.Unmount: volume v is not mounted with ID {ID1}"
    await h.mount("v", ID1)
    error = await h.fails("Unmount", {"Name": "v", "ID": ID2})
    assert str(error) == f"VolumeDriver.Unmount: volume v is not mounted with ID {ID2}"
    assert h.driver.volumes()["v"].mounts == {ID1: 1}


async def test_concurrent_mounts_and_unmounts_are_all_counted(h: Harness) -> None:
    await h.create("v")
    ids = [f"{i:064x}" for i in range(25)]
    async with trio.open_nursery() as nursery:
        for mount_id in ids:
            nursery.start_soon(h.mount, "v", mount_id)
    assert h.driver.mount_count("v") == 25
    async with trio.open_nursery() as nursery:
        for mount_id in ids:
            nursery.start_soon(h.unmount, "v", mount_id)
    assert h.driver.mount_count("v") == 0


# --------------------------------------------------------------------------- Remove


async def test_remove_deletes_the_volume(h: Harness) -> None:
    await h.create("v", {"size": "1G"})
    directory = h.driver.root / "volumes/v"
    (directory / "data/file").write_text("x")
    assert await h.call("Remove", {"Name": "v"}) == {}
    assert not directory.exists()
    assert h.driver.volumes() == {}
    assert str(await h.fails("Get", {"Name": "v"})) == "VolumeDriver.Get: no such volume"
    assert str(await h.fails("Remove", {"Name": "v"})) == "VolumeDriver.Remove: no such volume"
    await h.create("v")  # the name can be used again, without the old options
    assert h.driver.volumes()["v"].options == {}


async def test_remove_is_refused_while_mounted(h: Harness) -> None:
    await h.create("v")
    await h.mount("v")
    error = await h.fails("Remove", {"Name": "v"})
    assert error.status == 500
    assert str(error) == "VolumeDriver.Remove: volume v is in use"
    assert h.driver.volumes()["v"].path.is_dir()
    await h.unmount("v")
    assert await h.call("Remove", {"Name": "v"}) == {}


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("Remove", {"Name": "ghost"}),
        ("Mount", {"Name": "ghost", "ID": ID1}),
        ("Unmount", {"Name": "ghost", "ID": ID1}),
        ("Path", {"Name": "ghost"}),
        ("Get", {"Name": "ghost"}),
    ],
)
async def test_unknown_volumes_are_refused(h: Harness, method: str, args: dict[str, str]) -> None:
    error = await h.fails(method, args)
    assert error.status == 500
    assert str(error) == f"VolumeDriver.{method}: no such volume"


# --------------------------------------------------------------------------- List / Capabilities


async def test_list_is_sorted_and_shows_mountpoints_of_mounted_volumes(h: Harness) -> None:
    assert await h.call("List", {}) == {"Volumes": []}
    for name in ("b", "c", "a"):
        await h.create(name)
    mountpoint = await h.mount("b")
    assert await h.call("List", {}) == {
        "Volumes": [{"Name": "a"}, {"Name": "b", "Mountpoint": mountpoint}, {"Name": "c"}]
    }


async def test_list_and_capabilities_ignore_their_body(h: Harness) -> None:
    await h.create("v")
    answer = await h.raw("VolumeDriver.List", b"not json")
    assert (answer.status, answer.body) == (200, b'{"Volumes":[{"Name":"v"}]}\n')
    answer = await h.raw("VolumeDriver.Capabilities", b"")
    assert (answer.status, answer.body) == (200, b'{"Capabilities":{"Scope":"local"}}\n')


async def test_capabilities_report_the_configured_scope(short_tmp: Path) -> None:
    driver = MockVolumePlugin(short_tmp / "state", name="globalvol", scope="global")
    async with serving(driver, short_tmp) as h:
        reply = await h.call("Capabilities", {})
    assert reply == {"Capabilities": {"Scope": "global"}}


# --------------------------------------------------------------------------- fail options


async def test_fail_mount(h: Harness) -> None:
    await h.create("v", {"fail": "mount"})
    error = await h.fails("Mount", {"Name": "v", "ID": ID1})
    assert error.status == 500
    assert str(error) == "VolumeDriver.Mount: mount refused by option fail=mount"
    assert h.driver.mount_count("v") == 0
    assert await h.call("Remove", {"Name": "v"}) == {}


async def test_fail_unmount_keeps_the_mount(h: Harness) -> None:
    await h.create("v", {"fail": "unmount"})
    await h.mount("v")
    error = await h.fails("Unmount", {"Name": "v", "ID": ID1})
    assert str(error) == "VolumeDriver.Unmount: unmount refused by option fail=unmount"
    assert h.driver.volumes()["v"].mounts == {ID1: 1}


async def test_fail_remove_keeps_the_volume(h: Harness) -> None:
    await h.create("v", {"fail": "remove"})
    error = await h.fails("Remove", {"Name": "v"})
    assert str(error) == "VolumeDriver.Remove: remove refused by option fail=remove"
    assert h.driver.volumes()["v"].path.is_dir()
    await h.mount("v")
    await h.unmount("v")


async def test_fail_can_name_several_operations(h: Harness) -> None:
    await h.create("v", {"fail": "mount,remove"})
    error = await h.fails("Mount", {"Name": "v", "ID": ID1})
    assert str(error) == "VolumeDriver.Mount: mount refused by option fail=mount,remove"
    error = await h.fails("Remove", {"Name": "v"})
    assert str(error) == "VolumeDriver.Remove: remove refused by option fail=mount,remove"


# --------------------------------------------------------------------------- undecodable bodies


@pytest.mark.parametrize("method", ["Create", "Remove", "Mount", "Unmount", "Path", "Get"])
@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"", "EOF"),
        (b"  \n", "EOF"),
        (b'{"Name":', "unexpected EOF"),
        (b"xyz", "invalid character 'x' looking for beginning of value"),
        (b"[]", "json: cannot unmarshal array into Go value of type volume.{req}"),
        (
            b'{"Name":5}',
            "json: cannot unmarshal number into Go struct field {req}.Name of type string",
        ),
    ],
)
async def test_bodies_that_do_not_decode_get_400_like_go_http_error(
    h: Harness, method: str, body: bytes, text: str
) -> None:
    await h.create("v")
    answer = await h.raw(f"VolumeDriver.{method}", body)
    assert answer.status == 400
    assert answer.header("content-type") == "text/plain; charset=utf-8"
    assert answer.header("x-content-type-options") == "nosniff"
    assert answer.body == (text.format(req=f"{method}Request") + "\n").encode()
    assert h.driver.volumes()["v"].mounts == {}


async def test_an_empty_body_through_the_engine(h: Harness) -> None:
    """dockerd sends an empty body for nil args; the SDK's decoder reports EOF."""
    error = await h.fails("Get", None)
    assert error.status == 400
    assert error.detail == "EOF\n"  # not JSON, so dockerd keeps the body as it is
    assert str(error) == "VolumeDriver.Get: EOF\n"


async def test_null_body_decodes_to_an_empty_name(h: Harness) -> None:
    answer = await h.raw("VolumeDriver.Create", b"null")
    assert answer.status == 500
    assert json.loads(answer.body)["Err"].startswith('invalid volume name ""')


# --------------------------------------------------------------------------- persistence


async def test_a_new_instance_over_the_same_root_rediscovers_volumes(short_tmp: Path) -> None:
    state_dir = short_tmp / "state"
    first = MockVolumePlugin(state_dir)
    async with serving(first, short_tmp) as h:
        await h.create("keep", {"size": "5G", "fail": "remove"})
        await h.create("plain")
        await h.create("gone")
        mountpoint = await h.mount("keep")
        Path(mountpoint, "data.txt").write_text("persisted")
        assert await h.call("Remove", {"Name": "gone"}) == {}
        created = h.driver.volumes()

    second = MockVolumePlugin(state_dir)
    found = second.volumes()
    assert list(found) == ["keep", "plain"]
    assert found["keep"] == attrs.evolve(created["keep"], mounts={})  # mounts are not persisted
    assert found["plain"] == created["plain"]
    assert (found["keep"].path / "data.txt").read_text() == "persisted"

    async with serving(second, short_tmp) as h:
        assert await h.call("List", {}) == {"Volumes": [{"Name": "keep"}, {"Name": "plain"}]}
        volume = (await h.call("Get", {"Name": "keep"}))["Volume"]
        assert volume["Status"] == {"mounts": 0, "options": {"fail": "remove", "size": "5G"}}
        error = await h.fails("Remove", {"Name": "keep"})
        assert str(error) == "VolumeDriver.Remove: remove refused by option fail=remove"


async def test_a_bare_volume_directory_is_discovered(short_tmp: Path) -> None:
    (short_tmp / "state/volumes/bare/data").mkdir(parents=True)
    (short_tmp / "state/volumes/broken/data").mkdir(parents=True)
    (short_tmp / "state/volumes/broken/meta.json").write_text('{"Opts": {"a": "b"}}')
    (short_tmp / "state/volumes/not-a-dir").write_text("")
    driver = MockVolumePlugin(short_tmp / "state")
    state = driver.volumes()
    assert list(state) == ["bare", "broken"]
    assert state["broken"].options == {}  # unusable metadata is ignored as a whole
    assert state["bare"].options == {}
    assert state["bare"].created_at.tzinfo == dt.UTC
    assert state["bare"].created_at.microsecond == 0


def test_the_constructor_creates_the_state_directory(short_tmp: Path) -> None:
    driver = MockVolumePlugin(short_tmp / "deep/state")
    assert (short_tmp / "deep/state/volumes").is_dir()
    assert driver.volumes() == {}


# --------------------------------------------------------------------------- introspection


async def test_snapshots_are_copies(h: Harness) -> None:
    await h.create("v", {"size": "1G"})
    await h.mount("v")
    snapshot = h.driver.volumes()["v"]
    assert isinstance(snapshot, VolumeState)
    assert snapshot.mount_count == 1
    snapshot.options["size"] = "2G"
    snapshot.mounts.clear()
    again = h.driver.volumes()["v"]
    assert again.options == {"size": "1G"}
    assert again.mounts == {ID1: 1}


def test_mount_count_of_an_unknown_volume_raises(short_tmp: Path) -> None:
    with pytest.raises(KeyError):
        MockVolumePlugin(short_tmp).mount_count("ghost")


async def test_the_underlying_mock_records_and_can_be_overridden(h: Harness) -> None:
    await h.create("v")
    h.driver.plugin.on("VolumeDriver.Mount", Reply(status=500, body={"Err": "scripted"}))
    error = await h.fails("Mount", {"Name": "v", "ID": ID1})
    assert str(error) == "VolumeDriver.Mount: scripted"
    assert h.driver.mount_count("v") == 0
    calls = h.driver.plugin.calls("VolumeDriver.Mount")
    assert [c.json() for c in calls] == [{"Name": "v", "ID": ID1}]
    assert h.driver.plugin.count("VolumeDriver.Create") == 1
    assert repr(h.driver).startswith("<MockVolumePlugin 'mockvol' root=")
