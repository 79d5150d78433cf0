"""The fixtures' clock: virtual time by default, the real clock when asked (docs/virtual-time.md).

Inner test files are written the way README.md and docs/pytest-plugin.md show, and run
with ``pytester``; the figures are wall-clock seconds measured inside the inner tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.engine_api import DOCKER

pytest_plugins = ["pytester"]

DIRVOL = Path(__file__).resolve().parent.parent / "examples" / "plugins" / "dirvol.py"


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    return pytester


def test_a_150s_mount_delay_costs_under_a_second_with_the_sync_fixture(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(
        """
        import time
        import pytest
        from emulator import ContainerSpec, EngineError

        @pytest.mark.faults(call="VolumeDriver.Mount", delay=150)
        def test_mount_slower_than_the_deadline(plugin_engine, mock_volume_plugin):
            started = time.monotonic()
            plugin_engine.volumes.create("data", driver="mockvol")
            with pytest.raises(EngineError, match="context deadline exceeded"):
                spec = ContainerSpec(volumes=["data:/data"], name="app", detach=True)
                plugin_engine.containers.run(spec)
            mount = plugin_engine.assert_called("VolumeDriver.Mount", Name="data")
            assert mount.duration == 120  # dockerd's Mount deadline, in engine seconds
            assert time.monotonic() - started < 1

        @pytest.mark.faults(call="VolumeDriver.Mount", delay=100)
        def test_mount_within_the_deadline(plugin_engine, mock_volume_plugin):
            started = time.monotonic()
            plugin_engine.volumes.create("data", driver="mockvol")
            spec = ContainerSpec(volumes=["data:/data"], name="app", detach=True)
            plugin_engine.containers.run(spec)
            assert plugin_engine.assert_called("VolumeDriver.Mount").duration == 100
            assert time.monotonic() - started < 1
        """
    )
    inner.runpytest().assert_outcomes(passed=2)


def test_real_plugin_io_completes_on_virtual_time(inner: pytest.Pytester, short_tmp: Path) -> None:
    """A real plugin that takes 0.5 s (real) to mount: the deadline does not fire early,
    and the wait costs no virtual time."""
    inner.makepyfile(
        f"""
        import time
        from emulator import ContainerSpec, ProcessSpec

        def test_slow_real_mount(plugin_engine, plugin_process):
            plugin_process(ProcessSpec("dirvol", [{sys.executable!r}, {str(DIRVOL)!r}, "--socket",
                           "{{socket}}", "--state", {str(short_tmp)!r}, "--mount-seconds",
                           "0.5"], private_run=False))
            plugin_engine.volumes.create("data", driver="dirvol")
            started = time.monotonic()
            spec = ContainerSpec(volumes=["data:/data"], name="app", detach=True)
            plugin_engine.containers.run(spec)
            took = time.monotonic() - started
            mount = plugin_engine.assert_called("VolumeDriver.Mount", status=200)
            assert 0.5 <= took < 5, took
            assert mount.duration < 0.5  # no virtual time passed while it worked
        """
    )
    inner.runpytest().assert_outcomes(passed=1)


def test_the_real_clock_by_marker_and_by_ini(inner: pytest.Pytester) -> None:
    test_file = """
        import time
        import pytest
        from emulator import ContainerSpec

        MARK

        @pytest.mark.faults(call="VolumeDriver.Mount", delay=0.3)
        def test_a_delay_takes_real_time(plugin_engine, mock_volume_plugin):
            started = time.monotonic()
            plugin_engine.volumes.create("data", driver="mockvol")
            spec = ContainerSpec(volumes=["data:/data"], name="app", detach=True)
            plugin_engine.containers.run(spec)
            assert time.monotonic() - started >= 0.3

        @pytest.mark.emulator_clock("virtual")
        @pytest.mark.faults(call="VolumeDriver.Mount", delay=30)
        def test_the_marker_wins(plugin_engine, mock_volume_plugin):
            started = time.monotonic()
            plugin_engine.volumes.create("data", driver="mockvol")
            spec = ContainerSpec(volumes=["data:/data"], name="app", detach=True)
            plugin_engine.containers.run(spec)
            assert time.monotonic() - started < 1
        """
    inner.makepyfile(test_file.replace("MARK", 'pytestmark = pytest.mark.emulator_clock("real")'))
    inner.runpytest().assert_outcomes(passed=2)
    inner.makepyfile(test_file.replace("MARK", ""))
    inner.makeini("[pytest]\naddopts = -p no:cacheprovider\nemulator_clock = real\n")
    inner.runpytest().assert_outcomes(passed=2)


def test_clock_mistakes_are_clear(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.emulator_clock("fast")
        def test_bad_marker(plugin_engine):
            pass
        """
    )
    result = inner.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*emulator_clock takes one argument, 'virtual' or 'real'*"])
    result.stdout.no_fnmatch_line("*Traceback*")
    inner.makeini("[pytest]\nemulator_clock = sometimes\n")
    result = inner.runpytest()
    result.stderr.fnmatch_lines(["*emulator_clock must be virtual or real, not 'sometimes'*"])
    inner.makeini("[pytest]\nemulator_real_io_grace = soon\n")
    result = inner.runpytest()
    result.stderr.fnmatch_lines(["*emulator_real_io_grace must be a number of seconds*'soon'*"])


