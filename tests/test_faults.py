"""Every fault action and matcher fires exactly when asked, and never otherwise.

The plugin is the built-in mock volume plugin over a real unix socket; what it
received (``plugin.requests``) is compared with what the engine recorded.
"""

from __future__ import annotations

import contextlib
import random
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing

from emulator import ContainerSpec, open_engine
from emulator.clock import VirtualClock
from emulator.engine.containers import ContainerError
from emulator.engine.core import Engine
from emulator.engine.volume_store import VolumeError
from emulator.errors import (
    PluginDeadlineError,
    PluginResponseError,
    PluginStatusError,
    PluginTransportError,
)
from emulator.faults import Delay, Fault, Match, Respond, Wire
from emulator.faults.selection import FaultState, selects
from emulator.matching import body_matches, call_matches
from emulator.mocks.volume import MockVolumePlugin

D = "fv"


@attrs.frozen
class Env:
    engine: Engine
    plugin: MockVolumePlugin

    def seen(self, method: str) -> int:
        return self.plugin.plugin.count(method)


@pytest.fixture
async def env(short_tmp: Path) -> AsyncIterator[Env]:
    plugin = MockVolumePlugin(short_tmp / "state", name=D)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.serve, f"unix:{short_tmp}/run/docker/plugins/{D}.sock")
        async with open_engine(root=short_tmp, seed=1234) as engine:
            await engine.plugins.get(D, "VolumeDriver")
            yield Env(engine, plugin)
        nursery.cancel_scope.cancel()


async def call(env: Env, method: str, body: dict[str, object]) -> object:
    return await env.engine.plugins.call(D, method, body)


# -- matchers (pure) --------------------------------------------------------------------


def test_body_subset_matching() -> None:
    assert body_matches({"Name": "v"}, {"Name": "v", "ID": "x"})
    assert not body_matches({"Name": "v"}, {"Name": "w"})
    assert not body_matches({"Name": "v"}, None)
    assert body_matches({"Opts": {"a": "1"}}, {"Opts": {"a": "1", "b": "2"}})
    assert not body_matches({"Opts": {"a": "1"}}, {"Opts": None})


def test_call_glob_and_exact() -> None:
    assert call_matches("VolumeDriver.*", "VolumeDriver.Mount")
    assert not call_matches("VolumeDriver.*", "NetworkDriver.Join")
    assert call_matches("VolumeDriver.Mount", "VolumeDriver.Mount")
    assert not call_matches("VolumeDriver.Mount", "VolumeDriver.Mounts")


def _fires(match: Match, n: int = 6, seed: int = 1) -> list[bool]:
    state = FaultState(Fault(match, Delay(1)))
    rng = random.Random(seed)
    return [
        selects(state, plugin="p", method="VolumeDriver.Get", body=None, elapsed=0, rng=rng)
        for _ in range(n)
    ]


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        (Match(nth=2), [False, True, False, False, False, False]),
        (Match(first=2), [True, True, False, False, False, False]),
        (Match(after=4), [False, False, False, False, True, True]),
        (Match(times=3), [True, True, True, False, False, False]),
        (Match(after=1, times=2), [False, True, True, False, False, False]),
        (Match(plugin="other"), [False] * 6),
        (Match(call="VolumeDriver.Mount"), [False] * 6),
        (Match(call="VolumeDriver.G*"), [True] * 6),
    ],
)
def test_counting_matchers(match: Match, expected: list[bool]) -> None:
    assert _fires(match) == expected


def test_probability_is_seeded_and_roughly_right() -> None:
    first = _fires(Match(probability=0.3), n=2000, seed=7)
    again = _fires(Match(probability=0.3), n=2000, seed=7)
    other = _fires(Match(probability=0.3), n=2000, seed=8)
    assert first == again
    assert first != other
    assert 500 < sum(first) < 700
    assert not any(_fires(Match(probability=0.0), n=200))
    assert all(_fires(Match(probability=1.0), n=200))


# -- actions over real sockets ----------------------------------------------------------


async def test_delay_then_the_plugin_answers(
    env: Env, autojump_clock: trio.testing.MockClock
) -> None:
    env.engine.faults.add(call="VolumeDriver.List", delay=42)
    start = trio.current_time()
    reply = await call(env, "VolumeDriver.List", {})
    assert trio.current_time() - start == pytest.approx(42)
    assert reply == {"Volumes": []}
    assert env.seen("VolumeDriver.List") == 1
    (entry,) = env.engine.journal.calls("VolumeDriver.List")
    assert entry.fault == "delay on VolumeDriver.List"


