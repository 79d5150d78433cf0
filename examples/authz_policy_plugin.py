"""A small Docker authorization plugin, the thing under test in ``test_authz_plugin.py``.

Standard library only; it serves the authz plugin protocol on a unix socket:
``POST /Plugin.Activate`` → ``{"Implements": ["authz"]}``, then
``/AuthZPlugin.AuthZReq`` and ``/AuthZPlugin.AuthZRes`` with dockerd's request object
(``RequestMethod``, ``RequestUri``, ``RequestBody`` in base64, ``User`` ...).  Its policy:

* no privileged containers (the ``HostConfig.Privileged`` field of a container create);
* volumes may be removed only by the TLS user ``admin``;
* it never shows a client the daemon's ``/info`` (refused on the response);
* everything else is allowed.

Run: ``python authz_policy_plugin.py /run/docker/plugins/policy.sock``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socketserver
import sys
from http.server import BaseHTTPRequestHandler

VERSIONED = re.compile(r"^/v[0-9.]+(/.*)$")


def decide(call: str, req: dict) -> dict:
    """The verdict for one AuthZReq (``call == "req"``) or AuthZRes."""
    path = req.get("RequestUri", "").split("?", 1)[0]
    match = VERSIONED.match(path)
    path = match.group(1) if match else path
    if call == "res":
        if path == "/info":
            return {"Allow": False, "Msg": "the daemon's details are private"}
        return {"Allow": True}
    body = base64.b64decode(req.get("RequestBody", "")) or b"{}"
    if path == "/containers/create" and json.loads(body).get("HostConfig", {}).get("Privileged"):
        return {"Allow": False, "Msg": "privileged containers are not allowed"}
    removes_a_volume = req.get("RequestMethod") == "DELETE" and path.startswith("/volumes/")
    if removes_a_volume and req.get("User") != "admin":
        return {"Allow": False, "Msg": "only admin removes volumes"}
    return {"Allow": True}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(size)
        if self.path == "/Plugin.Activate":
            answer, status = {"Implements": ["authz"]}, 200
        elif self.path in ("/AuthZPlugin.AuthZReq", "/AuthZPlugin.AuthZRes"):
            try:
                answer = decide(self.path[-3:].lower(), json.loads(raw))
                status = 200
            except ValueError as exc:  # report errors the way dockerd understands: not 200
                answer, status = {"Allow": False, "Err": str(exc)}, 500
        else:
            answer, status = {"Err": f"unknown method {self.path}"}, 404
        data = json.dumps(answer).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1.1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        print(format % args, flush=True)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if __name__ == "__main__":
    path = sys.argv[1]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)
    print(f"listening on {path}", flush=True)
    Server(path, Handler).serve_forever()
