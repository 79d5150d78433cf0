"""``plugin-emulator check --type log``: each log check reports against the mock log
driver with its bug and passes against the correct mock; the Go log driver
(tests/go/logdriver, moby's own encoder and decoder) passes every check.

The in-process mock runs on virtual time; the waits on the plugin's own work (reading its
FIFO, letting it go) are real and bounded (``REAL_BOUND``), so the bugs that never read
or never close cost a few real seconds each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from emulator.check import CATALOGUE, CheckRun, Verdict
from emulator.cli import main
from emulator.mocks.log import LOG_BUGS, MockLogDriver
from tests.check_runs import run_against_mock, verdicts_of
from tests.test_go_logdriver import _missing as go_missing
from tests.test_go_logdriver import go_logdriver  # noqa: F401 (the session fixture)

#: Each bug of the mock log driver and the check that must catch it.
LOG_CASES = [
    ("implements_lowercase", "log.activate"),
    ("require_content_type", "log.headers"),
    ("strict_keys", "log.unknown-keys"),
    ("errors_under_other_key", "log.error-key"),
    ("html_errors", "log.error-body"),
    ("crash_on_empty_body", "log.empty-resend"),
    ("flat_capabilities", "log.capabilities"),
    ("refuse_unknown_opts", "log.start-logging"),
    ("never_reads", "log.fifo-drain"),
    ("drop_partial", "log.records-intact"),
    ("no_newlines", "log.records-intact"),
    ("stop_waits_for_eof", "log.stop-answer"),
    ("stop_without_drain", "log.stop-drains"),
    ("keep_fifo_open", "log.fifo-closed"),
    ("one_start_per_container", "log.start-again"),
    ("unframed_read_logs", "log.read-logs-framing"),
    ("ignore_tail", "log.read-logs-tail"),
    ("ignore_since", "log.read-logs-since"),
    ("ignore_follow", "log.read-logs-follow"),
    ("misfiled_records", "log.concurrency"),
    ("slow_answers", "log.slow"),
    ("activate_once", "log.restart"),
]
#: The checks that need ReadLogs to say anything.
READ_CHECKS = {
    "log.records-intact",
    "log.read-logs-framing",
    "log.read-logs-tail",
    "log.read-logs-since",
    "log.read-logs-follow",
}


def _mock_run(root: Path, bugs: list[str], select: str = "", *, read_logs: bool = True) -> CheckRun:
    mock = MockLogDriver("mlog", read_logs=read_logs, bugs=bugs)
    return run_against_mock(root, mock, "mlog", "log", select=select, seed=12)


def test_every_log_check_passes_against_the_correct_mock(short_tmp: Path) -> None:
    run = _mock_run(short_tmp, [])
    assert run.setup_error is None
    verdicts = verdicts_of(run)
    assert set(verdicts) == {c.id for c in CATALOGUE.checks(["log"])}
    not_passed = {r.check.id: r.did for r in run.results if r.verdict is not Verdict.PASS}
    assert not_passed == {}
    assert run.exit_code == 0
    did = {r.check.id: r.did for r in run.results}
    assert did["log.records-intact"].startswith("8 records (3 partial pieces")
    assert did["log.concurrency"].startswith("8 containers, 20 records each")


def test_without_read_logs_the_read_checks_skip_and_the_rest_pass(short_tmp: Path) -> None:
    run = _mock_run(short_tmp, [], read_logs=False)
    verdicts = verdicts_of(run)
    assert {c for c, v in verdicts.items() if v is Verdict.SKIP} == READ_CHECKS
    assert {c for c, v in verdicts.items() if v is not Verdict.SKIP} == (
        {c.id for c in CATALOGUE.checks(["log"])} - READ_CHECKS
    )
    assert set(verdicts.values()) == {Verdict.PASS, Verdict.SKIP}
    capabilities = next(r for r in run.results if r.check.id == "log.capabilities")
    assert capabilities.did == "ReadLogs false: docker logs reads dockerd's local cache"


@pytest.mark.parametrize(("bug", "check_id"), LOG_CASES, ids=[c[0] for c in LOG_CASES])
def test_a_log_bug_makes_its_check_report(short_tmp: Path, bug: str, check_id: str) -> None:
    check = CATALOGUE.get(check_id)
    run = _mock_run(short_tmp, [bug], select=check_id)
    assert verdicts_of(run)[check_id] is check.severity, run.results
    assert run.exit_code == (1 if check.severity is Verdict.FAIL else 0)


def test_every_log_check_and_every_bug_are_paired() -> None:
    assert {c.id for c in CATALOGUE.checks(["log"])} == {check_id for _, check_id in LOG_CASES}
    assert set(LOG_BUGS) == {bug for bug, _ in LOG_CASES}


def test_what_the_fifo_checks_report(short_tmp: Path) -> None:
    """The FIFO's side of a failure: bytes left in the pipe, who holds it."""
    blocked = _mock_run(short_tmp, ["never_reads"], select="log.fifo-drain")
    (result,) = blocked.results
    assert "the container is blocked on its output" in result.did
    assert "bytes unread in the pipe" in result.did
    lost = _mock_run(short_tmp, ["stop_without_drain"], select="log.stop-drains")
    assert "left unread when the plugin closed its FIFO: lost" in lost.results[0].did
    held = _mock_run(short_tmp, ["keep_fifo_open"], select="log.fifo-closed")
    assert "after StopLogging the FIFO is still open: " in held.results[0].did
    assert "open for read" in held.results[0].did


