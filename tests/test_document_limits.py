"""Huge YAML/JSON documents are refused early and never parsed on the event loop.

Scenario files and ``POST /emulator/faults`` share the loader's limits: at most
``MAX_BYTES`` bytes (refused before parsing), ``MAX_NODES`` nodes (composition stops
there), ``MAX_DEPTH`` levels; the control API parses in a worker thread.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio

from emulator.faults.vocabulary import read_fault_text
from emulator.scenario.loader import load_scenario
from emulator.vocabulary.nodes import MAX_BYTES, MAX_NODES, ScenarioError
from tests.engine_api import RawResponse, raw_request, request_bytes, served

FAULT = "- match: {call: VolumeDriver.Create}\n  respond: {err: disk full}\n"


def test_a_scenario_file_too_big_is_refused_before_parsing(short_tmp: Path) -> None:
    path = short_tmp / "million.yaml"
    with path.open("w") as out:
        out.write("version: 1\nname: huge\nsteps:\n")
        for _ in range(1_000_000):
            out.write("  - sleep: 0\n")
    started = time.monotonic()
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert time.monotonic() - started < 5  # refused by its size, not after parsing
    size = path.stat().st_size
    assert str(info.value) == (
        f"{path}:1:1: the document is {size} bytes: plugin-emulator reads at most "
        f"{MAX_BYTES} (split it into several documents)"
    )


def test_composition_stops_at_the_node_limit(short_tmp: Path) -> None:
    steps = "".join("  - sleep: 0\n" for _ in range(MAX_NODES))
    text = f"version: 1\nname: many\nsteps:\n{steps}"
    assert len(text) < MAX_BYTES
    path = short_tmp / "many.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=f"more than {MAX_NODES} YAML nodes"):
        load_scenario(path)


def test_fault_text_has_the_same_limits() -> None:
    with pytest.raises(ScenarioError, match=f"reads at most {MAX_BYTES}"):
        read_fault_text(b"#" * (MAX_BYTES + 1), filename="<faults>")


async def _post(sock: Path, body: bytes) -> RawResponse:
    data = request_bytes("POST", "/emulator/faults", body)
    return await trio.to_thread.run_sync(lambda: raw_request(str(sock), data, timeout=120))


async def test_a_huge_fault_list_neither_stalls_the_api_nor_is_accepted(short_tmp: Path) -> None:
    body = (FAULT * (3_000_000 // len(FAULT))).encode()
    async with served(short_tmp, max_body=64 << 20) as s:
        sock = short_tmp / "d.sock"
        latencies: list[float] = []
        answer: list[RawResponse] = []
        started = time.monotonic()

        async def post() -> None:
            answer.append(await _post(sock, body))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(post)
            while not answer:
                before = time.monotonic()
                ping = await trio.to_thread.run_sync(
                    lambda: raw_request(str(sock), request_bytes("GET", "/_ping"))
                )
                assert ping.body == b"OK"
                latencies.append(time.monotonic() - before)
        took = time.monotonic() - started
        [refused] = answer
        assert refused.status == 400
        assert f"more than {MAX_NODES} YAML nodes" in str(refused.json())
        assert s.engine.faults.faults == []
        # The parse took a while; /_ping never waited for it.
        assert max(latencies) < max(took / 3, 0.2), (max(latencies), took)

        # refused from its Content-Length alone: the body is never read
        head = f"POST /emulator/faults HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BYTES + 1}"
        too_big = await trio.to_thread.run_sync(
            lambda: raw_request(str(sock), (head + "\r\n\r\n").encode())
        )
        assert too_big.status == 400
        assert f"reads at most {MAX_BYTES}" in str(too_big.json())
