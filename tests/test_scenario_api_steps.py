"""Scenario ``docker`` and ``api`` steps, the ``authorization_plugins`` engine key and the
built-in authz plugin's ``rules``: what passes, what fails and how it is reported."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from emulator.scenario.loader import ScenarioError, load_scenario_text
from emulator.scenario.runner import run_scenario_sync

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")

FAILING = """
version: 1
name: docker and api steps that do not hold
engine: {authorization_plugins: [gate]}
plugins:
  - name: gate
    builtin: authz
    rules: [{allow: false, method: DELETE, msg: kept}]
steps:
  - docker: volume create v1
  - docker: volume rm v1
  - docker: volume rm v1
    expect: {status: 0}
  - docker: volume ls -q
    expect: {output: "^v2$"}
  - api: {method: DELETE, path: /v1.51/volumes/v1}
  - api: {method: DELETE, path: /v1.51/volumes/v1}
    expect: {error: "denied by plugin gate: kept"}
  - api: {method: POST, path: /v1.51/volumes/create, body: {Name: v3}}
    expect: {status: 201, result: {body: {Name: v3}}}
"""


def test_docker_and_api_step_reports() -> None:
    result = run_scenario_sync(load_scenario_text(FAILING, filename="failing.yaml"))
    messages = [s.message for s in result.steps]
    assert messages[0] == ""
    assert messages[1] == (
        "failed: Error response from daemon: authorization denied by plugin gate: kept"
    )
    assert messages[2] == (
        "status 1, expected 0; output: 'Error response from daemon: authorization denied by "
        "plugin gate: kept'"
    )
    assert messages[3] == "output 'v1\\n' does not match /^v2$/"
    assert messages[4] == "failed: authorization denied by plugin gate: kept"
    assert messages[5:] == ["", ""]


def test_an_engine_that_cannot_find_its_authz_plugin_does_not_start() -> None:
    text = "version: 1\nname: t\nengine: {authorization_plugins: [ghost]}\nsteps: [{sleep: 1}]\n"
    result = run_scenario_sync(load_scenario_text(text))
    assert not result.passed
    assert result.setup_error == (
        'the engine could not start: failed to validate authorization plugin: plugin "ghost" '
        "not found"
    )
    assert result.engine_seconds >= 15  # the lookup retry, on the virtual clock


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "plugins: [{name: v, builtin: volume, rules: []}]\nsteps: [{sleep: 1}]\n",
            "3:38: 'rules' applies only to a plugin with 'builtin: authz'",
        ),
        (
            "steps: [{volume.ls: {}, expect: {status: 0}}]\n",
            "3:33: 'status' in expect applies only to docker, api, container.exec and "
            "container.logs steps",
        ),
        (
            "steps: [{docker: []}]\n",
            "3:18: 'docker' must give the docker CLI's arguments",
        ),
        (
            "plugins: [{name: g, builtin: authz, rules: [{phase: later}]}]\nsteps: [{sleep: 1}]\n",
            "3:53: 'phase' in rule must be one of request, response, both; got 'later'",
        ),
        (
            "steps: [{api: {path: /x}}]\n",
            "3:15: api is missing the required key 'method'",
        ),
    ],
)
def test_mistakes(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as refused:
        load_scenario_text("version: 1\nname: t\n" + text, filename="s.yaml")
    assert str(refused.value).startswith("s.yaml:" + message), str(refused.value)


def test_the_scenario_in_docs_authz_md_passes() -> None:
    doc = (Path(__file__).parent.parent / "docs/authz.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", doc, flags=re.DOTALL)]
    assert len(blocks) == 1
    result = run_scenario_sync(load_scenario_text(blocks[0], filename="docs/authz.md"))
    assert result.passed, [s.message for s in result.steps if not s.passed]
