"""A managed (v2) logging plugin: its FIFO lives in its own view.

dockerd (moby/moby v28.5.2 ``daemon/logger/plugin.go`` ``makePluginCreator``) makes the
FIFO at the plugin's scoped ``/run/docker/logging/<id>`` and sends ``File`` unscoped, so
the plugin opens ``/run/docker/logging/<id>`` inside its own mount namespace; a logger
holds a reference on the plugin (``plugingetter.Acquire``) until ``StopLogging``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from emulator.engine.core import open_engine
from emulator.engine.managed import ManagedPluginError
from emulator.engine.processes import private_run_support
from tests.logspec import spec
from tests.plugin_package import script_package

SCRIPT = f"""#!{sys.executable}
import json, os, trio
from emulator.mocks.log import MockLogDriver

sock_dir = os.environ.get("EMULATOR_PLUGIN_SOCKET_DIR", "/run/docker/plugins")
out = os.path.join(os.getcwd(), "received.json")
driver = MockLogDriver("inside")
stop = driver.plugin.handler("LogDriver.StopLogging")

async def stopped(request):
    reply = await stop(request)
    with open(out, "w") as f:
        json.dump([[r.source, r.text] for r in driver.entries()], f)
    return reply

driver.plugin.on("LogDriver.StopLogging", stopped)
trio.run(driver.serve, "unix:" + sock_dir + "/log.sock")
"""

CONFIG: dict[str, Any] = {
    "description": "the mock log driver as a managed plugin",
    "documentation": "https://example.invalid/",
    "entrypoint": ["/bin/logger"],
    "interface": {"socket": "log.sock", "types": ["docker.logdriver/1.0"]},
    "network": {"type": "host"},
    "workdir": "/work",
}


def plugin_dir(base: Path) -> Path:
    return script_package(base / "pkg", SCRIPT, CONFIG)


async def test_fifo_is_in_the_plugin_s_view_and_the_plugin_is_in_use(short_tmp: Path) -> None:
    prefix, why = await private_run_support()
    if prefix is None:
        pytest.skip(f"no private mount namespace here: {why}")
    source = plugin_dir(short_tmp)
    async with open_engine(short_tmp) as engine:
        managed = engine.managed_plugins
        managed.create("mylog", source)
        await managed.enable("mylog")
        plugin = managed.resolve("mylog")
        container = await engine.containers.run(
            spec(
                command=["sh", "-c", "echo a; sleep 5; echo b >&2"], log_driver="mylog", detach=True
            )
        )
        (start,) = engine.journal.calls("LogDriver.StartLogging")
        file = start.request["File"]
        assert file.startswith("/run/docker/logging/")
        assert len(file.rsplit("/", 1)[1]) == 64
        assert (plugin.data_dir / "run/docker/logging" / file.rsplit("/", 1)[1]).exists()
        with pytest.raises(ManagedPluginError) as caught:
            await managed.disable("mylog")
        assert caught.value.http_status == 409
        await engine.containers.wait(container.id)
        received = json.loads((plugin.rootfs / "work/received.json").read_text())
        assert sorted(received) == [["stderr", "b"], ["stdout", "a"]]
        assert managed.in_use(plugin) == 0
        await managed.disable("mylog")
