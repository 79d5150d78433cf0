"""Managed (v2) plugins: dockerd's lifecycle rules, run as host processes, through the engine."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from emulator.engine.core import open_engine
from emulator.engine.managed import ManagedPluginError
from emulator.engine.processes import private_run_support
from emulator.errors import EngineError
from tests.plugin_package import script_package

SCRIPT = f"""#!{sys.executable}
import os, sys
import trio
from emulator.mocks.volume import MockVolumePlugin

sock_dir = os.environ.get("EMULATOR_PLUGIN_SOCKET_DIR", "/run/docker/plugins")
print("mockvol starting in", os.getcwd(), "args", sys.argv[1:], flush=True)
print("debug=" + os.environ.get("DEBUG", "unset"), file=sys.stderr, flush=True)
if os.environ.get("CRASH") == "1":
    sys.exit(3)
# /run is private only inside the namespace; else keep state in the rootfs
state = "/run/mockvol" if sock_dir == "/run/docker/plugins" else os.getcwd() + "/state"
trio.run(MockVolumePlugin(state).serve, "unix:" + sock_dir + "/mockvol.sock")
"""

CONFIG: dict[str, Any] = {
    "description": "mock volume plugin (sshfs-like config)",
    "documentation": "https://example.invalid/",
    "entrypoint": ["/bin/mockvol", "--verbose"],
    "env": [
        {"name": "DEBUG", "settable": ["value"], "value": "0"},
        {"name": "CRASH", "settable": ["value"], "value": "0"},
    ],
    "args": {"name": "args", "settable": ["value"], "value": []},
    "interface": {"socket": "mockvol.sock", "types": ["docker.volumedriver/1.0"]},
    "linux": {
        "capabilities": ["CAP_SYS_ADMIN"],
        "devices": [{"name": "fuse", "path": "/dev/fuse", "settable": ["path"]}],
    },
    "mounts": [
        {
            "name": "state",
            "destination": "/mnt/state",
            "options": ["rbind"],
            "source": "/var/lib/docker/plugins/",
            "settable": ["source"],
            "type": "bind",
        }
    ],
    "network": {"type": "host"},
    "propagatedmount": "/run/mockvol",
    "workdir": "/work",
}


def plugin_dir(base: Path, config: dict[str, Any] | None = None) -> Path:
    """A ``docker plugin create`` directory with the mock volume plugin as its entrypoint."""
    return script_package(base / "pkg", SCRIPT, config or CONFIG, "/bin/mockvol")


async def test_seed_flow(short_tmp: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    source = plugin_dir(short_tmp)
    async with open_engine(short_tmp) as engine:
        managed = engine.managed_plugins
        plugin_id = managed.create("mockvol", source)
        assert len(plugin_id) == 64
        [listed] = managed.list()
        assert (listed.Name, listed.Enabled, listed.ID) == ("mockvol:latest", False, plugin_id)
        assert listed.Settings.Env == ["DEBUG=0", "CRASH=0"]
        assert listed.Config.DockerVersion == "28.5.2"
        assert (short_tmp / f"var/lib/docker/plugins/{plugin_id}/rootfs/bin/mockvol").exists()

        managed.set("mockvol", ["DEBUG=1", "args=--a --b"])
        await managed.enable("mockvol", timeout=30)
        assert managed.inspect(plugin_id[:12]).Enabled
        assert plugin_id == managed.list({"enabled": ["true"]})[0].ID
        assert managed.list({"enabled": ["false"]}) == []

        volume = await engine.volumes.create("v", driver="mockvol:latest")
        assert volume.Driver == "mockvol:latest"
        sock = f"run/docker/plugins/{plugin_id}/mockvol.sock"
        assert (short_tmp / sock).is_socket()
        methods = [e.method for e in engine.journal.entries]
        assert "Plugin.Activate" not in methods
        assert methods.count("VolumeDriver.Capabilities") == 1
        await engine.volumes.inspect("v")
        methods = [e.method for e in engine.journal.entries]
        # a new adapter on every lookup: inspect = Capabilities, Get, Capabilities
        # (moby volume/drivers/extpoint.go)
        assert methods[3:] == [
            "VolumeDriver.Capabilities",
            "VolumeDriver.Get",
            "VolumeDriver.Capabilities",
        ]

        lines = [r.getMessage() for r in caplog.records if r.name == "emulator.plugin"]
        workdir = f"{short_tmp}/var/lib/docker/plugins/{plugin_id}/rootfs/work"
        args = "['--verbose', '--a', '--b']"
        assert f"mockvol starting in {workdir} args {args} plugin={plugin_id}" in lines
        errors = [
            r for r in caplog.records if r.name == "emulator.plugin" and r.levelno == logging.ERROR
        ]
        assert f"debug=1 plugin={plugin_id}" in [r.getMessage() for r in errors]

        with pytest.raises(ManagedPluginError) as info:
            await managed.disable("mockvol")
        assert (str(info.value), info.value.http_status) == ("plugin mockvol:latest is in use", 409)
        with pytest.raises(ManagedPluginError, match=r"^plugin mockvol:latest is in use$"):
            await managed.remove("mockvol")

        await engine.volumes.remove("v")
        with pytest.raises(ManagedPluginError, match=r"^plugin mockvol:latest is enabled$"):
            await managed.remove("mockvol")
        process = managed.process("mockvol")
        assert process is not None
        await managed.disable("mockvol")
        assert not process.running
        assert not (short_tmp / f"run/docker/plugins/{plugin_id}").exists()
        await managed.remove("mockvol")
        assert managed.list() == []
        assert not (short_tmp / f"var/lib/docker/plugins/{plugin_id}").exists()
        plugin_events = [(e.action, dict(e.attributes)) for e in engine.events.of("plugin")]
        assert plugin_events == [
            ("create", {"id": plugin_id, "name": "mockvol:latest"}),
            ("enable", {"id": plugin_id, "name": "mockvol"}),
            ("disable", {"id": plugin_id, "name": "mockvol"}),
            ("remove", {"id": plugin_id, "name": "mockvol"}),
        ]


async def test_mountpoints_are_rerooted(short_tmp: Path) -> None:
    async with open_engine(short_tmp) as engine:
        plugin_id = engine.managed_plugins.create("mockvol", plugin_dir(short_tmp))
        await engine.managed_plugins.enable("mockvol")
        await engine.volumes.create("v", driver="mockvol:latest")
        path = await engine.volumes.mount("v", "mockvol:latest", "c" * 64)
        root = short_tmp / f"var/lib/docker/plugins/{plugin_id}"
        assert path == f"{root}/propagated-mount/volumes/v/data"
        if (await private_run_support())[0] is not None:
            # bound at PropagatedMount inside the plugin's namespace: the data is really there
            assert Path(path).is_dir()
        await engine.volumes.unmount("v", "mockvol:latest", "c" * 64)
        await engine.managed_plugins.disable("mockvol", force=True)  # in use, but forced
        with pytest.raises(EngineError, match="plugin mockvol:latest found but disabled"):
            await engine.volumes.inspect("v")


async def test_disabled_plugin_is_not_found_as_v1(short_tmp: Path) -> None:
    async with open_engine(short_tmp) as engine:
        engine.managed_plugins.create("mockvol", plugin_dir(short_tmp))
        with pytest.raises(EngineError) as info:
            await engine.volumes.create("v", driver="mockvol")
        assert str(info.value) == (
            "create v: error looking up volume plugin mockvol: plugin mockvol found but disabled"
        )


async def test_refusals(short_tmp: Path) -> None:
    source = plugin_dir(short_tmp)
    async with open_engine(short_tmp) as engine:
        managed = engine.managed_plugins
        managed.create("mockvol", source)
        cases: list[tuple[Any, str, int]] = [
            (
                lambda: managed.create("mockvol:latest", source),
                "plugin mockvol:latest already exists",
                409,
            ),
            (
                lambda: managed.create("Mock", source),
                "failed to parse reference Mock: invalid reference format: "
                "repository name (library/Mock) must be lowercase",
                500,
            ),
            (
                lambda: managed.create("x@sha256:" + "a" * 64, source),
                "canonical references are not permitted",
                500,
            ),
            (lambda: managed.create("other", short_tmp / "nope"), "no rootfs found: EOF", 500),
            (lambda: managed.inspect("nope"), 'plugin "nope" not found', 404),
            (lambda: managed.inspect("a" * 64), f'plugin "{"a" * 64}" not found', 404),
            (lambda: managed.list({"foo": ["x"]}), "invalid filter 'foo'", 400),
            (lambda: managed.list({"enabled": ["yes"]}), "invalid filter 'enabled=[yes]'", 400),
            (
                lambda: managed.set("mockvol", ["=x"]),
                "invalid format, must be <name>[.<field>][=<value>]",
                500,
            ),
            (
                lambda: managed.set("mockvol", ["NOPE=1"]),
                'setting "NOPE" not found in the plugin configuration',
                500,
            ),
            (lambda: managed.set("mockvol", ["DEBUG.name=1"]), '"DEBUG.name" is not settable', 500),
            (
                lambda: managed.set("mockvol", ["state.destination=/x"]),
                '"state.destination" is not settable',
                500,
            ),
        ]
        for call, text, status in cases:
            with pytest.raises(ManagedPluginError) as info:
                call()
            assert (str(info.value), info.value.http_status) == (text, status)
        with pytest.raises(ManagedPluginError) as info:
            await managed.disable("mockvol")
        assert (
            str(info.value)
            == "plugin is already disabled: plugin mockvol:latest found but disabled"
        )
        await managed.enable("mockvol")
        with pytest.raises(ManagedPluginError) as info:
            await managed.enable("mockvol")
        assert (str(info.value), info.value.http_status) == (
            "plugin already enabled: plugin mockvol:latest is enabled",
            409,
        )
        with pytest.raises(ManagedPluginError, match=r"^cannot set on an active plugin"):
            managed.set("mockvol", ["DEBUG=1"])
        await managed.remove("mockvol", force=True)
        assert managed.list() == []


def test_ambiguous_prefix_and_multiple_settable(short_tmp: Path) -> None:
    async def body() -> None:
        config = {**CONFIG, "env": [{"name": "E", "settable": ["value", "description"]}]}
        async with open_engine(short_tmp) as engine:
            managed = engine.managed_plugins
            ids = [
                managed.create(f"p{i}", plugin_dir(short_tmp / str(i), config)) for i in range(40)
            ]
            first = {i[0] for i in ids}
            shared = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1)
            assert first
            with pytest.raises(ManagedPluginError) as info:
                managed.inspect(shared)
            assert (str(info.value), info.value.http_status) == (
                f'multiple plugins found for "{shared}"',
                400,
            )
            with pytest.raises(ManagedPluginError, match=r"^multiple fields are settable"):
                managed.set("p0", ["E=1"])
            managed.set("p0", ["E.value=1"])
            assert managed.inspect("p0").Settings.Env == ["E=1"]

    trio.run(body)


async def test_set_mounts_devices_and_capability_filter(short_tmp: Path) -> None:
    config = {
        **CONFIG,
        "interface": {
            "socket": "mockvol.sock",
            "types": ["docker.volumedriver/1.0", "docker.authz/1.0"],
        },
    }
    async with open_engine(short_tmp) as engine:
        managed = engine.managed_plugins
        managed.create("mockvol", plugin_dir(short_tmp, config))
        managed.set("mockvol", ["state=/srv/state", "fuse=/dev/fuse2"])
        obj = managed.inspect("mockvol")
        assert obj.Settings.Mounts is not None
        assert obj.Settings.Mounts[0].Source == "/srv/state"
        assert obj.Config.Mounts is not None
        assert obj.Config.Mounts[0].Source == "/srv/state"
        assert obj.Settings.Devices is not None
        assert obj.Settings.Devices[0].Path == "/dev/fuse2"
        assert [p.Value for p in managed.privileges("mockvol") if p.Name == "mount"] == [
            ["/srv/state"]
        ]
        # every declared capability must match
        assert managed.list({"capability": ["volumedriver"]}) == []
        assert len(managed.list({"capability": ["volumedriver", "authz"]})) == 1
        assert len(managed.list({"capability": ["^(volumedriver|authz)$"]})) == 1


async def test_persisted_and_reenabled_across_restart(short_tmp: Path) -> None:
    source = plugin_dir(short_tmp)
    async with open_engine(short_tmp) as engine:
        plugin_id = engine.managed_plugins.create("mockvol", source)
        engine.managed_plugins.set("mockvol", ["DEBUG=7"])
        await engine.managed_plugins.enable("mockvol")
        first = engine.managed_plugins.process("mockvol")
        assert first is not None
        first_pid = first.pid
        await engine.restart()
        second = engine.managed_plugins.process("mockvol")
        assert second is not None
        assert second.running
        assert second.pid != first_pid
        assert not first.running
    async with open_engine(short_tmp) as engine:
        obj = engine.managed_plugins.inspect(plugin_id)
        assert obj.Enabled
        assert obj.Settings.Env == ["DEBUG=7", "CRASH=0"]
        await engine.volumes.create("w", driver="mockvol")
        await engine.volumes.remove("w")
        process = engine.managed_plugins.process("mockvol")
        assert process is not None
        pid = process.pid
    assert pid is not None
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


async def test_enable_failure_is_a_dial_error(
    short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with open_engine(short_tmp) as engine:
        managed = engine.managed_plugins
        plugin_id = managed.create("mockvol", plugin_dir(short_tmp))
        managed.set("mockvol", ["CRASH=1"])
        with pytest.raises(ManagedPluginError) as info:
            await managed.enable("mockvol")
        sock = short_tmp / f"run/docker/plugins/{plugin_id}/mockvol.sock"
        assert str(info.value) == f"dial unix {sock}: connect: no such file or directory"
        assert not managed.inspect("mockvol").Enabled
        assert any("exited with status 3" in r.getMessage() for r in caplog.records)


async def test_crashed_plugin_is_restarted(short_tmp: Path) -> None:
    async with open_engine(short_tmp) as engine:
        managed = engine.managed_plugins
        managed.create("mockvol", plugin_dir(short_tmp))
        await managed.enable("mockvol")
        process = managed.process("mockvol")
        assert process is not None
        pid = process.pid
        await process.kill()
        with trio.fail_after(10):
            while not (process.running and process.pid != pid):  # noqa: ASYNC110 (a process)
                await trio.sleep(0.05)
        assert managed.inspect("mockvol").Enabled
        await engine.volumes.create("v", driver="mockvol")


async def test_entrypoint_missing(short_tmp: Path) -> None:
    async with open_engine(short_tmp) as engine:
        config = {**CONFIG, "entrypoint": ["/bin/nope"]}
        engine.managed_plugins.create("mockvol", plugin_dir(short_tmp, config))
        with pytest.raises(EngineError, match='exec: "/bin/nope"'):
            await engine.managed_plugins.enable("mockvol")


async def test_mount_without_source_fails_enable(short_tmp: Path) -> None:
    mount = {"name": "m", "destination": "/m", "type": "bind", "settable": ["source"]}
    config = {**CONFIG, "mounts": [mount]}
    async with open_engine(short_tmp) as engine:
        engine.managed_plugins.create("mockvol", plugin_dir(short_tmp, config))
        with pytest.raises(ManagedPluginError, match=r"^mount source is not specified$"):
            await engine.managed_plugins.enable("mockvol")
        with pytest.raises(ManagedPluginError, match=r"^Plugin config has no mount source$"):
            engine.managed_plugins.set("mockvol", ["m=/x"])


async def test_fallback_without_a_mount_namespace(
    short_tmp: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def unsupported() -> tuple[None, str]:
        return None, "unshare not found on PATH (util-linux)"

    monkeypatch.setattr("emulator.engine.managed.runtime.private_run_support", unsupported)
    async with open_engine(short_tmp) as engine:
        engine.managed_plugins.create("mockvol", plugin_dir(short_tmp))
        await engine.managed_plugins.enable("mockvol")
        assert any("no private mount namespace here" in r.getMessage() for r in caplog.records)
        await engine.volumes.create("v", driver="mockvol")
        await engine.volumes.remove("v")
        await engine.managed_plugins.remove("mockvol", force=True)


NETWORK_SCRIPT = f"""#!{sys.executable}
import os
import trio
from emulator.mocks.host import MockPlugin

