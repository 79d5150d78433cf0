"""A real registry for the tests: Debian's ``docker-registry`` (distribution 2.8.2) on loopback.

:func:`run_registry` starts ``docker-registry serve`` with its own config file
(filesystem storage in a temporary directory, ``127.0.0.1`` and a free port),
waits for its ``listening on`` log line (no polling), and stops it by its pid.
Variants: ``htpasswd=True`` (Basic auth; the registry provisions user ``docker``
and logs its password), ``token=TokenAuth(...)`` (Bearer tokens from a realm),
``tls=(cert, key)`` (HTTPS).  :class:`Registry` reads the registry's own view
(``/v2/_catalog``, tags, manifests, blobs) with a plain HTTP client, and keeps the
registry's log lines (one access-log line per request).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import yaml

REGISTRY = shutil.which("docker-registry")
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@attrs.frozen
class TokenAuth:
    """``auth.token`` settings: the realm URL and the certificate bundle that signs tokens."""

    realm: str
    service: str
    issuer: str
    rootcertbundle: Path


@attrs.define
class Registry:
    """A running registry: ``host`` (``127.0.0.1:PORT``), its process and its log lines."""

    host: str
    process: subprocess.Popen[bytes]
    root: Path
    log: list[str]
    scheme: str = "http"
    password: str = ""
    ca: Path | None = None
    changed: threading.Condition = attrs.field(factory=threading.Condition)

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request to the registry (Basic credentials added when it has a password)."""
        host, port = self.host.rsplit(":", 1)
        if self.scheme == "https":
            context = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, int(port), context=context, timeout=30
            )
        else:
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
        sent = dict(headers or {})
        if self.password:
            token = base64.b64encode(f"docker:{self.password}".encode()).decode()
            sent["Authorization"] = f"Basic {token}"
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    def catalog(self) -> list[str]:
        status, _, body = self.request("GET", "/v2/_catalog")
        assert status == 200, body
        return list(json.loads(body)["repositories"])

    def tags(self, repo: str) -> list[str]:
        status, _, body = self.request("GET", f"/v2/{repo}/tags/list")
        assert status == 200, body
        return list(json.loads(body)["tags"] or [])

    def manifest(self, repo: str, tag: str) -> tuple[dict[str, str], bytes]:
        """The stored manifest by tag (schema2 ``Accept``, as the registry requires)."""
        status, headers, body = self.request(
            "GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_V2}
        )
        assert status == 200, body
        return headers, body

    def blob(self, repo: str, digest: str) -> bytes:
        status, _, body = self.request("GET", f"/v2/{repo}/blobs/{digest}")
        assert status == 200, body
        return body

    def mark(self) -> int:
        """Wait until the log holds every request made so far; returns its access-log length.

        The registry writes a request's access-log line after its response, from the
        request's own goroutine, and a thread reads the log: a line can come after the
        line of a later request.  So a request tagged with a fresh marker is sent and
        waited for until the log stops growing between two markers.
        """
        length = -1
        while True:
            self._marker_seen()
            now = len(self.access_log())
            if now == length:
                return now
            length = now

    def _marker_seen(self) -> None:
        marker = f"mark-{len(self.log)}-{os.urandom(4).hex()}"
        self.request("GET", f"/v2/?{marker}")
        with self.changed:
            found = self.changed.wait_for(
                lambda: any(marker in line and '"GET' in line for line in self.log), timeout=30
            )
        assert found, "the registry's access log did not show the marker request"

    def access_log(self) -> list[str]:
        """The access-log lines ``METHOD /path STATUS`` (marker requests left out)."""
        out = []
        for line in list(self.log):
            if "/v2/?mark-" in line:
                continue
            match = re.search(r'"([A-Z]+ \S+) HTTP/1\.1" (\d+)', line)
            if match and "response completed" not in line:
                out.append(f"{match[1]} {match[2]}")
        return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(
    root: Path,
    address: str,
    *,
    htpasswd: bool,
    token: TokenAuth | None,
    tls: tuple[Path, Path] | None,
) -> dict[str, Any]:
    http_config: dict[str, Any] = {"addr": address, "secret": "emulator-tests"}
    if tls is not None:
        http_config["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": True},
        },
        "http": http_config,
    }
    if htpasswd:
        config["auth"] = {"htpasswd": {"realm": "basic-realm", "path": str(root / "htpasswd")}}
    if token is not None:
        config["auth"] = {
            "token": {
                "realm": token.realm,
                "service": token.service,
                "issuer": token.issuer,
                "rootcertbundle": str(token.rootcertbundle),
            }
        }
    return config


@contextlib.contextmanager
def run_registry(
    root: Path,
    *,
    htpasswd: bool = False,
    token: TokenAuth | None = None,
    tls: tuple[Path, Path] | None = None,
    ca: Path | None = None,
    netns: tuple[str, str] | None = None,
) -> Iterator[Registry]:
    """Start ``docker-registry`` under ``root`` (its config, data and log); stop it by pid.

    ``netns=(NAME, ADDRESS)`` runs it inside network namespace NAME on ``ADDRESS:5000``
    (``ip netns exec``, which execs it: the pid is the registry's).
    """
    assert REGISTRY is not None, "docker-registry is missing (apt-get install docker-registry)"
    root.mkdir(parents=True, exist_ok=True)
    prefix = ["ip", "netns", "exec", netns[0]] if netns else []
    for _attempt in range(5):
        address = f"{netns[1]}:5000" if netns else f"127.0.0.1:{free_port()}"
        config = root / "config.yml"
        settings = _config(root, address, htpasswd=htpasswd, token=token, tls=tls)
        config.write_text(yaml.safe_dump(settings))
        process = subprocess.Popen(
            [*prefix, REGISTRY, "serve", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")},
        )
        log: list[str] = []
        ready = threading.Event()
        changed = threading.Condition()
        reader = threading.Thread(
            target=_read_log, args=(process, log, ready, changed), daemon=True
        )
        reader.start()
        ready.wait(timeout=30)
        if process.poll() is None and any("listening on" in line for line in log):
            break
        _stop(process)
        reader.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    else:
        raise RuntimeError("docker-registry did not start:\n" + "\n".join(log[-20:]))
    password = ""
    for line in log:
        found = re.search(r"password=(\S+) user=docker", line)
        if found:
            password = found[1]
    registry = Registry(
        host=address,
        process=process,
        root=root,
        log=log,
        scheme="https" if tls else "http",
        password=password,
        ca=ca,
        changed=changed,
    )
    try:
        yield registry
    finally:
        _stop(process)
        reader.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def _read_log(
    process: subprocess.Popen[bytes],
    log: list[str],
    ready: threading.Event,
    changed: threading.Condition,
) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        line = raw.decode(errors="replace").rstrip("\n")
        with changed:
            log.append(line)
            changed.notify_all()
        if "listening on" in line:
            ready.set()
    ready.set()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the registry's pid, SIGKILL if it has not gone after 10 s."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
