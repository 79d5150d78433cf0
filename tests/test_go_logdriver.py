"""An independent implementation: a logging plugin in Go, on moby's own encoder and decoder.

tests/go/logdriver/main.go decodes the FIFO with ``logdriver.NewLogEntryDecoder``
(github.com/docker/docker/api/types/plugins/logdriver, gogo/protobuf, from Debian's
golang-github-docker-docker-dev; the same ``entry.proto`` and ``io.go`` as moby
v28.5.2), opens the FIFO with github.com/containerd/fifo, re-encodes every entry with
``NewLogEntryEncoder`` and serves ``ReadLogs`` with it.  Driven by the real docker CLI,
the emulator must agree with it byte for byte: what Go decoded is what the emulator
meant, Go's encoding of it is the emulator's, and what Go's ``ReadLogs`` sends is what
``docker logs`` prints.  Built here by a session fixture (offline, GOPATH mode on
/usr/share/gocode); CI installs the packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from emulator.clock import real_sleep
from emulator.engine.process_spec import ProcessSpec
from emulator.engine.processes import PluginProcess
from emulator.protocol.logdriver.entry import encode_frame
from tests.engine_api import DOCKER, Served, served

GOPATH = Path("/usr/share/gocode")
SOURCE = Path(__file__).parent / "go/logdriver"
PACKAGES = (
    "github.com/docker/docker/api/types/plugins/logdriver/io.go",
    "github.com/containerd/fifo/fifo.go",
    "github.com/gogo/protobuf/proto/lib.go",
)


def _missing() -> str | None:
    if DOCKER is None:
        return "the docker CLI (v28) is not installed"
    if shutil.which("go") is None:
        return "golang-go is not installed"
    for path in PACKAGES:
        if not (GOPATH / "src" / path).exists():
            return f"{path} is missing (golang-github-* packages)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


@pytest.fixture(scope="session")
def go_logdriver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The Go plugin, built offline against Debian's Go packages."""
    work = tmp_path_factory.mktemp("golog")
    binary = work / "golog"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOFLAGS": "-buildvcs=false",
        "GOPROXY": "off",
        "GOCACHE": os.environ.get("GOCACHE") or str(Path.home() / ".cache/go-build"),
    }
    built = subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=SOURCE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    yield binary
    binary.unlink()


@attrs.frozen
class Env:
    s: Served
    log: Path

    def view(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    async def ended(self, count: int) -> list[dict[str, Any]]:
        """What Go wrote, once ``count`` FIFOs reached EOF (real time: Go is a process)."""
        for _ in range(500):
            view = self.view()
            if sum(e["event"] in ("eof", "error") for e in view) >= count:
                return view
            await real_sleep(0.01)
        raise AssertionError(f"the Go plugin did not finish: {self.view()}")


@pytest.fixture
async def env(short_tmp: Path, go_logdriver: Path) -> AsyncIterator[Env]:
    log = short_tmp / "golog.jsonl"
    sock = short_tmp / "run/docker/plugins/golog.sock"
    spec = ProcessSpec(
        "golog",
        [str(go_logdriver), "-socket", str(sock), "-log", str(log)],
        socket=sock,
        private_run=False,
    )
    process = PluginProcess(spec, root=short_tmp)
    async with trio.open_nursery() as nursery:
        await nursery.start(process.run)
        async with served(short_tmp, mocks=()) as s:
            yield Env(s, log)
        nursery.cancel_scope.cancel()


SCRIPTS = {
    "both streams": "echo out; echo err >&2",
    "a 40 KiB line": "printf '%40960s\\n' x",
    "no final newline": "echo first; echo -n last",
    "utf-8 and tabs": "printf 'caf\\303\\251\\tx\\n'",
    "empty lines": "echo; echo; echo x",
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
async def test_go_decodes_what_the_engine_meant_and_encodes_it_the_same(
    env: Env, script: str
) -> None:
    result = await env.s.docker(
        "run", "--log-driver", "golog", "--name", "c", "busybox", "sh", "-c", SCRIPTS[script]
    )
    assert result.rc == 0, result.err
    cid = env.s.engine.containers.get("c").id
    view = await env.ended(1)
    sent = env.s.engine.logs.entries(cid)
    got = [e for e in view if e["event"] == "entry"]
    assert len(got) == len(sent) > 0
    for mine, go in zip(sent, got, strict=True):
        assert go["frame"] == encode_frame(mine).hex()  # byte for byte, moby's encoder
        assert (go["source"], go["time_nano"], go["line"]) == (
            mine.source,
            mine.time_nano,
            mine.line.decode(),
        )
        assert go["partial"] == (mine.partial is not None)
        if mine.partial is not None:
            assert (go["id"], go["ordinal"], go.get("last", False)) == (
                mine.partial.id,
                mine.partial.ordinal,
                mine.partial.last,
            )
    (start,) = [e for e in view if e["event"] == "start"]
    sent_body = next(iter(env.s.engine.journal.calls("LogDriver.StartLogging")))
    assert start["body"].encode() == sent_body.request_body
    assert [e["event"] for e in view if e["event"] in ("stop", "eof")] == ["stop", "eof"]


async def test_docker_logs_reads_go_s_read_logs_answer(env: Env) -> None:
    result = await env.s.docker(
        "run", "--log-driver", "golog", "--name", "c", "busybox",
        "sh", "-c", "echo one; echo two; printf '%20000s\\n' x",
    )  # fmt: skip
    assert result.rc == 0, result.err
    await env.ended(1)
    logs = await env.s.docker("logs", "c")
    assert logs.rc == 0, logs.err
    # dockerd writes a ReadLogs line as the plugin sends it; Go put the newline back on
    # each line that had one (the 20000-byte line came as two pieces: 16384 + 3616).
    assert logs.out == "one\ntwo\n" + "x".rjust(20000)[:16384] + "x".rjust(20000)[16384:] + "\n"
    tail = await env.s.docker("logs", "--tail", "1", "c")
    assert tail.out == "x".rjust(20000)[16384:] + "\n"
    await env.ended(2)  # the fresh logger's FIFO ended too
