"""The pytest plugin as plugin authors meet it: inner test files run with ``pytester``."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

#: A small legacy volume plugin in Python: answers every call with success; logs a line.
PLUGIN = textwrap.dedent(
    """
    import http.server, json, os, socketserver, sys

    path = sys.argv[1]
    VOLUMES = set()
    if "--silent" in sys.argv:
        print("warming up, never binding", flush=True)
        import time; time.sleep(3600)
    os.makedirs(os.path.dirname(path), exist_ok=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            size = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(size) or "{}")
            answer = {"Implements": ["VolumeDriver"]} if self.path == "/Plugin.Activate" else {}
            if self.path == "/VolumeDriver.Create":
                VOLUMES.add(request["Name"])
            if self.path == "/VolumeDriver.Get":
                name = request["Name"]
                known = name in VOLUMES
                answer = {"Volume": {"Name": name}} if known else {"Err": "no such volume"}
            if self.path == "/VolumeDriver.Mount":
                answer = {"Mountpoint": "/mnt/v1"}
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            print(f"served {self.path}", flush=True)

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    print(f"listening on {path}", flush=True)
    Server(path, Handler).serve_forever()
    """
)


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with the Python plugin script and a strict-markers ini."""
    pytester.makefile(".py", pyplugin=PLUGIN)
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    return pytester


def test_sync_fixture_drives_a_plugin_and_is_reset_between_tests(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest
        from emulator import ContainerSpec

        def test_first(plugin_engine, mock_volume_plugin):
            plugin_engine.volumes.create("v1", driver="mockvol", opts={"size": "1G"})
            spec = ContainerSpec(volumes=["v1:/data"], name="c1", detach=True)
            plugin_engine.containers.run(spec)
            plugin_engine.faults.add(call="VolumeDriver.Remove", fault="reset")
            plugin_engine.assert_called("Mount", Name="v1", plugin="mockvol")
            plugin_engine.assert_called_once("VolumeDriver.Create", Opts={"size": "1G"})
            plugin_engine.assert_calls(["Plugin.Activate", "Create", "Mount"])
            plugin_engine.assert_not_called("VolumeDriver.Unmount")
            methods = [e.method for e in plugin_engine.calls("VolumeDriver.*", Name="v1")]
            assert methods[:2] == ["VolumeDriver.Get", "VolumeDriver.Create"]
            assert methods[-1] == "VolumeDriver.Mount"

        def test_second_sees_nothing_of_the_first(plugin_engine):
            assert plugin_engine.journal_entries() == ()
            assert plugin_engine.volumes.list() == ([], [])
            assert plugin_engine.containers.list(all=True) == []
            assert plugin_engine.engine.faults.faults == []
            assert plugin_engine.engine.plugins.cached() == []
            assert not plugin_engine.sockets_dir.exists()
        """
    )
    inner.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_failures_show_the_nearest_calls(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        from emulator.testing import call

        def test_called(plugin_engine, mock_volume_plugin):
            plugin_engine.volumes.create("v1", driver="mockvol")
            plugin_engine.assert_called("VolumeDriver.Create", Name="v2")

        def test_order(plugin_engine, mock_volume_plugin):
            plugin_engine.volumes.create("v1", driver="mockvol")
            plugin_engine.assert_calls([call("Create", Name="v1"), "Capabilities"])

        def test_once(plugin_engine, mock_volume_plugin):
            plugin_engine.volumes.create("v1", driver="mockvol")
            plugin_engine.volumes.create("v2", driver="mockvol")
            plugin_engine.assert_called_once("VolumeDriver.Create")

        def test_not(plugin_engine, mock_volume_plugin):
            plugin_engine.volumes.create("v1", driver="mockvol")
            plugin_engine.assert_not_called("Create")

        def test_empty(plugin_engine):
            plugin_engine.assert_called("Mount")
        """
    )
    result = inner.runpytest()
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: expected a call VolumeDriver.Create(Name='v2')",
            "E       nearest of the 4 calls seen:",
            'E         #3 mockvol VolumeDriver.Create {"Name":"v1","Opts":{}} -> 200 {}',
            "E             Name: 'v1' != expected 'v2'",
            "E       AssertionError: expected calls in order:",
            "E         ok      1. Create(Name='v1')",
            "E         MISSING 2. Capabilities()",
            "E       call 2 was seen, but not after #3 (where call 1 matched): at #1",
            "E       AssertionError: expected exactly one call VolumeDriver.Create(), got 2:",
            "E       AssertionError: expected no call Create(), got 1:",
            "E       the journal is empty: the engine made no plugin call",
        ]
    )
    # the assertion helpers hide their own frames: the user's line is the last shown
    assert "assertions.py" not in result.stdout.str()


