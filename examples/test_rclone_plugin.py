"""Testing a Docker volume plugin with docker-plugin-emulator: rclone's ``serve docker``.

A complete test file to copy into your plugin's repository.  Swap the command in the
``rclone`` fixture for your plugin's (any language: the plugin only has to serve its
socket) and keep the tests' shape: start the plugin, drive it as dockerd would through
``plugin_engine``, inject faults, assert on what it was asked and what it answered.

Run: ``pytest examples/ -n 2`` (needs ``rclone`` and FUSE: ``apt-get install rclone
fuse3``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from emulator import ContainerSpec, EngineError, ProcessSpec
from emulator.testing import PluginEngine, SyncPluginProcess, call

pytestmark = pytest.mark.skipif(
    shutil.which("rclone") is None or not os.path.exists("/dev/fuse"),
    reason="needs rclone (with `serve docker`) and /dev/fuse",
)


@pytest.fixture
def workdir() -> Iterator[Path]:
    """rclone's own files (FUSE mountpoints, cache, config) and a backend folder."""
    path = Path(tempfile.mkdtemp(prefix="rclone-"))
    (path / "rclone.conf").touch()
    (path / "backend").mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def rclone(
    plugin_engine: PluginEngine,
    plugin_process: Callable[[ProcessSpec], SyncPluginProcess],
    workdir: Path,
) -> Iterator[SyncPluginProcess]:
    """``rclone serve docker`` listening where the emulated dockerd looks for ``rclone``."""
    process = plugin_process(
        ProcessSpec(
            "rclone",
            [
                "rclone",
                "serve",
                "docker",
                "--socket-addr={socket}",  # ROOT/run/docker/plugins/rclone.sock
                f"--base-dir={workdir}/mnt",
                f"--cache-dir={workdir}/cache",
                f"--config={workdir}/rclone.conf",
                "--forget-state",
                "--no-spec",
                "-v",
            ],
            # rclone's FUSE mounts must be visible to this test: no private /run namespace.
            private_run=False,
            grace=2.0,
        )
    )
    yield process
    # Stop what still runs, as `docker stop` would: rclone unmounts cleanly on Unmount.
    for container in plugin_engine.containers.list():
        plugin_engine.containers.stop(container.id)
    process.terminate()  # before `workdir` is removed (the test's end would kill it too)


def create(engine: PluginEngine, workdir: Path, name: str) -> None:
    """rclone needs a backend on Create: a local folder here."""
    folder = workdir / "backend" / name
    folder.mkdir()
    engine.volumes.create(name, driver="rclone", opts={"remote": f":local:{folder}"})


def test_create_asks_get_then_create(
    plugin_engine: PluginEngine, rclone: SyncPluginProcess, workdir: Path
) -> None:
    create(plugin_engine, workdir, "data")
    plugin_engine.assert_calls(
        [
            "Plugin.Activate",
            "VolumeDriver.Capabilities",
            call("VolumeDriver.Get", Name="data"),
            call(
                "VolumeDriver.Create",
                Name="data",
                Opts={"remote": f":local:{workdir}/backend/data"},
            ),
        ]
    )
    assert plugin_engine.volumes.inspect("data").Driver == "rclone"


def test_a_container_writes_through_the_fuse_mount(
    plugin_engine: PluginEngine, rclone: SyncPluginProcess, workdir: Path
) -> None:
    create(plugin_engine, workdir, "data")
    command = ["sh", "-c", "echo through FUSE > /data/hello.txt"]
    plugin_engine.containers.run(ContainerSpec(command=command, volumes=["data:/data"], name="app"))
    mounted = plugin_engine.assert_called_once("VolumeDriver.Mount", Name="data")
    unmounted = plugin_engine.wait_for("VolumeDriver.Unmount", Name="data", timeout=10)
    assert unmounted.request["ID"] == mounted.request["ID"]  # dockerd reuses the mount ID
    assert (workdir / "backend/data/hello.txt").read_text() == "through FUSE\n"


def test_rclone_error_text_reaches_the_user(
    plugin_engine: PluginEngine, rclone: SyncPluginProcess
) -> None:
    with pytest.raises(EngineError, match="volume must have either remote or backend type"):
        plugin_engine.volumes.create("nobackend", driver="rclone")
    plugin_engine.assert_called("VolumeDriver.Create", Name="nobackend", status=500)


@pytest.mark.faults(
    call="VolumeDriver.Mount", respond={"status": 500, "body": '{"Err": "disk on fire"}'}
)
def test_a_failed_mount_is_never_unmounted(
    plugin_engine: PluginEngine, rclone: SyncPluginProcess, workdir: Path
) -> None:
    create(plugin_engine, workdir, "data")
    with pytest.raises(EngineError, match="disk on fire"):
        plugin_engine.containers.run(
            ContainerSpec(command=["true"], volumes=["data:/data"], name="app", detach=True)
        )
    plugin_engine.assert_called("VolumeDriver.Mount", Name="data", fault=lambda f: f is not None)
    plugin_engine.assert_not_called("VolumeDriver.Unmount")


def test_rclone_output_is_kept_for_the_report(
    plugin_engine: PluginEngine, rclone: SyncPluginProcess
) -> None:
    """What rclone writes is kept (and shown in the report if the test fails)."""
    plugin_engine.settle_output()
    assert any("Serving unix socket" in line for line in rclone.output)
