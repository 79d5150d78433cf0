"""VirtualClock: virtual delays are free, a real plugin's I/O is waited for, within a grace."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from emulator.clock import VirtualClock, real_io, real_sleep

#: A plugin stand-in in another process: answers "pong" DELAY real seconds after each
#: request (never, if DELAY is negative).
PLUGIN = textwrap.dedent(
    """
    import socket, sys, time
    path, delay = sys.argv[1], float(sys.argv[2])
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(16)
    held = []
    while True:
        conn, _ = server.accept()
        if not conn.recv(65536):  # a readiness probe
            conn.close()
            continue
        if delay < 0:
            held.append(conn)  # keep it open, say nothing
            continue
        time.sleep(delay)
        conn.sendall(b"pong")
        conn.close()
    """
)

StartPlugin = Callable[[float], Path]


@pytest.fixture
def plugin(short_tmp: Path) -> Iterator[StartPlugin]:
    """Start the stand-in plugin with a given answer delay; returns its socket path."""
    script = short_tmp / "plugin.py"
    script.write_text(PLUGIN)
    processes: list[subprocess.Popen[bytes]] = []

    def start(delay: float) -> Path:
        sock = short_tmp / f"p{len(processes)}.sock"
        processes.append(subprocess.Popen([sys.executable, str(script), str(sock), str(delay)]))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_UNIX) as probe:
                try:
                    probe.connect(str(sock))
                except OSError:
                    time.sleep(0.01)
                else:
                    return sock
        raise AssertionError(f"plugin stand-in did not listen on {sock}")

    yield start
    for process in processes:
        process.kill()
        process.wait()


async def ping(sock_path: Path, deadline: float) -> bytes:
    """One round trip to the stand-in, guarded with real_io(), under a virtual deadline."""
    sock = trio.socket.socket(socket.AF_UNIX)
    try:
        await sock.connect(str(sock_path))
        with trio.fail_after(deadline), real_io(sock):
            await sock.send(b"ping")
            return await sock.recv(16)
    finally:
        sock.close()


def run(main: Callable[[], object], clock: trio.abc.Clock | None = None) -> float:
    """trio.run ``main``; return the wall time it took."""
    start = time.monotonic()
    trio.run(main, clock=clock)  # type: ignore[arg-type]
    return time.monotonic() - start


def test_plain_mockclock_fires_the_deadline_at_once(plugin: StartPlugin) -> None:
    """The problem being solved: autojump does not wait for another process."""
    sock = plugin(0.3)

    async def main() -> None:
        with pytest.raises(trio.TooSlowError):
            await ping(sock, 60)
        assert trio.current_time() == 60

    wall = run(main, trio.testing.MockClock(autojump_threshold=0))
    assert wall < 0.25


def test_real_answer_arrives_within_a_virtual_deadline(plugin: StartPlugin) -> None:
    sock = plugin(0.3)
    vclock = VirtualClock()

    async def main() -> None:
        assert await ping(sock, 60) == b"pong"
        assert trio.current_time() == 0  # virtual time stood still while waiting
        assert vclock.pending == 0
        assert vclock.clock.autojump_threshold == 0

    wall = run(main, vclock.clock)
    assert 0.3 <= wall < 1.0
    assert vclock.grace_expiries == 0


def test_virtual_sleeps_cost_no_wall_time(plugin: StartPlugin) -> None:
    sock = plugin(0.3)
    walls: list[float] = []

    async def main() -> None:
        start = time.monotonic()
        await trio.sleep(3600)
        walls.append(time.monotonic() - start)
        assert await ping(sock, 120) == b"pong"
        start = time.monotonic()
        await trio.sleep(3600)
        walls.append(time.monotonic() - start)
        assert trio.current_time() == 7200

    run(main, VirtualClock().clock)
    assert max(walls) < 0.1


def test_virtual_sleep_alongside_real_io(plugin: StartPlugin) -> None:
    """A long virtual sleep waits for the pending real call, then costs nothing."""
    sock = plugin(0.3)
    done: dict[str, float] = {}

    async def sleeper() -> None:
        await trio.sleep(3600)
        done["sleeper"] = trio.current_time()

    async def caller() -> None:
        assert await ping(sock, 60) == b"pong"
        done["caller"] = trio.current_time()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sleeper)
            nursery.start_soon(caller)

    wall = run(main, VirtualClock().clock)
    assert done == {"caller": 0, "sleeper": 3600}
    assert 0.3 <= wall < 1.0


@pytest.mark.parametrize("grace", [0.5, 1.0])
def test_hung_plugin_lets_the_deadline_fire_after_the_grace(
    plugin: StartPlugin, grace: float
) -> None:
    sock = plugin(-1)
    vclock = VirtualClock(grace=grace)

    async def main() -> None:
        with pytest.raises(trio.TooSlowError):
            await ping(sock, 120)
        assert trio.current_time() == 120

    wall = run(main, vclock.clock)
    assert grace <= wall < grace + 0.6
    assert vclock.grace_expiries == 1


def test_after_the_grace_virtual_time_runs_at_full_speed(plugin: StartPlugin) -> None:
    """Once the grace is spent, every later jump is instant, not one grace each."""
    sock = plugin(-1)

    async def ticker() -> None:
        for _ in range(500):
            await trio.sleep(1)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            with pytest.raises(trio.TooSlowError):
                await ping(sock, 1000)

    wall = run(main, VirtualClock(grace=0.3).clock)
    assert 0.3 <= wall < 0.9


def test_nested_stretches_are_counted() -> None:
    vclock = VirtualClock()

    async def main() -> None:
        mock = vclock.clock
        assert (vclock.pending, mock.autojump_threshold) == (0, 0)

        def fail_inside_a_stretch() -> None:
            with real_io():
                assert vclock.pending == 2
                raise KeyError("inner stretch fails")

        with real_io():
            assert (vclock.pending, vclock.suspended) == (1, True)
            assert mock.autojump_threshold == math.inf
            with pytest.raises(KeyError):
                fail_inside_a_stretch()
            assert (vclock.pending, mock.autojump_threshold) == (1, math.inf)
        assert (vclock.pending, vclock.suspended, mock.autojump_threshold) == (0, False, 0)
        with trio.CancelScope() as scope, real_io():
            scope.cancel()
            await trio.sleep(1)
        assert (vclock.pending, mock.autojump_threshold) == (0, 0)

    run(main, vclock.clock)


def test_concurrent_stretches_each_get_their_own_grace() -> None:
    """Autojump stays off while any pending stretch is younger than the grace."""
    vclock = VirtualClock(grace=0.5)
    seen: dict[str, bool] = {}

    async def hold(delay: float, duration: float) -> None:
        await real_sleep(delay)
        with real_io():
            await real_sleep(duration)

    async def observe() -> None:
        start = time.monotonic()
        for label, at in [("0.6s", 0.6), ("1.0s", 1.0), ("1.6s", 1.6)]:
            await real_sleep(start + at - time.monotonic())
            seen[label] = vclock.suspended

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hold, 0, 1.2)  # fresh until 0.5
            nursery.start_soon(hold, 0.3, 1.0)  # fresh until 0.8
            nursery.start_soon(observe)

    run(main, vclock.clock)
    assert seen == {"0.6s": True, "1.0s": False, "1.6s": False}
    assert vclock.pending == 0


def test_the_youngest_stretch_ending_brings_the_oldest_grace_back() -> None:
    """A short call inside a long one does not extend the long one's grace."""
    vclock = VirtualClock(grace=1.0)
    seen: dict[str, bool] = {}

    async def long_call() -> None:
        with real_io():
            await real_sleep(2.0)

    async def short_call() -> None:
        await real_sleep(0.6)
        with real_io():
            await real_sleep(0.1)  # would be fresh until 1.6 had it stayed

    async def observe() -> None:
        start = time.monotonic()
        await real_sleep(0.9)
        seen["0.9s"] = vclock.suspended
        await real_sleep(start + 1.3 - time.monotonic())
        seen["1.3s"] = vclock.suspended

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(long_call)
            nursery.start_soon(short_call)
            nursery.start_soon(observe)

    run(main, vclock.clock)
    assert seen == {"0.9s": True, "1.3s": False}