def test_wait_for_and_its_timeout(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import threading, time
        import pytest

        def test_wait(plugin_engine, mock_volume_plugin):
            def later():
                time.sleep(0.05)
                plugin_engine.volumes.create("late", driver="mockvol")
            thread = threading.Thread(target=later)
            thread.start()
            entry = plugin_engine.wait_for("VolumeDriver.Create", Name="late", timeout=5)
            thread.join()
            assert entry.plugin == "mockvol"

        def test_timeout(plugin_engine, mock_volume_plugin):
            plugin_engine.volumes.create("v1", driver="mockvol")
            plugin_engine.wait_for("VolumeDriver.Mount", Name="v1", timeout=0.05)
        """
    )
    result = inner.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["E       AssertionError: no call VolumeDriver.Mount(Name='v1') within 0.05s"]
    )


def test_faults_marker(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest
        from emulator import EngineError

        FULL = {"status": 500, "body": '{"Err":"full"}'}

        @pytest.mark.faults(call="VolumeDriver.Create", respond=FULL)
        def test_one_fault(plugin_engine, mock_volume_plugin):
            with pytest.raises(EngineError, match="full"):
                plugin_engine.volumes.create("v1", driver="mockvol")
            plugin_engine.assert_called("Create", fault=lambda f: f is not None, status=500)

        @pytest.mark.faults({"call": "VolumeDriver.Get", "nth": 1, "delay": 0.01},
                            {"call": "VolumeDriver.Remove", "fault": "reset"})
        def test_two_faults(plugin_engine):
            assert len(plugin_engine.engine.faults.faults) == 2

        def test_none_left(plugin_engine):
            assert plugin_engine.engine.faults.faults == []
        """
    )
    inner.runpytest().assert_outcomes(passed=3)


def test_scenario_marker(inner: pytest.Pytester) -> None:
    inner.makefile(
        ".yaml",
        good="""
        version: 1
        name: good
        engine: {clock: virtual, seed: 1}
        plugins: [{name: demo, builtin: volume}]
        steps:
          - volume.create: {name: data, driver: demo}
          - expect.calls: [VolumeDriver.Create]
        """,
        bad="""
        version: 1
        name: bad
        engine: {clock: virtual, seed: 1}
        plugins: [{name: demo, builtin: volume}]
        steps:
          - volume.create: {name: data, driver: demo}
          - expect.calls: [VolumeDriver.Mount]
        """,
    )
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.scenario("good.yaml")
        def test_good():
            pass

        @pytest.mark.scenario("bad.yaml")
        def test_bad():
            pass
        """
    )
    result = inner.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*scenario bad (*bad.yaml) failed, seed 1:", "*step 2 (line *"])


def test_plugin_process(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        f"""
        import logging, os, sys
        import pytest
        from emulator import ProcessSpec
        from emulator.engine.processes import PluginStartError

        PY = {sys.executable!r}
        SCRIPT = os.path.abspath("pyplugin.py")
        PIDS = []

        def test_starts_and_is_driven(plugin_engine, plugin_process, caplog):
            caplog.set_level(logging.DEBUG, logger="emulator.plugin.output")
            proc = plugin_process(ProcessSpec("py", [PY, SCRIPT, "{{socket}}"],
                                              private_run=False))
            PIDS.append(proc.pid)
            plugin_engine.volumes.create("v1", driver="py")
            plugin_engine.assert_called("VolumeDriver.Create", Name="v1", plugin="py")
            plugin_engine.wait_for("Create", timeout=1)
            plugin_engine.settle_output()
            assert "served /VolumeDriver.Create" in proc.output
            assert any(getattr(r, "plugin", None) == "py" and "served" in r.getMessage()
                       for r in caplog.records)

        def test_previous_process_is_gone(plugin_engine):
            with pytest.raises(ProcessLookupError):
                os.kill(PIDS[0], 0)

        def test_hard_coded_run_path(plugin_engine, plugin_process):
            proc = plugin_process(ProcessSpec("hard", [PY, SCRIPT,
                                                       "/run/docker/plugins/hard.sock"]))
            assert (plugin_engine.root / "run/docker/plugins/hard.sock").exists()
            plugin_engine.volumes.create("v1", driver="hard")

        def test_startup_timeout(plugin_process):
            with pytest.raises(PluginStartError, match="warming up, never binding"):
                plugin_process(ProcessSpec("slow", [PY, SCRIPT, "{{socket}}", "--silent"],
                               startup_timeout=0.5, private_run=False))
        """
    )
    result = inner.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=4)


def test_async_fixture_with_pytest_trio(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.trio
        @pytest.mark.faults(call="VolumeDriver.Remove", fault="reset")
        async def test_async(plugin_engine_async):
            eng = plugin_engine_async
            await eng.mock_volume_plugin("m")
            await eng.volumes.create("v1", driver="m")
            eng.assert_called("Create", Name="v1")
            assert (await eng.wait_for("Create", timeout=1)).plugin == "m"
            assert len(eng.faults.faults) == 1
        """
    )
    inner.runpytest("-p", "trio").assert_outcomes(passed=1)


