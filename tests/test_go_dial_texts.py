"""Go's texts on the dial and TLS-handshake paths of dockerd's plugin client.

Sources: Go's net/http/client.go ``send`` (``http: server gave HTTP response to HTTPS
client`` for a first TLS record that reads ``HTTP/``), crypto/tls/conn.go
``readRecordOrCCS`` (``first record does not look like a TLS handshake``, ``EOF``),
crypto/tls/alert.go (``remote error: tls: …``), net/lookup.go ``LookupPort`` (``address
99999: invalid port``, before any connect) and net/http/transport.go ``canonicalAddr``;
Go 1.24.9 (moby v28.5.2's) words these as Go 1.19 does.  Each is a ``*url.Error`` of the
POST (``Post "URL": …``) and, being an ``http.Client.Do`` error, retried by
``callWithRetry`` (moby/moby pkg/plugins/client.go) for its ~15 s.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from emulator import open_engine
from emulator.errors import PluginLookupError
from emulator.mocks import MockPlugin


def write_spec(root: Path, name: str, content: str) -> None:
    path = root / "etc/docker/plugins" / f"{name}.spec"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


async def activation_error(root: Path, name: str) -> PluginLookupError:
    async with open_engine(root=root) as engine:
        with pytest.raises(PluginLookupError) as info:
            await engine.plugins.get(name, "VolumeDriver")
        attempts = engine.journal.calls("Plugin.Activate")
    assert len(attempts) == 5  # retried as a connection error: 0, 1, 3, 7, 15 s
    return info.value


async def test_https_address_served_by_plain_http(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    plugin = MockPlugin(("VolumeDriver",))
    async with trio.open_nursery() as nursery:
        address = await nursery.start(plugin.serve, "tcp:127.0.0.1:0")
        url = "https://" + address.removeprefix("tcp://")
        write_spec(short_tmp, "plain", url)
        error = await activation_error(short_tmp, "plain")
        nursery.cancel_scope.cancel()
    assert str(error) == (
        f'legacy plugin: Post "{url}/Plugin.Activate": '
        "http: server gave HTTP response to HTTPS client"
    )
    assert plugin.count("Plugin.Activate") == 0  # the TLS hello is no request


async def _one_shot_server(
    answer: Callable[[trio.SocketStream], object],
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def handler(stream: trio.SocketStream) -> None:
        async with stream:
            await stream.receive_some(65536)  # the client hello
            await answer(stream)  # type: ignore[misc]

    async with trio.open_nursery() as nursery:
        task_status.started(port)
        await trio.serve_listeners(handler, listeners, handler_nursery=nursery)


async def _garbage(stream: trio.SocketStream) -> None:
    await stream.send_all(b"SSH-2.0-OpenSSH_9.6\r\n")


async def _close(stream: trio.SocketStream) -> None:
    return None


async def _short(stream: trio.SocketStream) -> None:
    await stream.send_all(b"\x16\x03")


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        (_garbage, "tls: first record does not look like a TLS handshake"),
        (_close, "EOF"),
        (_short, "unexpected EOF"),
    ],
)
async def test_https_address_served_by_something_else(
    short_tmp: Path,
    autojump_clock: trio.testing.MockClock,
    answer: Callable[[trio.SocketStream], object],
    text: str,
) -> None:
    async with trio.open_nursery() as nursery:
        port = await nursery.start(_one_shot_server, answer)
        url = f"https://127.0.0.1:{port}"
        write_spec(short_tmp, "odd", url)
        error = await activation_error(short_tmp, "odd")
        nursery.cancel_scope.cancel()
    assert str(error) == f'legacy plugin: Post "{url}/Plugin.Activate": {text}'


@pytest.mark.parametrize("scheme", ["tcp", "http", "https"])
async def test_port_out_of_range_fails_at_dial_without_connecting(
    short_tmp: Path, autojump_clock: trio.testing.MockClock, scheme: str
) -> None:
    # A listener on the port a 16-bit truncation of the number would reach.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1] + 65536
        host = f"127.0.0.1:{port}"
        write_spec(short_tmp, "far", f"{scheme}://{host}")
        error = await activation_error(short_tmp, "far")
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    shown = "https" if scheme == "https" else "http"
    assert str(error) == (
        f'legacy plugin: Post "{shown}://{host}/Plugin.Activate": '
        f"dial tcp: address {port}: invalid port"
    )


async def test_empty_port_dials_the_schemes_port(short_tmp: Path) -> None:
    """``tcp://127.0.0.1:`` is a valid URL; Go's ``canonicalAddr`` dials port 80."""
    from emulator.protocol.http import target_for
    from emulator.protocol.profiles import PROFILES

    profile = PROFILES["28"]
    assert target_for("tcp://127.0.0.1:", profile).dial == "127.0.0.1:80"
    assert target_for("https://[::1]:", profile).dial == "[::1]:443"
    assert target_for("tcp://[::1]:8080", profile).dial == "[::1]:8080"
    assert target_for("tcp://:8080", profile).dial == ":8080"
