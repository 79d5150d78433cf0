"""200 generated tests using the fixtures pass serially and with ``-n 2``, and leave nothing.

The generated suite mixes sync tests on the shared engine (mock plugin, faults marker,
containers), trio tests on ``plugin_engine_async``, and tests that start a real plugin
process (every fifth one in a private ``/run`` namespace).  Each test first checks that
it sees nothing of the tests before it.  Its conftest checks, once every worker is done,
that no plugin process is left (they carry a marker in their environment; a mount
namespace ends with its last process), and that the temp base (``EMULATOR_TMPDIR``:
roots, sockets, data-roots) is empty; the outer test checks the same again.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

N_TESTS = 200

PLUGIN = textwrap.dedent(
    """
    import http.server, json, os, socketserver, sys

    path = sys.argv[1]
    os.makedirs(os.path.dirname(path), exist_ok=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer = {"Implements": ["VolumeDriver"]} if self.path == "/Plugin.Activate" else {}
            if self.path == "/VolumeDriver.Get":
                answer = {"Err": "no such volume"}
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    Server(path, Handler).serve_forever()
    """
)

CONFTEST = textwrap.dedent(
    """
    import os, pathlib

    MARK = os.environ["PE_SUITE_MARK"]

    def ancestors():
        pids, pid = set(), os.getpid()
        while pid > 1:
            pids.add(pid)
            pid = int(pathlib.Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
        return pids

    def leftovers():
        found, mine = [], ancestors()
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    environ = pathlib.Path(f"/proc/{pid}/environ").read_bytes()
                except OSError:
                    continue
                if f"PE_SUITE_MARK={MARK}".encode() in environ and int(pid) not in mine:
                    found.append(f"process {pid}")
        base = pathlib.Path(os.environ["EMULATOR_TMPDIR"])
        found.extend(f"temp {p}" for p in base.iterdir())
        return found

    def pytest_sessionfinish(session):
        if hasattr(session.config, "workerinput"):
            return  # an xdist worker: the controller checks once every worker is done
        left = leftovers()
        if left:
            print("LEFT BEHIND:", left)
            session.exitstatus = 3
        else:
            print("NOTHING LEFT BEHIND")
    """
)

HEADER = textwrap.dedent(
    f"""
    import os, sys
    import pytest
    from emulator import ContainerSpec, ProcessSpec

    PY = {sys.executable!r}
    SCRIPT = os.path.abspath("pyplugin.py")
    ENV = {{"PE_SUITE_MARK": os.environ["PE_SUITE_MARK"]}}
    REFUSED = {{"status": 500, "body": '{{"Err":"no"}}'}}

    def fresh(engine):
        assert engine.journal_entries() == ()
        assert engine.engine.faults.faults == []
        assert engine.engine.plugins.cached() == []
    """
)


def _generated_test(i: int) -> str:
    kind = i % 10
    if kind in (0, 5):
        private = "True" if kind == 0 else "False"
        return textwrap.dedent(
            f"""
            def test_process_{i}(plugin_engine, plugin_process):
                fresh(plugin_engine)
                proc = plugin_process(ProcessSpec("p{i}", [PY, SCRIPT, "{{socket}}"], env=ENV,
                                      private_run={private}))
                plugin_engine.volumes.create("v{i}", driver="p{i}")
                plugin_engine.assert_called_once("Create", Name="v{i}", plugin="p{i}")
            """
        )
    if kind == 3:
        return textwrap.dedent(
            f"""
            @pytest.mark.trio
            async def test_async_{i}(plugin_engine_async):
                eng = plugin_engine_async
                await eng.mock_volume_plugin("m")
                await eng.volumes.create("v{i}", driver="m")
                eng.assert_called("Create", Name="v{i}")
            """
        )
    if kind == 7:
        return textwrap.dedent(
            f"""
            @pytest.mark.faults(call="VolumeDriver.Create", respond=REFUSED)
            def test_fault_{i}(plugin_engine, mock_volume_plugin):
                with pytest.raises(Exception, match="no"):
                    plugin_engine.volumes.create("v{i}", driver="mockvol")
                plugin_engine.assert_called("Create", Name="v{i}", fault=lambda f: f)
            """
        )
    return textwrap.dedent(
        f"""
        def test_mock_{i}(plugin_engine, mock_volume_plugin):
            fresh(plugin_engine)
            assert plugin_engine.volumes.list() == ([], [])
            plugin_engine.volumes.create("v{i}", driver="mockvol")
            spec = ContainerSpec(volumes=["v{i}:/data"], name="c{i}", detach=True)
            plugin_engine.containers.run(spec)
            plugin_engine.assert_calls(["Create", ("Mount", {{"Name": "v{i}"}})])
        """
    )


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The generated suite in a pytester dir; yields its (short) temp base."""
    base = Path(tempfile.mkdtemp(prefix="pe-s-", dir="/dev/shm"))
    monkeypatch.setenv("EMULATOR_TMPDIR", str(base))
    monkeypatch.setenv("PE_SUITE_MARK", uuid.uuid4().hex)
    pytester.makefile(".py", pyplugin=PLUGIN)
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider -p trio\n")
    pytester.makepyfile(test_generated=HEADER + "".join(_generated_test(i) for i in range(N_TESTS)))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _marked_processes() -> list[str]:
    needle = f"PE_SUITE_MARK={os.environ['PE_SUITE_MARK']}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if needle in Path(f"/proc/{pid}/environ").read_bytes():
                    found.append(pid)
            except OSError:
                continue
    return found


@pytest.mark.parametrize("workers", [None, "2"], ids=["serial", "xdist-n2"])
def test_generated_suite_passes_and_leaves_nothing(
    suite: Path, pytester: pytest.Pytester, workers: str | None
) -> None:
    args = ["-n", workers] if workers else []
    result = pytester.runpytest_subprocess(*args, "-s", timeout=600)
    result.assert_outcomes(passed=N_TESTS)
    result.stdout.fnmatch_lines(["*NOTHING LEFT BEHIND*"])
    assert list(suite.iterdir()) == []
    assert _marked_processes() == []
