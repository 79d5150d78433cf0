"""A managed (v2) authz plugin in the chain, with the real docker CLI and docker-py.

moby/moby v28.5.2: plugin/store.go ``Get`` (v2 first; ``Lookup`` mode takes no reference),
pkg/authorization/plugin.go ``initPlugin`` (``SetName(plugin.Name())``: the full
``name:tag`` from then on), plugin/backend_linux.go ``Disable`` (``RemovePlugin``),
middleware.go ``WrapHandler`` (an emptied chain drops the buffered answer) and
integration/plugin/authz/authz_plugin_v2_test.go (``TestAuthZPluginV2Disable``,
``TestAuthZPluginV2RejectVolumeRequests``, ``...NonexistentFailsDaemonStart``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from emulator.engine.authz import AuthorizationStartError
from tests.engine_api import DOCKER, raw_request_trio, request_bytes, served
from tests.plugin_package import script_package

pytestmark = pytest.mark.skipif(DOCKER is None, reason="the docker CLI (v28) is not installed")
docker = pytest.importorskip("docker")

#: The built-in mock authz plugin as a managed plugin's entrypoint: no volume requests.
SCRIPT = f"""#!{sys.executable}
import os
import trio
from emulator.mocks.authz import AuthzRule, MockAuthzPlugin

sock_dir = os.environ.get("EMULATOR_PLUGIN_SOCKET_DIR", "/run/docker/plugins")
rules = [AuthzRule(allow=False, path="^/volumes", msg="volumes are off limits")]
trio.run(MockAuthzPlugin(rules).serve, "unix:" + sock_dir + "/authz.sock")
"""

CONFIG = {
    "description": "authz plugin that refuses volume requests",
    "documentation": "https://example.invalid/",
    "entrypoint": ["/bin/authz"],
    "interface": {"socket": "authz.sock", "types": ["docker.authz/1.0"]},
    "network": {"type": "host"},
}


def authz_plugin_dir(base: Path) -> Path:
    return script_package(base / "authz-pkg", SCRIPT, CONFIG)


async def test_disable_takes_a_managed_plugin_out_of_the_chain(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        r = await s.docker("plugin", "create", "noauthvol", str(authz_plugin_dir(short_tmp)))
        assert r.rc == 0
        assert (await s.docker("plugin", "enable", "noauthvol")).rc == 0
        # dockerd --authorization-plugin=noauthvol:latest (the v2 tests restart so)
        await s.engine.restart(authorization_plugins=["noauthvol"])
        r = await s.docker("volume", "create", "v1")
        # The chain's name is the plugin's full name once looked up (SetName).
        assert r.err == (
            "Error response from daemon: authorization denied by plugin noauthvol:latest: "
            "volumes are off limits\n"
        )
        assert s.engine.authz.names == ("noauthvol:latest",)
        calls = s.engine.journal.calls("AuthZPlugin.AuthZReq")
        assert {c.plugin for c in calls} == {"noauthvol:latest"}
        # No refcount keeps it: the lookup takes no reference (plugingetter.Lookup).
        answer = await raw_request_trio(
            s.host.removeprefix("unix://"),
            request_bytes("POST", "/v1.51/plugins/noauthvol/disable"),
        )
        # The handler answered 200 into the modifier; the chain is empty afterwards, so
        # WrapHandler returns without flushing it: Go sends an empty 200, no API headers.
        assert (answer.status, answer.body) == (200, b"")
        assert "api-version" not in answer.headers
        assert s.engine.authz.names == ()
        r = await s.docker("volume", "create", "v1")
        assert (r.rc, r.out) == (0, "v1\n")
        # Enabling it again does not put it back (only a reload or restart does).
        assert (await s.docker("plugin", "enable", "noauthvol")).rc == 0
        assert (await s.docker("volume", "ls", "-q")).out == "v1\n"
        # docker info still shows the list the daemon started with.
        r = await s.docker("info", "--format", "{{json .Plugins.Authorization}}")
        assert r.out == '["noauthvol"]\n'


async def test_a_disabled_or_missing_plugin_stops_the_daemon(short_tmp: Path) -> None:
    """validateAuthzPlugins, after managed plugins are restored."""
    async with served(short_tmp) as s:
        assert (
            await s.docker("plugin", "create", "noauthvol", str(authz_plugin_dir(short_tmp)))
        ).rc == 0
        with pytest.raises(AuthorizationStartError) as refused:
            await s.engine.restart(authorization_plugins=["noauthvol"])
        assert str(refused.value) == (
            "failed to validate authorization plugin: plugin noauthvol found but disabled"
        )
