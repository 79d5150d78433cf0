"""The docker CLI's ``plugin`` commands against managed (v2) plugins served by the emulator.

dockerd lists managed plugins only: a v1 plugin (the mock ``mv``) never shows up.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine_api import DOCKER, served
from tests.test_managed import plugin_dir

pytestmark = pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")


async def test_plugin_lifecycle_with_the_cli(short_tmp: Path) -> None:
    source = plugin_dir(short_tmp)
    async with served(short_tmp) as s:
        r = await s.docker("plugin", "create", "mockvol", str(source))
        assert (r.rc, r.out, r.err) == (0, "mockvol\n", "")
        r = await s.docker("plugin", "ls", "--format", "{{.Name}} {{.Enabled}}")
        assert r.out == "mockvol:latest false\n"  # v1 plugin "mv" is not listed
        r = await s.docker("plugin", "create", "mockvol", str(source))
        assert (r.rc, r.err) == (
            1,
            "Error response from daemon: plugin mockvol:latest already exists\n",
        )
        r = await s.docker("plugin", "set", "mockvol", "DEBUG=1")
        assert (r.rc, r.err) == (0, "")
        r = await s.docker("plugin", "inspect", "-f", "{{.Settings.Env}}", "mockvol")
        assert r.out == "[DEBUG=1 CRASH=0]\n"
        r = await s.docker("plugin", "enable", "mockvol")
        assert (r.rc, r.out, r.err) == (0, "mockvol\n", "")
        r = await s.docker("plugin", "set", "mockvol", "DEBUG=0")
        assert r.rc == 1
        assert r.err.startswith("Error response from daemon: ")
        r = await s.docker("volume", "create", "-d", "mockvol", "pv")
        assert (r.rc, r.out, r.err) == (0, "pv\n", "")
        r = await s.docker("plugin", "disable", "mockvol")
        assert (r.rc, r.err) == (
            1,
            "Error response from daemon: plugin mockvol:latest is in use\n",
        )
        r = await s.docker("volume", "rm", "pv")
        assert r.rc == 0
        r = await s.docker("plugin", "rm", "mockvol")
        assert (r.rc, r.err) == (
            1,
            "Error response from daemon: plugin mockvol:latest is enabled\n",
        )
        r = await s.docker("plugin", "disable", "mockvol")
        assert (r.rc, r.out) == (0, "mockvol\n")
        r = await s.docker("plugin", "rm", "mockvol")
        assert (r.rc, r.out) == (0, "mockvol\n")
        r = await s.docker("plugin", "inspect", "mockvol")
        assert (r.rc, r.err) == (1, 'Error response from daemon: plugin "mockvol" not found\n')


async def test_plugin_events_are_streamed_to_docker_events(short_tmp: Path) -> None:
    import time

    source = plugin_dir(short_tmp)
    async with served(short_tmp) as s:
        r = await s.docker("plugin", "create", "mockvol", str(source))
        assert r.rc == 0
        r = await s.docker("plugin", "enable", "mockvol")
        assert r.rc == 0
        r = await s.docker("plugin", "disable", "mockvol")
        r = await s.docker("plugin", "rm", "mockvol")
        r = await s.docker(
            "events",
            "--since",
            "0",
            "--until",
            str(int(time.time()) + 1),
            "-f",
            "type=plugin",
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
        )
        assert r.rc == 0, r.err
        # dockerd names the plugin as normalised at create, and as the user typed it after.
        assert r.out.splitlines() == [
            "plugin create mockvol:latest",
            "plugin enable mockvol",
            "plugin disable mockvol",
            "plugin remove mockvol",
        ]
