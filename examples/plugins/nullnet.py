"""nullnet: a small legacy (v1) Docker network plugin in plain Python (standard library only).

It keeps networks and endpoints in memory and makes no interfaces, so its ``Join`` names
none (a remote driver that names one must have created it: dockerd moves it into the
container, and fails the start when it does not exist): enough to see the
calls dockerd makes for ``docker network create -d nullnet``, ``docker run --network``,
``docker stop`` and ``docker network rm``.  It serves the NetworkDriver protocol on a
unix socket and logs every call to stderr::

    python3 nullnet.py --socket /run/docker/plugins/nullnet.sock

It is the network plugin of docs/getting-started.md and examples/test_nullnet_plugin.py.
"""

from __future__ import annotations

import argparse
import http.server
import json
import logging
import os
import socketserver
import threading
from typing import Any

LOG = logging.getLogger("nullnet")


class Networks:
    """The plugin's state: networks by ID, endpoints by ID."""

    def __init__(self) -> None:
        self.networks: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def answer(self, call: str, request: dict[str, Any]) -> dict[str, Any]:
        """The JSON answer to ``/NetworkDriver.<call>`` (errors as ``{"Err": ...}``)."""
        with self.lock:
            return self._answer(call, request)

    def _answer(self, call: str, request: dict[str, Any]) -> dict[str, Any]:
        network, endpoint = request.get("NetworkID", ""), request.get("EndpointID", "")
        if call == "GetCapabilities":
            return {"Scope": "local", "ConnectivityScope": "local"}
        if call == "CreateNetwork":
            self.networks[network] = {"options": request.get("Options")}
            return {}
        if call == "DeleteNetwork":
            self.networks.pop(network, None)
            return {}
        if network not in self.networks:
            return {"Err": f"no such network: {network}"}
        if call == "CreateEndpoint":
            self.endpoints[endpoint] = {"network": network, "interface": request["Interface"]}
            return {"Interface": None}  # keep the addresses dockerd's IPAM chose
        if endpoint not in self.endpoints:
            return {"Err": f"no such endpoint: {endpoint}"}
        if call == "Join":
            return {}  # no interface: the container gets only its loopback
        if call == "EndpointOperInfo":
            return {"Value": {}}
        if call == "DeleteEndpoint":
            del self.endpoints[endpoint]
            return {}
        if call in ("Leave", "ProgramExternalConnectivity", "RevokeExternalConnectivity"):
            return {}
        return {"Err": f"unknown call NetworkDriver.{call}"}


class Handler(http.server.BaseHTTPRequestHandler):
    """``POST /Plugin.Activate`` and ``POST /NetworkDriver.*`` over HTTP/1.1."""

    protocol_version = "HTTP/1.1"
    networks: Networks

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(size)
        request = json.loads(raw) if raw.strip() else {}
        if self.path == "/Plugin.Activate":
            answer: dict[str, Any] = {"Implements": ["NetworkDriver"]}
        elif self.path.startswith("/NetworkDriver."):
            answer = self.networks.answer(self.path.removeprefix("/NetworkDriver."), request)
        else:
            self.send_error(404)
            return
        LOG.info("%s -> %s", self.path, json.dumps(answer))
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
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    Handler.networks = Networks()
    os.makedirs(os.path.dirname(args.socket), exist_ok=True)
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    with Server(args.socket, Handler) as server:
        LOG.info("serving on %s", args.socket)
        server.serve_forever()


if __name__ == "__main__":
    main()
