"""``plugin-emulator check``: each check fails against a mock with its bug and passes
against the correct mock.

Volume checks run against the in-process mock (fast); network and IPAM checks start the
mocks as processes (``python -m emulator.mocks``), network drivers in a network namespace
the check makes (root).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from emulator.check import CATALOGUE, CheckOptions, CheckRun, Target, Verdict
from emulator.check.catalogue import SelectionError, selection
from emulator.check.netns import netns_support
from emulator.check.report import catalogue_markdown, junit_xml
from emulator.check.runner import run_checks_sync
from emulator.check.target import TargetError, parse_target
from emulator.cli import main
from emulator.mocks.volume import MockVolumePlugin
from tests.check_runs import run_against_mock, verdicts_of

#: Each volume bug and the check that must catch it.
VOLUME_CASES = [
    ("refuse_resent_mount_id", "volume.mount-id-resent"),
    ("mount_id_set", "volume.unmount-refcount"),
    ("single_mount", "volume.multiple-ids"),
    ("get_requires_mount", "volume.get-unmounted"),
    ("crash_on_null_opts", "volume.opts-null"),
    ("crash_on_empty_body", "volume.empty-resend"),
    ("errors_under_other_key", "volume.error-key"),
    ("html_errors", "volume.error-body"),
    ("list_empty_names", "volume.list-names"),
    ("relative_mountpoint", "volume.mountpoint"),
    ("missing_mountpoint", "volume.mountpoint"),
    ("remove_while_mounted", "volume.remove-mounted"),
    ("lost_updates", "volume.concurrency"),
    ("slow_mount", "volume.deadline"),
    ("ascii_names", "volume.odd-names"),
    ("activate_once", "volume.restart"),
    ("capabilities_404", "volume.capabilities"),
    ("require_content_type", "volume.headers"),
    ("strict_keys", "volume.unknown-keys"),
]


def _mock_run(root: Path, bugs: list[str], select: str = "") -> CheckRun:
    mock = MockVolumePlugin(root / "state", name="mockvol", bugs=bugs)
    return run_against_mock(root, mock, "mockvol", "volume", select=select, seed=7)


def test_every_volume_check_passes_against_the_correct_mock(short_tmp: Path) -> None:
    run = _mock_run(short_tmp, [])
    assert run.setup_error is None
    assert {r.check.id: r.did for r in run.results if r.verdict is not Verdict.PASS} == {}
    assert set(verdicts_of(run)) == {c.id for c in CATALOGUE.checks(["volume"])}
    assert run.exit_code == 0


@pytest.mark.parametrize(("bug", "check_id"), VOLUME_CASES, ids=[c[0] for c in VOLUME_CASES])
def test_a_volume_bug_makes_its_check_report(short_tmp: Path, bug: str, check_id: str) -> None:
    check = CATALOGUE.get(check_id)
    run = _mock_run(short_tmp, [bug], select=check_id.partition(".")[2])
    assert verdicts_of(run)[check_id] is check.severity, run.results
    assert run.exit_code == (1 if check.severity is Verdict.FAIL else 0)


def test_every_volume_check_has_a_bug_that_trips_it() -> None:
    caught = {check_id for _, check_id in VOLUME_CASES}
    untested = {"volume.activate", "volume.lifecycle", "volume.opts-empty", "volume.restart"}
    assert {c.id for c in CATALOGUE.checks(["volume"])} - caught <= untested


def _command_run(kind: str, bugs: list[str], *extra: str) -> dict[str, object]:
    argv = [sys.executable, "-m", "emulator.mocks", kind, "--socket", "{socket}", *extra]
    for bug in bugs:
        argv += ["--bug", bug]
    report = Path(f"/tmp/pe-i20-{kind}-{'-'.join(bugs) or 'ok'}.json")
    result = CliRunner().invoke(
        main, ["check", "--type", kind, "--seed", "3", "--json", str(report), *argv]
    )
    data: dict[str, object] = json.loads(report.read_text())
    report.unlink()
    data["exit_code"] = result.exit_code
    return data


NETWORK_CASES = [
    ([], None),
    (["leak_interfaces"], "network.interfaces"),
    (["teardown_errors"], "network.lifecycle"),
    (["errors_under_other_key"], "network.error-key"),
    (["crash_on_empty_body"], "network.empty-resend"),
]
IPAM_CASES = [
    ([], None),
    (["errors_under_other_key"], "ipam.error-key"),
    (["duplicate_addresses"], "ipam.pool-accounting"),
    (["keep_released"], "ipam.pool-accounting"),
    (["html_errors"], "ipam.error-body"),
]


@pytest.mark.parametrize(("bugs", "check_id"), NETWORK_CASES, ids=lambda v: str(v))
def test_network_checks_against_the_mock_driver(bugs: list[str], check_id: str | None) -> None:
    if netns_support() is not None:
        pytest.skip(f"network namespaces unavailable: {netns_support()}")
    data = _command_run("network", bugs, "--interfaces")
    verdicts = {r["id"]: r["verdict"] for r in data["results"]}  # type: ignore[attr-defined]
    assert data["setup_error"] is None
    if check_id is None:
        assert set(verdicts.values()) == {"pass"}
        assert data["exit_code"] == 0
    else:
        assert verdicts[check_id] == CATALOGUE.get(check_id).severity.value


@pytest.mark.parametrize(("bugs", "check_id"), IPAM_CASES, ids=lambda v: str(v))
def test_ipam_checks_against_the_mock_ipam(bugs: list[str], check_id: str | None) -> None:
    data = _command_run("ipam", bugs)
    verdicts = {r["id"]: r["verdict"] for r in data["results"]}  # type: ignore[attr-defined]
    assert data["setup_error"] is None
    if check_id is None:
        assert set(verdicts.values()) == {"pass"}
        assert data["exit_code"] == 0
    else:
        assert verdicts[check_id] == CATALOGUE.get(check_id).severity.value


def test_interfaces_are_skipped_with_a_reason_without_a_namespace() -> None:
    data = _command_run("network", [], "--interfaces")
    assert data["setup_error"] is None
    report = Path("/tmp/pe-i20-nons.json")
    command = [sys.executable, "-m", "emulator.mocks", "network", "--socket", "{socket}"]
    options = ["--type", "network", "--no-netns", "-k", "interfaces", "--json", str(report)]
    result = CliRunner().invoke(main, ["check", *options, *command])
    skipped = json.loads(report.read_text())["results"][0]
    report.unlink()
    assert skipped["verdict"] == "skip"
    assert "--netns" in skipped["did"]
    assert result.exit_code == 0


def test_the_selection_expression() -> None:
    pick = selection("mount and not (resent or refcount)")
    chosen = {c.id for c in CATALOGUE.checks() if pick(c)}
    assert "volume.mountpoint" in chosen
    assert "volume.mount-id-resent" not in chosen
    with pytest.raises(SelectionError):
        selection("mount and")


def test_plugin_arguments_are_understood(short_tmp: Path) -> None:
    assert parse_target(["myvol"]).mode == "name"
    assert parse_target(["tcp://127.0.0.1:9"]).mode == "url"
    assert parse_target(["rclone serve docker"]).argv == ("rclone", "serve", "docker")
    with pytest.raises(TargetError, match="no unix socket"):
        parse_target([str(short_tmp / "gone.sock")])
    with pytest.raises(TargetError, match=r"without config\.json"):
        parse_target([str(short_tmp)])


def test_usage_errors_exit_2() -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["check"]).exit_code == 2
    assert runner.invoke(main, ["check", "--type", "metrics", "x"]).exit_code == 2
    assert runner.invoke(main, ["check", "-k", "a and", "x"]).exit_code == 2


def test_a_plugin_that_is_not_there_fails_with_dockerds_lookup_error(short_tmp: Path) -> None:
    run = run_checks_sync(Target("name", "absent", root=short_tmp), CheckOptions(seed=1))
    assert run.setup_error is not None
    assert 'plugin "absent" not found' in run.setup_error
    assert run.exit_code == 1


def test_junit_has_a_testcase_per_check(short_tmp: Path) -> None:
    run = _mock_run(short_tmp, ["refuse_resent_mount_id"], select="mount-id")
    xml = junit_xml(run)
    assert 'name="volume.mount-id-resent"' in xml
    assert "<failure" in xml


def test_docs_check_md_shows_the_catalogue() -> None:
    text = (Path(__file__).parent.parent / "docs/check.md").read_text()
    assert catalogue_markdown(CATALOGUE.checks()) in text, (
        "docs/check.md is out of date: plugin-emulator check --list > the catalogue section"
    )


def test_pytest_emulator_check_makes_one_item_per_check(short_tmp: Path) -> None:
    import subprocess

    command = f"{sys.executable} -m emulator.mocks volume --socket {{socket}} --bug mount_id_set"
    junit = short_tmp / "check.xml"
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
            "--emulator-check-option=--type=volume",
            f"--junit-xml={junit}",
        ],
        cwd=short_tmp,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "FAILED ::emulator-check::check[volume.unmount-refcount]" in result.stdout
    assert "1 failed, 20 passed, 63 skipped" in result.stdout
    assert result.returncode == 1
    assert 'name="check[volume.unmount-refcount]"' in junit.read_text()
