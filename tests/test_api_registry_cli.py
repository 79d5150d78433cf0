"""The documented plugin flow with the real docker CLI, ``plugin-emulator serve`` and a registry.

build (``plugin create``) → ``plugin push`` → ``plugin rm`` → ``plugin install`` (the
privilege prompt answered on stdin, or ``--grant-all-permissions DEBUG=1``) →
enabled → ``docker volume create -d`` through it → ``plugin upgrade`` to a new tag;
the negative cases; and a second engine (another data-root) installing what the
first pushed.  The registry is Debian's docker-registry on loopback; its own view
(catalog, tags, stored manifest) is checked too.  Texts are the v28 CLI's and
dockerd's (docker/cli ``cli/command/plugin/{install,push,upgrade}.go``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.engine_api import DOCKER, raw_request, request_bytes
from tests.registry import REGISTRY, Registry, run_registry
from tests.test_managed import CONFIG, plugin_dir

pytestmark = [
    pytest.mark.skipif(DOCKER is None, reason="the docker CLI (v28) is not installed"),
    pytest.mark.skipif(REGISTRY is None, reason="docker-registry is not installed"),
]

EMULATOR = [sys.executable, "-m", "emulator"]


@attrs.frozen
class Serve:
    """A running ``plugin-emulator serve`` and how to point the CLI at it."""

    socket: Path
    env: dict[str, str]

    def docker(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DOCKER), *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def api(self, method: str, path: str, body: bytes = b"", **headers: str) -> Any:
        data = request_bytes(method, f"/v1.51{path}", body, headers)
        return raw_request(str(self.socket), data, timeout=60)


@contextlib.contextmanager
def serve(tmp: Path, name: str, *args: str) -> Iterator[Serve]:
    """``plugin-emulator serve --root TMP/NAME`` on ``TMP/NAME.sock``; SIGTERM at the end."""
    sock = tmp / f"{name}.sock"
    config = tmp / f"{name}-docker-config"
    config.mkdir()
    proc = subprocess.Popen(
        [*EMULATOR, "serve", "--engine-socket", str(sock), "--root", str(tmp / name), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == f"export DOCKER_HOST=unix://{sock}\n"
        env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(config)}
        yield Serve(sock, env)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err


def stream(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode().split("\r\n") if line]


def test_build_push_install_use_upgrade(short_tmp: Path) -> None:
    with run_registry(short_tmp / "registry") as registry, serve(short_tmp, "a") as a:
        _build_and_push(short_tmp, registry, a)
        _install_refusals(registry, a)
        _install_and_use(registry, a)
        _upgrade(short_tmp, registry, a)
        with serve(short_tmp, "b") as b:  # another engine, another data-root
            plug = f"{registry.host}/test/plug:1.0"
            r = b.docker("plugin", "install", "--grant-all-permissions", plug)
            assert (r.returncode, r.stderr) == (0, "")
            r = b.docker("plugin", "inspect", "-f", "{{.Enabled}} {{.Config.Description}}", plug)
            assert r.stdout == f"true {CONFIG['description']}\n"
            r = b.docker("plugin", "rm", "-f", plug)
            assert r.returncode == 0


def _build_and_push(tmp: Path, registry: Registry, a: Serve) -> None:
    plug = f"{registry.host}/test/plug:1.0"
    r = a.docker("plugin", "create", plug, str(plugin_dir(tmp / "v1")))
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{plug}\n", "")
    r = a.docker("plugin", "inspect", "-f", "{{.Name}} {{.Enabled}} {{.Id}}", plug)
    name, enabled, plugin_id = r.stdout.split()
    assert (name, enabled) == (plug, "false")
    assert re.fullmatch(r"[0-9a-f]{64}", plugin_id)

    r = a.docker("plugin", "push", plug)
    assert (r.returncode, r.stderr) == (0, "")
    out = r.stdout.splitlines()
    assert out[0] == f"The push refers to repository [{registry.host}/test/plug]"
    completed = [line for line in out if line.endswith(": Upload complete")]
    assert len(completed) == 3
    assert all(re.fullmatch(r"[0-9a-f]{12}: Upload complete", line) for line in completed)

    headers, stored = registry.manifest("test/plug", "1.0")
    assert registry.catalog() == ["test/plug"]
    assert registry.tags("test/plug") == ["1.0"]
    manifest = json.loads(stored)
    assert manifest["mediaType"] == headers["content-type"]
    assert manifest["config"]["mediaType"] == "application/vnd.docker.plugin.v1+json"

    # The API's last line is the aux result the CLI ignores; a second push is the same.
    for _ in range(2):
        answer = a.api("POST", f"/plugins/{plug}/push", b"", **{"X-Registry-Auth": "e30="})
        assert answer.status == 200
        assert stream(answer.body)[-1] == {
            "progressDetail": {},
            "aux": {
                "Tag": "1.0",
                "Digest": headers["docker-content-digest"],
                "Size": len(stored),
            },
        }
    answer = a.api("GET", "/plugins/privileges?remote=" + plug.replace("/", "%2F"))
    assert [p["Name"] for p in answer.json()] == ["network", "mount", "device", "capabilities"]
    answer = a.api("GET", f"/plugins/privileges?remote={registry.host}/test/plug:9.9")
    assert (answer.status, answer.body) == (200, b"[]\n")
    r = a.docker("plugin", "rm", plug)
    assert r.returncode == 0


def _install_refusals(registry: Registry, a: Serve) -> None:
    plug = f"{registry.host}/test/plug:1.0"
    r = a.docker("plugin", "install", plug)  # stdin at EOF: the prompt says no
    assert r.returncode == 1
    assert r.stdout == (
        f'Plugin "{plug}" is requesting the following privileges:\n'
        " - network: [host]\n"
        " - mount: [/var/lib/docker/plugins/]\n"
        " - device: [/dev/fuse]\n"
        " - capabilities: [CAP_SYS_ADMIN]\n"
        "Do you grant the above permissions? [y/N] "
    )
    assert r.stderr == f"permission denied while installing plugin {plug}\n"
    r = a.docker("plugin", "install", "--grant-all-permissions", f"{registry.host}/test/plug:9.9")
    assert (r.returncode, r.stderr) == (
        1,
        "Error response from daemon: error resolving plugin reference: "
        f"{registry.host}/test/plug:9.9: not found\n",
    )
    # Privileges that do not match: the stream has started, so 200 and an error line.
    answer = a.api(
        "POST", f"/plugins/pull?remote={plug}", b"[]", **{"Content-Type": "application/json"}
    )
    assert answer.status == 200
    assert answer.headers["docker-plugin-name"] == plug
    assert stream(answer.body)[-1] == {
        "errorDetail": {"message": "incorrect privileges"},
        "error": "incorrect privileges",
    }
    r = a.docker("plugin", "ls", "-q")
    assert r.stdout == ""


def _install_and_use(registry: Registry, a: Serve) -> None:
    plug = f"{registry.host}/test/plug:1.0"
    r = a.docker("plugin", "install", "--alias", "myplug", "--disable", plug, stdin="y\n")
    assert (r.returncode, r.stderr) == (0, "")
    prompt = "Do you grant the above permissions? [y/N] "
    assert f"{prompt}1.0: Pulling from {registry.host}/test/plug\n" in r.stdout
    assert r.stdout.endswith(f"Installed plugin {plug}\n")
    r = a.docker("plugin", "ls", "--format", "{{.Name}} {{.Enabled}}")
    assert r.stdout == "myplug:latest false\n"
    assert a.docker("plugin", "rm", "myplug").returncode == 0

    r = a.docker("plugin", "install", "--grant-all-permissions", plug, "DEBUG=1")
    assert (r.returncode, r.stderr) == (0, "")
    lines = r.stdout.splitlines()
    assert lines[0] == f"1.0: Pulling from {registry.host}/test/plug"
    assert re.fullmatch(r"Digest: sha256:[0-9a-f]{64}", lines[1])
    assert re.fullmatch(r"[0-9a-f]{12}: Complete", lines[-2])
    assert lines[-1] == f"Installed plugin {plug}"
    fmt = "{{.PluginReference}} {{.Settings.Env}} {{.Enabled}}"
    r = a.docker("plugin", "inspect", "-f", fmt, plug)
    assert r.stdout == f"{plug} [DEBUG=1 CRASH=0] true\n"
    r = a.docker("plugin", "install", "--grant-all-permissions", plug)
    assert (r.returncode, r.stderr) == (
        1,
        f"Error response from daemon: plugin {plug} already exists\n",
    )
    r = a.docker("volume", "create", "-d", plug, "v1")
    assert (r.returncode, r.stdout, r.stderr) == (0, "v1\n", "")
    r = a.docker("volume", "ls", "--format", "{{.Driver}} {{.Name}}")
    assert r.stdout == f"{plug} v1\n"


def _upgrade(tmp: Path, registry: Registry, a: Serve) -> None:
    plug, new = f"{registry.host}/test/plug:1.0", f"{registry.host}/test/plug:2.0"
    v2 = plugin_dir(tmp / "v2", {**CONFIG, "description": "v2"})
    assert a.docker("plugin", "create", new, str(v2)).returncode == 0
    assert a.docker("plugin", "push", new).returncode == 0
    assert a.docker("plugin", "rm", new).returncode == 0
    before = a.docker("plugin", "inspect", "-f", "{{.Id}}", plug).stdout

    r = a.docker("plugin", "upgrade", plug, new)
    assert (r.returncode, r.stderr) == (1, "the plugin must be disabled before upgrading\n")
    assert a.docker("volume", "rm", "v1").returncode == 0
    assert a.docker("plugin", "disable", plug).returncode == 0
    r = a.docker("plugin", "upgrade", plug, new)  # stdin at EOF: no
    assert r.stdout == (
        f"Upgrading plugin {plug} from {plug} to {new}\n"
        "Plugin images do not match, are you sure? [y/N] "
    )
    # The CLI's cancelledErr is errdefs.Cancelled: docker exits 0 without a word.
    assert (r.returncode, r.stderr) == (0, "")
    r = a.docker("plugin", "inspect", "-f", "{{.PluginReference}}", plug)
    assert r.stdout == f"{plug}\n"
    r = a.docker("plugin", "upgrade", "--grant-all-permissions", "--skip-remote-check", plug, new)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.startswith(f"Upgrading plugin {plug} from {plug} to {new}\n2.0: Pulling from")
    assert r.stdout.endswith(f"Upgraded plugin {plug} to {new}\n")
    fmt = "{{.Id}} {{.Name}} {{.Config.Description}} {{.PluginReference}} {{.Settings.Env}}"
    r = a.docker("plugin", "inspect", "-f", fmt, plug)
    assert r.stdout == f"{before.strip()} {plug} v2 {new} [DEBUG=1 CRASH=0]\n"
    r = a.docker("plugin", "enable", plug)
    assert (r.returncode, r.stdout) == (0, f"{plug}\n")
    assert a.docker("plugin", "rm", "-f", plug).returncode == 0


def test_install_docs_example_offline_through_a_mirror(short_tmp: Path) -> None:
    """``docker plugin install vieux/sshfs`` with ``serve --registry-mirror`` and no network."""
    with run_registry(short_tmp / "registry") as registry:
        with serve(short_tmp, "a") as a:
            local = f"{registry.host}/vieux/sshfs"
            assert a.docker("plugin", "create", local, str(plugin_dir(short_tmp))).returncode == 0
            assert a.docker("plugin", "push", local).returncode == 0
        with serve(short_tmp, "b", "--registry-mirror", f"http://{registry.host}") as b:
            r = b.docker("plugin", "install", "--grant-all-permissions", "vieux/sshfs")
            assert (r.returncode, r.stderr) == (0, "")
            assert r.stdout.splitlines()[0] == "latest: Pulling from vieux/sshfs"
            assert r.stdout.endswith("Installed plugin vieux/sshfs\n")
            r = b.docker("plugin", "ls", "--format", "{{.Name}} {{.Enabled}}")
            assert r.stdout == "vieux/sshfs:latest true\n"
            r = b.docker("plugin", "inspect", "-f", "{{.PluginReference}}", "vieux/sshfs")
            assert r.stdout == "docker.io/vieux/sshfs:latest\n"
            assert b.docker("plugin", "rm", "-f", "vieux/sshfs").returncode == 0


def test_plugin_ps_and_exec(short_tmp: Path) -> None:
    """``plugin-emulator plugin ps`` / ``plugin exec`` against a running serve."""
    with serve(short_tmp, "a") as a:
        assert a.docker("plugin", "create", "mockvol", str(plugin_dir(short_tmp))).returncode == 0
        listed = _emulator(a, "plugin", "ps", "--json")
        [entry] = json.loads(listed.stdout)
        assert (entry["name"], entry["status"], entry["pid"]) == ("mockvol:latest", "stopped", None)
        assert a.docker("plugin", "enable", "mockvol").returncode == 0
        table = _emulator(a, "plugin", "ps").stdout.splitlines()
        assert table[0].split() == ["ID", "PID", "STATUS", "NAME", "SOCKET"]
        plugin_id, pid, status, name, sock = table[1].split()
        assert (plugin_id, status, name) == (entry["id"], "running", "mockvol:latest")
        assert sock == str(short_tmp / f"a/run/docker/plugins/{plugin_id}/mockvol.sock")
        assert Path(f"/proc/{pid}").exists()
        done = _emulator(
            a,
            "plugin",
            "exec",
            plugin_id[:12],
            "--",
            "sh",
            "-c",
            "pwd; echo $DEBUG; ls $EMULATOR_PLUGIN_SOCKET_DIR",
        )
        cwd, debug, listing = done.stdout.splitlines()[:3]
        assert cwd == str(short_tmp / f"a/var/lib/docker/plugins/{plugin_id}/rootfs/work")
        assert (debug, listing) == ("0", "mockvol.sock")
        failed = _emulator(a, "plugin", "exec", "mockvol", "--", "sh", "-c", "exit 7", check=False)
        assert failed.returncode == 7
        missing = _emulator(a, "plugin", "exec", "nope", "--", "true", check=False)
        assert (missing.returncode, missing.stderr) == (1, 'Error: plugin "nope" not found\n')
        assert a.docker("plugin", "rm", "-f", "mockvol").returncode == 0


def _emulator(a: Serve, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*EMULATOR, *args], env=a.env, capture_output=True, text=True, timeout=60)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_credentials_from_the_cli_config_reach_the_registry(short_tmp: Path) -> None:
    """``docker login``'s stored credentials travel in ``X-Registry-Auth`` (Basic auth)."""
    with (
        run_registry(short_tmp / "registry", htpasswd=True) as registry,
        serve(short_tmp, "a") as a,
    ):
        plug = f"{registry.host}/test/plug:1.0"
        assert a.docker("plugin", "create", plug, str(plugin_dir(short_tmp))).returncode == 0
        r = a.docker("plugin", "push", plug)
        assert r.returncode == 1
        assert r.stderr.endswith("http: server gave HTTP response to HTTPS client\n")
        auth = base64.b64encode(f"docker:{registry.password}".encode()).decode()
        config = Path(a.env["DOCKER_CONFIG"]) / "config.json"
        config.write_text(json.dumps({"auths": {registry.host: {"auth": auth}}}))
        r = a.docker("plugin", "push", plug)
        assert (r.returncode, r.stderr) == (0, "")
        assert registry.tags("test/plug") == ["1.0"]
        assert a.docker("plugin", "rm", plug).returncode == 0
        r = a.docker("plugin", "install", "--grant-all-permissions", "--disable", plug)
        assert (r.returncode, r.stderr) == (0, "")
