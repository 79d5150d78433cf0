"""Request JSON that dockerd answers 400 gets 400 here, with Go's texts; numbers as Go writes.

dockerd reads bodies with ``json.NewDecoder(r.Body).Decode`` (moby/moby
api/server/httputils/httputils.go ``ReadJSON``, v28.5.2): lone surrogates become
U+FFFD, nesting deeper than 10000 is a syntax error, a number where a string belongs
is a type error, and every one of these is ``invalid JSON: ...`` with status 400.
"""

from __future__ import annotations

from pathlib import Path

import trio

from tests.engine_api import RawResponse, raw_request, request_bytes, served


async def _post(
    sock: Path, path: str, body: bytes, content_type: str = "application/json"
) -> RawResponse:
    data = request_bytes("POST", path, body, {"Content-Type": content_type})
    return await trio.to_thread.run_sync(raw_request, str(sock), data)


async def _get(sock: Path, path: str) -> RawResponse:
    return await trio.to_thread.run_sync(raw_request, str(sock), request_bytes("GET", path))


def _message(answer: RawResponse) -> str:
    body = answer.json()
    assert isinstance(body, dict)
    return str(body["message"])


async def test_bad_json_is_400_with_gos_text(short_tmp: Path) -> None:
    async with served(short_tmp):
        sock = short_tmp / "d.sock"
        cases = {
            b'{"Name": 1' + b"7" * 5000 + b"}": (
                "invalid JSON: json: cannot unmarshal number into Go struct field "
                "CreateOptions.Name of type string"
            ),
            b'{"Name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}": (
                "invalid JSON: invalid character '[' exceeded max depth"
            ),
            b'{"Name": "a"} {"Name": "b"}': "unexpected content after JSON",
            b'{"Name": "a"': "invalid JSON: unexpected EOF",
            b"   ": "invalid JSON: got EOF while reading request body",
        }
        for body, text in cases.items():
            answer = await _post(sock, "/volumes/create", body)
            assert (answer.status, _message(answer)) == (400, text), body[:40]
        for body in (b'{"Name": "a\\ud800"}', b'{"Name": "a\xff"}'):  # both become U+FFFD
            answer = await _post(sock, "/volumes/create", body)
            assert answer.status == 400
            assert '"a\ufffd" includes invalid characters' in _message(answer)
        # Decoder.More: a closing bracket after the value is not "more content"
        answer = await _post(sock, "/volumes/create", b'{"Name": "ok1"}]')
        assert answer.status == 201
        answer = await _get(sock, "/volumes?filters=" + "%5B" * 20_000 + "%5D" * 20_000)
        assert (answer.status, _message(answer)) == (
            400,
            "error reading volume filters: invalid filter",
        )
        assert "Traceback" not in answer.body.decode()


async def test_numbers_from_plugins_are_written_as_go_writes_them(short_tmp: Path) -> None:
    async with served(short_tmp) as s:
        await s.docker("volume", "create", "-d", "mv", "v1")
        answer = await _get(short_tmp / "d.sock", "/volumes/v1")
        assert answer.status == 200
        assert b'"mounts":0' in answer.body
        assert b'"mounts":0.0' not in answer.body