def test_threshold_set_during_real_io_applies_afterwards() -> None:
    vclock = VirtualClock(autojump_threshold=0)

    async def main() -> None:
        with real_io():
            vclock.autojump_threshold = 0.25
            assert vclock.clock.autojump_threshold == math.inf
        assert vclock.clock.autojump_threshold == 0.25

    run(main, vclock.clock)


def test_no_op_under_a_plain_mockclock_and_the_real_clock(plugin: StartPlugin) -> None:
    sock = plugin(0.05)
    mock = trio.testing.MockClock(autojump_threshold=0)

    async def under_mock() -> None:
        assert VirtualClock.of(trio.lowlevel.current_clock()) is None
        with real_io():
            assert mock.autojump_threshold == 0
        await trio.sleep(3600)

    async def under_real_clock() -> None:
        assert VirtualClock.of(trio.lowlevel.current_clock()) is None
        assert await ping(sock, 10) == b"pong"

    assert run(under_mock, mock) < 0.2
    assert run(under_real_clock) < 1.0
    with real_io():  # outside any trio run
        pass


def test_in_process_peers_are_not_guarded(plugin: StartPlugin) -> None:
    """Talking to a socket of this very process (a mock plugin) keeps delays free."""
    sock_path = plugin(0.05)
    vclock = VirtualClock()

    async def main() -> None:
        left, right = trio.socket.socketpair()
        external = trio.socket.socket(socket.AF_UNIX)
        try:
            with real_io(left):
                assert vclock.pending == 0
            await external.connect(str(sock_path))
            with real_io(external):
                assert vclock.pending == 1
        finally:
            for sock in (left, right, external):
                sock.close()

    run(main, vclock.clock)


