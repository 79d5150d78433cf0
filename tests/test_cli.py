"""The ``plugin-emulator`` command, run as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulator", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_plugins_ls_demo_lists_every_kind_of_discovery() -> None:
    result = run_cli("plugins", "ls", "--demo", "--json")
    assert result.returncode == 0, result.stderr
    by_name = {r["name"]: r for r in json.loads(result.stdout)}
    assert by_name["demo-volume"]["kind"] == "socket"
    assert by_name["demo-volume"]["implements"] == ["VolumeDriver"]
    assert by_name["demo-network"]["implements"] == ["NetworkDriver", "IpamDriver"]
    assert by_name["demo-network"]["address"].startswith("tcp://127.0.0.1:")
    assert by_name["demo-authz"]["kind"] == "json"
    assert by_name["demo-broken"]["error"] == (
        'parse "127.0.0.1:8080": first path segment in URL cannot contain colon'
    )


def test_plugins_ls_reports_broken_files_and_exits_1(short_tmp: Path) -> None:
    specs = short_tmp / "etc/docker/plugins"
    specs.mkdir(parents=True)
    (specs / "noscheme.spec").write_text("  /run/x.sock \n")
    (specs / "badjson.json").write_text('{"Addr": ')
    (specs / "pipe.spec").write_text("npipe:////./pipe/docker")
    result = run_cli("plugins", "ls", "--root", str(short_tmp))
    assert result.returncode == 1
    # Found, but activation fails before any request: the row keeps its source and address.
    assert "pipe: protocol not available" in result.stdout
    assert "npipe:////./pipe/docker" in result.stdout
    assert "noscheme: Unknown protocol" in result.stdout
    assert "badjson: unexpected EOF" in result.stdout
    assert "/etc/docker/plugins/noscheme.spec" in result.stdout


def test_plugins_ls_on_an_empty_root_says_so(short_tmp: Path) -> None:
    result = run_cli("plugins", "ls", "--root", str(short_tmp))
    assert result.returncode == 0
    assert f"No plugins found under {short_tmp}." in result.stdout


def test_unknown_profile_is_refused_with_the_choices(short_tmp: Path) -> None:
    result = run_cli("plugins", "ls", "--root", str(short_tmp), "--profile", "23")
    assert result.returncode == 2
    assert "'23' is not one of '24', '25', '26', '27', '28'" in result.stderr
