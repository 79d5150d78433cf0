"""dockerd's metrics endpoint and metrics collector plugins (moby/moby v28.5.2
``internal/metrics``; v24-v27 ``daemon/metrics.go``), and a managed logging plugin's FIFO.

A managed metrics plugin is started on enable (``StartMetrics``, empty body), reads
``GET /metrics`` through ``/run/docker/metrics.sock`` in its own view, and is stopped at
shutdown (``StopMetrics``).  The names are dockerd's.
"""

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from emulator.engine.core import open_engine
from emulator.engine.metrics import MetricsService
from emulator.engine.processes import private_run_support
from emulator.protocol.logdriver.sequences import METRICS_SEQUENCES
from emulator.protocol.profiles import get_profile
from tests.logspec import spec
from tests.plugin_package import script_package

SCRIPT = f"""#!{sys.executable}
import os, socket, trio
from emulator.mocks import MockPlugin

sock_dir = os.environ.get("EMULATOR_PLUGIN_SOCKET_DIR", "/run/docker/plugins")
seen = os.path.join(os.getcwd(), "seen.txt")

def scrape():
    s = socket.socket(socket.AF_UNIX)
    s.connect("/run/docker/metrics.sock")
    s.sendall(b"GET /metrics HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data.decode()

def mount_options():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == "/run/docker/metrics.sock":
                return fields[5]
    return "not mounted"

async def start(request):
    try:
        text = await trio.to_thread.run_sync(scrape)
    except OSError as exc:
        text = "scrape failed: " + str(exc)
    with open(seen, "w") as f:
        f.write(text)
    with open(seen + ".mount", "w") as f:
        f.write(mount_options())
    return {{}}

plugin = MockPlugin(("MetricsCollector",), {{
    "MetricsCollector.StartMetrics": start,
    "MetricsCollector.StopMetrics": {{}},
}})
trio.run(plugin.serve, "unix:" + sock_dir + "/metrics.sock")
"""

CONFIG: dict[str, Any] = {
    "description": "a metrics collector that scrapes once on StartMetrics",
    "documentation": "https://example.invalid/",
    "entrypoint": ["/bin/collector"],
    "interface": {"socket": "metrics.sock", "types": ["docker.metricscollector/1.0"]},
    "network": {"type": "host"},
    "workdir": "/work",
}


def plugin_dir(base: Path) -> Path:
    return script_package(base / "pkg", SCRIPT, CONFIG)


