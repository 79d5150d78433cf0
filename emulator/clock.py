"""Virtual time that stays honest while a real plugin process is working.

With trio's ``MockClock(autojump_threshold=0)`` every delay on trio's clock is free: as
soon as all tasks are blocked, the clock jumps to the next deadline.  That is what makes
dockerd's 2-minute ``Mount`` deadline or its 15 s lookup backoff cost nothing in a test.
It is also wrong as soon as one of those blocked tasks is waiting for an *external*
process (a real plugin): trio cannot tell "blocked on a plugin that will answer in 30 ms"
from "blocked for good", so it jumps, and the 2-minute deadline fires at once.

:class:`VirtualClock` is a ``MockClock`` plus a guard against that:

* :meth:`VirtualClock.real_io` (or the module-level :func:`real_io`, which finds the
  current run's clock) marks a stretch of real I/O.  While any such stretch is *fresh*,
  autojump is suspended by setting the ``MockClock``'s public ``autojump_threshold`` to
  ``inf``; trio then simply sleeps in the kernel until the plugin's bytes arrive.  The
  marks are counted, so nesting and concurrent calls compose: the configured threshold
  comes back when the last one ends.
* The **grace**: a stretch stays fresh for ``grace`` *real* seconds (default 1.0).
  When every pending stretch is older than that, autojump resumes, so a plugin that
  hangs forever still lets dockerd's 2-minute deadline fire, after about ``grace``
  seconds of wall time instead of two real minutes.  A stretch that started later
  gets its own full grace.

The grace is measured with :func:`time.monotonic` by a watcher that does not depend on
the virtual clock (which is frozen while the guard holds, so a ``trio.sleep`` could
never end): one trio *system task* per run, spawned on first use, that sleeps in a
worker thread (:func:`real_sleep`) until the youngest pending stretch turns ``grace``
old, then re-evaluates.  It sleeps at most once per grace period however many calls
come and go, costs nothing while no real I/O is pending, and is cancelled with the
run.  Entering and leaving a stretch are plain synchronous bookkeeping (no await).

``MockClock`` cannot be subclassed (trio marks it final and refuses at runtime) and
trio's run loop only autojumps a ``MockClock``, so a :class:`VirtualClock` *wraps* one:
pass :attr:`VirtualClock.clock` to ``trio.run`` (or return it from a pytest fixture)::

    vclock = VirtualClock(grace=1.0)
    trio.run(main, clock=vclock.clock)

    # in the transport, around one round trip to an external plugin:
    with real_io(sock):
        await send_request(...)
        response = await read_response(...)

See docs/virtual-time.md for the design and its limits.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import socket as _stdsocket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    import trio.testing

__all__ = ["VirtualClock", "is_in_process_peer", "park_when_idle", "real_io", "real_sleep"]

LOG = logging.getLogger("emulator.clock")

#: Attribute under which a VirtualClock hangs itself on the MockClock it wraps, so that
#: :meth:`VirtualClock.of` finds it from ``trio.lowlevel.current_clock()``.
_GUARD_ATTRIBUTE = "_emulator_virtual_clock"

#: Worker threads that sleep in real time (never more than a handful at once).
_SLEEPERS = trio.CapacityLimiter(math.inf)

_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


async def real_sleep(seconds: float) -> None:
    """Sleep ``seconds`` of real (wall-clock) time, whatever clock the run uses.

    Under trio's real clock this is ``trio.sleep``.  Under a ``MockClock`` a trio sleep
    would be skipped (autojump) or never end (frozen clock), so a worker thread sleeps
    instead; cancelling wakes it at once.  While the thread sleeps, the calling task is
    blocked as far as trio is concerned: combine with :func:`real_io` to keep a
    :class:`VirtualClock` from jumping meanwhile.
    """
    if seconds <= 0:
        await trio.lowlevel.checkpoint()
        return
    if not _is_mock_clock(trio.lowlevel.current_clock()):
        await trio.sleep(seconds)
        return
    wake = threading.Event()
    try:
        await trio.to_thread.run_sync(wake.wait, seconds, abandon_on_cancel=True, limiter=_SLEEPERS)
    finally:
        wake.set()  # an abandoned (cancelled) sleeper returns to trio's thread cache now


def _mock_clock_type() -> type[trio.testing.MockClock]:
    """trio's ``MockClock``, importing ``trio.testing`` on first use.

    ``trio.testing`` imports pytest whenever pytest is installed, only to borrow its
    ``ExceptionInfo`` for ``RaisesGroup`` (a tenth of a second, a quarter of a scenario
    run's start-up).  A process that has not imported pytest itself (the command line)
    imports ``trio.testing`` with pytest hidden, and trio uses its own ``ExceptionInfo``;
    under pytest, pytest is already imported and is used as usual.
    """
    if "trio.testing" not in sys.modules and "pytest" not in sys.modules:
        sys.modules["pytest"] = None  # type: ignore[assignment]  # import pytest -> ImportError
        try:
            import trio.testing
        finally:
            del sys.modules["pytest"]
    import trio.testing

    return trio.testing.MockClock


def _is_mock_clock(clock: trio.abc.Clock) -> bool:
    """True for trio's ``MockClock`` (which exists only once ``trio.testing`` is imported)."""
    testing = sys.modules.get("trio.testing")
    return testing is not None and isinstance(clock, testing.MockClock)


class VirtualClock:
    """A ``MockClock`` whose autojump waits for real plugin I/O, within a real-time grace.

    ``autojump_threshold`` is the ``MockClock`` setting to use whenever no fresh real
    I/O is pending (0: jump as soon as every task is blocked; ``inf``: never jump, move
    time with :meth:`jump` only).  ``grace`` is how many real seconds one stretch of
    real I/O may keep the clock from jumping (0 turns the guard off; ``inf`` never gives
    up).  The clock's rate is 0: virtual time moves only by jumps, unless
    :attr:`real_time` is switched on.
    """

    def __init__(self, autojump_threshold: float = 0.0, *, grace: float = 1.0) -> None:
        if not grace >= 0:
            raise ValueError(f"grace must be a number of seconds >= 0, not {grace!r}")
        self._clock = _mock_clock_type()(autojump_threshold=autojump_threshold)
        self._threshold = self._clock.autojump_threshold
        self._grace = float(grace)
        # Pending stretches of real I/O: key -> real start time.  Keys only grow, so
        # insertion order is start order and the last entry is the youngest.
        self._pending: dict[int, float] = {}
        self._keys = itertools.count()
        self._suspended = False
        self._real_time = False
        self._parked = False
        self._watched_run: trio.lowlevel.TrioToken | None = None
        self._wake_watcher: trio.Event | None = None
        self._watcher_sleep: tuple[trio.CancelScope, float] | None = None
        #: How many times autojump resumed with real I/O still pending (grace ran out).
        self.grace_expiries = 0
        setattr(self._clock, _GUARD_ATTRIBUTE, self)

    def __repr__(self) -> str:
        mode = " real_time" if self._real_time else ""
        return (
            f"<VirtualClock time={self._clock.current_time():.6f}{mode} "
            f"threshold={self._threshold} grace={self._grace} pending={len(self._pending)}>"
        )

    @staticmethod
    def of(clock: trio.abc.Clock) -> VirtualClock | None:
        """The VirtualClock wrapping ``clock``, or None if ``clock`` is not one's."""
        guard = getattr(clock, _GUARD_ATTRIBUTE, None)
        return guard if isinstance(guard, VirtualClock) else None

    @property
    def clock(self) -> trio.testing.MockClock:
        """The ``MockClock`` to hand to ``trio.run(..., clock=...)`` or a pytest fixture."""
        return self._clock

    @property
    def autojump_threshold(self) -> float:
        """The configured threshold, in force whenever no fresh real I/O is pending."""
        return self._threshold

    @autojump_threshold.setter
    def autojump_threshold(self, value: float) -> None:
        self._threshold = float(value)
        self._apply()

    @property
    def real_time(self) -> bool:
        """True while time runs as on the wall clock (rate 1, no jumps); default False.

        Switching it on makes the clock behave as trio's real clock (a 2-minute deadline
        costs two real minutes); switching it off makes time virtual again.  Set it from
        inside the run this clock drives (or before the run starts).
        """
        return self._real_time

    @real_time.setter
    def real_time(self, value: bool) -> None:
        self._real_time = bool(value)
        self._clock.rate = 1.0 if self._real_time else 0.0
        self._apply()

    @property
    def grace(self) -> float:
        """Real seconds one stretch of real I/O may hold autojump off."""
        return self._grace

    @property
    def pending(self) -> int:
        """How many stretches of real I/O are in progress (fresh or not)."""
        return len(self._pending)

    @property
    def suspended(self) -> bool:
        """True while fresh real I/O holds autojump off."""
        return self._suspended

    def current_time(self) -> float:
        """The virtual time."""
        return self._clock.current_time()

    def jump(self, seconds: float) -> None:
        """Move virtual time forward by ``seconds``, as ``MockClock.jump`` does."""
        self._clock.jump(seconds)

    @contextlib.contextmanager
    def real_io(self) -> Iterator[None]:
        """Mark the body as real I/O: no autojump until it ends or ``grace`` runs out.

        Must be used inside the trio run this clock drives.  Entering and leaving are
        synchronous; an exception or cancellation inside the body ends the stretch too.
        """
        try:
            run_clock = trio.lowlevel.current_clock()
        except RuntimeError:
            raise RuntimeError("VirtualClock.real_io() must be used inside trio.run") from None
        if run_clock is not self._clock:
            raise RuntimeError("this VirtualClock is not the clock of the current trio run")
        self._ensure_watcher()
        key = next(self._keys)
        self._pending[key] = time.monotonic()
        self._apply()
        try:
            yield
        finally:
            del self._pending[key]
            self._apply()

    @property
    def parked(self) -> bool:
        """True while an idle run's autojump is parked (see :func:`park_when_idle`)."""
        return self._parked

    def park(self, parked: bool) -> None:
        """Park autojump (``inf``) while the run is idle with no deadline, or unpark it
        (see :func:`park_when_idle`); from inside the run."""
        if parked != self._parked:
            self._parked = parked
            self._apply()

    def _fresh_until(self) -> float:
        """Real time at which the youngest pending stretch stops holding autojump off."""
        if not self._pending:
            return -math.inf
        return next(reversed(self._pending.values())) + self._grace

    def _apply(self) -> None:
        """Bring the MockClock's threshold in line with the pending stretches."""
        suspend = time.monotonic() < self._fresh_until()
        if self._suspended and not suspend and self._pending:
            self.grace_expiries += 1
            LOG.info(
                "real I/O pending for more than %gs of real time (%d stretch(es)): "
                "virtual time runs again",
                self._grace,
                len(self._pending),
            )
        self._suspended = suspend
        idle = suspend or self._real_time or self._parked
        target = math.inf if idle else self._threshold
        if self._clock.autojump_threshold != target:
            self._clock.autojump_threshold = target
        if suspend:
            if self._wake_watcher is not None:
                self._wake_watcher.set()
            if self._watcher_sleep is not None and self._watcher_sleep[1] > self._fresh_until():
                self._watcher_sleep[0].cancel()  # the youngest stretch ended: wake up earlier

    def _ensure_watcher(self) -> None:
        token = trio.lowlevel.current_trio_token()
        if self._watched_run is token or self._grace in (0.0, math.inf):
            return
        self._watched_run = token
        self._wake_watcher = None
        trio.lowlevel.spawn_system_task(self._watch, name="emulator.clock real-I/O grace")

    async def _watch(self) -> None:
        """Resume autojump when the youngest pending stretch is ``grace`` real seconds old."""
        while True:
            if self._suspended:
                until = self._fresh_until()
                with trio.CancelScope() as scope:
                    self._watcher_sleep = (scope, until)
                    await real_sleep(until - time.monotonic())
                self._watcher_sleep = None
                self._apply()
            else:
                self._wake_watcher = trio.Event()
                await self._wake_watcher.wait()


def is_in_process_peer(peer: trio.socket.SocketType) -> bool:
    """True for a unix socket whose other end was opened by this very process."""
    if peer.family != _stdsocket.AF_UNIX:
        return False
    try:
        raw = peer.getsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_PEERCRED, _PEERCRED.size)
    except OSError:  # not connected (yet, or any more)
        return False
    pid, _uid, _gid = _PEERCRED.unpack(raw)
    return bool(pid == os.getpid())


