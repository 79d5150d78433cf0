"""``QuickLock``: a mutex like ``trio.Lock`` that does not yield when it is free."""

from __future__ import annotations

import trio
import trio.testing

from emulator.engine.locks import QuickLock


async def test_a_free_lock_is_taken_without_a_task_switch() -> None:
    lock = QuickLock()
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        async with lock:  # no checkpoint: the other task has not run yet
            assert lock.locked()
            assert ran == []
        await trio.testing.wait_all_tasks_blocked()
    assert ran == ["other"]
    assert not lock.locked()


async def test_a_held_lock_is_waited_for_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    lock = QuickLock()
    order: list[int] = []

    async def worker(index: int) -> None:
        async with lock:
            order.append(index)
            await trio.sleep(1)  # held across a wait: the others queue

    async with trio.open_nursery() as nursery:
        for index in range(4):
            nursery.start_soon(worker, index)
            await trio.testing.wait_all_tasks_blocked()
    assert order == [0, 1, 2, 3]


async def test_waiting_for_the_lock_can_be_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    lock = QuickLock()
    outcome: list[bool] = []

    async def waiter() -> None:
        with trio.move_on_after(1) as scope:
            async with lock:
                raise AssertionError("taken while held")
        outcome.append(scope.cancelled_caught)

    async with lock, trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.sleep(5)
    assert outcome == [True]
    assert not lock.locked()
