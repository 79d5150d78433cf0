"""Testing a volume plugin with the emulator: examples/plugins/dirvol.py, a small Python one.

Run: ``pytest examples/test_dirvol_plugin.py``.  The fixtures come with the emulator
(docs/pytest-plugin.md); the engine runs on virtual time, so dockerd's 2-minute Mount
deadline costs milliseconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from emulator import ContainerSpec, EngineError, ProcessSpec

DIRVOL = Path(__file__).parent / "plugins" / "dirvol.py"


#: A command that runs until stopped and ends at the stop signal (PID 1 ignores SIGTERM
#: unless it traps it: a plain `sleep` would wait for dockerd's 10 s stop timeout).
RUNS = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]


@pytest.fixture
def dirvol(plugin_process, tmp_path):
    """The plugin, listening where the emulated dockerd looks for a plugin named dirvol."""
    command = [sys.executable, str(DIRVOL), "--socket", "{socket}", "--state", str(tmp_path)]
    return plugin_process(ProcessSpec("dirvol", command))


def test_a_container_writes_into_the_volume(plugin_engine, dirvol, tmp_path):
    plugin_engine.volumes.create("data", driver="dirvol")
    command = ["sh", "-c", "echo hi > /data/hello.txt && cat /data/hello.txt"]
    plugin_engine.containers.run(ContainerSpec(command=command, volumes=["data:/data"], name="app"))
    assert plugin_engine.containers.logs("app") == "hi\n"  # the container's own output
    mounted = plugin_engine.assert_called_once("VolumeDriver.Mount", Name="data")
    unmounted = plugin_engine.assert_called_once("VolumeDriver.Unmount", Name="data")
    assert unmounted.request["ID"] == mounted.request["ID"]  # dockerd's mount ID, both times
    assert (tmp_path / "data" / "hello.txt").read_text() == "hi\n"


def test_dockerd_asks_get_before_every_mount(plugin_engine, dirvol):
    plugin_engine.volumes.create("data", driver="dirvol")
    with plugin_engine.journal.window() as start:
        plugin_engine.containers.run(
            ContainerSpec(command=RUNS, volumes=["data:/data"], name="app", detach=True)
        )
    assert [e.method for e in start.entries] == [
        "VolumeDriver.Get",
        "VolumeDriver.Get",
        "VolumeDriver.Mount",
    ]


@pytest.mark.faults(call="VolumeDriver.Mount", delay=150)
def test_a_mount_slower_than_dockerds_deadline(plugin_engine, dirvol):
    plugin_engine.volumes.create("data", driver="dirvol")
    with pytest.raises(EngineError, match="context deadline exceeded") as failed:
        plugin_engine.containers.run(
            ContainerSpec(command=RUNS, volumes=["data:/data"], name="app", detach=True)
        )
    assert "did not answer VolumeDriver.Mount within dockerd's deadline" in failed.value.hint
    assert plugin_engine.assert_called("VolumeDriver.Mount").duration == 120  # engine seconds
    plugin_engine.assert_not_called("VolumeDriver.Unmount")  # a failed mount is not unmounted


@pytest.mark.faults(call="VolumeDriver.Remove", respond={"status": 500, "err": "busy"})
def test_a_failed_remove_keeps_the_volume(plugin_engine, dirvol):
    plugin_engine.volumes.create("data", driver="dirvol")
    with pytest.raises(EngineError, match="Remove: busy"):
        plugin_engine.volumes.remove("data")
    assert plugin_engine.volumes.inspect("data").Driver == "dirvol"
