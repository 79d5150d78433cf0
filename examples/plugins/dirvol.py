"""dirvol: a small legacy (v1) Docker volume plugin in plain Python (standard library only).

Each volume is a directory under ``--state``; ``Mount`` answers that directory as the
``Mountpoint`` (with ``--tmpfs``, a tmpfs is mounted on it at the first mount and unmounted
at the last, as a FUSE plugin would).  It serves the VolumeDriver protocol on a unix
socket and logs every call to stderr, as most plugins do::

    python3 dirvol.py --socket /run/docker/plugins/dirvol.sock --state /var/lib/dirvol

It is the plugin of docs/getting-started.md and examples/test_dirvol_plugin.py.
``--mount-seconds S`` makes every ``Mount`` take S real seconds (a slow backend).
"""

from __future__ import annotations

import argparse
import http.server
import json
import logging
import os
import socketserver
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

LOG = logging.getLogger("dirvol")


class Volumes:
    """The plugin's state: one directory per volume, and who has it mounted."""

    def __init__(self, state: Path, *, tmpfs: bool, mount_seconds: float) -> None:
        self.state = state
        self.tmpfs = tmpfs
        self.mount_seconds = mount_seconds
        self.mounts: dict[str, set[str]] = {}
        self.lock = threading.Lock()
        state.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"invalid volume name {name!r}")
        return self.state / name

    def answer(self, call: str, request: dict[str, Any]) -> dict[str, Any]:
        """The JSON answer to ``/VolumeDriver.<call>`` (errors as ``{"Err": ...}``)."""
        if call == "Capabilities":
            return {"Capabilities": {"Scope": "local"}}
        if call == "List":
            names = sorted(p.name for p in self.state.iterdir() if p.is_dir())
            return {"Volumes": [{"Name": n, "Mountpoint": str(self.path(n))} for n in names]}
        name = request.get("Name", "")
        try:
            path = self.path(name)
        except ValueError as exc:
            return {"Err": str(exc)}
        with self.lock:
            return self._answer(call, name, path, request)

    def _answer(self, call: str, name: str, path: Path, request: dict[str, Any]) -> dict[str, Any]:
        if call == "Create":
            path.mkdir(exist_ok=True)
            return {}
        if not path.is_dir():
            return {"Err": f"no such volume: {name}"}
        if call == "Get":
            return {"Volume": {"Name": name, "Mountpoint": str(path), "Status": {}}}
        if call == "Path":
            return {"Mountpoint": str(path)}
        if call == "Remove":
            if self.mounts.get(name):
                return {"Err": f"volume {name} is in use"}
            _remove_tree(path)
            return {}
        if call == "Mount":
            time.sleep(self.mount_seconds)
            users = self.mounts.setdefault(name, set())
            if self.tmpfs and not users:
                subprocess.run(["mount", "-t", "tmpfs", "dirvol", str(path)], check=True)
            users.add(request.get("ID", ""))
            return {"Mountpoint": str(path)}
        if call == "Unmount":
            users = self.mounts.get(name, set())
            users.discard(request.get("ID", ""))
            if self.tmpfs and not users:
                subprocess.run(["umount", str(path)], check=True)
            return {}
        return {"Err": f"unknown call VolumeDriver.{call}"}


def _remove_tree(path: Path) -> None:
    for child in sorted(path.rglob("*"), reverse=True):
        if child.is_dir() and not child.is_symlink():
            child.rmdir()
        else:
            child.unlink()
    path.rmdir()


class Handler(http.server.BaseHTTPRequestHandler):
    """``POST /Plugin.Activate`` and ``POST /VolumeDriver.*`` over HTTP/1.1."""

    protocol_version = "HTTP/1.1"
    volumes: Volumes

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(size)
        request = json.loads(raw) if raw.strip() else {}
        if self.path == "/Plugin.Activate":
            answer: dict[str, Any] = {"Implements": ["VolumeDriver"]}
        elif self.path.startswith("/VolumeDriver."):
            answer = self.volumes.answer(self.path.removeprefix("/VolumeDriver."), request)
        else:
            self.send_error(404)
            return
        LOG.info("%s %s -> %s", self.path, json.dumps(request), json.dumps(answer))
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # every call is logged above, once


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", required=True, help="unix socket to serve on")
    parser.add_argument("--state", required=True, type=Path, help="where volumes live")
    parser.add_argument("--tmpfs", action="store_true", help="mount a tmpfs on each volume")
    parser.add_argument("--mount-seconds", type=float, default=0.0, help="a slow Mount")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    Handler.volumes = Volumes(args.state, tmpfs=args.tmpfs, mount_seconds=args.mount_seconds)
    os.makedirs(os.path.dirname(args.socket), exist_ok=True)
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    with Server(args.socket, Handler) as server:
        LOG.info("serving on %s, volumes in %s", args.socket, args.state)
        server.serve_forever()


if __name__ == "__main__":
    main()