def _command_run(argv: list[str], *options: str) -> dict[str, Any]:
    report = Path(f"/tmp/pe-i20c-{abs(hash(tuple(argv + list(options))))}.json")
    result = CliRunner().invoke(
        main, ["check", "--type", "log", "--seed", "5", "--json", str(report), *options, *argv]
    )
    data: dict[str, Any] = json.loads(report.read_text())
    report.unlink()
    data["exit_code"] = result.exit_code
    return data


def _mock_command(*bugs: str) -> list[str]:
    argv = [sys.executable, "-m", "emulator.mocks", "log", "--socket", "{socket}"]
    for bug in bugs:
        argv += ["--bug", bug]
    return argv


def test_the_mock_as_a_command_passes_and_fails_on_its_bug() -> None:
    good = _command_run(_mock_command(), "--name", "mlog")
    assert good["setup_error"] is None
    assert {r["verdict"] for r in good["results"]} == {"pass"}, good["results"]
    assert good["exit_code"] == 0
    bad = _command_run(_mock_command("never_reads"), "-k", "fifo-drain")
    (result,) = bad["results"]
    assert (result["id"], result["verdict"]) == ("log.fifo-drain", "fail")
    assert bad["exit_code"] == 1


@pytest.mark.skipif(go_missing() is not None, reason=str(go_missing()))
def test_the_go_log_driver_passes_every_check(go_logdriver: Path, short_tmp: Path) -> None:  # noqa: F811
    log = short_tmp / "golog.jsonl"
    argv = [str(go_logdriver), "-socket", "{socket}", "-log", str(log)]
    data = _command_run(argv, "--name", "golog")
    verdicts = {r["id"]: r["verdict"] for r in data["results"]}
    assert data["setup_error"] is None
    assert verdicts == {c.id: "pass" for c in CATALOGUE.checks(["log"])}, data["results"]
    assert data["exit_code"] == 0
    # Go decoded the records the checks wrote with moby's decoder, none undecodable.
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert not [e for e in events if e["event"] == "error"]
    lines = {e["line"] for e in events if e["event"] == "entry"}
    assert {"first line", "an error line", "café\ttabs and UTF-8"} <= lines


def test_pytest_emulator_check_runs_the_log_checks(short_tmp: Path) -> None:
    command = f"{sys.executable} -m emulator.mocks log --socket {{socket}} --bug ignore_tail"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-p",
            "no:xdist",
            f"--emulator-check={command}",
            "--emulator-check-option=--type=log",
            "-k",
            "log.",
        ],
        cwd=short_tmp,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "FAILED ::emulator-check::check[log.read-logs-tail]" in result.stdout, result.stdout
    assert f"1 failed, {len(CATALOGUE.checks(['log'])) - 1} passed" in result.stdout
    assert result.returncode == 1
