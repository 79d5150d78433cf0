"""docs/getting-started.md, run as a newcomer runs it: every command, in order, from the
repository's root, and every output shown checked against what the commands print.

The page's blocks: ``sh`` blocks are run with bash (``set -e``); a ``text`` block right
after one lists lines that must appear in its output, in that order; an ``sh`` block
whose first line is ``# terminal 1`` is started in the background (serve), and the
``export DOCKER_HOST=`` line of the next block is replaced by the one it printed;
``python`` and ``yaml`` blocks are excerpts that must be found, verbatim, in the files
under examples/.  The install block is not run here (it would rebuild this venv): it
must be the README's install line, which .ci/run runs on a fresh machine.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from tests.engine_api import DOCKER

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "getting-started.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
INSTALL = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]'"


@attrs.frozen
class Block:
    lang: str
    code: str


def blocks() -> list[Block]:
    return [Block(lang, code) for lang, code in BLOCK.findall(PAGE.read_text())]


def steps() -> Iterator[tuple[Block, Block | None]]:
    """Each ``sh`` block with the ``text`` block right after it, if any."""
    found = blocks()
    for index, block in enumerate(found):
        if block.lang == "sh":
            after = found[index + 1] if index + 1 < len(found) else None
            yield block, after if after is not None and after.lang == "text" else None


def expect_lines(expected: Block | None, output: str, where: str) -> None:
    """The lines of ``expected`` appear in ``output``, in order (surrounding spaces aside)."""
    if expected is None:
        return
    lines = [line.strip() for line in output.splitlines()]
    position = 0
    for want in (w.strip() for w in expected.code.splitlines() if w.strip()):
        while position < len(lines) and want not in lines[position]:
            position += 1
        assert position < len(lines), f"{where}: {want!r} not in the output:\n{output}"
        position += 1


@pytest.fixture
def newcomer_env(short_tmp: Path) -> dict[str, str]:
    """The environment after step 1: the venv's commands first on PATH; a private runtime
    directory (serve's default socket) and docker config."""
    bin_dir = str(Path(sys.executable).parent)
    runtime = short_tmp / "runtime"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env |= {"XDG_RUNTIME_DIR": str(runtime), "DOCKER_CONFIG": str(short_tmp / "docker")}
    env.pop("DOCKER_HOST", None)
    env.pop("EMULATOR_CONTAINERS", None)  # a newcomer's default: real container processes
    return env


def run_block(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{code}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_the_install_step_is_the_one_ci_runs() -> None:
    install = [b for b in blocks() if b.lang == "sh" and "pip install" in b.code]
    assert len(install) == 1
    assert install[0].code.splitlines()[0] == INSTALL
    readme = (ROOT / "README.md").read_text()
    assert f"{INSTALL} && .venv/bin/pytest" in readme
    assert f"{INSTALL} && .venv/bin/pytest" in (ROOT / ".ci/run").read_text()


def test_the_excerpts_are_the_examples_code() -> None:
    sources = {p: p.read_text() for p in (ROOT / "examples").rglob("*") if p.is_file()}
    excerpts = [b for b in blocks() if b.lang in ("python", "yaml")]
    assert len(excerpts) >= 4
    for block in excerpts:
        assert any(block.code in text for text in sources.values()), (
            f"this {block.lang} excerpt is not in any file under examples/:\n{block.code}"
        )


@pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")
def test_every_step_runs_as_shown(newcomer_env: dict[str, str]) -> None:
    background: subprocess.Popen[str] | None = None
    docker_host = ""
    try:
        for block, expected in steps():
            code = block.code
            if "pip install" in code:
                continue  # step 1: see test_the_install_step_is_the_one_ci_runs
            if code.startswith("# terminal 1"):
                background, docker_host = start_in_background(code, newcomer_env)
                # The page shows a typical $XDG_RUNTIME_DIR; here it is the test's own.
                printed = f"export DOCKER_HOST={docker_host}".replace(
                    newcomer_env["XDG_RUNTIME_DIR"], "/run/user/1000"
                )
                expect_lines(expected, printed, code)
                continue
            if docker_host:
                export = f"export DOCKER_HOST={docker_host}"
                code = re.sub(r"^export DOCKER_HOST=\S+", export, code, flags=re.M)
            expect_lines(expected, run_block(code, newcomer_env), code)
    finally:
        if background is not None:
            background.send_signal(signal.SIGINT)  # Ctrl-C, as the page says
            _, err = background.communicate(timeout=60)
            assert background.returncode == 0, err
            assert "Traceback" not in err
    assert background is not None, "the page has no '# terminal 1' step"


def start_in_background(code: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Start a ``# terminal 1`` block; return it and the DOCKER_HOST it printed."""
    process = subprocess.Popen(
        ["bash", "-e", "-c", f"exec {code.splitlines()[-1]}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("export DOCKER_HOST="):
        process.kill()
        _, err = process.communicate(timeout=60)
        pytest.fail(f"{code}\nprinted {line!r} instead of the export line:\n{err}")
    return process, line.strip().removeprefix("export DOCKER_HOST=")


def test_the_example_suite_runs_a_150s_mount_delay_in_under_a_second(
    newcomer_env: dict[str, str], short_tmp: Path
) -> None:
    """The Done-when of issue 14: a suite written the way the docs show, the sync fixture,
    dockerd's 2-minute deadline and a 150 s delay, timed by pytest itself."""
    report = short_tmp / "report.xml"
    run_block(
        f"pytest examples/test_dirvol_plugin.py -q -p no:cacheprovider --junit-xml={report}",
        newcomer_env,
    )
    times = {
        case.get("name"): float(case.get("time", "nan"))
        for case in ET.parse(report).getroot().iter("testcase")
    }
    assert times["test_a_mount_slower_than_dockerds_deadline"] < 1.0, times
