"""Plugin and engine lifecycle steps of scenarios fire exactly as described."""

from __future__ import annotations

import textwrap

import pytest

from emulator.scenario.loader import load_scenario_text
from emulator.scenario.runner import ScenarioResult, run_scenario_sync
from tests.rclone import rclone_available


def run(body: str) -> ScenarioResult:
    text = textwrap.dedent(
        """
        version: 1
        name: lifecycle
        engine: {clock: virtual, seed: 5}
        plugins:
          - {name: lp, builtin: volume}
        """
    ) + textwrap.dedent(body)
    result = run_scenario_sync(load_scenario_text(text))
    assert result.setup_error is None
    return result


def messages(result: ScenarioResult) -> list[str]:
    return [f"{s.index}. {s.label}: {s.message}" for s in result.steps if not s.passed]


def test_killed_plugin_refuses_connections_for_15s_then_starts_again() -> None:
    result = run(
        """
        steps:
          - volume.create: {name: v, driver: lp}
          - plugin.kill: lp
          - volume.inspect: {name: v}
            expect:
              error: "connect: connection refused"
              duration: {min: 15s, max: 15s}
          - plugin.start: lp
          - volume.inspect: {name: v}
        """
    )
    assert result.passed, messages(result)


def test_stopped_plugin_hangs_until_dockerds_deadline_then_continues() -> None:
    result = run(
        """
        steps:
          - volume.create: {name: v, driver: lp}
          - plugin.stop: lp
          - volume.inspect: {name: v}
            expect:
              error: "context deadline exceeded"
              duration: {min: 1m, max: 1m}
          - plugin.continue: lp
          - volume.inspect: {name: v}
        """
    )
    assert result.passed, messages(result)


def test_removed_socket_keeps_open_connections_but_fails_new_lookups() -> None:
    result = run(
        """
        steps:
          - volume.create: {name: v, driver: lp}
          - plugin.remove_socket: lp
          - volume.inspect: {name: v}
            name: the idle keep-alive connection still works, as with dockerd
          - engine.restart: {}
            name: the new daemon cannot find the plugin; the volume is kept
            expect: {duration: {min: 15s, max: 15s}}
          - volume.inspect: {name: v}
            expect: {error: 'error looking up volume plugin lp: plugin "lp" not found'}
        """
    )
    assert result.passed, messages(result)


def test_restarted_plugin_forgets_its_mounts_but_keeps_volumes() -> None:
    result = run(
        """
        steps:
          - volume.create: {name: v, driver: lp}
          - container.run: {name: c, volumes: ["v:/v"], detach: true}
          - plugin.restart: lp
          - container.stop: c
            name: the plugin lost the mount; dockerd's Unmount error is only logged
          - volume.inspect: {name: v}
          - expect.calls:
              since: start
              calls:
                - VolumeDriver.Mount: {Name: v}
                - VolumeDriver.Unmount: {Name: v}
        """
    )
    assert result.passed, messages(result)


def test_engine_crash_sends_no_unmount_and_restart_does() -> None:
    result = run(
        """
        steps:
          - volume.create: {name: v, driver: lp}
          - container.run: {name: a, volumes: ["v:/v"], detach: true}
          - engine.crash: {}
          - expect.no_calls: [VolumeDriver.Unmount]
          - container.start: a
          - engine.restart: {}
          - expect.calls: [VolumeDriver.Unmount]
        """
    )
    assert result.passed, messages(result)


def test_faults_add_and_clear_in_the_middle() -> None:
    result = run(
        """
        steps:
          - volume.create: {name: v, driver: lp}
          - faults.add:
              - match: {call: VolumeDriver.Get}
                respond: {status: 500, body: "boom"}
          - volume.inspect: {name: v}
            expect: {error: "get v: no such volume"}
          - faults.clear: {}
          - volume.inspect: {name: v}
        """
    )
    assert result.passed, messages(result)


def test_parallel_steps_overlap_in_engine_time() -> None:
    result = run(
        """
        steps:
          - parallel:
              - sleep: 10s
              - sleep: 20s
          - sleep: 1s
        """
    )
    assert result.passed, messages(result)
    assert result.engine_seconds == pytest.approx(21)


@pytest.mark.skipif(rclone_available() is not None, reason=str(rclone_available()))
def test_a_real_plugin_under_the_virtual_clock() -> None:
    """rclone is an external process: its answers take real time, the deadline stays honest,
    while injected delays and dockerd's deadlines still cost no wall time."""
    text = textwrap.dedent(
        """
        version: 1
        name: rclone on the virtual clock
        engine: {clock: virtual, seed: 2}
        plugins:
          - name: rc
            command: [rclone, serve, docker, "--socket-addr={socket}", "--base-dir={root}/rcbase",
                      "--cache-dir={root}/rccache", "--config={root}/rclone.conf", --forget-state,
                      --no-spec]
        faults:
          - match: {plugin: rc, call: VolumeDriver.Mount, nth: 1}
            delay: 150s
        steps:
          - volume.create: {name: r1, driver: rc, opts: {remote: ":memory:"}}
          - container.run: {name: c1, volumes: ["r1:/data"]}
            expect: {error: "context deadline exceeded", duration: {min: 2m, max: 2m}}
          - container.run: {name: c2, volumes: ["r1:/data"], detach: true}
          - container.stop: c2
          - container.rm: c1
          - container.rm: c2
          - volume.rm: {name: r1}
          - expect.calls:
              - VolumeDriver.Create: {Name: r1}
              - VolumeDriver.Mount: {Name: r1}
              - VolumeDriver.Unmount: {Name: r1}
              - VolumeDriver.Remove: {Name: r1}
        """
    )
    import time

    started = time.perf_counter()
    result = run_scenario_sync(load_scenario_text(text))
    assert result.setup_error is None, result.setup_error
    assert result.passed, messages(result)
    assert result.engine_seconds >= 120
    assert time.perf_counter() - started < 20
