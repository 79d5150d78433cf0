"""A registry token server for the tests (Docker's token authentication), on loopback.

``docker-registry`` configured with ``auth.token`` answers 401 with a
``Bearer realm=…,service=…,scope=…`` challenge; clients fetch a JWT from the
realm and send it back.  :class:`TokenServer` is that realm: it records every
request (method, query, ``Authorization``, form body) and issues RS256 JWTs
granting what the ``scope`` parameters ask for, signed by a certificate that
chains to the bundle the registry trusts (``x5c`` header), as the
distribution token spec describes.  Served with trio and h11 in the test's
nursery.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
import h11
import trio
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SERVICE = "emulator-test-registry"
ISSUER = "emulator-test-issuer"


@attrs.frozen
class TokenRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    authorization: str
    form: list[tuple[str, str]]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Issues tokens for ``scope`` parameters; ``refuse_oauth`` answers POSTs with 404."""

    def __init__(self, directory: Path, *, refuse_oauth: bool = False) -> None:
        ca = trustme.CA(key_type=trustme.KeyType.RSA)
        signer = ca.issue_cert("token-signer.invalid", key_type=trustme.KeyType.RSA)
        self.bundle = directory / "token-ca.pem"
        directory.mkdir(parents=True, exist_ok=True)
        ca.cert_pem.write_to_path(str(self.bundle))
        key = serialization.load_pem_private_key(signer.private_key_pem.bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self._key = key
        leaf = x509.load_pem_x509_certificate(signer.cert_chain_pems[0].bytes())
        self._x5c = [base64.b64encode(leaf.public_bytes(serialization.Encoding.DER)).decode()]
        self.refuse_oauth = refuse_oauth
        self.requests: list[TokenRequest] = []
        self.realm = ""

    def token(self, scopes: list[str], subject: str) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            entry: dict[str, Any] = {"type": kind, "name": name, "actions": actions.split(",")}
            if "(" in kind:
                entry["type"], _, klass = kind.partition("(")
                entry["class"] = klass.rstrip(")")
            access.append(entry)
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": self._x5c}
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": os.urandom(8).hex(),
            "access": access,
        }
        signing = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        signature = self._key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing + "." + _b64(signature)

    async def serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on ``127.0.0.1:0``; reports the realm URL."""
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        self.realm = f"http://127.0.0.1:{port}/token"
        task_status.started(self.realm)
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        async with stream:
            while True:
                request, body = await self._read(conn, stream)
                if request is None:
                    return
                status, payload = self._answer(request, body)
                data = json.dumps(payload).encode()
                headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
                await stream.send_all(conn.send(h11.Response(status_code=status, headers=headers)))
                await stream.send_all(conn.send(h11.Data(data=data)))
                await stream.send_all(conn.send(h11.EndOfMessage()))
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()

    async def _read(
        self, conn: h11.Connection, stream: trio.SocketStream
    ) -> tuple[h11.Request | None, bytes]:
        request: h11.Request | None = None
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data:
                    return None, b""
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return request, body
            elif isinstance(event, h11.ConnectionClosed):
                return None, b""

    def _answer(self, request: h11.Request, body: bytes) -> tuple[int, dict[str, Any]]:
        url = urlsplit(request.target.decode())
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        form = parse_qsl(body.decode()) if request.method == b"POST" else []
        record = TokenRequest(
            request.method.decode(),
            url.path,
            parse_qsl(url.query),
            headers.get("authorization", ""),
            form,
        )
        self.requests.append(record)
        if request.method == b"POST":
            if self.refuse_oauth:
                return 404, {"details": "no oauth here"}
            scopes = dict(form).get("scope", "").split(" ")
            user = dict(form).get("username", "")
            return 200, {"access_token": self.token(scopes, user), "expires_in": 300}
        scopes = [v for k, v in record.query if k == "scope"]
        user = ""
        if record.authorization.startswith("Basic "):
            user = base64.b64decode(record.authorization[6:]).decode().split(":")[0]
        return 200, {"token": self.token(scopes, user), "expires_in": 300}