async def test_delay_past_the_deadline_and_the_plugin_never_sees_it(
    env: Env, autojump_clock: trio.testing.MockClock
) -> None:
    # The example: Mount delayed 150 s, dockerd's 2 min deadline fires first.
    await env.engine.volumes.create("v1", driver=D)
    env.engine.faults.add(plugin=D, call="VolumeDriver.Mount", nth=1, delay=150)
    start = trio.current_time()
    with pytest.raises(ContainerError) as info:
        await env.engine.containers.run(ContainerSpec(volumes=["v1:/data"], name="c1"))
    assert trio.current_time() - start == pytest.approx(120)
    assert 'VolumeDriver.Mount": context deadline exceeded' in str(info.value)
    assert env.seen("VolumeDriver.Mount") == 0
    # nth=1: the next Mount goes through.
    await env.engine.containers.start("c1")
    assert env.seen("VolumeDriver.Mount") == 1


async def test_delay_distributions_are_drawn_from_the_seed(
    env: Env, autojump_clock: trio.testing.MockClock
) -> None:
    env.engine.faults.add(
        call="VolumeDriver.List", delay=Delay(distribution="uniform", low=1, high=3)
    )
    took = []
    for _ in range(20):
        start = trio.current_time()
        await call(env, "VolumeDriver.List", {})
        took.append(trio.current_time() - start)
    assert all(1 <= t <= 3 for t in took)
    assert len({round(t, 6) for t in took}) > 10


async def test_respond_with_status_body_and_err(env: Env) -> None:
    env.engine.faults.add(
        call="VolumeDriver.Get",
        body={"Name": "v2"},
        respond={"status": 500, "body": '{"Err":"backend down"}'},
    )
    # Get fails (create ignores that), then Create reaches the plugin.
    await env.engine.volumes.create("v2", driver=D)
    assert env.seen("VolumeDriver.Create") == 1
    # A non-network Get failure makes the engine forget the volume.
    with pytest.raises(VolumeError, match="get v2: no such volume"):
        await env.engine.volumes.inspect("v2")
    assert env.engine.db.get_volume("v2") is None
    env.engine.faults.clear()
    env.engine.faults.add(call="VolumeDriver.Remove", respond=Respond(err="refused"))
    with pytest.raises(VolumeError) as removed:
        await env.engine.volumes.remove("v2")
    assert str(removed.value) == "remove v2: refused"
    assert env.seen("VolumeDriver.Remove") == 0


async def test_body_matcher_leaves_other_names_alone(env: Env) -> None:
    env.engine.faults.add(call="VolumeDriver.Create", body={"Name": "bad"}, respond={"err": "no"})
    await env.engine.volumes.create("good", driver=D)
    with pytest.raises(VolumeError, match="create bad: no"):
        await env.engine.volumes.create("bad", driver=D)


async def test_hang_meets_dockerds_deadline(
    env: Env, autojump_clock: trio.testing.MockClock
) -> None:
    env.engine.faults.add(call="VolumeDriver.Get", fault="hang")
    start = trio.current_time()
    with pytest.raises(PluginDeadlineError):
        await call(env, "VolumeDriver.Get", {"Name": "x"})
    assert trio.current_time() - start == pytest.approx(60)
    assert env.seen("VolumeDriver.Get") == 0


@pytest.mark.parametrize(
    ("kind", "plugin_sees", "attempts"),
    [("reset", 5, 5), ("drop", 0, 5), ("reset_before_send", 0, 5), ("garbage", 5, 5)],
)
async def test_connection_faults_are_retried_like_dockerd(
    env: Env,
    autojump_clock: trio.testing.MockClock,
    kind: str,
    plugin_sees: int,
    attempts: int,
) -> None:
    env.engine.faults.add(call="VolumeDriver.List", fault=kind)
    with pytest.raises(PluginTransportError):
        await call(env, "VolumeDriver.List", {})
    assert env.engine.journal.count("VolumeDriver.List") == attempts
    assert env.seen("VolumeDriver.List") == plugin_sees


async def test_drop_once_shows_the_empty_body_retry(
    env: Env, autojump_clock: trio.testing.MockClock
) -> None:
    env.engine.faults.add(call="VolumeDriver.Get", fault="drop", times=1)
    # The retry carries no body: the mock plugin answers 400 (Go's EOF decode error).
    with pytest.raises(PluginStatusError):
        await call(env, "VolumeDriver.Get", {"Name": "x"})
    first, second = env.engine.journal.calls("VolumeDriver.Get")
    assert first.error == 'Post "http://plugin.moby.localhost/VolumeDriver.Get": EOF'
    assert second.request_body == b""  # dockerd's drained buffer
    (seen,) = env.plugin.plugin.calls("VolumeDriver.Get")
    assert seen.body == b""