def real_io(
    peer: trio.socket.SocketType | None = None,
) -> contextlib.AbstractContextManager[None]:
    """Guard a stretch of real I/O if the current run's clock is a :class:`VirtualClock`.

    A no-op under any other clock (trio's real clock, a plain ``MockClock``) and outside
    a trio run, so callers can use it unconditionally.  With ``peer`` (a connected
    socket) it is also a no-op when the other end is a unix socket of this process (an
    in-process mock plugin: its delays are on trio's clock and must stay free).
    """
    try:
        clock = trio.lowlevel.current_clock()
    except RuntimeError:
        return contextlib.nullcontext()
    guard = VirtualClock.of(clock)
    if guard is None or (peer is not None and is_in_process_peer(peer)):
        return contextlib.nullcontext()
    return guard.real_io()


#: Consecutive zero-timeout passes of the run loop after which it is asked whether it
#: is idle (anything less than a few passes of a busy loop is left alone).
_IDLE_PASSES = 8


class _IdleParking(trio.abc.Instrument):
    """Blocks an idle run loop that an autojumping clock would otherwise spin.

    With ``autojump_threshold=0`` trio polls for I/O with a zero timeout whenever no
    task is runnable, ready to jump to the next deadline; when there is no deadline at
    all (every task waits for I/O, an event, another thread) it finds nothing to jump
    to and polls again at once, for as long as the run stays idle.  An engine thread
    between two calls of a synchronous test spun so, a core's worth of CPU and the
    GIL taken from the test.  After a few empty passes this instrument looks: nothing
    runnable and no deadline means nothing can happen but I/O, so autojump is parked
    (``inf``) and trio sleeps in the kernel.  Any task step unparks it first (a task is
    what can set a deadline: a wake-up by I/O, another thread, even the zero-timeout
    poll during which it was parked), as does any wait that ends.  Virtual time is
    unchanged: it had nowhere to jump to.
    """

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._passes = 0

    def before_io_wait(self, timeout: float) -> None:
        if timeout != 0:
            self._passes = 0
            return
        self._passes += 1
        if self._passes < _IDLE_PASSES:
            return
        self._passes = 0
        stats = trio.lowlevel.current_statistics()
        if stats.tasks_runnable == 0 and stats.seconds_to_next_deadline == math.inf:
            self._clock.park(True)

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if self._clock.parked:
            self._passes = 0
            self._clock.park(False)

    def after_io_wait(self, timeout: float) -> None:
        if timeout != 0 and self._clock.parked:
            self._clock.park(False)


@contextlib.contextmanager
def park_when_idle() -> Iterator[None]:
    """While the body runs, an idle trio run on a :class:`VirtualClock` sleeps in the
    kernel instead of spinning (see :class:`_IdleParking`); a no-op on other clocks."""
    guard = VirtualClock.of(trio.lowlevel.current_clock())
    if guard is None:
        yield
        return
    instrument = _IdleParking(guard)
    trio.lowlevel.add_instrument(instrument)
    try:
        yield
    finally:
        trio.lowlevel.remove_instrument(instrument)
        guard.park(False)
