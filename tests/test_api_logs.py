"""Logging with the real docker CLI (v28) against the emulator: ``--log-driver`` and
``--log-opt`` on run/create, ``docker logs`` (running, stopped, ``--tail``, ``--since``,
``-f``, with and without ``ReadLogs``), ``docker inspect`` and ``docker info``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest

from emulator.mocks.log import MockLogDriver
from tests.engine_api import DOCKER, Served, served

pytestmark = pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")


@attrs.frozen
class Env:
    s: Served
    reader: MockLogDriver
    writer: MockLogDriver
    """``nolog``: a plugin without ReadLogs (dockerd's local cache answers)."""


@pytest.fixture
async def env(short_tmp: Path) -> AsyncIterator[Env]:
    reader = MockLogDriver("mocklog")
    writer = MockLogDriver("nolog", read_logs=False)
    async with served(short_tmp, mocks=(), plugins={"mocklog": reader, "nolog": writer}) as s:
        yield Env(s, reader, writer)


async def test_run_delivers_both_lines_with_their_sources(env: Env) -> None:
    result = await env.s.docker(
        "run", "--log-driver", "mocklog", "--log-opt", "k=v", "--name", "app",
        "busybox", "sh", "-c", "echo out; echo err >&2",
    )  # fmt: skip
    assert result.rc == 0, result.err
    cid = env.s.engine.containers.get("app").id
    assert sorted((r.source, r.text) for r in env.reader.entries(cid)) == [
        ("stderr", "err"),
        ("stdout", "out"),
    ]
    (start,) = env.reader.plugin.calls("LogDriver.StartLogging")
    assert start.json()["Info"]["Config"] == {"k": "v"}
    assert start.json()["Info"]["ContainerName"] == "/app"


async def test_a_40k_line_is_three_partial_records(env: Env) -> None:
    result = await env.s.docker(
        "run", "--log-driver", "mocklog", "--name", "big", "busybox",
        "sh", "-c", "printf '%40960s\\n' x",
    )  # fmt: skip
    assert result.rc == 0, result.err
    records = env.reader.entries(env.s.engine.containers.get("big").id)
    assert [len(r.line) for r in records] == [16384, 16384, 8192]
    assert [(r.partial.ordinal, r.partial.last) for r in records if r.partial] == [
        (1, False),
        (2, False),
        (3, True),
    ]


async def test_unknown_log_driver_is_refused_at_create(env: Env) -> None:
    # dockerd's test hook: lookups of this name give up after 2 s instead of 15 s
    # (the CLI is a real process, so this test runs on the real clock).
    name = "this-plugin-does-not-exist"
    result = await env.s.docker("create", "--log-driver", name, "busybox", "true")
    assert result.rc != 0
    assert (
        f'Error response from daemon: error looking up logging plugin {name}: plugin "{name}" '
        "not found" in result.err
    )
    assert env.s.engine.containers.list(all=True) == []


@pytest.mark.parametrize("driver", ["mocklog", "nolog", "json-file", "local"])
async def test_logs_of_a_stopped_container(env: Env, driver: str) -> None:
    await env.s.docker(
        "run", "--log-driver", driver, "--name", "c", "busybox",
        "sh", "-c", "echo one; echo two; echo three >&2",
    )  # fmt: skip
    logs = await env.s.docker("logs", "c")
    assert logs.rc == 0, logs.err
    assert logs.out == "one\ntwo\n"
    assert logs.err == "three\n"
    # stdout and stderr are copied concurrently (as in dockerd): their order varies,
    # so --tail is checked on one stream
    await env.s.docker("run", "--log-driver", driver, "--name", "t", "busybox", "seq", "5")
    tail = await env.s.docker("logs", "--tail", "2", "t")
    assert tail.out == "4\n5\n"
    if driver == "mocklog":
        calls = [r.method for r in env.reader.plugin.requests if r.method != "Plugin.Activate"]
        assert calls[3:7] == [  # run: Capabilities, StartLogging, StopLogging; then logs:
            "LogDriver.Capabilities",
            "LogDriver.StartLogging",
            "LogDriver.ReadLogs",
            "LogDriver.StopLogging",
        ]


async def test_logs_since_filters_by_time(env: Env) -> None:
    await env.s.docker(
        "run", "--log-driver", "mocklog", "--name", "c", "busybox", "echo", "early",
    )  # fmt: skip
    later = await env.s.docker("logs", "--since", str(int(time.time()) + 3600), "c")
    assert later.rc == 0
    assert later.out == ""
    earlier = await env.s.docker("logs", "--since", "1h", "c")
    assert earlier.out == "early\n"


async def test_logs_with_cache_disabled_is_not_supported(env: Env) -> None:
    await env.s.docker(
        "run", "--log-driver", "nolog", "--log-opt", "cache-disabled=true", "--name", "c",
        "busybox", "echo", "x",
    )  # fmt: skip
    logs = await env.s.docker("logs", "c")
    assert logs.rc != 0
    assert "configured logging driver does not support reading" in logs.err


async def test_inspect_shows_log_config_and_info_shows_the_default(env: Env) -> None:
    await env.s.docker(
        "create", "--log-driver", "mocklog", "--log-opt", "a=b", "--name", "c", "busybox", "true",
    )  # fmt: skip
    inspect = await env.s.docker("inspect", "-f", "{{json .HostConfig.LogConfig}}", "c")
    assert inspect.out.strip() == '{"Type":"mocklog","Config":{"a":"b"}}'
    default = await env.s.docker("create", "--name", "d", "busybox", "true")
    assert default.rc == 0
    inspect = await env.s.docker("inspect", "-f", "{{json .HostConfig.LogConfig}}", "d")
    assert inspect.out.strip() == '{"Type":"json-file","Config":{}}'
    info = await env.s.docker("info", "-f", "{{.LoggingDriver}} {{json .Plugins.Log}}")
    assert info.out.strip() == (
        'json-file ["awslogs","fluentd","gcplogs","gelf","journald","json-file","local",'
        '"splunk","syslog"]'
    )


async def test_logs_follow_ends_with_the_container(env: Env) -> None:
    run = await env.s.docker(
        "run", "-d", "--log-driver", "mocklog", "--name", "c", "busybox",
        "sh", "-c", "echo a; sleep 1; echo b",
    )  # fmt: skip
    assert run.rc == 0, run.err
    follow = await env.s.docker("logs", "-f", "c")
    assert follow.rc == 0, follow.err
    assert follow.out == "a\nb\n"
