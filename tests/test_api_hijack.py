"""The heads of hijacked answers (attach, exec start) are the bytes dockerd writes by hand.

moby/moby v28.5.2 ``api/server/router/container/container_routes.go``
(``postContainersAttach``) and ``exec.go`` (``postContainerExecStart``): ``101 UPGRADED``
when the client sent an ``Upgrade`` header, else ``200 OK`` with the raw-stream media type;
exec then copies the middlewares' headers (sorted), attach does not; the output follows
as stdcopy frames, never chunked, and the connection ends with the output.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import trio

from emulator.runtime.support import static_support
from tests.engine_api import DOCKER, Served, served

SUPPORT = static_support()
pytestmark = [
    pytest.mark.skipif(DOCKER is None, reason="the docker CLI (v28) is not installed"),
    pytest.mark.skipif(not SUPPORT.available, reason=SUPPORT.reason or "no runtime"),
]

UPGRADE = "Upgrade: tcp\r\nConnection: Upgrade\r\n"
MIDDLEWARE = (
    "Api-Version: 1.51\r\nDocker-Experimental: false\r\nOstype: linux\r\n"
    "Server: Docker/28.5.2 (linux)\r\n"
)


def _exchange(sock_path: str, request: bytes) -> bytes:
    """Everything the server sends until it closes the connection (10 s at most)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(sock_path)
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


async def _post(s: Served, path: str, extra: str = "", body: bytes = b"") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: {len(body)}\r\n"
    if body:
        head += "Content-Type: application/json\r\n"
    request = head.encode() + b"\r\n" + body
    return await trio.to_thread.run_sync(_exchange, s.host.removeprefix("unix://"), request)


def _split(answer: bytes, head: bytes) -> bytes:
    """What ``answer`` carries after ``head`` as stdout frames (however the output was
    cut into frames, as dockerd's reads of the pipe cut it), checked frame by frame."""
    assert answer.startswith(head), answer
    rest, out = answer[len(head) :], b""
    while rest:
        assert rest[:4] == b"\x01\x00\x00\x00", rest
        size = int.from_bytes(rest[4:8], "big")
        out, rest = out + rest[8 : 8 + size], rest[8 + size :]
    return out


@pytest.mark.parametrize(
    ("version", "extra", "head"),
    [
        (
            "1.51",
            UPGRADE,
            "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream"
            "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
        ),
        (
            "1.41",
            UPGRADE,
            "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream"
            "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
        ),
        ("1.51", "", "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n"),
    ],
)
async def test_attach_head_frames_and_end(
    short_tmp: Path, version: str, extra: str, head: str
) -> None:
    # docker start -a: attached before the start, the output follows the head, and the
    # connection ends when the container does.
    async with served(short_tmp, containers="processes") as s:
        r = await s.docker("create", "--name", "c1", "busybox", "sh", "-c", "echo hi; echo bye")
        assert r.rc == 0, r.err
        path = f"/v{version}/containers/c1/attach?stream=1&stdout=1"
        request = f"POST {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: 0\r\n\r\n"
        answer = b""
        with trio.fail_after(20):
            async with await trio.open_unix_socket(s.host.removeprefix("unix://")) as stream:
                await stream.send_all(request.encode())
                while b"\r\n\r\n" not in answer:
                    answer += await stream.receive_some()
                assert (await s.docker("start", "c1")).rc == 0
                while chunk := await stream.receive_some():
                    answer += chunk
        actions = [e.action for e in s.engine.events.of("container")]
    assert _split(answer, head.encode()) == b"hi\nbye\n"
    # daemon/attach.go containerAttach: the attach event, before the start it follows
    assert actions[:3] == ["create", "attach", "start"], actions


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        (
            UPGRADE,
            "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream"
            "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n",
        ),
        ("", "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n"),
    ],
)
async def test_exec_start_head_copies_the_middleware_headers(
    short_tmp: Path, extra: str, status: str
) -> None:
    async with served(short_tmp, containers="processes") as s:
        script = "trap 'exit 0' TERM; sleep 300 & wait"
        r = await s.docker("run", "-d", "--name", "c1", "busybox", "sh", "-c", script)
        assert r.rc == 0, r.err
        config = {"AttachStdout": True, "Cmd": ["echo", "from exec"]}
        created = await _post(
            s, "/v1.51/containers/c1/exec", "Connection: close\r\n", json.dumps(config).encode()
        )
        exec_id = json.loads(created.partition(b"\r\n\r\n")[2])["Id"]
        start = json.dumps({"Detach": False, "Tty": False}).encode()
        answer = await _post(s, f"/v1.51/exec/{exec_id}/start", extra, start)
        await s.docker("rm", "-f", "c1")
    assert _split(answer, (status + MIDDLEWARE + "\r\n").encode()) == b"from exec\n"
