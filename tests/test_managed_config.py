"""config.json parsing as dockerd does it, plugin names, privileges, and ``plugin lint``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from emulator.cli import main
from emulator.engine.managed.lint import lint_plugin_dir
from emulator.golang import json as gojson
from emulator.protocol.plugin_config import (
    ConfigError,
    Plugin,
    PluginConfig,
    ReferenceError,
    compute_privileges,
    initial_settings,
    normalize_name,
    parse_config,
    parse_interface_type,
)

SSHFS: dict[str, Any] = {
    "description": "sshFS plugin for Docker",
    "documentation": "https://docs.docker.com/engine/extend/plugins/",
    "entrypoint": ["/docker-volume-sshfs"],
    "env": [{"name": "DEBUG", "settable": ["value"], "value": "0"}],
    "interface": {"socket": "sshfs.sock", "types": ["docker.volumedriver/1.0"]},
    "linux": {"capabilities": ["CAP_SYS_ADMIN"], "devices": [{"path": "/dev/fuse"}]},
    "mounts": [
        {
            "destination": "/mnt/state",
            "options": ["rbind"],
            "name": "state",
            "source": "/var/lib/docker/plugins/",
            "settable": ["source"],
            "type": "bind",
        }
    ],
    "network": {"type": "host"},
    "propagatedmount": "/mnt/volumes",
    "workdir": "/",
}


def test_keys_are_case_insensitive_and_unknown_keys_ignored() -> None:
    config = parse_config(json.dumps({**SSHFS, "NoSuchKey": [1, 2]}).encode())
    assert config.Entrypoint == ["/docker-volume-sshfs"]
    assert config.Interface.Socket == "sshfs.sock"
    assert config.PropagatedMount == "/mnt/volumes"
    assert config.WorkDir == "/"
    assert config.Linux.Devices is not None
    assert config.Linux.Devices[0].Path == "/dev/fuse"
    assert config.Mounts is not None
    assert config.Mounts[0].Source == "/var/lib/docker/plugins/"
    assert config.Env is not None
    assert config.Env[0].Value == "0"


def test_type_errors_use_gos_text() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(b'{"Entrypoint": "x"}')
    assert str(info.value) == (
        "failed to parse config: json: cannot unmarshal string into Go struct field "
        "PluginConfig.Entrypoint of type []string"
    )
    with pytest.raises(ConfigError, match=r'^failed to parse config: "5" is not a plugin'):
        parse_config(b'{"interface": {"types": [5]}}')
    with pytest.raises(ConfigError, match=r"^failed to parse config: unexpected end"):
        parse_config(b"{")


def test_interface_type_quirks() -> None:
    assert str(parse_interface_type("docker.volumedriver/1.0")) == "docker.volumedriver/1.0"
    odd = parse_interface_type("volumedriver/1.0")  # no '.': Go drops the first character
    assert (odd.Prefix, odd.Capability, odd.Version) == ("", "olumedriver", "1.0")
    config = parse_config(b'{"interface": {"types": ["volumedriver/1.0"]}}')
    assert config.Interface.Types == [".olumedriver/1.0"]


def test_nil_slices_encode_as_null_like_go() -> None:
    text = gojson.encode(Plugin(Config=PluginConfig(), Name="x:latest"))
    assert b'"Entrypoint":null' in text
    assert text.startswith(b'{"Config":{"Args":{"Description":""')
    assert b'"Enabled":false,"Name":"x:latest","Settings"' in text


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("vieux/sshfs", "vieux/sshfs:latest"),
        ("sshfs", "sshfs:latest"),
        ("docker.io/library/sshfs:1", "sshfs:1"),
        ("index.docker.io/vieux/sshfs:next", "vieux/sshfs:next"),
        ("localhost:5000/a/b", "localhost:5000/a/b:latest"),
    ],
)
def test_names_are_normalized(given: str, stored: str) -> None:
    assert normalize_name(given) == (stored, False)


def test_name_errors() -> None:
    with pytest.raises(ReferenceError, match=r"repository name \(library/Foo\) must be lowercase"):
        normalize_name("Foo")
    with pytest.raises(ReferenceError, match=r"64-byte hexadecimal"):
        normalize_name("a" * 64)
    with pytest.raises(ReferenceError, match=r"^invalid reference format$"):
        normalize_name("a b")
    assert normalize_name("a@sha256:" + "0" * 64)[1] is True


def test_initial_settings_and_privileges() -> None:
    config = parse_config(json.dumps({**SSHFS, "ipchost": True}).encode())
    settings = initial_settings(config)
    assert settings.Env == ["DEBUG=0"]
    assert settings.Args == []
    privileges = [(p.Name, p.Value) for p in compute_privileges(config)]
    assert privileges == [
        ("network", ["host"]),
        ("host ipc namespace", ["true"]),
        ("mount", ["/var/lib/docker/plugins/"]),
        ("device", ["/dev/fuse"]),
        ("capabilities", ["CAP_SYS_ADMIN"]),
    ]
    none = parse_config(b'{"network": {"type": "none"}}')
    assert [p.Name for p in compute_privileges(none)] == ["network"]
    assert compute_privileges(parse_config(b'{"network": {"type": "bridge"}}')) == []


# -- lint ------------------------------------------------------------------------------


def make_dir(tmp: Path, config: dict[str, Any], *, entry: str = "docker-volume-sshfs") -> Path:
    """A plugin directory with ``config`` and an executable ``/ENTRY`` in rootfs."""
    (tmp / "rootfs").mkdir()
    exe = tmp / "rootfs" / entry
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    (tmp / "config.json").write_text(json.dumps(config))
    return tmp


def codes(directory: Path) -> list[str]:
    return [f.code for f in lint_plugin_dir(directory)]


def test_clean_plugin_has_no_findings(tmp_path: Path) -> None:
    assert lint_plugin_dir(make_dir(tmp_path, SSHFS)) == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"interface": {"socket": "s.sock", "types": ["docker.VolumeDriver/1.0"]}}, "bad-type"),
        ({"interface": {"socket": "s.sock", "types": ["volumedriver/1.0"]}}, "bad-type"),
        ({"interface": {"socket": "s.sock", "types": []}}, "no-types"),
        ({"interface": {"types": ["docker.volumedriver/1.0"]}}, "no-socket"),
        ({"interface": {"socket": "a/s.sock", "types": ["docker.volumedriver/1.0"]}}, "bad-socket"),
        (
            {
                "interface": {
                    "socket": "s.sock",
                    "types": ["docker.volumedriver/1.0"],
                    "protocolscheme": "grpc",
                }
            },
            "bad-protocol",
        ),
        ({"entrypoint": ["/nope"]}, "entrypoint-missing"),
        ({"entrypoint": ["nope"]}, "entrypoint-missing"),
        ({"entrypoint": []}, "no-entrypoint"),
        ({"linux": {"capabilities": ["CAP_SYS_ADMINN"]}}, "unknown-capability"),
        ({"mounts": [{"name": "m", "destination": "/mnt", "type": "bind"}]}, "mount-no-source"),
        (
            {"mounts": [{"name": "m", "source": "/x", "destination": "/mnt", "type": "bind"}]},
            "mount-over-propagated",
        ),
        (
            {
                "mounts": [
                    {
                        "name": "m",
                        "source": "/x",
                        "destination": "/data",
                        "type": "bind",
                        "options": ["rbind", "rshared"],
                    }
                ]
            },
            "mount-outside-propagated",
        ),
        ({"env": [{"name": "E", "settable": ["name"]}]}, "unsettable-field"),
        ({"linux": {"devices": [{"name": "d", "settable": ["path"]}]}}, "unsettable-field"),
        ({"args": {"name": "args", "settable": ["value", "name"]}}, "ambiguous-settable"),
        ({"env": [{"settable": ["value"]}]}, "unsettable-field"),
        ({"mounts": [{"name": "m", "source": "/x", "type": "bind"}]}, "mount-no-destination"),
        ({"propagatedmount": "mnt/volumes"}, "bad-propagated-mount"),
    ],
)
def test_each_lint_finding(tmp_path: Path, change: dict[str, Any], code: str) -> None:
    assert code in codes(make_dir(tmp_path, {**SSHFS, **change}))


def test_missing_files(tmp_path: Path) -> None:
    assert codes(tmp_path) == ["no-rootfs", "no-config"]
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text('{"entrypoint": 1}')
    finding = lint_plugin_dir(tmp_path)[0]
    assert finding.code == "bad-config"
    assert "cannot unmarshal number into Go struct field PluginConfig.Entrypoint" in finding.message


def test_entrypoint_not_executable_and_host_symlink(tmp_path: Path) -> None:
    directory = make_dir(tmp_path, {**SSHFS, "entrypoint": ["/usr/bin/python3", "/p.py"]})
    (directory / "rootfs/usr/bin").mkdir(parents=True)
    os.symlink("/bin/sh", directory / "rootfs/usr/bin/python3")  # a host interpreter
    assert codes(directory) == []
    (directory / "rootfs/docker-volume-sshfs").chmod(0o644)
    changed = {**SSHFS, "entrypoint": ["/docker-volume-sshfs"]}
    (directory / "config.json").write_text(json.dumps(changed))
    assert codes(directory) == ["entrypoint-not-executable"]


def test_cli_lint(tmp_path: Path) -> None:
    runner = CliRunner()
    good = make_dir(tmp_path, SSHFS)
    result = runner.invoke(main, ["plugin", "lint", str(good)])
    assert result.exit_code == 0, result.output
    assert "0 error(s), 0 warning(s)" in result.output
    (good / "config.json").write_text(json.dumps({**SSHFS, "interface": {"types": []}}))
    result = runner.invoke(main, ["plugin", "lint", str(good)])
    assert result.exit_code == 1
    assert "error: [no-types]" in result.output
    assert "error: [no-socket]" in result.output
    result = runner.invoke(main, ["plugin", "lint", "--json", str(good)])
    assert json.loads(result.output)[0]["code"] == "no-types"
