"""Testing a Docker authorization plugin with docker-plugin-emulator.

A complete test file to copy into your plugin's repository: swap the command in the
``policy`` fixture for your plugin's (any language; it only has to serve its socket).
The real ``docker`` CLI and docker-py send their requests through the emulated dockerd,
which asks the plugin exactly as dockerd v28 does (``AuthZReq`` before the handler,
``AuthZRes`` after it, dockerd's request object and its 403/500 texts).  See
docs/authz.md.

Run: ``pytest examples/ -n 2`` (needs the docker CLI; no Docker daemon is used).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from emulator import ProcessSpec
from emulator.testing import PluginEngine, SyncPluginProcess

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI")

PLUGIN = Path(__file__).parent / "authz_policy_plugin.py"


@pytest.fixture
def policy(plugin_process) -> SyncPluginProcess:
    """The plugin, listening where dockerd looks for the authz plugin ``policy``."""
    return plugin_process(ProcessSpec("policy", [sys.executable, str(PLUGIN), "{socket}"]))


@pytest.mark.authorization_plugins("policy")  # dockerd --authorization-plugin=policy
def test_privileged_containers_are_refused(plugin_engine: PluginEngine, policy) -> None:
    refused = plugin_engine.docker("run", "--privileged", "busybox", "true")
    assert refused.exit_code == 125
    assert "authorization denied by plugin policy: privileged containers are not allowed" in (
        refused.stderr
    )
    # What the plugin was asked: the request body is dockerd's, base64 on the wire and
    # decoded in the journal; no AuthZRes, as the request never reached the handler.
    asked = plugin_engine.assert_called("AuthZPlugin.AuthZReq", RequestMethod="POST")
    assert asked.shown_request["RequestBody"]["HostConfig"]["Privileged"] is True
    plugin_engine.assert_not_called("AuthZPlugin.AuthZRes", RequestMethod="POST")
    # An ordinary container runs: create, attach, wait, start all go through the plugin.
    plugin_engine.docker("run", "--rm", "busybox", "true").check()


@pytest.mark.authorization_plugins("policy")
def test_volumes_are_kept_and_info_is_private(plugin_engine: PluginEngine, policy) -> None:
    plugin_engine.docker("volume", "create", "data").check()
    refused = plugin_engine.docker("volume", "rm", "data")
    assert refused.stderr == (
        "Error response from daemon: authorization denied by plugin policy: "
        "only admin removes volumes\n"
    )
    # Refused on the response: the handler ran, the client sees only the refusal.
    info = plugin_engine.docker("info", "--format", "{{.Name}}")
    assert "the daemon's details are private" in info.stderr
    res = plugin_engine.calls("AuthZPlugin.AuthZRes")[-1]
    assert res.request["ResponseStatusCode"] == 200
    assert res.shown_request["ResponseBody"]["ID"] == "plugin-emulator"


@pytest.mark.authorization_plugins("policy")
def test_docker_py_sees_dockerds_status_codes(plugin_engine: PluginEngine, policy) -> None:
    import docker

    client = plugin_engine.docker_client()
    client.volumes.create("py-data")
    with pytest.raises(docker.errors.APIError) as refused:
        client.volumes.get("py-data").remove()
    assert refused.value.status_code == 403


@pytest.mark.authorization_plugins("policy")
@pytest.mark.faults(
    call="AuthZPlugin.AuthZReq",
    body={"RequestMethod": "GET"},
    respond={"status": 500, "body": '{"Err": "policy store unreachable"}'},
)
def test_a_failing_plugin_fails_closed(plugin_engine: PluginEngine, policy) -> None:
    """A plugin error is dockerd's 500 for every request it guards (nothing gets through)."""
    failed = plugin_engine.docker("volume", "ls")
    assert failed.stderr == (
        "Error response from daemon: plugin policy failed with error: "
        "AuthZPlugin.AuthZReq: policy store unreachable\n"
    )
