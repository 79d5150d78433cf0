"""A name the scan reports more than once is resolved once (moby/moby pkg/plugins, v28.5.2).

``LocalRegistry.Scan`` (pkg/plugins/discovery.go) lists a name once per place it is
advertised: a socket and a spec file, ``NAME.sock`` and ``NAME/NAME.sock``, a ``.spec``
and a ``.json``, the same name in ``/etc`` and ``/usr/lib``.  ``GetAll``
(pkg/plugins/plugins.go) resolves every listed name through ``Plugin(name)``, whose
precedence picks one candidate, and through the shared ``storage`` cache, so the name
is activated once and answers once; a plugin another lookup is still activating is
waited for (``waitActive``), never reported half-done.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from emulator import open_engine
from emulator.engine.core import Engine
from emulator.mocks import MockPlugin, Reply


@pytest.fixture
async def engine(short_tmp: Path) -> AsyncIterator[Engine]:
    async with open_engine(root=short_tmp) as eng:
        yield eng


def spec_file(root: Path, relative: str, content: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


def stale_socket(path: Path) -> None:
    """A socket file nobody listens on (a plugin that died without cleaning up)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()


SOCKETS = "run/docker/plugins"
ETC = "etc/docker/plugins"
USR = "usr/lib/docker/plugins"


async def serve(nursery: trio.Nursery, plugin: MockPlugin, path: Path) -> str:
    address: str = await nursery.start(plugin.serve, f"unix:{path}")
    return address


@pytest.mark.parametrize(
    "layout",
    ["socket+spec", "sock+dir-sock", "spec+json", "etc+usr", "dir-spec+json"],
)
async def test_a_name_scanned_twice_is_activated_once_and_answers_once(
    short_tmp: Path, engine: Engine, layout: str
) -> None:
    winner = MockPlugin(("VolumeDriver",), name="winner")
    loser = MockPlugin(("NetworkDriver",), name="loser")
    async with trio.open_nursery() as nursery:
        first = await serve(nursery, winner, short_tmp / "p1.sock")
        second = await serve(nursery, loser, short_tmp / "p2.sock")
        if layout == "socket+spec":
            await serve(nursery, winner, short_tmp / SOCKETS / "x.sock")
            spec_file(short_tmp, f"{ETC}/x.spec", second)
        elif layout == "sock+dir-sock":
            await serve(nursery, winner, short_tmp / SOCKETS / "x.sock")
            await serve(nursery, loser, short_tmp / SOCKETS / "x/x.sock")
        elif layout == "spec+json":
            spec_file(short_tmp, f"{ETC}/x.spec", first)
            spec_file(short_tmp, f"{ETC}/x.json", json.dumps({"Addr": second}))
        elif layout == "etc+usr":
            spec_file(short_tmp, f"{ETC}/x.spec", first)
            spec_file(short_tmp, f"{USR}/x.spec", second)
        else:
            spec_file(short_tmp, f"{ETC}/x/x.spec", first)
            spec_file(short_tmp, f"{ETC}/x.json", json.dumps({"Addr": second}))
        assert engine.plugins.discovery.scan() == ["x", "x"]
        volume = await engine.plugins.get_all("VolumeDriver")
        network = await engine.plugins.get_all("NetworkDriver")
        reports = await engine.plugins.survey()
        nursery.cancel_scope.cancel()
    assert [p.name for p in volume] == ["x", "x"]
    assert volume[0] is volume[1]  # one cached plugin, listed once per scanned name
    assert network == []  # the shadowed candidate is never asked
    assert winner.count("Plugin.Activate") == 1
    assert loser.count("Plugin.Activate") == 0
    assert [(r.name, r.implements, r.error) for r in reports] == [("x", ("VolumeDriver",), None)]


async def test_a_listing_waits_for_the_activation_a_lookup_started(
    short_tmp: Path, engine: Engine, autojump_clock: trio.testing.MockClock
) -> None:
    plugin = MockPlugin(
        ("VolumeDriver",),
        {"Plugin.Activate": Reply(body={"Implements": ["VolumeDriver"]}, delay=5)},
    )
    listed: list[list[str]] = []
    async with trio.open_nursery() as nursery:
        await serve(nursery, plugin, short_tmp / SOCKETS / "slow.sock")
        nursery.start_soon(engine.plugins.get, "slow", "VolumeDriver")
        await trio.sleep(1)  # the lookup's Activate is on its way

        async def listing() -> None:
            listed.append([p.name for p in await engine.plugins.get_all("VolumeDriver")])

        async def surveying() -> None:
            reports = await engine.plugins.survey()
            listed.append([f"{r.name}:{r.implements}:{r.error}" for r in reports])

        nursery.start_soon(listing)
        nursery.start_soon(surveying)
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    assert sorted(listed) == [["slow"], ["slow:('VolumeDriver',):None"]]
    assert plugin.count("Plugin.Activate") == 1


async def test_a_failing_name_scanned_twice_is_one_report_with_dockerds_two_attempts(
    short_tmp: Path, engine: Engine
) -> None:
    """dockerd's ``activate`` retries under its lock when the last attempt failed, so the
    second goroutine of a twice-scanned name tries again: two attempts, one report."""
    plugin = MockPlugin(
        ("VolumeDriver",), {"Plugin.Activate": Reply(status=500, body={"Err": "not today"})}
    )
    async with trio.open_nursery() as nursery:
        address = await serve(nursery, plugin, short_tmp / SOCKETS / "x.sock")
        spec_file(short_tmp, f"{ETC}/x.spec", address)
        reports = await engine.plugins.survey()
        nursery.cancel_scope.cancel()
    assert [(r.name, r.implements, r.error) for r in reports] == [
        ("x", None, "Plugin.Activate: not today")
    ]
    assert plugin.count("Plugin.Activate") == 2
    assert engine.plugins.cached() == []


async def test_a_failing_lookup_scanned_twice_is_one_report(
    short_tmp: Path, engine: Engine, autojump_clock: trio.testing.MockClock
) -> None:
    stale_socket(short_tmp / SOCKETS / "gone.sock")
    spec_file(short_tmp, f"{ETC}/gone.spec", "no-scheme")
    spec_file(short_tmp, f"{ETC}/gone.json", "{}")
    # The socket wins the lookup: no spec file is read.
    reports = await engine.plugins.survey()
    assert len(reports) == 1
    assert reports[0].source == short_tmp / SOCKETS / "gone.sock"
    assert reports[0].error is not None
    assert reports[0].error.endswith("gone.sock: connect: connection refused")
