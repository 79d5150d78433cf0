"""dockerd's plugin client, byte for byte, against real unix and TCP sockets.

Each group of tests names the dockerd rule it guards and where moby v28.5.2 has it
(``pkg/plugins/client.go``, ``pkg/plugins/plugins.go``, ``pkg/plugins/transport``,
``volume/drivers/proxy.go``).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import cast

import attrs
import pytest
import trio
import trio.testing

from emulator import open_engine
from emulator.engine.core import Engine
from emulator.errors import (
    PluginDeadlineError,
    PluginHangError,
    PluginLookupError,
    PluginResponseError,
    PluginStatusError,
    PluginTransportError,
)
from emulator.protocol.profiles import PROFILES
from tests.netutil import blackholed_port
from tests.rawplugin import Action, Close, Hang, Raw, RawPlugin, RawRequest, Reset, Respond

ACTIVATE_OK = Respond(body=b'{"Implements": ["VolumeDriver"]}\n')


def sock_path(root: Path, name: str) -> Path:
    return root / "run/docker/plugins" / f"{name}.sock"


def script(
    table: dict[str, Callable[[RawRequest], object] | object],
) -> Callable[[RawRequest], Action]:
    """A raw plugin script from a path → action (or callable) table; Activate answers by default."""

    def run(req: RawRequest) -> Action:
        action = table.get(req.path, ACTIVATE_OK if req.path == "/Plugin.Activate" else Respond())
        return cast(Action, action(req) if callable(action) else action)

    return run


@pytest.fixture
async def engine(short_tmp: Path) -> AsyncIterator[Engine]:
    async with open_engine(root=short_tmp) as eng:
        yield eng


async def serve_raw(nursery: trio.Nursery, plugin: RawPlugin, bind: Path | tuple[str, int]) -> str:
    address: str = await nursery.start(plugin.serve, bind)
    return address


# -- the exact request bytes (pkg/plugins/client.go, transport/http.go) ----------------------------


async def test_activate_sends_exactly_dockerds_bytes(short_tmp: Path, engine: Engine) -> None:
    plugin = RawPlugin()
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "rec"))
        await engine.plugins.get("rec", "VolumeDriver")
        nursery.cancel_scope.cancel()
    assert plugin.requests[0].raw == (
        b"POST /Plugin.Activate HTTP/1.1\r\n"
        b"Host: plugin.moby.localhost\r\n"
        b"User-Agent: Go-http-client/1.1\r\n"
        b"Content-Length: 0\r\n"
        b"Accept: application/vnd.docker.plugins.v1.2+json\r\n"
        b"\r\n"
    )


async def test_call_sends_compact_go_json_with_newline(short_tmp: Path, engine: Engine) -> None:
    plugin = RawPlugin()
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "rec"))
        await engine.plugins.call("rec", "VolumeDriver.Create", {"Opts": None, "Name": "v<&>"})
        await engine.plugins.call("rec", "VolumeDriver.List", {})
        nursery.cancel_scope.cancel()
    create, listing = plugin.requests[1], plugin.requests[2]
    body = b'{"Name":"v\\u003c\\u0026\\u003e","Opts":null}\n'
    assert create.raw == (
        b"POST /VolumeDriver.Create HTTP/1.1\r\n"
        b"Host: plugin.moby.localhost\r\n"
        b"User-Agent: Go-http-client/1.1\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        b"Accept: application/vnd.docker.plugins.v1.2+json\r\n"
        b"\r\n" + body
    )
    assert listing.body == b"{}\n"
    assert all(b"content-type" not in k.lower() for r in plugin.requests for k, _ in r.headers)


async def test_tcp_plugin_gets_host_port_and_gzip(short_tmp: Path, engine: Engine) -> None:
    compressed = gzip.compress(b'{"Implements":["VolumeDriver"]}')
    plugin = RawPlugin(
        script(
            {"/Plugin.Activate": Respond(body=compressed, headers=(("Content-Encoding", "gzip"),))}
        )
    )
    async with trio.open_nursery() as nursery:
        address = await serve_raw(nursery, plugin, ("127.0.0.1", 0))
        spec = short_tmp / "etc/docker/plugins/tcpp.spec"
        spec.parent.mkdir(parents=True)
        spec.write_text(address + "/ignored/path\n")
        found = await engine.plugins.get("tcpp", "VolumeDriver")
        nursery.cancel_scope.cancel()
    hostport = address.removeprefix("tcp://")
    assert found.implements == ("VolumeDriver",)
    assert plugin.requests[0].raw.startswith(
        b"POST /Plugin.Activate HTTP/1.1\r\nHost: " + hostport.encode() + b"\r\n"
    )
    assert (b"Accept-Encoding", b"gzip") in plugin.requests[0].headers


# -- Implements matching and the activation cache (pkg/plugins/plugins.go) -------------------------


async def test_implements_is_matched_exactly(short_tmp: Path, engine: Engine) -> None:
    plugin = RawPlugin(
        script({"/Plugin.Activate": Respond(body=b'{"Implements":["volumedriver"]}')})
    )
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "lc"))
        with pytest.raises(PluginLookupError) as info:
            await engine.plugins.get("lc", "VolumeDriver")
        nursery.cancel_scope.cancel()
    assert str(info.value) == (
        "legacy plugin: Plugin does not implement the requested driver: "
        'plugin="lc", requested implementation="VolumeDriver"'
    )


async def test_implements_decoded_case_insensitively(short_tmp: Path, engine: Engine) -> None:
    plugin = RawPlugin(
        script({"/Plugin.Activate": Respond(body=b'{"implements":["VolumeDriver"]} trailing')})
    )
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "ci"))
        found = await engine.plugins.get("ci", "VolumeDriver")
        nursery.cancel_scope.cancel()
    assert found.implements == ("VolumeDriver",)


async def test_successful_activation_is_cached_for_the_engines_life(
    short_tmp: Path, engine: Engine
) -> None:
    first = RawPlugin(
        script({"/Plugin.Activate": Respond(body=b'{"Implements":["NetworkDriver"]}')})
    )
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, first, sock_path(short_tmp, "once"))
        with pytest.raises(PluginLookupError, match="does not implement"):
            await engine.plugins.get("once", "VolumeDriver")
        nursery.cancel_scope.cancel()
    # The plugin comes back implementing VolumeDriver: dockerd keeps the old manifest.
    second = RawPlugin()
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, second, sock_path(short_tmp, "once"))
        with pytest.raises(PluginLookupError, match="does not implement"):
            await engine.plugins.get("once", "VolumeDriver")
        await engine.plugins.get("once", "NetworkDriver")
        nursery.cancel_scope.cancel()
    assert second.paths() == []
    assert engine.journal.count("Plugin.Activate") == 1


async def test_failed_activation_is_not_cached(short_tmp: Path, engine: Engine) -> None:
    answers = iter([Respond(status=500, body=b'{"Err":"not ready"}'), ACTIVATE_OK])
    plugin = RawPlugin(script({"/Plugin.Activate": lambda _r: next(answers)}))
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "flaky"))
        with pytest.raises(PluginLookupError) as info:
            await engine.plugins.get("flaky", "VolumeDriver")
        assert str(info.value) == "legacy plugin: Plugin.Activate: not ready"
        assert info.value.http_status == 500
        await engine.plugins.get("flaky", "VolumeDriver")
        nursery.cancel_scope.cancel()
    assert plugin.paths() == ["/Plugin.Activate", "/Plugin.Activate"]


async def test_concurrent_lookups_share_one_activation(short_tmp: Path, engine: Engine) -> None:
    plugin = RawPlugin()
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "shared"))
        async with trio.open_nursery() as inner:
            for _ in range(5):
                inner.start_soon(engine.plugins.get, "shared", "VolumeDriver")
        nursery.cancel_scope.cancel()
    assert plugin.paths() == ["/Plugin.Activate"]


async def test_empty_name_is_refused(engine: Engine) -> None:
    with pytest.raises(PluginLookupError) as info:
        await engine.plugins.get("", "VolumeDriver")
    assert str(info.value) == "legacy plugin: Unable to find plugin without name"


# -- lookup retry and connect retry on trio's clock (plugins.go loadWithRetry, client.go) ----------


async def test_socket_appearing_late_is_found(
    short_tmp: Path, engine: Engine, autojump_clock: trio.testing.MockClock
) -> None:
    plugin = RawPlugin()
    start = trio.current_time()

    async def appear_later(nursery: trio.Nursery) -> None:
        await trio.sleep(5)
        await nursery.start(plugin.serve, sock_path(short_tmp, "late"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(appear_later, nursery)
        found = await engine.plugins.get("late", "VolumeDriver")
        nursery.cancel_scope.cancel()
    assert found.activated
    # Lookups at 0, 1, 3, 7 s: the socket exists from 5 s, so the 7 s lookup finds it.
    assert engine.journal.calls("Plugin.Activate")[0].started - start == pytest.approx(7)


async def test_socket_never_appearing_fails_after_15s(
    engine: Engine, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    start = trio.current_time()
    with pytest.raises(PluginLookupError) as info:
        await engine.plugins.get("ghost", "VolumeDriver")
    assert trio.current_time() - start == pytest.approx(15)
    assert str(info.value) == 'plugin "ghost" not found'
    assert info.value.http_status == 404
    assert str(info.value.cause) == (
        "could not find plugin ghost in v1 plugin registry: plugin not found"
    )
    warnings = [r.getMessage() for r in caplog.records if "Unable to locate" in r.getMessage()]
    assert warnings == [f"Unable to locate plugin: ghost, retrying in {n}s" for n in (1, 2, 4, 8)]


@pytest.mark.parametrize(("profile", "budget"), [("28", 2), ("25", 2), ("24", 15)])
async def test_dockerds_test_plugin_name_has_a_short_budget(
    short_tmp: Path, autojump_clock: trio.testing.MockClock, profile: str, budget: int
) -> None:
    async with open_engine(root=short_tmp, profile=profile) as engine:
        start = trio.current_time()
        with pytest.raises(PluginLookupError, match="not found"):
            await engine.plugins.get("this-plugin-does-not-exist", "VolumeDriver")
        # 2 s budget: attempts at 0 and 1 s, then 1 + 2 >= 2 gives up at 1 s.
        assert trio.current_time() - start == pytest.approx(1 if budget == 2 else 15)


async def test_connect_retry_schedule_and_final_error(
    short_tmp: Path, engine: Engine, autojump_clock: trio.testing.MockClock
) -> None:
    spec = short_tmp / "etc/docker/plugins/dead.spec"
    spec.parent.mkdir(parents=True)
    missing = short_tmp / "nowhere.sock"
    spec.write_text(f"unix://{missing}")
    start = trio.current_time()
    with pytest.raises(PluginLookupError) as info:
        await engine.plugins.get("dead", "VolumeDriver")
    attempts = engine.journal.calls("Plugin.Activate")
    assert [round(a.started - start, 3) for a in attempts] == [0, 1, 3, 7, 15]
    assert [a.attempt for a in attempts] == [1, 2, 3, 4, 5]
    assert len({a.call_id for a in attempts}) == 1
    assert str(info.value) == (
        'legacy plugin: Post "http://plugin.moby.localhost/Plugin.Activate": '
        f"dial unix {missing}: connect: no such file or directory"
    )


async def test_connection_refused_is_retried_until_the_plugin_listens(
    short_tmp: Path, engine: Engine, autojump_clock: trio.testing.MockClock
) -> None:
    path = sock_path(short_tmp, "slow")
    path.parent.mkdir(parents=True)
    # A stale socket file with no listener: ECONNREFUSED, like a crashed plugin.
    import socket as stdsocket

    stale = stdsocket.socket(stdsocket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    plugin = RawPlugin()

    async def come_up(nursery: trio.Nursery) -> None:
        await trio.sleep(4)
        path.unlink()
        await nursery.start(plugin.serve, path)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(come_up, nursery)
        await engine.plugins.get("slow", "VolumeDriver")
        nursery.cancel_scope.cancel()
    attempts = engine.journal.calls("Plugin.Activate")
    assert [a.ok for a in attempts] == [False, False, False, True]
    assert attempts[0].error == (
        'Post "http://plugin.moby.localhost/Plugin.Activate": '
        f"dial unix {path}: connect: connection refused"
    )


async def test_tcp_dial_timeout_schedule(
    engine: Engine, short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    with blackholed_port() as port:
        spec = short_tmp / "etc/docker/plugins/bh.spec"
        spec.parent.mkdir(parents=True)
        spec.write_text(f"tcp://127.0.0.1:{port}")
        start = trio.current_time()
        with pytest.raises(PluginLookupError) as info:
            await engine.plugins.get("bh", "VolumeDriver")
        elapsed = trio.current_time() - start
    starts = [round(a.started - start) for a in engine.journal.calls("Plugin.Activate")]
    assert starts == [0, 11, 23]
    assert elapsed == pytest.approx(33)
    assert str(info.value).endswith(f"dial tcp 127.0.0.1:{port}: i/o timeout")


# -- answers, errors and the empty-body retry quirk (client.go callWithRetry) ----------------------


async def test_retry_after_mid_request_drop_resends_an_empty_body(
    short_tmp: Path, engine: Engine, autojump_clock: trio.testing.MockClock
) -> None:
    seen = iter([Close(), Respond(body=b"{}")])
    plugin = RawPlugin(script({"/VolumeDriver.Create": lambda _r: next(seen)}))
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "drop"))
        await engine.plugins.call("drop", "VolumeDriver.Create", {"Name": "v", "Opts": None})
        nursery.cancel_scope.cancel()
    first, second = plugin.requests[1], plugin.requests[2]
    assert first.body == b'{"Name":"v","Opts":null}\n'
    assert second.body == b""
    assert (b"Content-Length", b"0") in second.headers
    attempts = engine.journal.calls("VolumeDriver.Create")
    assert attempts[0].error == 'Post "http://plugin.moby.localhost/VolumeDriver.Create": EOF'
    assert attempts[1].request_body == b""


async def test_a_profile_without_the_quirk_resends_the_body(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fixed = attrs.evolve(PROFILES["28"], retry_resends_empty_body=False)
    seen = iter([Close(), Respond(body=b"{}")])
    plugin = RawPlugin(script({"/VolumeDriver.Create": lambda _r: next(seen)}))
    async with open_engine(root=short_tmp, profile=fixed) as engine, trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "drop"))
        await engine.plugins.call("drop", "VolumeDriver.Create", {"Name": "v"})
        nursery.cancel_scope.cancel()
    assert plugin.requests[2].body == b'{"Name":"v"}\n'


async def test_reset_before_answer_is_retried_with_gos_text(
    engine: Engine, short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # A TCP reset (SO_LINGER 0): unix sockets have no resets, only EOF.
    seen = iter([Reset(), Respond(body=b'{"Volumes":[]}')])
    plugin = RawPlugin(script({"/VolumeDriver.List": lambda _r: next(seen)}))
    async with trio.open_nursery() as nursery:
        address = await serve_raw(nursery, plugin, ("127.0.0.1", 0))
        spec = short_tmp / "etc/docker/plugins/rst.spec"
        spec.parent.mkdir(parents=True)
        spec.write_text(address)
        reply = await engine.plugins.call("rst", "VolumeDriver.List", {})
        nursery.cancel_scope.cancel()
    assert reply == {"Volumes": []}
    first = engine.journal.calls("VolumeDriver.List")[0]
    hostport = address.removeprefix("tcp://")
    assert first.error is not None
    assert re.fullmatch(
        rf'Post "http://{hostport}/VolumeDriver.List": '
        rf"read tcp 127.0.0.1:\d+->{hostport}: read: connection reset by peer",
        first.error,
    )


async def test_unix_close_before_answer_reads_as_eof(
    short_tmp: Path, engine: Engine, autojump_clock: trio.testing.MockClock
) -> None:
    seen = iter([Reset(), Respond(body=b'{"Volumes":[]}')])
    plugin = RawPlugin(script({"/VolumeDriver.List": lambda _r: next(seen)}))
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "eof"))
        await engine.plugins.call("eof", "VolumeDriver.List", {})
        nursery.cancel_scope.cancel()
    first = engine.journal.calls("VolumeDriver.List")[0]
    assert first.error == 'Post "http://plugin.moby.localhost/VolumeDriver.List": EOF'


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        (Respond(status=500, body=b'{"Err":"backend down"}'), "VolumeDriver.Get: backend down"),
        (
            Respond(status=404, body=b"404 page not found\n"),
            "VolumeDriver.Get: 404 page not found\n",
        ),
        (Respond(status=201, body=b"{}"), "VolumeDriver.Get: {}"),
        (Respond(status=500, body=b'{"Err": 5}'), 'VolumeDriver.Get: {"Err": 5}'),
        (Respond(status=500, body=b'{"err":"lower"}'), "VolumeDriver.Get: lower"),
        (Respond(status=500, body=b'{"Err":"x"} tail'), 'VolumeDriver.Get: {"Err":"x"} tail'),
    ],
)
async def test_non_200_answers_are_errors_never_retried(
    short_tmp: Path, engine: Engine, answer: Respond, text: str
) -> None:
    plugin = RawPlugin(script({"/VolumeDriver.Get": answer}))
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "bad"))
        with pytest.raises(PluginStatusError) as info:
            await engine.plugins.call("bad", "VolumeDriver.Get", {"Name": "v"})
        nursery.cancel_scope.cancel()
    assert str(info.value) == text
    assert info.value.status == answer.status
    assert info.value.not_found is (answer.status == 404)
    assert engine.journal.count("VolumeDriver.Get") == 1


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"", "EOF"),
        (b"   \n", "EOF"),
        (b'{"Volumes": [', "unexpected EOF"),
        (b"hello", "invalid character 'h' looking for beginning of value"),
    ],
)
async def test_undecodable_200_answers_give_gos_decoder_text(
    short_tmp: Path, engine: Engine, body: bytes, text: str
) -> None:
    plugin = RawPlugin(script({"/VolumeDriver.List": Respond(body=body)}))
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "junk"))
        with pytest.raises(PluginResponseError) as info:
            await engine.plugins.call("junk", "VolumeDriver.List", {})
        nursery.cancel_scope.cancel()
    assert str(info.value) == text
    assert engine.journal.count("VolumeDriver.List") == 1


async def test_empty_activate_answer_fails_activation_with_eof(
    short_tmp: Path, engine: Engine
) -> None:
    plugin = RawPlugin(script({"/Plugin.Activate": Respond(body=b"")}))
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "mute"))
        with pytest.raises(PluginLookupError) as info:
            await engine.plugins.get("mute", "VolumeDriver")
        nursery.cancel_scope.cancel()
    assert str(info.value) == "legacy plugin: EOF"


async def test_truncated_body_is_a_body_error_not_retried(short_tmp: Path, engine: Engine) -> None:
    cut = Raw(b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"Volumes":', then_close=True)
    plugin = RawPlugin(script({"/VolumeDriver.List": cut}))
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "cut"))
        with pytest.raises(PluginResponseError) as info:
            await engine.plugins.call("cut", "VolumeDriver.List", {})
        nursery.cancel_scope.cancel()
    assert str(info.value) == "unexpected EOF"
    assert engine.journal.count("VolumeDriver.List") == 1


async def test_garbage_response_head_is_a_transport_error(
    short_tmp: Path, engine: Engine, autojump_clock: trio.testing.MockClock
) -> None:
    plugin = RawPlugin(script({"/VolumeDriver.List": Raw(b"hello\r\n\r\n", then_close=True)}))
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "garb"))
        with pytest.raises(PluginTransportError) as info:
            await engine.plugins.call("garb", "VolumeDriver.List", {})
        nursery.cancel_scope.cancel()
    assert str(info.value) == (
        'Post "http://plugin.moby.localhost/VolumeDriver.List": '
        'net/http: HTTP/1.x transport connection broken: malformed HTTP response "hello"'
    )
    assert engine.journal.count("VolumeDriver.List") == 5


async def test_oversized_answer_is_refused_clearly(short_tmp: Path) -> None:
    plugin = RawPlugin(script({"/VolumeDriver.List": Respond(body=b"[" + b"1," * 5000 + b"1]")}))
    async with (
        open_engine(root=short_tmp, body_limit=1000) as engine,
        trio.open_nursery() as nursery,
    ):
        await serve_raw(nursery, plugin, sock_path(short_tmp, "big"))
        with pytest.raises(PluginResponseError) as info:
            await engine.plugins.call("big", "VolumeDriver.List", {})
        nursery.cancel_scope.cancel()
    assert "exceeds the emulator's limit of 1000 bytes" in str(info.value)
    assert str(info.value).startswith("VolumeDriver.List: ")


# -- deadlines (volume/drivers/proxy.go, go-connections sockets) -----------------------------------


@pytest.mark.parametrize(
    ("method", "deadline"), [("VolumeDriver.Mount", 120), ("VolumeDriver.Get", 60)]
)
async def test_volume_call_deadline_fires_on_trio_time(
    short_tmp: Path,
    engine: Engine,
    autojump_clock: trio.testing.MockClock,
    method: str,
    deadline: int,
) -> None:
    plugin = RawPlugin(script({"/" + method: Hang()}))
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "hang"))
        await engine.plugins.get("hang", "VolumeDriver")
        start = trio.current_time()
        with pytest.raises(PluginDeadlineError) as info:
            await engine.plugins.call("hang", method, {"Name": "v", "ID": "x"})
        elapsed = trio.current_time() - start
        nursery.cancel_scope.cancel()
    assert elapsed == pytest.approx(deadline)
    assert (
        str(info.value)
        == f'Post "http://plugin.moby.localhost/{method}": context deadline exceeded'
    )
    # 1 s backoff + ≥ 60 s elapsed ≥ 30 s budget: a deadline is never retried.
    assert engine.journal.count(method) == 1


async def test_hung_activation_stops_at_the_hang_guard(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    plugin = RawPlugin(script({"/Plugin.Activate": Hang()}))
    async with open_engine(root=short_tmp, hang_guard=90) as engine, trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "mute"))
        start = trio.current_time()
        with pytest.raises(PluginLookupError) as info:
            await engine.plugins.get("mute", "VolumeDriver")
        assert trio.current_time() - start == pytest.approx(90)
        nursery.cancel_scope.cancel()
    assert isinstance(info.value.cause, PluginHangError)
    assert "would wait forever" in info.value.cause.hint
    assert (
        str(info.value) == "legacy plugin: Plugin.Activate: no answer from plugin mute within 1m30s"
    )


# -- keep-alive (client.go newTransport) -----------------------------------------------------------


async def test_calls_reuse_one_keep_alive_connection(short_tmp: Path, engine: Engine) -> None:
    plugin = RawPlugin()
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "ka"))
        for _ in range(10):
            await engine.plugins.call("ka", "VolumeDriver.List", {})
        nursery.cancel_scope.cancel()
    assert plugin.connections == 1
    assert len(plugin.requests) == 11


async def test_plugin_closing_idle_connections_costs_no_retry(
    short_tmp: Path, engine: Engine
) -> None:
    # A well-framed answer, then the plugin closes the connection without saying so.
    closing = Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", then_close=True)
    plugin = RawPlugin(script({"/VolumeDriver.List": closing}))
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "cl"))
        for _ in range(3):
            await engine.plugins.call("cl", "VolumeDriver.List", {})
        nursery.cancel_scope.cancel()
    # Activate and the first List share a connection; each later List needs a new one.
    assert plugin.connections == 3
    assert all(e.attempt == 1 and e.ok for e in engine.journal)


async def test_connection_close_header_is_honoured(short_tmp: Path, engine: Engine) -> None:
    closing = Respond(body=b"{}", headers=(("Connection", "close"),))
    plugin = RawPlugin(script({"/VolumeDriver.List": closing}))
    async with trio.open_nursery() as nursery:
        await serve_raw(nursery, plugin, sock_path(short_tmp, "cc"))
        for _ in range(2):
            await engine.plugins.call("cc", "VolumeDriver.List", {})
        nursery.cancel_scope.cancel()
    assert plugin.connections == 2


async def test_client_timeout_bounds_every_attempt(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Go's http.Client.Timeout (managed plugins' enable timeout): the shorter bound wins."""
    from emulator.journal import Journal
    from emulator.protocol.http import target_for
    from emulator.protocol.profiles import PROFILES
    from emulator.transport.client import CallSettings, PluginClient

    plugin = RawPlugin(script({"/VolumeDriver.Mount": Hang(), "/Plugin.Activate": Hang()}))
    async with trio.open_nursery() as nursery:
        address = await serve_raw(nursery, plugin, sock_path(short_tmp, "ct"))
        journal = Journal()
        settings = CallSettings(PROFILES["28"], journal)
        client = PluginClient("ct", target_for(address, PROFILES["28"]), settings, client_timeout=7)
        start = trio.current_time()
        with pytest.raises(PluginDeadlineError) as info:
            await client.call_raw("VolumeDriver.Mount", {"Name": "v"}, timeout=120)
        # A client timeout is an error from Do: retried (backoff 1, 2, 4) until 35 s.
        starts = [round(e.started - start) for e in journal.calls("VolumeDriver.Mount")]
        assert starts == [0, 8, 17, 28]
        assert trio.current_time() - start == pytest.approx(35)
        assert str(info.value) == (
            'Post "http://plugin.moby.localhost/VolumeDriver.Mount": context deadline exceeded '
            "(Client.Timeout exceeded while awaiting headers)"
        )
        # Activation has no deadline of its own: the client timeout bounds it too.
        with pytest.raises(PluginDeadlineError):
            await client.call_raw("Plugin.Activate", None)
        assert len(journal.calls("Plugin.Activate")) == 4
        await client.aclose()
        nursery.cancel_scope.cancel()
