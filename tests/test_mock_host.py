"""Tests for :mod:`emulator.mocks.host`: real sockets, its real h11 server.

The client here is a deliberately tiny h11 client so these tests do not depend
on the project's own plugin client.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import h11
import pytest
import trio
import trio.testing

from emulator.mocks import BindError, MockPlugin, RecordedRequest, Reply

pytestmark = pytest.mark.filterwarnings(
    "error::ResourceWarning", "error::pytest.PytestUnraisableExceptionWarning"
)

PLUGIN_JSON = "application/vnd.docker.plugins.v1.1+json"


# --------------------------------------------------------------------------- client


@attrs.frozen
class RawResponse:
    """A response as the minimal client saw it (header names lower-cased by h11)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """First value of ``name`` or ``None``."""
        for key, value in self.headers:
            if key == name.lower():
                return value
        return None


class H11Client:
    """One keep-alive HTTP/1.1 connection driven by h11."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    async def request(
        self,
        path: str,
        body: bytes = b"",
        *,
        method: str = "POST",
        headers: Sequence[tuple[str, str]] = (),
    ) -> RawResponse:
        """Send one request and read the whole response."""
        head = [("Host", "plugin"), ("Content-Length", str(len(body))), *headers]
        out = self.conn.send(h11.Request(method=method, target=path, headers=head))
        if body:
            out += self.conn.send(h11.Data(data=body))
        out += self.conn.send(h11.EndOfMessage())
        await self.stream.send_all(out)
        response: h11.Response | None = None
        chunks: list[bytes] = []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(bytes(await self.stream.receive_some(65536)))
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("server closed the connection")
        self.conn.start_next_cycle()
        assert response is not None
        return RawResponse(
            status=response.status_code,
            headers=tuple((k.decode(), v.decode()) for k, v in response.headers),
            body=b"".join(chunks),
        )


async def _open_stream(address: str) -> trio.abc.Stream:
    if address.startswith("unix://"):
        return await trio.open_unix_socket(address[len("unix://") :])
    assert address.startswith("tcp://"), address
    host, _, port = address[len("tcp://") :].rpartition(":")
    return await trio.open_tcp_stream(host.strip("[]"), int(port))


@asynccontextmanager
async def connect(address: str) -> AsyncIterator[H11Client]:
    """A client connected to a spec-style address (``unix:///...``, ``tcp://...``)."""
    stream = await _open_stream(address)
    async with stream:
        yield H11Client(stream)


@asynccontextmanager
async def serving(plugin: MockPlugin, bind: str) -> AsyncIterator[str]:
    """Serve ``plugin`` on ``bind`` for the body of the ``async with``."""
    async with trio.open_nursery() as nursery:
        address: str = await nursery.start(plugin.serve, bind)
        yield address
        nursery.cancel_scope.cancel()


def _sock(tmp: Path, name: str = "p.sock") -> str:
    return f"unix:{tmp / name}"


def _task_count() -> int:
    """Every task currently alive in this trio run."""

    def walk(task: trio.lowlevel.Task) -> int:
        return 1 + sum(walk(t) for n in task.child_nurseries for t in n.child_tasks)

    root = trio.lowlevel.current_root_task()
    assert root is not None
    return walk(root)


# --------------------------------------------------------------------------- replies


async def test_activate_default_reply(short_tmp: Path) -> None:
    plugin = MockPlugin()
    async with serving(plugin, _sock(short_tmp)) as address, connect(address) as client:
        response = await client.request("/Plugin.Activate")
    assert response.status == 200
    assert response.body == b'{"Implements":["VolumeDriver"]}\n'
    assert response.header("content-type") == PLUGIN_JSON
    assert response.header("content-length") == str(len(response.body))
    assert response.header("server") is None  # Go's net/http sends none either


async def test_activate_reports_implements(short_tmp: Path) -> None:
    plugin = MockPlugin(("NetworkDriver", "IpamDriver"))
    async with serving(plugin, _sock(short_tmp)) as address, connect(address) as client:
        response = await client.request("/Plugin.Activate", b"{}\n")
    assert response.body == b'{"Implements":["NetworkDriver","IpamDriver"]}\n'


async def test_implements_must_not_be_a_string() -> None:
    with pytest.raises(TypeError, match="sequence"):
        MockPlugin("VolumeDriver")


async def test_unknown_method_answers_like_go_servemux(short_tmp: Path) -> None:
    plugin = MockPlugin()
    async with serving(plugin, _sock(short_tmp)) as address, connect(address) as client:
        response = await client.request("/VolumeDriver.Capabilities", b"{}\n")
    assert response.status == 404
    assert response.body == b"404 page not found\n"
    assert response.header("content-type") == "text/plain; charset=utf-8"
    assert response.header("x-content-type-options") == "nosniff"
    assert plugin.count("VolumeDriver.Capabilities") == 1


async def test_handler_mapping(short_tmp: Path) -> None:
    plugin = MockPlugin(handlers={"VolumeDriver.Create": {"Err": ""}})
    async with serving(plugin, _sock(short_tmp)) as address, connect(address) as client:
        response = await client.request("/VolumeDriver.Create", b'{"Name":"v"}\n')
    assert response.status == 200
    assert response.body == b'{"Err":""}\n'
    assert response.header("content-type") == PLUGIN_JSON


async def test_reply_fields(short_tmp: Path) -> None:
    plugin = MockPlugin()
    plugin.on(
        "VolumeDriver.Get",
        Reply(status=418, body="tea\n", content_type="text/x-tea", headers=(("X-Extra", "1"),)),
    )
    plugin.on("VolumeDriver.List", Reply(body=b"\x00raw", content_type=None))
    plugin.on("VolumeDriver.Path", Reply(body={"Mountpoint": "/m", "Err": ""}))
    plugin.on("VolumeDriver.Remove", Reply(headers=(("Content-Type", "application/json"),)))
    plugin.on("VolumeDriver.Unmount", Reply(body={"Err": "ünïcode"}))
    async with serving(plugin, _sock(short_tmp)) as address, connect(address) as client:
        get = await client.request("/VolumeDriver.Get")
        listed = await client.request("/VolumeDriver.List")
        path = await client.request("/VolumeDriver.Path")
        removed = await client.request("/VolumeDriver.Remove")
        unmount = await client.request("/VolumeDriver.Unmount")
    assert (get.status, get.body) == (418, b"tea\n")
    assert get.header("content-type") == "text/x-tea"
    assert get.header("x-extra") == "1"
    assert (listed.status, listed.body) == (200, b"\x00raw")
    assert listed.header("content-type") is None
    assert path.body == b'{"Mountpoint":"/m","Err":""}\n'
    assert [v for k, v in removed.headers if k == "content-type"] == ["application/json"]
    assert removed.body == b""
    assert unmount.body == '{"Err":"ünïcode"}\n'.encode()


async def test_sync_and_async_callables(short_tmp: Path) -> None:
    def echo(req: RecordedRequest) -> dict[str, Any]:
        return {"Got": req.json(), "Method": req.method}

    async def later(req: RecordedRequest) -> Reply:
        await trio.lowlevel.checkpoint()
        return Reply(status=202, body={"Len": len(req.body)})

    async def mapping_async(req: RecordedRequest) -> dict[str, str]:
        return {"Err": ""}

    plugin = MockPlugin(handlers={"VolumeDriver.Create": echo, "VolumeDriver.Mount": later})
    plugin.on("VolumeDriver.Unmount", mapping_async)
    plugin.on("VolumeDriver.Path", lambda req: Reply(body=req.body, content_type=None))
    async with serving(plugin, _sock(short_tmp)) as address, connect(address) as client:
        created = await client.request("/VolumeDriver.Create", b'{"Name":"v","Opts":{}}\n')
        mounted = await client.request("/VolumeDriver.Mount", b"12345")
        unmounted = await client.request("/VolumeDriver.Unmount")
        path = await client.request("/VolumeDriver.Path", b"same bytes")
    assert created.body == b'{"Got":{"Name":"v","Opts":{}},"Method":"VolumeDriver.Create"}\n'
    assert (mounted.status, mounted.body) == (202, b'{"Len":5}\n')
    assert unmounted.body == b'{"Err":""}\n'
    assert path.body == b"same bytes"


async def test_on_replaces_activate(short_tmp: Path) -> None:
    plugin = MockPlugin()
    plugin.on("Plugin.Activate", Reply(status=500, body={"Err": "not today"}))
    async with serving(plugin, _sock(short_tmp)) as address, connect(address) as client:
        response = await client.request("/Plugin.Activate")
    assert (response.status, response.body) == (500, b'{"Err":"not today"}\n')


async def test_handler_exception_is_500_and_serving_continues(short_tmp: Path) -> None:
    def boom(req: RecordedRequest) -> Reply:
        raise RuntimeError("disk on fire")

    async def bad_type(req: RecordedRequest) -> Any:
        return 42

    def empty_message(req: RecordedRequest) -> Reply:
        raise KeyError

    plugin = MockPlugin(handlers={"VolumeDriver.Mount": boom, "VolumeDriver.Get": bad_type})
    plugin.on("VolumeDriver.Path", empty_message)
    plugin.on("VolumeDriver.List", {"Volumes": {object()}})  # not JSON-encodable
    async with serving(plugin, _sock(short_tmp)) as address, connect(address) as client:
        mount = await client.request("/VolumeDriver.Mount", b"{}\n")
        get = await client.request("/VolumeDriver.Get", b"{}\n")
        path = await client.request("/VolumeDriver.Path", b"{}\n")
        listed = await client.request("/VolumeDriver.List", b"{}\n")
        again = await client.request("/Plugin.Activate")  # same connection still fine
    assert (mount.status, mount.body) == (500, b'{"Err":"disk on fire"}\n')
    assert mount.header("content-type") == PLUGIN_JSON
    assert get.status == 500
    assert b"returned int" in get.body
    assert (path.status, path.body) == (500, b'{"Err":"KeyError"}\n')
    assert listed.status == 500
    assert b"not JSON serializable" in listed.body
    assert again.status == 200


# --------------------------------------------------------------------------- recording


async def test_recording_calls_count_reset(short_tmp: Path) -> None:
    plugin = MockPlugin()
    async with serving(plugin, _sock(short_tmp)) as address, connect(address) as client:
        await client.request("/Plugin.Activate")
        await client.request(
            "/VolumeDriver.Create",
            b'{"Name":"a"}\n',
            headers=[("Accept", "application/vnd.docker.plugins.v1.2+json")],
        )
        await client.request("/VolumeDriver.Create", b'{"Name":"b"}\n')
        await client.request("/VolumeDriver.List", method="GET")
        before_reset = list(plugin.requests)
        plugin.reset()
        await client.request("/VolumeDriver.Remove", b'{"Name":"a"}\n')

    methods = [r.method for r in before_reset]
    assert methods == [
        "Plugin.Activate",
        "VolumeDriver.Create",
        "VolumeDriver.Create",
        "VolumeDriver.List",
    ]
    activate, create_a, create_b, listed = before_reset
    assert activate.body == b""
    assert activate.json() is None
    assert activate.path == "/Plugin.Activate"
    assert activate.http_method == "POST"
    assert listed.http_method == "GET"
    assert create_a.json() == {"Name": "a"}
    assert create_a.body == b'{"Name":"a"}\n'
    # Header names arrive lower-cased (ASGI), in the order they were sent.
    assert create_a.headers == (
        ("host", "plugin"),
        ("content-length", "13"),
        ("accept", "application/vnd.docker.plugins.v1.2+json"),
    )
    assert create_a.header("Accept") == "application/vnd.docker.plugins.v1.2+json"
    assert create_a.header("Content-Type") is None
    assert activate.time <= create_a.time <= create_b.time <= listed.time
    # After reset only the later request is there; handlers survived reset.
    assert [r.method for r in plugin.requests] == ["VolumeDriver.Remove"]
    assert plugin.count("VolumeDriver.Create") == 0
    assert plugin.calls("VolumeDriver.Remove")[0].json() == {"Name": "a"}


async def test_calls_and_count(short_tmp: Path) -> None:
    plugin = MockPlugin()
    async with serving(plugin, _sock(short_tmp)) as address, connect(address) as client:
        for name in ("a", "b", "c"):
            await client.request("/VolumeDriver.Mount", f'{{"Name":"{name}"}}'.encode())
        await client.request("/VolumeDriver.Unmount", b'{"Name":"a"}')
    assert plugin.count("VolumeDriver.Mount") == 3
    assert [r.json()["Name"] for r in plugin.calls("VolumeDriver.Mount")] == ["a", "b", "c"]
    assert plugin.count("VolumeDriver.Unmount") == 1
    assert plugin.count("VolumeDriver.Create") == 0
    assert plugin.calls("VolumeDriver.Create") == []


async def test_request_recorded_before_handler_runs(short_tmp: Path) -> None:
    plugin = MockPlugin()
    seen: list[int] = []

    def handler(req: RecordedRequest) -> dict[str, str]:
        assert plugin.requests[-1] is req
        seen.append(plugin.count("VolumeDriver.Create"))
        return {"Err": ""}

    plugin.on("VolumeDriver.Create", handler)
    async with serving(plugin, _sock(short_tmp)) as address, connect(address) as client:
        await client.request("/VolumeDriver.Create", b"{}")
        await client.request("/VolumeDriver.Create", b"{}")
    assert seen == [1, 2]


async def test_one_plugin_on_two_binds_shares_recordings(short_tmp: Path) -> None:
    plugin = MockPlugin()
    async with (
        serving(plugin, _sock(short_tmp)) as unix_address,
        serving(plugin, "tcp:127.0.0.1:0") as tcp_address,
    ):
        async with connect(unix_address) as client:
            await client.request("/VolumeDriver.Get", b"{}")
        async with connect(tcp_address) as client:
            await client.request("/VolumeDriver.Path", b"{}")
    assert [r.method for r in plugin.requests] == ["VolumeDriver.Get", "VolumeDriver.Path"]


# --------------------------------------------------------------------------- mock clock


async def test_delay_uses_trio_clock(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    plugin = MockPlugin(handlers={"VolumeDriver.Mount": Reply(body={"Err": ""}, delay=30.0)})
    async with serving(plugin, _sock(short_tmp)) as address, connect(address) as client:
        wall = time.monotonic()
        start = trio.current_time()
        response = await client.request("/VolumeDriver.Mount", b"{}")
        elapsed = trio.current_time() - start
        wall_elapsed = time.monotonic() - wall
    assert response.status == 200
    assert response.body == b'{"Err":""}\n'
    assert 30.0 <= elapsed < 31.0
    assert wall_elapsed < 5.0
    assert plugin.requests[0].time == pytest.approx(start, abs=0.5)


async def test_idle_connection_survives_clock_jumps(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # hypercorn's keep-alive timer runs on the trio clock: with its default
    # (5 s) the autojumping clock, racing through the hour-long delay, would
    # close `fresh` (connected, no request yet) at once.  Go plugins have no
    # idle timeout, so neither does the mock.
    plugin = MockPlugin(handlers={"VolumeDriver.Mount": Reply(delay=3600.0)})
    async with (
        serving(plugin, _sock(short_tmp)) as address,
        connect(address) as fresh,
        connect(address) as used,
        connect(address) as busy,
    ):
        assert (await used.request("/Plugin.Activate")).status == 200
        assert (await busy.request("/VolumeDriver.Mount")).status == 200
        assert trio.current_time() >= 3600.0
        assert (await fresh.request("/Plugin.Activate")).status == 200
        assert (await used.request("/Plugin.Activate")).status == 200


async def test_serve_and_cancel_under_autojump(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    plugin = MockPlugin()
    async with serving(plugin, _sock(short_tmp)) as address, connect(address) as client:
        assert (await client.request("/Plugin.Activate")).status == 200
    assert not (short_tmp / "p.sock").exists()


# --------------------------------------------------------------------------- binds


async def test_unix_bind_address_dirs_and_cleanup(short_tmp: Path) -> None:
    sock = short_tmp / "run" / "docker" / "plugins" / "p.sock"
    plugin = MockPlugin()
    async with serving(plugin, f"unix:{sock}") as address:
        assert address == f"unix://{sock}"
        assert sock.is_socket()
        async with connect(address) as client:
            assert (await client.request("/Plugin.Activate")).status == 200
    assert not sock.exists()
    assert sock.parent.is_dir()


async def test_unix_bind_accepts_url_form(short_tmp: Path) -> None:
    sock = short_tmp / "q.sock"
    async with serving(MockPlugin(), f"unix://{sock}") as address:
        assert address == f"unix://{sock}"
    assert not sock.exists()


async def test_unix_socket_replaced_by_someone_else_is_left_alone(short_tmp: Path) -> None:
    sock = short_tmp / "p.sock"
    async with serving(MockPlugin(), f"unix:{sock}"):
        sock.unlink()
        sock.write_text("not ours")
    assert sock.read_text() == "not ours"


async def test_tcp_bind_reports_real_port() -> None:
    plugin = MockPlugin()
    async with serving(plugin, "tcp:127.0.0.1:0") as address:
        assert address.startswith("tcp://127.0.0.1:")
        port = int(address.rsplit(":", 1)[1])
        assert 0 < port < 65536
        async with connect(address) as client:
            response = await client.request("/Plugin.Activate")
    assert response.body == b'{"Implements":["VolumeDriver"]}\n'


def _have_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _have_ipv6_loopback(), reason="no IPv6 loopback")
async def test_tcp_bind_ipv6_loopback() -> None:
    async with serving(MockPlugin(), "tcp:[::1]:0") as address:
        assert address.startswith("tcp://[::1]:")
        async with connect(address) as client:
            assert (await client.request("/Plugin.Activate")).status == 200


async def test_too_long_unix_path_refused(short_tmp: Path) -> None:
    deep = short_tmp / ("d" * 60) / ("e" * 60)
    with pytest.raises(BindError, match="107"):
        await MockPlugin().serve(f"unix:{deep / 'p.sock'}")
    assert not deep.exists()


async def test_unix_path_at_limit_accepted(short_tmp: Path) -> None:
    base = f"{short_tmp}/"
    sock = base + "s" * (107 - len(base.encode()))
    assert len(sock.encode()) == 107
    async with serving(MockPlugin(), f"unix:{sock}") as address:
        assert address == f"unix://{sock}"


@pytest.mark.parametrize(
    "bind",
    ["tcp:0.0.0.0:0", "tcp:10.1.2.3:8080", "tcp:[::]:0", "tcp:[2001:db8::1]:0"],
)
async def test_non_loopback_tcp_refused(bind: str) -> None:
    with pytest.raises(BindError, match="loopback"):
        await MockPlugin().serve(bind)


@pytest.mark.parametrize(
    "bind", ["tcp:example.com:80", "tcp:127.0.0.1", "tcp:127.0.0.1:99999", "http://x", "unix:"]
)
async def test_malformed_bind_refused(bind: str) -> None:
    with pytest.raises(BindError):
        await MockPlugin().serve(bind)


# --------------------------------------------------------------------------- lifetime


async def test_cancel_is_prompt_closes_connections_and_leaves_no_tasks(short_tmp: Path) -> None:
    baseline = _task_count()
    entered = trio.Event()

    async def hang(req: RecordedRequest) -> Reply:
        entered.set()
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    plugin = MockPlugin(handlers={"VolumeDriver.Mount": hang})
    outcome: list[BaseException] = []

    async def stuck_request(address: str) -> None:
        async with connect(address) as client:
            try:
                await client.request("/VolumeDriver.Mount", b"{}")
            except (ConnectionError, trio.BrokenResourceError, h11.RemoteProtocolError) as exc:
                outcome.append(exc)

    idle_stream: trio.abc.Stream | None = None
    try:
        with trio.fail_after(10):
            async with trio.open_nursery() as clients:
                async with trio.open_nursery() as server:
                    address: str = await server.start(plugin.serve, _sock(short_tmp))
                    idle_stream = await _open_stream(address)
                    idle = H11Client(idle_stream)
                    assert (await idle.request("/Plugin.Activate")).status == 200
                    clients.start_soon(stuck_request, address)
                    await entered.wait()
                    assert _task_count() > baseline
                    cancelled_at = trio.current_time()
                    server.cancel_scope.cancel()
                # No graceful-shutdown wait (hypercorn's would be 3 s).
                assert trio.current_time() - cancelled_at < 1.0
        # The in-flight request's connection was closed under it ...
        assert len(outcome) == 1
        # ... and so was the idle keep-alive connection.
        with pytest.raises((ConnectionError, trio.BrokenResourceError, h11.RemoteProtocolError)):
            await idle.request("/Plugin.Activate")
    finally:
        if idle_stream is not None:
            await idle_stream.aclose()
    assert _task_count() == baseline
    assert not (short_tmp / "p.sock").exists()


async def test_serve_again_after_cancel_same_path(short_tmp: Path) -> None:
    plugin = MockPlugin()
    for _ in range(2):
        async with serving(plugin, _sock(short_tmp)) as address, connect(address) as client:
            assert (await client.request("/Plugin.Activate")).status == 200
    assert plugin.count("Plugin.Activate") == 2
    assert os.listdir(short_tmp) == []


async def test_cancel_at_any_point_during_startup_leaves_nothing(short_tmp: Path) -> None:
    # Cancel after 0, 1, 2, ... scheduler rounds so that some attempts land
    # between hypercorn's bind and its start report.
    sock = short_tmp / "p.sock"
    baseline = _task_count()
    started = 0
    for rounds in range(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(MockPlugin().serve, f"unix:{sock}")
            for _ in range(rounds):
                await trio.lowlevel.checkpoint()
            started += sock.exists()
            nursery.cancel_scope.cancel()
        assert not sock.exists(), f"socket left behind after {rounds} rounds"
        assert _task_count() == baseline
    assert started > 0  # the later attempts did get as far as binding


async def test_stale_socket_file_is_replaced(short_tmp: Path) -> None:
    sock = short_tmp / "p.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(str(sock))  # closed without unlinking: a stale socket file
    async with serving(MockPlugin(), f"unix:{sock}") as address, connect(address) as client:
        assert (await client.request("/Plugin.Activate")).status == 200
    assert not sock.exists()


# --------------------------------------------------------------------------- wire bytes

_DATE = rb"date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n"


async def _raw_exchange(address: str, data: bytes, *, then: bytes = b"") -> bytes:
    """Send ``data`` (then ``then`` after the first answer bytes), read until EOF or quiet."""
    stream = await _open_stream(address)
    received = b""
    async with stream:
        await stream.send_all(data)
        if then:
            received += await stream.receive_some(65536)
            await stream.send_all(then)
        with trio.move_on_after(0.5):
            while chunk := await stream.receive_some(65536):
                received += chunk
            received += b"<EOF>"
    return received


async def test_answer_bytes_are_hypercorns(short_tmp: Path) -> None:
    """No reason phrase, lower-case names, content-length first, date last, no server."""
    plugin = MockPlugin(handlers={"VolumeDriver.Get": Reply(headers=(("X-Extra", "1"),))})
    async with serving(plugin, _sock(short_tmp)) as address:
        raw = await _raw_exchange(
            address, b"POST /VolumeDriver.Get HTTP/1.1\r\nHost: p\r\nContent-Length: 0\r\n\r\n"
        )
    pattern = (
        rb"HTTP/1\.1 200 \r\ncontent-length: 0\r\ncontent-type: "
        + re.escape(PLUGIN_JSON.encode())
        + rb"\r\nx-extra: 1\r\n"
        + _DATE
        + rb"\r\n"
    )
    assert re.fullmatch(pattern, raw), raw


async def test_unparsable_request_is_400_then_closed(short_tmp: Path) -> None:
    async with serving(MockPlugin(), _sock(short_tmp)) as address:
        raw = await _raw_exchange(address, b"GARBAGE\r\n\r\n")
    pattern = rb"HTTP/1\.1 400 \r\ncontent-length: 0\r\nconnection: close\r\n" + _DATE
    assert re.fullmatch(pattern + rb"\r\n<EOF>", raw), raw


async def test_expect_continue_is_answered_before_the_body(short_tmp: Path) -> None:
    plugin = MockPlugin(handlers={"VolumeDriver.Create": lambda r: {"Len": len(r.body)}})
    head = b"POST /VolumeDriver.Create HTTP/1.1\r\nHost: p\r\nContent-Length: 2\r\n"
    async with serving(plugin, _sock(short_tmp)) as address:
        raw = await _raw_exchange(address, head + b"Expect: 100-continue\r\n\r\n", then=b"{}")
    assert re.match(rb"HTTP/1\.1 100 \r\n" + _DATE + rb"\r\nHTTP/1\.1 200 ", raw), raw
    assert raw.endswith(b'{"Len":2}\n')


async def test_any_method_reaches_the_handler_and_head_gets_no_body(short_tmp: Path) -> None:
    """Go's ServeMux in a plugin does not look at the method."""
    plugin = MockPlugin(handlers={"VolumeDriver.List": {"Volumes": []}})
    async with serving(plugin, _sock(short_tmp)) as address, connect(address) as client:
        traced = await client.request("/VolumeDriver.List", method="TRACE")
        raw = await _raw_exchange(address, b"HEAD /VolumeDriver.List HTTP/1.1\r\nHost: p\r\n\r\n")
    assert (traced.status, traced.body) == (200, b'{"Volumes":[]}\n')
    assert raw.startswith(b"HTTP/1.1 200 \r\ncontent-length: 15\r\n")
    assert raw.endswith(b"\r\n\r\n")  # the length of the body a GET would get, no body
    assert [r.http_method for r in plugin.requests] == ["TRACE", "HEAD"]


async def test_request_path_is_decoded_without_query(short_tmp: Path) -> None:
    plugin = MockPlugin(handlers={"VolumeDriver.List": {"Volumes": []}})
    async with serving(plugin, _sock(short_tmp)) as address, connect(address) as client:
        for target in ("/Volume%44river.List?x=1", "//VolumeDriver.List", "/VolumeDriver.List/"):
            await client.request(target)
    assert [r.path for r in plugin.requests] == [
        "/VolumeDriver.List",
        "/VolumeDriver.List",
        "/VolumeDriver.List/",
    ]


async def test_a_streamed_reply_is_chunked_as_hypercorn_sent_it(short_tmp: Path) -> None:
    """No content-length; h11's Transfer-Encoding after date; each piece as it comes (an
    HTTP/1.0 client gets the pieces unchunked, then the close)."""

    async def pieces() -> Any:
        yield b'{"a":1}\n'
        await trio.lowlevel.checkpoint()
        yield b""  # nothing to send: no empty chunk (that would end the body)
        yield b'{"b":2}\n'

    def read_logs(_: RecordedRequest) -> Reply:
        return Reply(stream=pieces(), content_type="application/x-json-stream")

    plugin = MockPlugin(handlers={"LogDriver.ReadLogs": read_logs})
    request = b"POST /LogDriver.ReadLogs HTTP/1.%d\r\nHost: p\r\nContent-Length: 2\r\n\r\n{}"
    async with serving(plugin, _sock(short_tmp)) as address:
        chunked = await _raw_exchange(address, request % 1)
        plain = await _raw_exchange(address, request % 0)
    head = rb"HTTP/1\.1 200 \r\ncontent-type: application/x-json-stream\r\n" + _DATE
    body = b'8\r\n{"a":1}\n\r\n8\r\n{"b":2}\n\r\n0\r\n\r\n'
    assert re.fullmatch(head + rb"Transfer-Encoding: chunked\r\n\r\n" + re.escape(body), chunked)
    tail = re.escape(b'{"a":1}\n{"b":2}\n<EOF>')
    assert re.fullmatch(head + rb"Connection: close\r\n\r\n" + tail, plain), plain