@pytest.mark.parametrize("kind", ["reset_mid_response", "truncate"])
async def test_body_faults_are_not_retried(env: Env, kind: str) -> None:
    env.engine.faults.add(call="VolumeDriver.List", fault=kind)
    with pytest.raises(PluginResponseError):
        await call(env, "VolumeDriver.List", {})
    assert env.engine.journal.count("VolumeDriver.List") == 1
    assert env.seen("VolumeDriver.List") == 1


async def test_drip_slows_the_answer_and_can_meet_the_deadline(
    env: Env, autojump_clock: trio.testing.MockClock
) -> None:
    env.engine.faults.add(Fault(Match(call="VolumeDriver.List"), Wire("drip", rate=1)))
    start = trio.current_time()
    await call(env, "VolumeDriver.List", {})
    took = trio.current_time() - start
    assert took == pytest.approx(len(b'{"Volumes":[]}\n'))
    env.engine.faults.clear()
    env.engine.faults.add(Fault(Match(call="VolumeDriver.List"), Wire("drip", rate=0.1)))
    with pytest.raises(PluginDeadlineError):
        await call(env, "VolumeDriver.List", {})


async def test_window_limits_faults_to_a_time_span(
    env: Env, autojump_clock: trio.testing.MockClock
) -> None:
    env.engine.faults.start_clock()
    env.engine.faults.add(
        call="VolumeDriver.List", respond={"err": "x"}, window={"from": 10, "until": 20}
    )
    results = []
    for _ in range(4):
        reply = await call(env, "VolumeDriver.List", {})
        results.append(reply == {"Err": "x"})
        await trio.sleep(7)
    assert results == [False, False, True, False]  # t = 0, 7, 14, 21


async def test_fired_faults_are_reported_and_never_fire_otherwise(env: Env) -> None:
    env.engine.faults.add(call="VolumeDriver.Capabilities", respond={"err": "x"}, name="caps")
    for _ in range(3):
        await call(env, "VolumeDriver.List", {})
    assert env.engine.faults.fired == []
    assert all(e.fault is None for e in env.engine.journal)
    await call(env, "VolumeDriver.Capabilities", {})
    assert [f.fault for f in env.engine.faults.fired] == ["caps"]


def test_add_needs_exactly_one_action() -> None:
    from emulator.faults import FaultSet

    faults = FaultSet(1)
    # Issue 14.2: the scenario loader's messages (they replace "exactly one action" and
    # "unknown fault 'boom'").
    with pytest.raises(ValueError, match="fault has no action: give exactly one of"):
        faults.add(call="X.Y")
    with pytest.raises(ValueError, match=r"give exactly one \(write two faults"):
        faults.add(call="X.Y", delay=1, fault="hang")
    with pytest.raises(ValueError, match=r"'fault' in fault must be one of .*; got 'boom'"):
        faults.add(call="X.Y", fault="boom")


@pytest.mark.parametrize(
    ("delay", "low", "high", "mean"),
    [
        (Delay(seconds=5), 5, 5, 5),
        (Delay(seconds=5, jitter=1), 4, 6, 5),
        (Delay(distribution="uniform", low=2, high=4), 2, 4, 3),
        (Delay(distribution="normal", mean=10, stddev=1), 0, 20, 10),
        (Delay(distribution="lognormal", mu=1, sigma=0.1), 0, 10, 2.73),
    ],
)
def test_delay_draws(delay: Delay, low: float, high: float, mean: float) -> None:
    from emulator.faults.selection import delay_seconds

    rng = random.Random(3)
    draws = [delay_seconds(delay, rng) for _ in range(2000)]
    assert all(low <= d <= high for d in draws)
    assert sum(draws) / len(draws) == pytest.approx(mean, rel=0.05)
    # Never negative, even for a wide normal.
    assert delay_seconds(Delay(distribution="normal", mean=0, stddev=100), rng) >= 0


# -- the texts come from the transport's own parser and error paths ----------------------

LIST_URL = 'Post "http://plugin.moby.localhost/VolumeDriver.List": '
BROKEN = "net/http: HTTP/1.x transport connection broken: "