sock_dir = os.environ.get("EMULATOR_PLUGIN_SOCKET_DIR", "/run/docker/plugins")
plugin = MockPlugin(
    ("NetworkDriver", "IpamDriver"),
    {{
        "NetworkDriver.GetCapabilities": {{"Scope": "local"}},
        "IpamDriver.GetCapabilities": {{"RequiresMACAddress": False}},
    }},
)
trio.run(plugin.serve, "unix:" + sock_dir + "/net.sock")
"""


async def test_network_and_ipam_plugins_get_capabilities_at_enable(short_tmp: Path) -> None:
    config = {
        "entrypoint": ["/bin/netplugin"],
        "interface": {
            "socket": "net.sock",
            "types": ["docker.networkdriver/1.0", "docker.ipamdriver/1.0"],
        },
        "network": {"type": "host"},
    }
    directory = plugin_dir(short_tmp, config)
    exe = directory / "rootfs/bin/netplugin"
    exe.write_text(NETWORK_SCRIPT)
    exe.chmod(0o755)
    async with open_engine(short_tmp) as engine:
        engine.managed_plugins.create("vendor/net", directory)
        assert [p.Name for p in engine.managed_plugins.privileges("vendor/net")] == ["network"]
        await engine.managed_plugins.enable("vendor/net")
        calls = [(e.plugin, e.method) for e in engine.journal.entries]
        assert calls == [
            ("vendor/net:latest", "NetworkDriver.GetCapabilities"),
            ("vendor/net:latest", "IpamDriver.GetCapabilities"),
        ]
        # registered under the full name:tag, as dockerd's CallHandler does
        assert "vendor/net:latest" in engine.networks.drivers
        assert "vendor/net:latest" in engine.networks.ipams
        plugin = await engine.plugins.get("vendor/net", "NetworkDriver")
        assert plugin.is_v2
        assert plugin.name == "vendor/net:latest"
        with pytest.raises(EngineError) as info:
            await engine.plugins.get("vendor/net", "VolumeDriver")
        assert str(info.value) == 'plugin does not provide "volumedriver" capability'
        await engine.managed_plugins.remove("vendor/net", force=True)


async def test_enable_timeout_is_the_plugin_clients_http_timeout(short_tmp: Path) -> None:
    """``docker plugin enable --timeout N``: every call to the plugin is bounded by N s
    (Go's http.Client.Timeout), shorter than the volume calls' own deadlines."""
    async with open_engine(short_tmp) as engine:
        engine.managed_plugins.create("mockvol", plugin_dir(short_tmp))
        await engine.managed_plugins.enable("mockvol", timeout=1)
        await engine.volumes.create("v", driver="mockvol:latest")
        engine.faults.add(call="VolumeDriver.Get", delay=5, times=1)
        await engine.volumes.inspect("v")  # the timed-out attempt is retried, like any Do error
        timed_out, retried = engine.journal.calls("VolumeDriver.Get")[-2:]
        assert timed_out.error is not None
        assert timed_out.error.endswith(
            "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )
        assert timed_out.duration == pytest.approx(1, abs=0.3)
        assert retried.ok
        assert retried.started - timed_out.started == pytest.approx(2, abs=0.3)  # + 1 s backoff
        await engine.managed_plugins.disable("mockvol", force=True)