def http_get(path: Path, target: str) -> tuple[str, str]:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))
        s.sendall(f"GET {target} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    return head, body


async def test_endpoint_serves_dockerd_names(short_tmp: Path) -> None:
    async with open_engine(short_tmp) as engine:
        await engine.metrics.ensure_listening(engine.nursery)
        await engine.containers.run(spec(command=["true"]))
        path = short_tmp / "run/docker/metrics.sock"
        head, body = await trio.to_thread.run_sync(http_get, path, "/metrics")
        assert head.startswith("HTTP/1.1 200")
        assert "text/plain; version=0.0.4" in head
        for name in (
            'engine_daemon_container_actions_seconds_count{action="create"} 2.0',
            'engine_daemon_container_actions_seconds_count{action="commit"} 1.0',
            'engine_daemon_container_states_containers{state="stopped"} 1.0',
            "engine_daemon_engine_cpus_cpus",
            "engine_daemon_events_total",
            'engine_daemon_engine_info{architecture="',
            "logger_log_write_operations_failed_total",
        ):
            assert name in body
        assert "_created" not in body
        head, body = await trio.to_thread.run_sync(http_get, path, "/other")
        assert head.startswith("HTTP/1.1 404")
        assert body == "404 page not found\n"
    assert not path.exists()


@pytest.mark.parametrize("profile", ["28", "27"])
async def test_metrics_plugin_started_on_enable_and_stopped_at_shutdown(
    short_tmp: Path, profile: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = plugin_dir(short_tmp)
    async with open_engine(short_tmp, profile=profile) as engine:
        managed = engine.managed_plugins
        managed.create("collector", source)
        await managed.enable("collector")
        (start,) = engine.journal.calls("MetricsCollector.StartMetrics")
        assert start.request_body == b""
        assert engine.metrics.started == ["collector:latest"]
        plugin = managed.resolve("collector")
        seen = plugin.rootfs / "work/seen.txt"
        prefix, _ = await private_run_support()
        if prefix is not None:  # inside its namespace the socket is at /run/docker/metrics.sock
            text = seen.read_text()
            assert "engine_daemon_engine_info" in text, text
            # internal/metrics/plugin_unix.go: Options {"bind", "ro"}
            options = Path(f"{seen}.mount").read_text().split(",")
            assert "ro" in options, options
        assert engine.journal.calls("MetricsCollector.StopMetrics") == []
    (stop,) = engine.journal.calls("MetricsCollector.StopMetrics")
    assert stop.request_body == b""
    calls = [e.method.removeprefix("MetricsCollector.") for e in engine.journal.calls()]
    table = METRICS_SEQUENCES
    expected = table["plugin enable (managed metrics collector)"].calls
    assert tuple(calls) == expected + table["daemon shutdown"].calls
    # The mock answers {}: v28 ignores the body; v24-v27 decode {"Err"} and find none.
    assert "Error starting metrics collector plugin" not in caplog.text


async def test_v27_decodes_the_start_answer(
    short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    source = plugin_dir(short_tmp)
    async with open_engine(short_tmp, profile="27") as engine:
        engine.faults.add(call="MetricsCollector.StartMetrics", respond={"status": 200, "body": ""})
        engine.managed_plugins.create("collector", source)
        await engine.managed_plugins.enable("collector")
    assert "could not start metrics plugin: EOF" in caplog.text
    caplog.clear()
    async with open_engine(short_tmp, profile="28") as engine:
        engine.faults.add(call="MetricsCollector.StartMetrics", respond={"status": 200, "body": ""})
        await engine.managed_plugins.disable("collector")
        await engine.managed_plugins.enable("collector")
    assert "Error starting metrics collector plugin" not in caplog.text


class _NoContainers:
    """A :class:`~emulator.engine.metrics.StateSource` for a registry on its own."""

    def container_states(self) -> tuple[int, int, int]:
        return (0, 0, 0)

    def events_logged(self) -> int:
        return 0

    def event_subscribers(self) -> int:
        return 0


def _count_and_sum(body: str, action: str) -> tuple[str, str]:
    lines = body.splitlines()
    prefix = "engine_daemon_container_actions_seconds"
    count = next(line for line in lines if line.startswith(f'{prefix}_count{{action="{action}"}}'))
    total = next(line for line in lines if line.startswith(f'{prefix}_sum{{action="{action}"}}'))
    return count.split()[-1], total.split()[-1]


def test_observations_before_the_first_scrape_are_all_counted(tmp_path: Path) -> None:
    """The registry (prometheus_client) is made on first use; what was observed before,
    and the one observation of 0 per action dockerd's ``init`` makes, are all in it."""
    service = MetricsService(_NoContainers(), root=tmp_path, profile=get_profile("28"))
    body = service.render().decode()
    for action in ("start", "changes", "commit", "create", "delete"):
        assert _count_and_sum(body, action) == ("1.0", "0.0")
    fresh = MetricsService(_NoContainers(), root=tmp_path, profile=get_profile("28"))
    for _ in range(2500):  # past the observations kept before the registry is made
        fresh.observe("start", 0.5)
    fresh.observe("create", 0.25)
    body = fresh.render().decode()
    assert _count_and_sum(body, "start") == ("2501.0", "1250.0")
    assert _count_and_sum(body, "create") == ("2.0", "0.25")
    fresh.observe("create", 0.25)
    assert _count_and_sum(fresh.render().decode(), "create") == ("3.0", "0.5")
