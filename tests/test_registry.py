"""The plugin registry: enumeration, address errors, journal, and what the engine leaves behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from emulator import open_engine
from emulator.engine.core import Engine
from emulator.errors import PluginDeadlineError, PluginLookupError, PluginStatusError
from emulator.mocks import MockPlugin, Reply
from tests.netutil import blackholed_port
from tests.rawplugin import RawPlugin, Respond
from tests.test_plugin_client import sock_path


@pytest.fixture
async def engine(short_tmp: Path) -> AsyncIterator[Engine]:
    async with open_engine(root=short_tmp) as eng:
        yield eng


def write_spec(root: Path, name: str, content: str, ext: str = ".spec") -> Path:
    path = root / "etc/docker/plugins" / f"{name}{ext}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


async def test_get_all_activates_every_plugin_whatever_it_implements(
    short_tmp: Path, engine: Engine
) -> None:
    vol = MockPlugin(("VolumeDriver",), name="vol")
    net = MockPlugin(("NetworkDriver",), name="net")
    write_spec(short_tmp, "broken", "no-scheme")
    async with trio.open_nursery() as nursery:
        await nursery.start(vol.serve, f"unix:{sock_path(short_tmp, 'vol')}")
        await nursery.start(net.serve, f"unix:{sock_path(short_tmp, 'net')}")
        found = await engine.plugins.get_all("VolumeDriver")
        nursery.cancel_scope.cancel()
    assert [p.name for p in found] == ["vol"]
    assert vol.count("Plugin.Activate") == 1
    assert net.count("Plugin.Activate") == 1  # activated although it is no volume driver


async def test_get_all_does_not_retry_lookups_and_keeps_duplicates(
    short_tmp: Path, engine: Engine, autojump_clock: trio.testing.MockClock
) -> None:
    vol = MockPlugin(("VolumeDriver",), name="twice")
    async with trio.open_nursery() as nursery:
        address = await nursery.start(vol.serve, f"unix:{sock_path(short_tmp, 'twice')}")
        write_spec(short_tmp, "twice", address)  # the same name as socket and as spec
        start = trio.current_time()
        found = await engine.plugins.get_all("VolumeDriver")
        assert trio.current_time() == start
        nursery.cancel_scope.cancel()
    assert [p.name for p in found] == ["twice", "twice"]
    assert vol.count("Plugin.Activate") == 1


async def test_get_all_uses_cached_plugins_without_new_activation(
    short_tmp: Path, engine: Engine
) -> None:
    vol = MockPlugin(("VolumeDriver",))
    async with trio.open_nursery() as nursery:
        await nursery.start(vol.serve, f"unix:{sock_path(short_tmp, 'c')}")
        await engine.plugins.get("c", "VolumeDriver")
        await engine.plugins.get_all("VolumeDriver")
        await engine.plugins.get_all("VolumeDriver")
        nursery.cancel_scope.cancel()
    assert vol.count("Plugin.Activate") == 1


@pytest.mark.parametrize(
    ("address", "text"),
    [
        (
            "unix:///" + "d" * 120 + ".sock",
            'unix socket path "/' + "d" * 120 + '.sock" is too long',
        ),
        ("npipe:////./pipe/x", "protocol not available"),
    ],
)
async def test_unusable_addresses_fail_at_activation(
    short_tmp: Path, engine: Engine, address: str, text: str
) -> None:
    write_spec(short_tmp, "odd", address)
    with pytest.raises(PluginLookupError) as info:
        await engine.plugins.get("odd", "VolumeDriver")
    assert str(info.value) == f"legacy plugin: {text}"
    assert "fix the address" in info.value.hint


async def test_broken_spec_is_retried_then_reported_as_legacy_error(
    short_tmp: Path, engine: Engine, autojump_clock: trio.testing.MockClock
) -> None:
    write_spec(short_tmp, "bad", "/no/scheme.sock")
    start = trio.current_time()
    with pytest.raises(PluginLookupError) as info:
        await engine.plugins.get("bad", "VolumeDriver")
    assert trio.current_time() - start == pytest.approx(15)
    assert str(info.value) == "legacy plugin: Unknown protocol"
    assert info.value.http_status == 500


async def test_spec_fixed_during_the_retry_is_used(
    short_tmp: Path, engine: Engine, autojump_clock: trio.testing.MockClock
) -> None:
    plugin = MockPlugin(("VolumeDriver",))
    spec = write_spec(short_tmp, "fixme", "garbage")

    async def fix(nursery: trio.Nursery) -> None:
        await trio.sleep(2)
        address = await nursery.start(plugin.serve, f"unix:{short_tmp / 'p.sock'}")
        spec.write_text(address)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fix, nursery)
        await engine.plugins.get("fixme", "VolumeDriver")
        nursery.cancel_scope.cancel()
    assert plugin.count("Plugin.Activate") == 1


async def test_json_spec_plugin_over_tcp(short_tmp: Path, engine: Engine) -> None:
    plugin = MockPlugin(("VolumeDriver",), {"VolumeDriver.List": {"Volumes": [{"Name": "a"}]}})
    async with trio.open_nursery() as nursery:
        address = await nursery.start(plugin.serve, "tcp:127.0.0.1:0")
        write_spec(short_tmp, "js", f'{{"Name":"other","addr":"{address}"}}', ext=".json")
        reply = await engine.plugins.call("js", "VolumeDriver.List", {})
        nursery.cancel_scope.cancel()
    assert reply == {"Volumes": [{"Name": "a"}]}
    hostport = address.removeprefix("tcp://")
    assert plugin.calls("VolumeDriver.List")[0].header("host") == hostport


async def test_journal_records_every_attempt_with_its_outcome(
    short_tmp: Path, engine: Engine, autojump_clock: trio.testing.MockClock
) -> None:
    plugin = MockPlugin(
        ("VolumeDriver",),
        {
            "VolumeDriver.Mount": Reply(body={"Mountpoint": "/m"}, delay=3),
            "VolumeDriver.Remove": Reply(status=500, body={"Err": "busy"}),
        },
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.serve, f"unix:{sock_path(short_tmp, 'j')}")
        await engine.plugins.call("j", "VolumeDriver.Mount", {"Name": "v", "ID": "1" * 64})
        with pytest.raises(PluginStatusError):
            await engine.plugins.call("j", "VolumeDriver.Remove", {"Name": "v"})
        nursery.cancel_scope.cancel()
    activate, mount, remove = engine.journal.entries
    assert (activate.method, activate.status, activate.request_body) == (
        "Plugin.Activate",
        200,
        b"",
    )
    assert mount.request == {"Name": "v", "ID": "1" * 64}
    assert mount.response == {"Mountpoint": "/m"}
    assert mount.duration == pytest.approx(3)
    assert mount.plugin == "j"
    assert mount.address == f"unix://{sock_path(short_tmp, 'j')}"
    assert (remove.status, remove.error, remove.ok) == (500, None, False)
    assert [e.seq for e in engine.journal] == [0, 1, 2]
    assert len({e.call_id for e in engine.journal}) == 3


async def test_tcp_dial_timeout_is_32s_in_profile_24(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    with blackholed_port() as port:
        write_spec(short_tmp, "bh", f"tcp://127.0.0.1:{port}")
        async with open_engine(root=short_tmp, profile="24") as engine:
            start = trio.current_time()
            with pytest.raises(PluginLookupError):
                await engine.plugins.get("bh", "VolumeDriver")
            starts = [round(a.started - start) for a in engine.journal.calls("Plugin.Activate")]
            elapsed = trio.current_time() - start
    # One 32 s dial, then 1 s backoff + 32 s elapsed >= 30 s: v24 never dials twice
    # (v25+ dials at 0, 11 and 23 s, see test_plugin_client).
    assert starts == [0]
    assert elapsed == pytest.approx(32)


async def test_closing_the_engine_closes_its_connections(short_tmp: Path) -> None:
    closed = trio.Event()
    plugin = RawPlugin(lambda r: Respond(body=b'{"Implements":["VolumeDriver"]}'))
    original = plugin._handle

    async def watched(stream: trio.SocketStream, number: int) -> None:
        await original(stream, number)
        closed.set()

    plugin._handle = watched  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.serve, sock_path(short_tmp, "bye"))
        async with open_engine(root=short_tmp) as engine:
            await engine.plugins.get("bye", "VolumeDriver")
            assert not closed.is_set()
        with trio.fail_after(5):
            await closed.wait()  # the server saw EOF: the keep-alive connection was closed
        nursery.cancel_scope.cancel()


async def test_a_frozen_mock_plugin_holds_requests_until_thawed(
    short_tmp: Path, engine: Engine, autojump_clock: trio.testing.MockClock
) -> None:
    plugin = MockPlugin(("VolumeDriver",), {"VolumeDriver.List": {"Volumes": []}})
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.serve, f"unix:{sock_path(short_tmp, 'fz')}")
        await engine.plugins.get("fz", "VolumeDriver")
        plugin.freeze()
        with pytest.raises(PluginDeadlineError):
            await engine.plugins.call("fz", "VolumeDriver.List", {})
        assert plugin.count("VolumeDriver.List") == 1  # received, never answered
        plugin.thaw()
        assert await engine.plugins.call("fz", "VolumeDriver.List", {}) == {"Volumes": []}
        nursery.cancel_scope.cancel()
