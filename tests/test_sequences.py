"""Every row of ``emulator.protocol.sequences.VOLUME_SEQUENCES`` is what the plugin sees."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from emulator import ContainerSpec, open_engine
from emulator.engine.containers import ContainerError
from emulator.engine.core import Engine
from emulator.mocks.volume import MockVolumePlugin
from emulator.protocol.sequences import VOLUME_SEQUENCES

D = "seqd"


async def _prepare_known(engine: Engine) -> None:
    await engine.volumes.create("v", driver=D)


async def _prepare_at_plugin(engine: Engine) -> None:
    await engine.volumes.store.drivers.get(D)
    await engine.plugins.call(D, "VolumeDriver.Create", {"Name": "v", "Opts": None})


async def _prepare_driver(engine: Engine) -> None:
    await engine.volumes.store.drivers.get(D)


async def _running(engine: Engine) -> None:
    await engine.volumes.create("v", driver=D)
    await engine.containers.run(ContainerSpec(volumes=["v:/v"], name="c", detach=True))


async def _failing(engine: Engine) -> None:
    await engine.volumes.create("v", driver=D, opts={"fail": "mount"})


async def _start_failing(engine: Engine) -> None:
    with pytest.raises(ContainerError):
        await engine.containers.run(ContainerSpec(volumes=["v:/v"]))


Step = Callable[[Engine], Awaitable[object]]

CASES: dict[str, tuple[Step, Step]] = {
    "volume create (new)": (_prepare_driver, lambda e: e.volumes.create("v", driver=D)),
    "volume create (plugin already has it)": (
        _prepare_at_plugin,
        lambda e: e.volumes.create("v", driver=D),
    ),
    "volume create (engine knows it)": (_prepare_known, lambda e: e.volumes.create("v", driver=D)),
    "volume inspect (known)": (_prepare_known, lambda e: e.volumes.inspect("v")),
    "volume ls": (_prepare_known, lambda e: e.volumes.list()),
    "volume rm": (_prepare_known, lambda e: e.volumes.remove("v")),
    "run -v V:/p (V exists), attached, exits": (
        _prepare_known,
        lambda e: e.containers.run(ContainerSpec(command=["true"], volumes=["v:/p"])),
    ),
    "run -v V:/p --volume-driver D (V new)": (
        _prepare_driver,
        lambda e: e.containers.run(ContainerSpec(volumes=["v:/p"], volume_driver=D)),
    ),
    "run --rm -v /p --volume-driver D (anonymous)": (
        _prepare_driver,
        lambda e: e.containers.run(
            ContainerSpec(volumes=["/p"], volume_driver=D, auto_remove=True)
        ),
    ),
    "cp from a running container": (
        _running,
        lambda e: e.containers.copy("c", "/v", e.data_root / "copied"),
    ),
    "daemon shutdown (running container)": (_running, lambda e: e.shutdown()),
    "run -v V:/p with a failing Mount": (_failing, _start_failing),
    "engine restart (one stored volume)": (_prepare_known, lambda e: e.restart()),
}


def test_every_table_row_has_a_case() -> None:
    assert set(CASES) == set(VOLUME_SEQUENCES)


@pytest.mark.parametrize("profile", ["24", "28"])
@pytest.mark.parametrize("operation", sorted(VOLUME_SEQUENCES))
async def test_sequence(short_tmp: Path, operation: str, profile: str) -> None:
    """The volume code of v24.0.9 and v28.5.2 differs only cosmetically: same calls."""
    plugin = MockVolumePlugin(short_tmp / "state", name=D)
    prepare, act = CASES[operation]
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.serve, f"unix:{short_tmp}/run/docker/plugins/{D}.sock")
        async with open_engine(root=short_tmp, profile=profile) as engine:
            await prepare(engine)
            plugin.plugin.reset()
            await act(engine)
            # Taken before the engine's shutdown, which stops a running container.
            seen = tuple(
                r.method.removeprefix("VolumeDriver.")
                for r in plugin.plugin.requests
                if r.method != "Plugin.Activate"
            )
        nursery.cancel_scope.cancel()
    assert seen == VOLUME_SEQUENCES[operation].calls
