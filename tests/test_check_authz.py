"""``plugin-emulator check --type authz``: each authz check reports against the mock
authorization plugin with its bug and passes against the correct mock; the Go plugin
(tests/go/authz, moby's own types) passes every check.

The in-process mock (fast, virtual time) refuses DELETE requests, as the Go plugin does,
so that the refusal checks have a refusal to read.  The crash-and-restart check needs a
plugin the check starts: the mock and the Go plugin run as commands for it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from emulator.check import CATALOGUE, CheckRun, Verdict
from emulator.cli import main
from emulator.mocks.authz import AUTHZ_BUGS, AuthzRule, MockAuthzPlugin
from tests.check_runs import run_against_mock, verdicts_of
from tests.test_go_authz import _missing as go_missing
from tests.test_go_authz import go_authz  # noqa: F401 (the session fixture that builds it)

#: Each bug of the mock authz plugin and the check that must catch it.
AUTHZ_CASES = [
    ("implements_capitalized", "authz.activate"),
    ("require_content_type", "authz.headers"),
    ("strict_keys", "authz.unknown-keys"),
    ("errors_on_200", "authz.err-on-200"),
    ("html_errors", "authz.error-body"),
    ("allow_unreadable", "authz.empty-resend"),
    ("allow_as_string", "authz.req-verdict"),
    ("no_authz_res", "authz.res-verdict"),
    ("deny_empty_msg", "authz.deny-message"),
    ("crash_on_absent_body", "authz.request-body"),
    ("block_on_big_body", "authz.request-body"),
    ("crash_on_absent_headers", "authz.request-headers"),
    ("crash_on_absent_status", "authz.streams"),
    ("deny_ping", "authz.ping"),
    ("user_required", "authz.no-tls-user"),
    ("busy_errors", "authz.concurrency"),
    ("slow_answers", "authz.slow"),
    ("activate_once", "authz.restart"),
]
#: Bugs only a plugin the check starts (a command) can show.
COMMAND_CASES = [("stale_socket", "authz.plugin-restart")]

DENY_DELETE = AuthzRule(allow=False, method="DELETE", msg="DELETE requests are not allowed")


def _mock_run(root: Path, bugs: list[str], select: str = "") -> CheckRun:
    mock = MockAuthzPlugin([DENY_DELETE], name="gate", bugs=bugs)
    return run_against_mock(root, mock, "gate", "authz", select=select, seed=11)


def test_every_authz_check_passes_against_the_correct_mock(short_tmp: Path) -> None:
    run = _mock_run(short_tmp, [])
    assert run.setup_error is None
    verdicts = verdicts_of(run)
    assert set(verdicts) == {c.id for c in CATALOGUE.checks(["authz"])}
    not_passed = {r.check.id: r.did for r in run.results if r.verdict is not Verdict.PASS}
    # Only the crash-and-restart check needs a plugin the check started itself.
    assert list(not_passed) == ["authz.plugin-restart"], not_passed
    assert "give PLUGIN as a command" in not_passed["authz.plugin-restart"]
    assert run.exit_code == 0


def test_the_requests_reach_the_plugin_as_dockerd_sends_them(short_tmp: Path) -> None:
    """The checks' own requests are framed right: the chain forwards the bodies it should
    (chunked, 1 MiB - 1) and not the others; streams end and get their AuthZRes."""
    run = _mock_run(short_tmp, [], select="request or streams")
    did = {r.check.id: r.did for r in run.results}
    for case in (
        "no body: no RequestBody: RequestBody absent",
        "a JSON body: RequestBody present",
        "a chunked JSON body: RequestBody present",
        "a JSON body of 1048575 bytes (forwarded: ~1.4 MB of base64): RequestBody present",
        "a JSON body of 1048576 bytes (not forwarded): RequestBody absent",
        "a body that is not JSON (not forwarded): RequestBody absent",
    ):
        assert case in did["authz.request-body"]
    assert "no header but Host (no RequestHeaders): absent" in did["authz.request-headers"]
    headers = did["authz.request-headers"]
    assert "repeated and credentials headers: ['User-Agent', 'X-Pechk-Repeated']" in headers
    assert did["authz.streams"] == (
        "answered AuthZReq of all 3 and AuthZRes of the 3 allowed (3 allowed, 0 denied)"
    )


@pytest.mark.parametrize(("bug", "check_id"), AUTHZ_CASES, ids=[c[0] for c in AUTHZ_CASES])
def test_an_authz_bug_makes_its_check_report(short_tmp: Path, bug: str, check_id: str) -> None:
    check = CATALOGUE.get(check_id)
    run = _mock_run(short_tmp, [bug], select=check_id.partition(".")[2])
    assert verdicts_of(run)[check_id] is check.severity, run.results
    assert run.exit_code == (1 if check.severity is Verdict.FAIL else 0)


def test_every_authz_check_and_every_bug_are_paired() -> None:
    cases = AUTHZ_CASES + COMMAND_CASES
    assert {c.id for c in CATALOGUE.checks(["authz"])} == {check_id for _, check_id in cases}
    assert set(AUTHZ_BUGS) == {bug for bug, _ in cases}


def test_what_the_checks_report_names_dockerds_answers(short_tmp: Path) -> None:
    """A failure quotes what dockerd answered the client and what the plugin said."""
    run = _mock_run(short_tmp, ["allow_as_string"], select="req-verdict")
    (result,) = run.results
    assert "json: cannot unmarshal string into Go struct field Response.Allow of type bool" in (
        result.did
    )
    assert '{"Allow":"true"}' in result.did
    assert result.hint.startswith('answer {"Allow": true}')
    methods = {e.method for e in result.calls}
    assert methods == {"AuthZPlugin.AuthZReq"}  # never got as far as AuthZRes


def _command_run(argv: list[str], *options: str) -> dict[str, Any]:
    report = Path(f"/tmp/pe-i20b-{abs(hash(tuple(argv)))}.json")
    result = CliRunner().invoke(
        main, ["check", "--type", "authz", "--seed", "5", "--json", str(report), *options, *argv]
    )
    data: dict[str, Any] = json.loads(report.read_text())
    report.unlink()
    data["exit_code"] = result.exit_code
    return data


def _mock_command(*bugs: str) -> list[str]:
    argv = [sys.executable, "-m", "emulator.mocks", "authz", "--socket", "{socket}"]
    argv += ["--deny-method", "DELETE"]
    for bug in bugs:
        argv += ["--bug", bug]
    return argv


def test_the_mock_as_a_command_passes_everything_crash_and_restart_included() -> None:
    data = _command_run(_mock_command(), "--name", "gate")
    verdicts = {r["id"]: r["verdict"] for r in data["results"]}
    assert data["setup_error"] is None
    assert set(verdicts.values()) == {"pass"}, data["results"]
    assert data["exit_code"] == 0
    restart = next(r for r in data["results"] if r["id"] == "authz.plugin-restart")
    # While the plugin was down dockerd failed closed, after ~15 s of connect retries.
    assert "plugin gate failed with error: Post" in restart["did"]
    assert "(fail closed)" in restart["did"]


@pytest.mark.parametrize(("bug", "check_id"), COMMAND_CASES)
def test_a_plugin_that_cannot_restart_over_its_stale_socket_warns(bug: str, check_id: str) -> None:
    data = _command_run(_mock_command(bug), "-k", "plugin-restart")
    (result,) = data["results"]
    assert (result["id"], result["verdict"]) == (check_id, "warn")
    assert "Address already in use" in result["did"]
    assert data["exit_code"] == 0


@pytest.mark.skipif(go_missing() is not None, reason=str(go_missing()))
def test_the_go_authz_plugin_passes_every_check(go_authz: Path, short_tmp: Path) -> None:  # noqa: F811
    log = short_tmp / "goauthz.jsonl"
    argv = [str(go_authz), "-socket", "{socket}", "-log", str(log)]
    data = _command_run(argv, "--name", "goauthz")
    verdicts = {r["id"]: r["verdict"] for r in data["results"]}
    assert data["setup_error"] is None
    assert verdicts == {c.id: "pass" for c in CATALOGUE.checks(["authz"])}, data["results"]
    assert data["exit_code"] == 0
    # Go decoded every call the checks made (moby's own types), the empty re-send aside.
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert {line["call"] for line in lines} == {"AuthZReq", "AuthZRes"}