def test_async_fixture_with_anyio_on_trio(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "trio"

        @pytest.mark.anyio
        async def test_async(plugin_engine_async):
            await plugin_engine_async.mock_volume_plugin("m")
            await plugin_engine_async.volumes.create("v1", driver="m")
            plugin_engine_async.assert_called_once("Create", Name="v1")
        """
    )
    inner.runpytest_subprocess("-p", "no:trio").assert_outcomes(passed=1)


def test_plain_pytest_without_pytest_trio(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        def test_sync(plugin_engine, mock_volume_plugin):
            plugin_engine.volumes.create("v1", driver="mockvol")
            plugin_engine.assert_called("Create")
        """
    )
    inner.runpytest_subprocess("-p", "no:trio", "-p", "no:anyio").assert_outcomes(passed=1)


def test_one_engine_per_module_when_asked(inner: pytest.Pytester) -> None:
    inner.makeini("[pytest]\naddopts = -p no:cacheprovider\nemulator_engine_scope = module\n")
    test = """
        ROOTS = []

        def test_a(plugin_engine):
            ROOTS.append(plugin_engine.root)

        def test_b(plugin_engine):
            assert plugin_engine.root == ROOTS[0]
            open("/dev/shm/pe-roots-{name}", "a").write(str(ROOTS[0]) + "\\n")
        """
    inner.makepyfile(
        test_one=test.replace("{name}", inner.path.name),
        test_two=test.replace("{name}", inner.path.name),
    )
    try:
        inner.runpytest().assert_outcomes(passed=4)
        roots = Path(f"/dev/shm/pe-roots-{inner.path.name}").read_text().split()
    finally:
        os.unlink(f"/dev/shm/pe-roots-{inner.path.name}")
    assert len(set(roots)) == 2


def test_restart_keeps_volumes_and_forgets_activations(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        def test_restart(plugin_engine, mock_volume_plugin):
            plugin_engine.volumes.create("v1", driver="mockvol")
            plugin_engine.restart()
            assert plugin_engine.engine.restarts == 1
            assert [v.Name for v in plugin_engine.volumes.list()[0]] == ["v1"]
            assert len(plugin_engine.calls("Plugin.Activate")) == 2
        """
    )
    inner.runpytest().assert_outcomes(passed=1)


def test_journal_window_on_both_fixtures(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest
        from emulator import ContainerSpec

        def test_sync(plugin_engine, mock_volume_plugin):
            plugin_engine.volumes.create("v1", driver="mockvol")
            with plugin_engine.journal.window() as w:
                spec = ContainerSpec(volumes=["v1:/data"], name="c1", detach=True)
                plugin_engine.containers.run(spec)
                assert [e.method for e in w.entries][-1] == "VolumeDriver.Mount"
            plugin_engine.containers.stop("c1")
            assert [e.method for e in w.entries] == ["VolumeDriver.Get", "VolumeDriver.Get",
                                                     "VolumeDriver.Mount"]
            w.assert_calls(["Get", "Mount"])
            w.assert_not_called("VolumeDriver.Create")  # made before the window
            w.assert_not_called("VolumeDriver.Unmount")  # made after it
            with pytest.raises(AssertionError, match="expected a call VolumeDriver.Unmount"):
                w.assert_called("VolumeDriver.Unmount")
            assert w.calls("Mount", Name="v1")[0].request["Name"] == "v1"

        @pytest.mark.trio
        async def test_async(plugin_engine_async):
            eng = plugin_engine_async
            await eng.mock_volume_plugin("mockvol")
            await eng.volumes.create("v1", driver="mockvol")
            with eng.journal.window() as w:
                await eng.volumes.remove("v1")
            w.assert_calls(["Get", "Remove"])
            assert w.assert_called_once("VolumeDriver.Remove").status == 200
        """
    )
    inner.runpytest("-p", "trio").assert_outcomes(passed=2)