def test_trio_tests_get_virtual_time_from_the_virtual_clock_fixture(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(
        """
        import time
        import pytest
        import trio
        from emulator import ContainerSpec

        @pytest.mark.trio
        @pytest.mark.faults(call="VolumeDriver.Mount", delay=100)
        async def test_virtual(plugin_engine_async, virtual_clock):
            started = time.monotonic()
            eng = plugin_engine_async
            await eng.mock_volume_plugin("mockvol")
            await eng.volumes.create("data", driver="mockvol")
            spec = ContainerSpec(volumes=["data:/data"], name="app", detach=True)
            await eng.containers.run(spec)
            assert time.monotonic() - started < 1
            assert trio.current_time() >= 100

        @pytest.mark.trio
        @pytest.mark.emulator_clock("real")
        async def test_real(virtual_clock):
            started = time.monotonic()
            await trio.sleep(0.2)
            assert time.monotonic() - started >= 0.2
        """
    )
    inner.runpytest("-p", "trio").assert_outcomes(passed=2)


@pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")
def test_the_docker_cli_under_virtual_time(inner: pytest.Pytester) -> None:
    """A docker command holds virtual time while it works (real I/O, within the grace);
    a delay inside it still jumps once the grace is spent.  docker-py's requests come
    from the test's thread, so a docker-py client switches the engine to the real clock."""
    inner.makeini(
        "[pytest]\naddopts = --strict-markers -p no:cacheprovider\nemulator_real_io_grace = 1\n"
    )
    inner.makepyfile(
        """
        import time
        import pytest

        def test_plain_commands(plugin_engine, mock_volume_plugin):
            plugin_engine.docker("volume", "create", "-d", "mockvol", "data").check()
            run = plugin_engine.docker("run", "--rm", "-v", "data:/data", "busybox", "true")
            assert run.ok, run.output
            plugin_engine.assert_called("VolumeDriver.Unmount", Name="data")

        @pytest.mark.faults(call="VolumeDriver.Mount", delay=150)
        def test_a_deadline_inside_a_command(plugin_engine, mock_volume_plugin):
            plugin_engine.docker("volume", "create", "-d", "mockvol", "data").check()
            started = time.monotonic()
            run = plugin_engine.docker("run", "--rm", "-v", "data:/data", "busybox", "true")
            assert "context deadline exceeded" in run.output
            assert time.monotonic() - started < 10  # the grace (1 s), not 120 s

        def test_docker_py_switches_to_real_time(plugin_engine, mock_volume_plugin):
            client = plugin_engine.docker_client(version="1.51")
            client.volumes.create("data", driver="mockvol")
            assert plugin_engine.run(_clock_is_real)

        async def _clock_is_real():
            import trio
            from emulator.clock import VirtualClock
            return VirtualClock.of(trio.lowlevel.current_clock()).real_time
        """
    )
    inner.runpytest().assert_outcomes(passed=3)