@pytest.mark.parametrize(
    ("kind", "text", "written"),
    [
        ("reset", LIST_URL + "read unix @->{sock}: read: connection reset by peer", True),
        (
            "reset_before_send",
            LIST_URL + BROKEN + "write unix @->{sock}: write: broken pipe",
            False,
        ),
        ("drop", LIST_URL + "EOF", True),
        ("garbage", LIST_URL + BROKEN + 'malformed HTTP response "\\x00GARBAGE\\xff"', True),
        ("reset_mid_response", "read unix @->{sock}: read: connection reset by peer", True),
        ("truncate", "unexpected EOF", True),
        ("hang", LIST_URL + "context deadline exceeded", True),
    ],
)
async def test_each_wire_fault_gives_the_transports_own_text(
    env: Env, autojump_clock: trio.testing.MockClock, kind: str, text: str, written: bool
) -> None:
    """What the journal records for each fault (``written``: a retry after it carries the
    body again only when nothing of the request was written, dockerd's drained buffer)."""
    env.engine.faults.add(call="VolumeDriver.List", fault=kind, times=1)
    body = {"Probe": 1}
    with contextlib.suppress(PluginResponseError, PluginDeadlineError, PluginTransportError):
        await env.engine.plugins.call(D, "VolumeDriver.List", body)
    entries = env.engine.journal.calls("VolumeDriver.List")
    sock = entries[0].address.removeprefix("unix://")
    assert entries[0].error == text.format(sock=sock)
    assert entries[0].fault == f"{kind} on VolumeDriver.List"
    if len(entries) > 1:  # retried: the body again only when nothing was written
        assert entries[1].request_body == (b'{"Probe":1}\n' if not written else b"")


#: A volume plugin in another process (stdlib HTTP/1.1, keep-alive): Activate, then an
#: empty List for everything else.
EXTERNAL_PLUGIN = """
import http.server, socketserver, sys

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/Plugin.Activate":
            body = b'{"Implements":["VolumeDriver"]}\\n'
        else:
            body = b'{"Volumes":[]}\\n'
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1.1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request, _ = super().get_request()
        return request, ("local", 0)

Server(sys.argv[1], Handler).serve_forever()
"""


def test_injected_delays_are_free_with_an_external_plugin(short_tmp: Path) -> None:
    """The fault's waits are on virtual time even though the plugin is another process
    (its real I/O holds the virtual clock, the injected delay and drip must not)."""
    sock = short_tmp / "run/docker/plugins/ext.sock"
    sock.parent.mkdir(parents=True)
    script = short_tmp / "plugin.py"
    script.write_text(EXTERNAL_PLUGIN)
    process = subprocess.Popen([sys.executable, str(script), str(sock)])
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        vclock = VirtualClock(grace=5.0)  # a held clock would cost 5 s of wall time per wait

        async def main() -> tuple[float, float]:
            async with open_engine(root=short_tmp) as engine:
                engine.faults.add(call="VolumeDriver.List", delay=50, times=1)
                engine.faults.add(Fault(Match(call="VolumeDriver.List", times=1), Wire("drip", 1)))
                start = trio.current_time()
                assert await engine.plugins.call("ext", "VolumeDriver.List", {}) == {"Volumes": []}
                delayed = trio.current_time() - start
                start = trio.current_time()
                assert await engine.plugins.call("ext", "VolumeDriver.List", {}) == {"Volumes": []}
                return delayed, trio.current_time() - start

        started = time.monotonic()
        delayed, dripped = trio.run(main, clock=vclock.clock)
        wall = time.monotonic() - started
    finally:
        process.kill()
        process.wait()
    assert delayed == pytest.approx(50)
    assert dripped == pytest.approx(len(b'{"Volumes":[]}\n'))
    assert wall < 2.5
    assert vclock.grace_expiries == 0


async def test_an_injected_reset_reads_like_a_real_one_over_tcp(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Over TCP the text names the connection's real local address, as for a reset the
    plugin makes itself (tests/test_plugin_client.py), not a made-up one."""
    plugin = MockVolumePlugin(short_tmp / "state", name="tcpv")
    async with trio.open_nursery() as nursery:
        address = await nursery.start(plugin.serve, "tcp:127.0.0.1:0")
        spec = short_tmp / "etc/docker/plugins/tcpv.spec"
        spec.parent.mkdir(parents=True)
        spec.write_text(address)
        async with open_engine(root=short_tmp) as engine:
            engine.faults.add(call="VolumeDriver.List", fault="reset", times=1)
            assert await engine.plugins.call("tcpv", "VolumeDriver.List", {}) == {"Volumes": []}
            first = engine.journal.calls("VolumeDriver.List")[0]
        nursery.cancel_scope.cancel()
    hostport = address.removeprefix("tcp://")
    assert first.error is not None
    assert re.fullmatch(
        rf'Post "http://{hostport}/VolumeDriver.List": '
        rf"read tcp 127.0.0.1:[1-9]\d*->{hostport}: read: connection reset by peer",
        first.error,
    ), first.error
