"""Every row of ``emulator.protocol.logdriver.sequences.LOG_SEQUENCES``, run against the
built-in mock log driver: the calls it received must be the row's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from emulator import open_engine
from emulator.engine.containers import ContainerError
from emulator.engine.core import Engine
from emulator.engine.log_store import ReadOptions
from emulator.engine.logs import LoggingError
from emulator.mocks.log import MockLogDriver
from emulator.protocol.logdriver.sequences import LOG_SEQUENCES
from tests.logspec import spec

P = "p"


async def _read(engine: Engine, cid: str, *, running: bool) -> None:
    container = engine.containers.get(cid)
    try:
        reading = await engine.logs.open(container, ReadOptions(), running=running)
    except LoggingError:
        return
    async for _ in reading.lines():
        pass
    await reading.aclose()


async def _create(engine: Engine, driver: MockLogDriver) -> None:
    await engine.containers.create(spec(command=["true"], log_driver=P))


async def _run(engine: Engine, driver: MockLogDriver) -> None:
    await engine.containers.run(spec(command=["echo", "x"], log_driver=P))


async def _logs_running(engine: Engine, driver: MockLogDriver) -> None:
    c = await engine.containers.run(spec(command=["sleep", "100"], log_driver=P, detach=True))
    driver.plugin.reset()
    await _read(engine, c.id, running=True)
    during = list(driver.plugin.requests)
    await engine.containers.kill(c.id)
    driver.plugin.requests[:] = during  # the exit's StopLogging is another row


async def _logs_stopped(engine: Engine, driver: MockLogDriver, **opts: str) -> None:
    c = await engine.containers.run(spec(command=["echo", "x"], log_driver=P, log_opts=opts))
    driver.plugin.reset()
    await _read(engine, c.id, running=False)


async def _start_fails(engine: Engine, driver: MockLogDriver) -> None:
    driver.plugin.on("LogDriver.StartLogging", {"Err": "no"})
    with pytest.raises(ContainerError):
        await engine.containers.run(spec(command=["echo", "x"], log_driver=P))


OPERATIONS: dict[str, tuple[Callable[[Engine, MockLogDriver], Awaitable[None]], bool]] = {
    "create --log-driver P": (_create, True),
    "run --log-driver P (exits)": (_run, True),
    "logs (running container)": (_logs_running, True),
    "logs (stopped container)": (_logs_stopped, True),
    "logs (stopped, no ReadLogs capability)": (_logs_stopped, False),
    "logs (stopped, no ReadLogs, cache-disabled=true)": (
        lambda e, d: _logs_stopped(e, d, **{"cache-disabled": "true"}),
        False,
    ),
    "start fails: StartLogging answers Err": (_start_fails, True),
}


def test_every_row_has_an_operation() -> None:
    assert set(OPERATIONS) == set(LOG_SEQUENCES)


@pytest.mark.parametrize("operation", sorted(LOG_SEQUENCES))
async def test_sequence(short_tmp: Path, operation: str) -> None:
    act, read_logs = OPERATIONS[operation]
    driver = MockLogDriver(P, read_logs=read_logs)
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.serve, f"unix:{short_tmp / 'run/docker/plugins' / P}.sock")
        async with open_engine(root=short_tmp) as engine:
            await act(engine, driver)
        nursery.cancel_scope.cancel()
    seen = tuple(
        r.method.removeprefix("LogDriver.")
        for r in driver.plugin.requests
        if r.method.startswith("LogDriver.")
    )
    assert seen == LOG_SEQUENCES[operation].calls