def test_real_io_belongs_to_its_own_run() -> None:
    vclock = VirtualClock()

    async def main() -> None:
        with pytest.raises(RuntimeError, match="not the clock of the current trio run"):
            vclock.real_io().__enter__()

    run(main)
    with pytest.raises(RuntimeError, match=r"inside trio\.run"), vclock.real_io():
        pass
    with pytest.raises(ValueError, match="grace"):
        VirtualClock(grace=-1)


def test_real_sleep_is_real_under_a_mockclock() -> None:
    async def main() -> None:
        start = time.monotonic()
        await real_sleep(0.2)
        assert time.monotonic() - start >= 0.2
        with trio.move_on_after(5) as scope:  # virtual: jumps while the thread sleeps
            await real_sleep(10)
        assert scope.cancelled_caught

    assert run(main, trio.testing.MockClock(autojump_threshold=0)) < 1.0


@pytest.fixture
def virtual_clock() -> trio.testing.MockClock:
    """pytest-trio runs the test on the Clock a fixture returns: here a VirtualClock's."""
    return VirtualClock(grace=0.4).clock


async def test_through_the_pytest_trio_clock_fixture(
    virtual_clock: trio.testing.MockClock, plugin: StartPlugin
) -> None:
    vclock = VirtualClock.of(trio.lowlevel.current_clock())
    assert vclock is not None
    assert vclock.clock is virtual_clock
    start = time.monotonic()
    assert await ping(plugin(0.2), 60) == b"pong"
    with pytest.raises(trio.TooSlowError):
        await ping(plugin(-1), 120)
    assert 0.6 <= time.monotonic() - start < 1.5
    assert trio.current_time() == 120


# --------------------------------------------------------------------------- idle parking


def _run_in_thread(main: Callable[[], object], clock: VirtualClock) -> None:
    """``trio.run(main)`` on ``clock`` in a thread; a run still going after 30 s fails the
    test (a parked loop that missed a deadline sleeps for a day)."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            trio.run(main, clock=clock.clock)  # type: ignore[arg-type]
        except BaseException as exc:  # reported below
            failure.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the run hung: a deadline was set while autojump was parked"
    if failure:
        raise failure[0]


class _Passes(trio.abc.Instrument):
    """Counts the run loop's passes, and can wake the loop in the pass that parks it."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.passes = 0
        self.wake: Callable[[], None] | None = None

    def before_io_wait(self, timeout: float) -> None:
        self.passes += 1
        if self.wake is not None and self.clock.parked:
            wake, self.wake = self.wake, None
            trio.lowlevel.current_trio_token().run_sync_soon(wake)


def test_an_idle_run_sleeps_instead_of_spinning() -> None:
    """With nothing runnable and no deadline, an autojumping clock has nothing to jump to:
    the loop parks after a few passes instead of polling again and again."""
    from emulator.clock import park_when_idle

    clock = VirtualClock(autojump_threshold=0)
    counted = _Passes(clock)

    async def main() -> None:
        trio.lowlevel.add_instrument(counted)
        with park_when_idle():
            await trio.to_thread.run_sync(time.sleep, 0.2)  # idle: waits on a thread
        assert counted.passes < 50  # spinning made thousands in 0.2 s
        assert not clock.parked

    _run_in_thread(main, clock)


def test_a_deadline_set_as_the_loop_parks_is_still_jumped_to() -> None:
    """The wake-up lands in the very pass that parks autojump and its task sets a
    deadline: the task's step unparks autojump, so virtual time still jumps."""
    from emulator.clock import park_when_idle

    clock = VirtualClock(autojump_threshold=0)
    counted = _Passes(clock)

    async def main() -> None:
        woken = trio.Event()
        with park_when_idle():
            trio.lowlevel.add_instrument(counted)  # after the parking one: same pass
            counted.wake = woken.set  # delivered in the pass that parks the loop
            await woken.wait()
            start = trio.current_time()
            await trio.sleep(100)
            assert trio.current_time() - start == pytest.approx(100)

    _run_in_thread(main, clock)
