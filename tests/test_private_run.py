"""A private ``/run`` that redirects only the socket directory (emulator.engine.private_run).

The plugin is examples/plugins/dirvol.py with ``--tmpfs``: on ``Mount`` it mounts a tmpfs
on the volume's directory, under a path given literally on its command line (not under
the test root), from inside the private mount namespace.  The mount must reach the host
(the engine and the test), as dockerd's ``PropagatedMount`` makes a managed plugin's
mounts reach it, while the redirected ``/run`` must not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from emulator import ContainerSpec, open_engine
from emulator.engine.private_run import private_run_command
from emulator.engine.processes import PluginProcess, PluginStartError, ProcessSpec

DIRVOL = Path(__file__).resolve().parent.parent / "examples" / "plugins" / "dirvol.py"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mount propagation needs root")


def mounts() -> dict[Path, str]:
    """The host's mount points and their file system types."""
    found = {}
    with open("/proc/self/mountinfo") as table:
        for line in table:
            fields = line.split()
            found[Path(fields[4])] = fields[fields.index("-") + 1]
    return found


@pytest.fixture
def elsewhere() -> Iterator[Path]:
    """A directory outside the engine's root, standing for a hard-coded ``/mnt``."""
    base = Path(tempfile.mkdtemp(prefix="pe-i14-prop-", dir="/tmp"))
    try:
        yield base
    finally:
        for mount_point in sorted(mounts(), key=lambda p: len(p.parts), reverse=True):
            if base in mount_point.parents:
                subprocess.run(["umount", "-l", str(mount_point)], check=False)
        shutil.rmtree(base, ignore_errors=True)


def dirvol(root: Path, state: Path, **options: object) -> PluginProcess:
    spec = ProcessSpec(
        "dirvol",
        [
            *(sys.executable, str(DIRVOL), "--socket", "/run/docker/plugins/dirvol.sock"),
            *("--state", str(state), "--tmpfs"),
        ],
        socket=root / "run/docker/plugins/dirvol.sock",
        private_run=True,
        **options,  # type: ignore[arg-type]
    )
    return PluginProcess(spec, root=root)


async def require_namespace(root: Path) -> None:
    command, why = await private_run_command(root, Path("/run"), ["true"])
    if command is None:
        pytest.skip(f"no mount namespace here: {why}")


async def use_a_tmpfs_volume(root: Path, plugin: PluginProcess, volume_dir: Path) -> None:
    """A container mounts the volume; the plugin's tmpfs is the host's view of it."""
    async with open_engine(root=root) as engine:
        await engine.volumes.create("data", driver="dirvol")
        spec = ContainerSpec(volumes=["data:/data"], name="app", detach=True)
        container = await engine.containers.run(spec)
        assert mounts().get(volume_dir) == "tmpfs"  # the plugin's mount reached the host
        host_path = Path(container.mounts[0].path)
        assert host_path == volume_dir
        (host_path / "hello.txt").write_text("from the host")
        # ... and lands in the tmpfs the plugin sees inside its namespace
        assert (Path(f"/proc/{plugin.pid}/root") / str(host_path)[1:] / "hello.txt").exists()
        await engine.containers.stop("app")  # Unmount: the plugin unmounts its tmpfs
        assert volume_dir not in mounts()
        await engine.containers.remove("app")
        await engine.volumes.remove("data")


def run_mounts() -> set[Path]:
    """Mounts at ``/run`` or under ``/run/docker``: where a leaked private ``/run`` would show.

    Other mounts under ``/run`` (network namespaces under ``/run/netns``, say) belong to
    whatever else runs on the machine, such as a parallel test worker.
    """
    return {m for m in mounts() if m == Path("/run") or Path("/run/docker") in (m, *m.parents)}


async def test_a_plugin_mount_under_a_hard_coded_path_reaches_the_host(
    short_tmp: Path, elsewhere: Path
) -> None:
    await require_namespace(short_tmp)
    state = elsewhere / "mnt/x"
    run_before = run_mounts()
    plugin = dirvol(short_tmp, state, propagated_mount=state)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)
        assert mounts().get(state) is not None  # made a shared mount for the plugin's life
        assert not Path("/run/docker/plugins/dirvol.sock").exists()  # not on the host's /run
        assert plugin.socket.is_socket()
        await use_a_tmpfs_volume(short_tmp, plugin, state / "data")
        nursery.cancel_scope.cancel()
    assert state not in mounts()  # the propagated mount is undone...
    assert not (elsewhere / "mnt").exists()  # ...and the directories it made removed
    assert run_mounts() == run_before


async def test_a_shared_host_directory_needs_no_option(short_tmp: Path, elsewhere: Path) -> None:
    """Where the host's mount is shared already (systemd's default), mounts just propagate."""
    await require_namespace(short_tmp)
    state = elsewhere / "shared"
    state.mkdir()
    await trio.run_process(["mount", "--bind", str(state), str(state)])
    await trio.run_process(["mount", "--make-shared", str(state)])
    plugin = dirvol(short_tmp, state)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)
        await use_a_tmpfs_volume(short_tmp, plugin, state / "data")
        nursery.cancel_scope.cancel()


async def test_a_plugin_mount_stays_private_without_a_shared_mount(
    short_tmp: Path, elsewhere: Path
) -> None:
    """On a private host mount nothing propagates: the host keeps seeing the bare directory."""
    await require_namespace(short_tmp)
    state = elsewhere / "private"
    state.mkdir()
    await trio.run_process(["mount", "--bind", str(state), str(state)])
    await trio.run_process(["mount", "--make-private", str(state)])
    plugin = dirvol(short_tmp, state)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.run)
        async with open_engine(root=short_tmp) as engine:
            await engine.volumes.create("data", driver="dirvol")
            spec = ContainerSpec(volumes=["data:/data"], name="app", detach=True)
            await engine.containers.run(spec)
            assert state / "data" not in mounts()
            await engine.containers.stop("app")
        nursery.cancel_scope.cancel()


async def test_propagated_mount_must_be_absolute(short_tmp: Path) -> None:
    with pytest.raises(ValueError, match="propagated_mount must be absolute"):
        dirvol(short_tmp, short_tmp / "state", propagated_mount="mnt/x")


async def test_propagated_mount_failure_is_a_start_error(short_tmp: Path) -> None:
    """A file where the directory should be: the plugin does not start, and says why."""
    (short_tmp / "file").write_text("")
    plugin = dirvol(short_tmp, short_tmp / "state", propagated_mount=short_tmp / "file/x")
    async with trio.open_nursery() as nursery:
        with pytest.raises(PluginStartError, match=r"cannot share .*/file/x with the host"):
            await nursery.start(plugin.run)
