"""A container's ``LogConfig`` at create and in ``docker inspect`` (moby/moby v28.5.2).

``mergeAndVerifyLogConfig`` (daemon/logs.go): no driver means the daemon's ``json-file``;
``logger.ValidateLogOpts`` (daemon/logger/factory.go): ``none`` and the built-in drivers
(daemon/logdrivers_linux.go) are registered, anything else must be a logging plugin
(daemon/logger/plugin.go ``getPlugin``: ``error looking up logging plugin NAME: …``,
after the plugin store's v1 lookup, ~15 s; 2 s for ``this-plugin-does-not-exist``).
The create fails with 400 (daemon/create.go: ``errdefs.InvalidParameter``) and leaves
no container.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
import trio.testing

from emulator import ContainerSpec, open_engine
from emulator.engine.log_config import LogConfigError
from emulator.mocks import MockPlugin
from tests.engine_api import DOCKER, served

cli = pytest.mark.skipif(DOCKER is None, reason="the docker CLI (v28) is not installed")


@cli
async def test_inspect_shows_the_log_config(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        assert (await s.docker("create", "--name", "plain", "busybox")).rc == 0
        r = await s.docker(
            "create", "--name", "sys", "--log-driver", "syslog", "--log-opt", "tag=x", "busybox"
        )
        assert r.rc == 0, r.err
        assert (
            await s.docker("create", "--name", "quiet", "--log-driver", "none", "busybox")
        ).rc == 0
        shown = {}
        for name in ("plain", "sys", "quiet"):
            r = await s.docker("inspect", "-f", "{{json .HostConfig.LogConfig}}", name)
            shown[name] = json.loads(r.out)
        assert shown == {
            "plain": {"Type": "json-file", "Config": {}},
            "sys": {"Type": "syslog", "Config": {"tag": "x"}},
            "quiet": {"Type": "none", "Config": {}},
        }


@cli
async def test_unknown_log_driver_is_refused_at_create(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        r = await s.docker("run", "--log-driver", "this-plugin-does-not-exist", "busybox", "true")
        assert r.rc == 125
        assert r.err.startswith(
            "docker: Error response from daemon: error looking up logging plugin "
            'this-plugin-does-not-exist: plugin "this-plugin-does-not-exist" not found'
        )
        assert (await s.docker("ps", "-aq")).out == ""


async def test_log_driver_lookup_waits_for_the_plugin_then_fails(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_engine(root=short_tmp) as engine:
        start = trio.current_time()
        with pytest.raises(LogConfigError) as info:
            await engine.containers.create(ContainerSpec(log_config={"Type": "nosuch"}, name="c"))
        assert trio.current_time() - start == pytest.approx(15)
        assert str(info.value) == (
            'error looking up logging plugin nosuch: plugin "nosuch" not found'
        )
        assert info.value.http_status == 400
        assert engine.containers.list(all=True) == []


async def test_logging_plugins_found_or_not_implementing(short_tmp: Path) -> None:
    logger = MockPlugin(("LogDriver",), name="logger")
    volume = MockPlugin(("VolumeDriver",), name="vol")
    sockets = short_tmp / "run/docker/plugins"
    async with trio.open_nursery() as nursery:
        await nursery.start(logger.serve, f"unix:{sockets / 'logger.sock'}")
        await nursery.start(volume.serve, f"unix:{sockets / 'vol.sock'}")
        async with open_engine(root=short_tmp) as engine:
            made = await engine.containers.create(
                ContainerSpec(log_config={"Type": "logger"}, name="ok")
            )
            assert made.log_config == {"Type": "logger", "Config": {}}
            with pytest.raises(LogConfigError) as info:
                await engine.containers.create(ContainerSpec(log_config={"Type": "vol"}, name="no"))
        nursery.cancel_scope.cancel()
    assert str(info.value) == (
        "error looking up logging plugin vol: legacy plugin: Plugin does not implement the "
        'requested driver: plugin="vol", requested implementation="LogDriver"'
    )
    assert logger.count("Plugin.Activate") == 1
