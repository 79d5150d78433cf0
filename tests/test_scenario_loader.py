"""The scenario file loader: every key, every short form, every error with its position,
the JSON Schema kept in step with the loader, and fuzzing (any input gives a Scenario or a
ScenarioError, nothing else)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.cli import main
from emulator.faults.model import Delay, Fault, Match, Respond, Window, Wire
from emulator.mocks.authz import AuthzRule
from emulator.scenario import (
    ACTIONS,
    ApiCall,
    CallPattern,
    ContainerAction,
    ContainerCp,
    ContainerCreate,
    ContainerExec,
    ContainerLogs,
    ContainerRm,
    ContainerRun,
    DockerCommand,
    EngineRestart,
    EngineSettings,
    ExpectCalls,
    ExpectLogs,
    ExpectNoCalls,
    FaultsAdd,
    FaultsClear,
    NetworkConnect,
    NetworkCreate,
    NetworkRm,
    Parallel,
    PluginAction,
    PluginSpec,
    Scenario,
    ScenarioError,
    Sleep,
    Step,
    StepExpect,
    VolumeCreate,
    VolumeInspect,
    VolumeLs,
    VolumePrune,
    VolumeRm,
    load_scenario,
    load_scenario_text,
    scenario_json_schema,
)
from emulator.scenario.loader import (
    ARGUMENTS,
    ENGINE_KEYS,
    FAULT_KEYS,
    MATCH_KEYS,
    PLUGIN_KEYS,
    RESPOND_KEYS,
    TOP_KEYS,
    parse_duration,
)
from tests.scenario_documents import SCENARIOS

HERE = Path(__file__).parent
EXAMPLES = HERE / "scenarios"
REPO = HERE.parent
VALIDATOR = jsonschema.Draft202012Validator(scenario_json_schema())
# libyaml where PyYAML has it, only to make test documents quickly.
FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
FastDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# The head of most error cases: line 1-4, one plugin called myvol.
HEAD = "version: 1\nname: t\nplugins:\n  - {name: myvol, builtin: volume}\n"


def load(text: str | bytes) -> Scenario:
    return load_scenario_text(text, filename="x.yaml")


def one_step(text: str) -> Step:
    """The only step of HEAD + ``steps:`` + ``text`` (one '  - …' item)."""
    return load(HEAD + "steps:\n" + text).steps[0]


def schema_errors(data: Any) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(data)]


def shipped_examples() -> list[Path]:
    """Every scenario file in the repository: these tests' own and the shipped ones."""
    return sorted(EXAMPLES.glob("*.yaml")) + sorted((REPO / "scenarios").glob("*.yaml"))


def doc_examples() -> list[str]:
    """The YAML blocks of docs/scenario-format.md that are whole scenarios."""
    doc = (REPO / "docs/scenario-format.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", doc, flags=re.DOTALL)
    return [b for b in blocks if b.startswith("version:")]


# -- whole files ------------------------------------------------------------------------


def test_minimal_file_gets_every_default() -> None:
    scenario = load_scenario(EXAMPLES / "minimal.yaml")
    assert scenario == Scenario(
        version=1,
        name="Minimal",
        steps=(Step(action="sleep", args=Sleep(seconds=1.0), line=5),),
        path=EXAMPLES / "minimal.yaml",
    )
    assert scenario.description is None
    assert scenario.engine == EngineSettings(
        profile="28", clock="virtual", seed=None, hang_guard=300.0
    )
    assert scenario.plugins == ()
    assert scenario.faults == ()


def test_every_key() -> None:
    scenario = load_scenario(str(EXAMPLES / "every-key.yaml"))
    assert scenario.path == EXAMPLES / "every-key.yaml"
    assert scenario.version == 1
    assert scenario.name == "Every key"
    assert scenario.description == "Uses each key of the format once.\n"
    assert scenario.engine == EngineSettings(
        profile="27", clock="real", seed=42, hang_guard=90.0, authorization_plugins=("gate",)
    )
    assert scenario.plugins == (
        PluginSpec(name="mock", builtin="volume", scope="global", appear_after=2.0),
        PluginSpec(
            name="proc",
            command=("my-plugin", "--socket", "{socket}", "--root", "{root}", "--name", "{name}"),
            env={"LOG_LEVEL": "debug", "PORT": "8080"},
            startup_timeout=60.0,
        ),
        PluginSpec(name="ext", address="tcp://127.0.0.1:8080", appear_after=0.5),
        PluginSpec(
            name="gate",
            builtin="authz",
            rules=(
                AuthzRule(
                    allow=False,
                    msg="not now",
                    method="DELETE",
                    path="^/volumes/",
                    user="alice",
                    body={"Name": "v1"},
                    phase="both",
                    error="broken",
                ),
            ),
        ),
    )
    assert scenario.faults == (
        Fault(
            name="slow mounts",
            match=Match(
                plugin="mock",
                call="VolumeDriver.Mount",
                body={"Name": "v1", "Opts": {"nested": True}},
                first=2,
                after=1,
                times=3,
                probability=0.5,
                window=Window(start=1.0, until=60.0),
            ),
            action=Delay(distribution="uniform", low=1.0, high=2.0, jitter=0.1),
        ),
        Fault(
            match=Match(call="VolumeDriver.*", nth=3),
            action=Delay(distribution="normal", mean=5.0, stddev=1.0, jitter=0.05),
        ),
        Fault(
            match=Match(plugin="proc"),
            action=Delay(distribution="lognormal", mu=0.5, sigma=0.25),
        ),
        Fault(
            match=Match(call="VolumeDriver.Get"),
            action=Respond(status=500, body='{"Err":"backend down"}', content_type="text/plain"),
        ),
        Fault(match=Match(call="VolumeDriver.Path"), action=Respond(err="no such volume")),
        Fault(
            match=Match(call="VolumeDriver.List"),
            action=Respond(status=200, body={"Volumes": []}, content_type=None),
        ),
        Fault(match=Match(call="VolumeDriver.Remove"), action=Wire(kind="drip", rate=2.5)),
        Fault(
            match=Match(call="VolumeDriver.Unmount", times=1),
            action=Wire(kind="reset_mid_response"),
        ),
    )
    steps = {step.action: step for step in scenario.steps}
    assert len(steps) == len(ACTIONS) == len(scenario.steps), "one step per action"
    assert steps["volume.create"] == Step(
        action="volume.create",
        args=VolumeCreate(
            name="v1", driver="mock", opts={"size": "1G", "count": "3"}, labels={"team": "storage"}
        ),
        expect=StepExpect(
            result={"Name": "v1", "Driver": "mock"}, duration_max=5.0, duration_min=0.0
        ),
        name="make v1",
        line=57,
    )
    expected_args = {
        "volume.inspect": VolumeInspect(name="v1"),
        "volume.ls": VolumeLs(filters={"driver": ("mock",), "label": ("team=storage", "tier")}),
        "volume.rm": VolumeRm(name="v1", force=True),
        "volume.prune": VolumePrune(all=True),
        "container.run": ContainerRun(
            name="c1",
            image="alpine:3.20",
            command=("sh", "-c", "sleep 1"),
            volumes=("v1:/data", "/scratch"),
            volume_driver="mock",
            rm=True,
            detach=True,
            exit_code=3,
            runs_for=90.0,
            networks=("n1",),
            log_driver="mock",
            log_opts={"tag": "x"},
        ),
        "container.create": ContainerCreate(
            name="c2",
            image="busybox",
            command=("echo", "hello world"),
            volumes=("v2:/d",),
            volume_driver="mock",
            rm=False,
            exit_code=0,
            runs_for=10.0,
            networks=("n1", "n2"),
            log_driver="json-file",
            log_opts={"max-size": "1m"},
        ),
        "container.start": ContainerAction(name="c2"),
        "container.stop": ContainerAction(name="c2"),
        "container.kill": ContainerAction(name="c2"),
        "container.rm": ContainerRm(name="c2", force=True, volumes=True),
        "container.cp": ContainerCp(name="c1", path="/data/f", host_path="out/f", into=True),
        "container.exec": ContainerExec(
            name="c1", command=("cat", "/data/f"), env=("A=1",), user="root", workdir="/", stdin="x"
        ),
        "container.logs": ContainerLogs(name="c1", stdout=True, stderr=False, tail=5),
        "plugin.kill": PluginAction(name="proc"),
        "plugin.stop": PluginAction(name="proc"),
        "plugin.continue": PluginAction(name="proc"),
        "plugin.restart": PluginAction(name="proc"),
        "plugin.remove_socket": PluginAction(name="mock"),
        "plugin.start": PluginAction(name="proc"),
        "plugin.stall": PluginAction(name="mock"),
        "plugin.resume": PluginAction(name="mock"),
        "expect.logs": ExpectLogs(container="c1", lines=("a", "b"), source="stdout"),
        "engine.restart": EngineRestart(crash=True),
        "engine.crash": EngineRestart(crash=True),
        "faults.add": FaultsAdd(
            faults=(Fault(match=Match(plugin="ext", call="Plugin.Activate"), action=Wire("hang")),)
        ),
        "faults.clear": FaultsClear(),
        "sleep": Sleep(seconds=2.5),
        "parallel": Parallel(
            steps=(
                Step(action="container.start", args=ContainerAction(name="c1"), line=111),
                Step(
                    action="container.start",
                    args=ContainerAction(name="c2"),
                    expect=StepExpect(error="^Error"),
                    name="inner",
                    line=112,
                ),
            )
        ),
        "expect.calls": ExpectCalls(
            calls=(
                CallPattern(method="VolumeDriver.Get", fields={"Name": "v1"}),
                CallPattern(method="VolumeDriver.Mount"),
            ),
            since="last_step",
            plugin="mock",
        ),
        "expect.no_calls": ExpectNoCalls(
            calls=(CallPattern(method="VolumeDriver.Remove"),), since="start", plugin="proc"
        ),
        "network.create": NetworkCreate(
            name="n1",
            driver="net",
            ipam_driver="ipam",
            subnet="10.9.0.0/24",
            gateway="10.9.0.1",
            ip_range="10.9.0.128/25",
            options={"mtu": "1400"},
            labels={"tier": "test"},
            internal=True,
        ),
        "network.rm": NetworkRm(name="n1"),
        "network.connect": NetworkConnect(network="n1", container="c1"),
        "network.disconnect": NetworkConnect(network="n1", container="c1"),
        "docker": DockerCommand(args=("volume", "ls")),
        "api": ApiCall(
            method="POST",
            path="/v1.51/volumes/create",
            body={"Name": "v1"},
            headers={"X-Trace": "1"},
        ),
    }
    assert {a: s.args for a, s in steps.items() if a != "volume.create"} == expected_args
    assert steps["volume.rm"].expect == StepExpect(error="volume is in use")
    assert [s.line for s in scenario.steps][:4] == [57, 62, 63, 64]
    assert steps["docker"].expect == StepExpect(status=0, output="DRIVER")


def test_shorthands_mean_their_long_forms() -> None:
    short = load_scenario(EXAMPLES / "shorthands.yaml")
    assert short.plugins[1].command == ("rclone", "serve", "docker", "--socket-addr", "{socket}")
    assert [(s.action, s.args) for s in short.steps] == [
        ("volume.create", VolumeCreate(name="v1")),
        ("volume.inspect", VolumeInspect(name="v1")),
        ("volume.ls", VolumeLs()),
        ("volume.rm", VolumeRm(name="v1")),
        (
            "container.run",
            ContainerRun(
                name="c1", command=("sh", "-c", "echo hi"), volumes=("v1:/data",), detach=True
            ),
        ),
        ("container.stop", ContainerAction(name="c1")),
        ("container.start", ContainerAction(name="c1")),
        ("container.kill", ContainerAction(name="c1")),
        ("container.rm", ContainerRm(name="c1")),
        ("plugin.kill", PluginAction(name="myvol")),
        ("plugin.start", PluginAction(name="rc")),
        ("sleep", Sleep(seconds=5.0)),
        ("engine.restart", EngineRestart()),
        ("engine.crash", EngineRestart(crash=True)),
        ("faults.clear", FaultsClear()),
        (
            "expect.calls",
            ExpectCalls(
                calls=(
                    CallPattern(method="VolumeDriver.Get"),
                    CallPattern(method="VolumeDriver.Mount", fields={"Name": "v1"}),
                    CallPattern(method="VolumeDriver.Unmount"),
                )
            ),
        ),
        (
            "expect.no_calls",
            ExpectNoCalls(
                calls=(CallPattern(method="VolumeDriver.Remove"), CallPattern(method="Plugin.*"))
            ),
        ),
    ]


@pytest.mark.parametrize(
    ("short", "long"),
    [
        ("container.start: c1", "container.start: {name: c1}"),
        ("plugin.kill: myvol", "plugin.kill: {name: myvol}"),
        ("sleep: 5s", "sleep: 5"),
        ("volume.ls:", "volume.ls: {}"),
        ("container.run:", "container.run: {}"),
        ("container.run: {command: 'a b'}", "container.run: {command: [a, b]}"),
        ("container.run: {name: null}", "container.run: {}"),
        ("engine.crash:", "engine.restart: {crash: true}"),
        ("expect.calls: [A.B]", "expect.calls: {calls: [{A.B: null}], since: start}"),
        ("volume.ls: {filters: {name: v1}}", "volume.ls: {filters: {name: [v1]}}"),
    ],
)
def test_short_and_long_forms_agree(short: str, long: str) -> None:
    assert one_step(f"  - {short}\n").args == one_step(f"  - {long}\n").args


def test_anchors_aliases_and_merge_keys() -> None:
    scenario = load_scenario(EXAMPLES / "merge-keys.yaml")
    assert scenario.faults == (
        Fault(match=Match("myvol", "VolumeDriver.Mount"), action=Delay(seconds=10.0)),
        Fault(match=Match("myvol", "VolumeDriver.Mount", nth=2), action=Delay(seconds=10.0)),
    )
    first, second = (s.args for s in scenario.steps)
    assert second == ContainerRun(
        name="c2", volumes=("v1:/data",), volume_driver="myvol", detach=True
    )
    assert first.name == "c1"


def test_doc_example_loads() -> None:
    (text,) = doc_examples()
    scenario = load(text)
    assert [p.name for p in scenario.plugins] == ["myvol", "rc", "ext"]
    assert scenario.engine == EngineSettings(profile="28", clock="virtual", seed=7, hang_guard=300)
    assert scenario.faults[0].action == Delay(seconds=150.0)
    assert scenario.steps[1].expect == StepExpect(error="VolumeDriver.Mount: .*")


def test_text_bytes_and_unicode() -> None:
    text = HEAD + "steps:\n  - volume.create: {name: vé, labels: {k: ü}}\n"
    assert load(text) == load(text.encode()) == load(b"\xef\xbb\xbf" + text.encode())
    assert load(text).path is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("2.5", 2.5),
        ("'500ms'", 0.5),
        ("15s", 15.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("1h2m3s4ms", 3723.004),
        ("1.5s", 1.5),
        ("1.0e+3", 1000.0),
    ],
)
def test_durations(value: str, seconds: float) -> None:
    assert one_step(f"  - sleep: {value}\n").args.seconds == pytest.approx(seconds)


def test_parse_duration() -> None:
    assert parse_duration("1m30s") == 90.0
    for bad in ("", "5", "5 s", "5parsecs", "-1s", "s", "1.s", "1m 30s", "٣s"):
        assert parse_duration(bad) is None, bad


def test_values_taken_as_written_and_yaml_11_words() -> None:
    step = one_step(
        "  - volume.create: {name: v, opts: {a: yes, b: 010, c: 1.50, d: 2024-01-02}}\n"
        "    expect: {result: {On: on, n: 0x10, f: 1.5, t: true, z: null, d: 2024-01-02}}\n"
    )
    assert step.args.opts == {"a": "yes", "b": "010", "c": "1.50", "d": "2024-01-02"}
    assert step.expect is not None
    assert step.expect.result == {
        "On": "on",
        "n": 16,
        "f": 1.5,
        "t": True,
        "z": None,
        "d": "2024-01-02",
    }


def test_engine_profile_may_be_a_number_and_hang_guard_null() -> None:
    text = "version: 1\nname: t\nengine: {profile: 24, hang_guard: null, seed: null}\n"
    engine = load(text + "steps: [{sleep: 1}]\n").engine
    assert engine == EngineSettings(profile="24", hang_guard=None, seed=None)


def test_empty_optional_sections() -> None:
    scenario = load("version: 1\nname: t\nengine:\nplugins:\nfaults:\nsteps: [{sleep: 1}]\n")
    assert scenario.engine == EngineSettings()
    assert scenario.plugins == ()
    assert scenario.faults == ()


def test_globs_accepted() -> None:
    for glob in ("VolumeDriver.*", "*.Mount", "*", "Volume?river.[MU]*", "[!P]*.Get"):
        text = (
            HEAD + f"faults: [{{match: {{call: '{glob}'}}, fault: drop}}]\nsteps: [{{sleep: 1}}]\n"
        )
        assert load(text).faults[0].match.call == glob


def test_step_describe_and_scenario_plugin() -> None:
    scenario = load_scenario(EXAMPLES / "every-key.yaml")
    assert scenario.steps[0].describe() == "make v1"
    assert scenario.steps[1].describe() == "volume.inspect (line 62)"
    assert scenario.plugin("proc").command is not None
    with pytest.raises(KeyError):
        scenario.plugin("nope")


# -- errors -----------------------------------------------------------------------------

STEPS = "steps: [{sleep: 1}]\n"
FAULT = "faults:\n  - match: {call: VolumeDriver.Mount}\n"  # lines 5-6 after HEAD

ERRORS: list[tuple[str, str]] = [
    # the file as a whole
    (
        "",
        "1:1: the scenario is empty: it is a mapping with at least 'version', 'name' and 'steps'",
    ),
    (
        "# only a comment\n",
        "1:1: the scenario is empty: it is a mapping with at least 'version', 'name' and 'steps'",
    ),
    (
        "- a\n",
        "1:1: the scenario must be a mapping, got a list",
    ),
    (
        "hello\n",
        "1:1: the scenario must be a mapping, got 'hello'",
    ),
    (
        "version: 1\nname: t\n",
        "1:1: the scenario is missing the required key 'steps'",
    ),
    (
        "name: t\n" + STEPS,
        "1:1: the scenario is missing the required key 'version'",
    ),
    (
        "version: 1\nname: t\nstpes: []\n",
        "3:1: unknown key 'stpes' in the scenario (did you mean 'steps'?)",
    ),
    (
        "version: 1\nname: t\nzzz: 1\n",
        "3:1: unknown key 'zzz' in the scenario (expected one of: version, name, description, "
        "engine, plugins, faults, steps)",
    ),
    (
        "version: 1\nname: t\nname: u\n" + STEPS,
        "3:1: duplicate key 'name' in the scenario (first at line 2)",
    ),
    (
        "version: 2\nname: t\n" + STEPS,
        "1:10: 'version' must be 1 (the only format version), got 2",
    ),
    (
        "version: '1'\nname: t\n" + STEPS,
        "1:10: 'version' must be 1 (the only format version), got '1'",
    ),
    (
        "version: 1\nname: 5\n" + STEPS,
        "2:7: 'name' of the scenario must be a string, got 5 (quote it: '5')",
    ),
    (
        "version: 1\nname: ''\n" + STEPS,
        "2:7: 'name' of the scenario must not be empty",
    ),
    (
        "version: 1\nname: t\ndescription: [a]\n" + STEPS,
        "3:14: 'description' of the scenario must be a string, got a list",
    ),
    (
        "version: 1\nname: t\nsteps: []\n",
        "3:8: 'steps' must not be empty",
    ),
    (
        "version: 1\nname: t\nsteps:\n",
        "3:7: 'steps' must be a list, got nothing (null)",
    ),
    (
        "version: 1\nname: t\nsteps: {sleep: 1}\n",
        "3:8: 'steps' must be a list, got a mapping",
    ),
    # YAML itself
    (
        "version: 1\nname: t\n" + STEPS + "  bad: indent\n",
        "4:3: invalid YAML: expected <block end>, but found '<block mapping start>' (while "
        "parsing a block mapping at 1:1)",
    ),
    (
        "a: [1, 2\n",
        "2:1: invalid YAML: expected ',' or ']', but got '<stream end>' (while parsing a flow "
        "sequence at 1:4)",
    ),
    (
        "a: 'open\n",
        "2:1: invalid YAML: found unexpected end of stream (while scanning a quoted scalar at 1:4)",
    ),
    (
        "a: *nothing\n",
        "1:4: invalid YAML: found undefined alias 'nothing'",
    ),
    (
        "a: 1\n---\nb: 2\n",
        "2:1: a scenario file holds one YAML document: remove the '---' (or split the file)",
    ),
    (
        "a: b\x00\n",
        "1:5: invalid YAML: character U+0000 is not allowed in a YAML file",
    ),
    (
        "a: &x [*x]\n",
        "1:4: a YAML alias refers to a mapping or list that contains it",
    ),
    (
        "version: !!binary aGk=\n",
        "1:10: unsupported YAML tag '!!binary': scenario files use plain mappings, lists, "
        "strings, numbers, booleans and null",
    ),
    (
        "version: !custom 1\n",
        "1:10: unsupported YAML tag '!custom': scenario files use plain mappings, lists, "
        "strings, numbers, booleans and null",
    ),
    (
        "a: !!set {x}\n",
        "1:4: unsupported YAML tag '!!set': scenario files use plain mappings, lists, strings, "
        "numbers, booleans and null",
    ),
    (
        "version: !!int x\n",
        "1:10: 'x' is tagged tag:yaml.org,2002:int but is not one",
    ),
    (
        "? [a]\n: 1\n",
        "1:3: a key in the scenario must be a plain string, got a list",
    ),
    (
        "~: 1\n",
        "1:1: a key in the scenario must be a plain string, got nothing (null)",
    ),
    (
        "a: " + "[" * 60 + "]" * 60 + "\n",
        "1:51: the YAML nests more than 48 levels deep",
    ),
    (
        "version: 1\nname: t\n<<: 5\n" + STEPS,
        "3:5: a '<<' merge in the scenario takes a mapping or a list of them",
    ),
    # engine
    (
        "version: 1\nname: t\nengine: [a]\n" + STEPS,
        "3:9: 'engine' must be a mapping, got a list",
    ),
    (
        "version: 1\nname: t\nengine: {clok: real}\n" + STEPS,
        "3:10: unknown key 'clok' in engine (did you mean 'clock'?)",
    ),
    (
        "version: 1\nname: t\nengine: {profile: '29'}\n" + STEPS,
        '3:19: \'profile\' in engine must be one of "24", "25", "26", "27", "28" (dockerd\'s '
        "major version), got '29'",
    ),
    (
        "version: 1\nname: t\nengine: {clock: virtaul}\n" + STEPS,
        "3:17: 'clock' in engine must be one of virtual, real; got 'virtaul' (did you mean "
        "'virtual'?)",
    ),
    (
        "version: 1\nname: t\nengine: {seed: -1}\n" + STEPS,
        "3:16: 'seed' in engine must be an integer of at least 0, got -1",
    ),
    (
        "version: 1\nname: t\nengine: {seed: true}\n" + STEPS,
        "3:16: 'seed' in engine must be an integer of at least 0, got true",
    ),
    (
        "version: 1\nname: t\nengine: {hang_guard: forever}\n" + STEPS,
        "3:22: 'hang_guard' in engine must be a duration (seconds as a number, or a string "
        "such as 500ms, 15s, 2m, 1h, 1m30s) or null, got 'forever'",
    ),
    # plugins
    (
        "version: 1\nname: t\nplugins: {a: 1}\n" + STEPS,
        "3:10: 'plugins' must be a list, got a mapping",
    ),
    (
        "version: 1\nname: t\nplugins: [myvol]\n" + STEPS,
        "3:11: plugin must be a mapping, got 'myvol'",
    ),
    (
        HEAD + "  - {builtin: volume}\n" + STEPS,
        "5:5: plugin is missing the required key 'name'",
    ),
    (
        HEAD + "  - {name: x}\n" + STEPS,
        "5:5: plugin 'x' needs exactly one of 'builtin', 'command', 'address'",
    ),
    (
        HEAD + "  - {name: x, builtin: volume, address: unix:///x}\n" + STEPS,
        "5:32: plugin 'x' has both 'builtin' and 'address': give exactly one of 'builtin', "
        "'command', 'address'",
    ),
    (
        HEAD + "  - {name: x, command: [a], address: unix:///x}\n" + STEPS,
        "5:29: plugin 'x' has both 'command' and 'address': give exactly one of 'builtin', "
        "'command', 'address'",
    ),
    (
        HEAD + "  - {name: myvol, builtin: volume}\n" + STEPS,
        "5:12: duplicate plugin name 'myvol' (first at line 4)",
    ),
    (
        HEAD + "  - {name: a/b, builtin: volume}\n" + STEPS,
        "5:12: plugin name 'a/b' must be letters, digits, '_', '.' and '-', starting with a "
        "letter or digit (it becomes a socket or spec file name)",
    ),
    (
        HEAD + "  - {name: x, builtin: nfs}\n" + STEPS,
        "5:24: 'builtin' in plugin must be one of volume, network, ipam, authz, log; got 'nfs'",
    ),
    (
        HEAD + "  - {name: x, buitlin: volume}\n" + STEPS,
        "5:15: unknown key 'buitlin' in plugin (did you mean 'builtin'?)",
    ),
    (
        HEAD + "  - {name: x, command: []}\n" + STEPS,
        "5:24: 'command' in plugin must name a program",
    ),
    (
        HEAD + "  - {name: x, command: {a: 1}}\n" + STEPS,
        "5:24: 'command' in plugin must be a list of words or a string, got a mapping",
    ),
    (
        HEAD + "  - {name: x, command: [a, null]}\n" + STEPS,
        "5:28: item 2 of 'command' in plugin must be a string or number, got nothing (null)",
    ),
    (
        HEAD + "  - {name: x, address: unix:///x, env: {A: b}}\n" + STEPS,
        "5:35: 'env' applies only to a plugin with 'command'",
    ),
    (
        HEAD + "  - {name: x, builtin: volume, startup_timeout: 1s}\n" + STEPS,
        "5:32: 'startup_timeout' applies only to a plugin with 'command'",
    ),
    (
        HEAD + "  - {name: x, command: [a], scope: local}\n" + STEPS,
        "5:29: 'scope' applies only to a plugin with 'builtin'",
    ),
    (
        HEAD + "  - {name: x, builtin: volume, scope: world}\n" + STEPS,
        "5:39: 'scope' in plugin must be one of local, global; got 'world'",
    ),
    (
        HEAD + "  - {name: x, command: [a], env: [A=b]}\n" + STEPS,
        "5:34: 'env' in plugin must be a mapping of names to values, got a list",
    ),
    (
        HEAD + "  - {name: x, command: [a], env: {A: }}\n" + STEPS,
        "5:37: 'A' in 'env' in plugin must be a string or number, got nothing (null)",
    ),
    (
        HEAD + "  - {name: x, address: ''}\n" + STEPS,
        "5:24: 'address' in plugin must not be empty",
    ),
    (
        HEAD + "  - {name: x, builtin: volume, appear_after: soon}\n" + STEPS,
        "5:46: 'appear_after' in plugin must be a duration (seconds as a number, or a string "
        "such as 500ms, 15s, 2m, 1h, 1m30s) or null, got 'soon'",
    ),
    (
        HEAD + "  - {name: x, command: 'a \"b'}\n" + STEPS,
        "5:24: 'command' in plugin cannot be split into words: No closing quotation",
    ),
    # faults
    (
        HEAD + "faults: [{delay: 1s}]\n" + STEPS,
        "5:10: fault is missing the required key 'match'",
    ),
    (
        HEAD + FAULT + STEPS,
        "6:5: fault has no action: give exactly one of 'delay', 'respond', 'fault'",
    ),
    (
        HEAD + FAULT + "    dealy: 5s\n" + STEPS,
        "7:5: unknown key 'dealy' in fault (did you mean 'delay'?)",
    ),
    (
        HEAD + FAULT + "    delay: 5s\n    fault: hang\n" + STEPS,
        "8:5: fault has two actions, 'delay' and 'fault': give exactly one (write two faults "
        "to do both)",
    ),
    (
        HEAD + FAULT + "    delay: 5 parsecs\n" + STEPS,
        "7:12: 'delay' in fault must be a duration (seconds as a number, or a string such as "
        "500ms, 15s, 2m, 1h, 1m30s) or a mapping with 'distribution', got '5 parsecs'",
    ),
    (
        HEAD + FAULT + "    delay: -1\n" + STEPS,
        "7:12: 'delay' in fault must be a duration (seconds as a number, or a string such as "
        "500ms, 15s, 2m, 1h, 1m30s) or a mapping with 'distribution', got -1",
    ),
    (
        HEAD + FAULT + "    delay: .inf\n" + STEPS,
        "7:12: 'delay' in fault must be a duration (seconds as a number, or a string such as "
        "500ms, 15s, 2m, 1h, 1m30s) or a mapping with 'distribution', got .inf",
    ),
    (
        HEAD + FAULT + "    delay: {low: 1s, high: 2s}\n" + STEPS,
        "7:12: delay is missing the required key 'distribution'",
    ),
    (
        HEAD + FAULT + "    delay: {distribution: gauss}\n" + STEPS,
        "7:27: 'distribution' in delay must be one of uniform, normal, lognormal; got 'gauss'",
    ),
    (
        HEAD + FAULT + "    delay: {distribution: uniform, low: 1s}\n" + STEPS,
        "7:12: delay with distribution uniform is missing the required key 'high'",
    ),
    (
        HEAD + FAULT + "    delay: {distribution: uniform, mean: 1s}\n" + STEPS,
        "7:36: 'mean' does not apply to distribution uniform (it takes 'low' and 'high')",
    ),
    (
        HEAD + FAULT + "    delay: {distribution: uniform, low: 2s, high: 1s}\n" + STEPS,
        "7:51: 'high' in delay must not be less than 'low'",
    ),
    (
        HEAD + FAULT + "    delay: {distribution: lognormal, mu: 0, sigma: -1}\n" + STEPS,
        "7:52: 'sigma' in delay must be a number of at least 0, got -1",
    ),
    (
        HEAD + FAULT + "    delay: {distribution: normal, mean: 1s, stddev: x}\n" + STEPS,
        "7:53: 'stddev' in delay must be a duration (seconds as a number, or a string such as "
        "500ms, 15s, 2m, 1h, 1m30s), got 'x'",
    ),
    (
        HEAD
        + FAULT
        + "    delay: {distribution: uniform, low: 1, high: 2, jitter: 1}\n    jitter: "
        "1\n" + STEPS,
        "8:5: 'jitter' is given twice: in 'delay' and beside it",
    ),
    (
        HEAD + FAULT + "    fault: hang\n    jitter: 1s\n" + STEPS,
        "8:5: 'jitter' applies only to a fault with 'delay'",
    ),
    (
        HEAD + FAULT + "    fault: hnag\n" + STEPS,
        "7:12: 'fault' in fault must be one of hang, reset, reset_before_send, "
        "reset_mid_response, truncate, garbage, drip, drop; got 'hnag' (did you mean 'hang'?)",
    ),
    (
        HEAD + FAULT + "    fault: hang\n    rate: 5\n" + STEPS,
        "8:5: 'rate' applies only to 'fault: drip'",
    ),
    (
        HEAD + FAULT + "    fault: drip\n    rate: 0\n" + STEPS,
        "8:11: 'rate' in fault must be a number of at least 0.001, got 0",
    ),
    (
        HEAD + FAULT + "    respond: {}\n" + STEPS,
        "7:14: respond needs at least one of 'status', 'body', 'err'",
    ),
    (
        HEAD + FAULT + "    respond: 500\n" + STEPS,
        "7:14: 'respond' in fault must be a mapping, got 500",
    ),
    (
        HEAD + FAULT + "    respond: {status: 999}\n" + STEPS,
        "7:23: 'status' in respond must be an integer from 100 to 599, got 999",
    ),
    (
        HEAD + FAULT + "    respond: {err: x, body: y}\n" + STEPS,
        "7:23: 'body' and 'err' exclude each other in respond: 'err' is the body",
    ),
    (
        HEAD + FAULT + "    respond: {body: [1]}\n" + STEPS,
        "7:21: 'body' in respond must be a string, got a list",
    ),
    (
        HEAD + FAULT + "    respond: {status: 500, content_typ: x}\n" + STEPS,
        "7:28: unknown key 'content_typ' in respond (did you mean 'content_type'?)",
    ),
    (
        HEAD + "faults:\n  - match: {cal: X.Y}\n    fault: hang\n" + STEPS,
        "6:13: unknown key 'cal' in match (did you mean 'call'?)",
    ),
    (
        HEAD + "faults:\n  - match: VolumeDriver.Mount\n    fault: hang\n" + STEPS,
        "6:12: 'match' in fault must be a mapping, got 'VolumeDriver.Mount'",
    ),
    (
        HEAD + "faults:\n  - match: {plugin: myvl}\n    fault: hang\n" + STEPS,
        "6:21: match names plugin 'myvl', which is not in 'plugins' (did you mean 'myvol'?)",
    ),
    (
        "version: 1\nname: t\nfaults:\n  - match: {plugin: p}\n    fault: hang\n" + STEPS,
        "4:21: match names plugin 'p', which is not in 'plugins' (no plugins are declared)",
    ),
    (
        HEAD + "faults:\n  - match: {call: Mount}\n    fault: hang\n" + STEPS,
        "6:19: 'call' in match must be Iface.Method (such as VolumeDriver.Mount) or a glob "
        "(such as VolumeDriver.*), got 'Mount'",
    ),
    (
        HEAD + "faults:\n  - match: {call: 'Volume[Driver.*'}\n    fault: hang\n" + STEPS,
        "6:19: bad glob 'Volume[Driver.*' in 'call' in match: '[' (character 7) is never closed",
    ),
    (
        HEAD + "faults:\n  - match: {call: 'Volume[]Driver.*'}\n    fault: hang\n" + STEPS,
        "6:19: bad glob 'Volume[]Driver.*' in 'call' in match: '[…]' (character 7) must list "
        "letters, digits, '_', '.' or '-' (after '!' or not)",
    ),
    (
        HEAD + "faults:\n  - match: {call: 'Volume]Driver.*'}\n    fault: hang\n" + STEPS,
        "6:19: bad glob 'Volume]Driver.*' in 'call' in match: ']' (character 7) has no '['",
    ),
    (
        HEAD + "faults:\n  - match: {call: 'Volume Driver.*'}\n    fault: hang\n" + STEPS,
        "6:19: bad glob 'Volume Driver.*' in 'call' in match: ' ' (character 7) cannot appear "
        "in a method name",
    ),
    (
        HEAD + "faults:\n  - match: {nth: 0}\n    fault: hang\n" + STEPS,
        "6:18: 'nth' in match must be an integer of at least 1, got 0",
    ),
    (
        HEAD + "faults:\n  - match: {nth: first}\n    fault: hang\n" + STEPS,
        "6:18: 'nth' in match must be an integer of at least 1, got 'first'",
    ),
    (
        HEAD + "faults:\n  - match: {first: 0}\n    fault: hang\n" + STEPS,
        "6:20: 'first' in match must be an integer of at least 1, got 0",
    ),
    (
        HEAD + "faults:\n  - match: {after: -1}\n    fault: hang\n" + STEPS,
        "6:20: 'after' in match must be an integer of at least 0, got -1",
    ),
    (
        HEAD + "faults:\n  - match: {times: 0}\n    fault: hang\n" + STEPS,
        "6:20: 'times' in match must be an integer of at least 1, got 0",
    ),
    (
        HEAD + "faults:\n  - match: {nth: 2, first: 3}\n    fault: hang\n" + STEPS,
        "6:21: 'nth' and 'first' exclude each other in match: 'nth' picks one call",
    ),
    (
        HEAD + "faults:\n  - match: {probability: 1.5}\n    fault: hang\n" + STEPS,
        "6:26: 'probability' in match must be a number from 0 to 1, got 1.5",
    ),
    (
        HEAD + "faults:\n  - match: {probability: -0.1}\n    fault: hang\n" + STEPS,
        "6:26: 'probability' in match must be a number from 0 to 1, got -0.1",
    ),
    (
        HEAD + "faults:\n  - match: {probability: half}\n    fault: hang\n" + STEPS,
        "6:26: 'probability' in match must be a number from 0 to 1, got 'half'",
    ),
    (
        HEAD + "faults:\n  - match: {body: Name}\n    fault: hang\n" + STEPS,
        "6:19: 'body' in match must be a mapping, got 'Name'",
    ),
    (
        HEAD + "faults:\n  - match: {window: {from: 5s, until: 1s}}\n    fault: hang\n" + STEPS,
        "6:39: 'until' in window (1s) must be later than 'from' (5s)",
    ),
    (
        HEAD + "faults:\n  - match: {window: {start: 5s}}\n    fault: hang\n" + STEPS,
        "6:22: unknown key 'start' in window (expected one of: from, until)",
    ),
    (
        HEAD + "faults:\n  - {match: {}, fault: hang, name: 5}\n" + STEPS,
        "6:36: 'name' of a fault must be a string, got 5 (quote it: '5')",
    ),
    (
        HEAD + "faults: [hang]\n" + STEPS,
        "5:10: fault must be a mapping, got 'hang'",
    ),
    # steps
    (
        HEAD + "steps: [volume.create]\n",
        "5:9: a step must be a mapping with one action key, such as '- volume.create: {name: "
        "v1}', got 'volume.create'",
    ),
    (
        HEAD + "steps:\n  - volume.creat: {name: v}\n",
        "6:5: unknown action 'volume.creat' in step (did you mean 'volume.create'?)",
    ),
    (
        HEAD + "steps:\n  - volume.create: {name: v}\n    expct: {}\n",
        "7:5: unknown key 'expct' in step (did you mean 'expect'?)",
    ),
    (
        HEAD + "steps:\n  - name: only a name\n",
        "6:5: step has no action: give one action key such as volume.create, container.run, "
        "sleep or expect.calls (see docs/scenario-format.md)",
    ),
    (
        HEAD + "steps:\n  - volume.create: {name: v}\n    sleep: 1\n",
        "7:5: step has two actions, 'volume.create' and 'sleep': give each its own step (or "
        "use 'parallel')",
    ),
    (
        HEAD + "steps:\n  - sleep: 1\n    name: [a]\n",
        "7:11: 'name' of a step must be a string, got a list",
    ),
    (
        HEAD + "steps:\n  - volume.create: {name: v, drvier: x}\n",
        "6:30: unknown key 'drvier' in volume.create (did you mean 'driver'?)",
    ),
    (
        HEAD + "steps:\n  - volume.create: {driver: x}\n",
        "6:20: volume.create is missing the required key 'name'",
    ),
    (
        HEAD + "steps:\n  - volume.create:\n",
        "6:19: volume.create is missing the required key 'name'",
    ),
    (
        HEAD + "steps:\n  - volume.create: [v1]\n",
        "6:20: the arguments of volume.create (or the name as a string) must be a mapping, got "
        "a list",
    ),
    (
        HEAD + "steps:\n  - volume.create: {name: v, opts: [a=b]}\n",
        "6:36: 'opts' in volume.create must be a mapping of names to values, got a list",
    ),
    (
        HEAD + "steps:\n  - volume.ls: {filters: [dangling]}\n",
        "6:26: 'filters' in volume.ls must be a mapping of filter names to values, got a list",
    ),
    (
        HEAD + "steps:\n  - volume.ls: {filters: {name: {a: b}}}\n",
        "6:33: filter 'name' must be a string or number, got a mapping",
    ),
    (
        HEAD + "steps:\n  - volume.rm: {name: v, force: 1}\n",
        "6:33: 'force' in volume.rm must be true or false, got 1",
    ),
    (
        HEAD + "steps:\n  - container.run: {rm: yes}\n",
        "6:25: 'rm' in container.run must be true or false, got 'yes'",
    ),
    (
        HEAD + "steps:\n  - container.run: c1\n",
        "6:20: the arguments of container.run must be a mapping, got 'c1'",
    ),
    (
        HEAD + "steps:\n  - container.create: {detach: true}\n",
        "6:24: unknown key 'detach' in container.create (expected one of: name, image, "
        "command, volumes, volume_driver, rm, exit_code, runs_for, networks, env, workdir, "
        "user, log_driver, log_opts)",
    ),
    (
        HEAD + "steps:\n  - container.run: {exit_code: 256}\n",
        "6:32: 'exit_code' in container.run must be an integer from 0 to 255, got 256",
    ),
    (
        HEAD + "steps:\n  - container.run: {runs_for: 5 parsecs}\n",
        "6:31: 'runs_for' in container.run must be a duration (seconds as a number, or a "
        "string such as 500ms, 15s, 2m, 1h, 1m30s), got '5 parsecs'",
    ),
    (
        HEAD + "steps:\n  - container.run: {volumes: v1:/data}\n",
        "6:30: 'volumes' in container.run must be a list, got 'v1:/data'",
    ),
    (
        HEAD + "steps:\n  - container.run: {command: 'echo \"hi'}\n",
        "6:30: 'command' in container.run cannot be split into words: No closing quotation",
    ),
    (
        HEAD + "steps:\n  - container.run: {image: 3}\n",
        "6:28: 'image' in container.run must be a string, got 3 (quote it: '3')",
    ),
    (
        HEAD + "steps:\n  - container.start: 5\n",
        "6:22: 'name' in container.start must be a string, got 5 (quote it: '5')",
    ),
    (
        HEAD + "steps:\n  - container.start: [c1]\n",
        "6:22: the arguments of container.start (or the name as a string) must be a mapping, "
        "got a list",
    ),
    (
        HEAD + "steps:\n  - container.cp: {name: c1, path: /x}\n",
        "6:19: container.cp is missing the required key 'host_path'",
    ),
    (
        HEAD + "steps:\n  - plugin.kill: other\n",
        "6:18: plugin.kill names plugin 'other', which is not in 'plugins' (declared: myvol)",
    ),
    (
        HEAD + "steps:\n  - plugin.stop: {name: myvl}\n",
        "6:25: plugin.stop names plugin 'myvl', which is not in 'plugins' (did you mean 'myvol'?)",
    ),
    (
        HEAD + "steps:\n  - engine.crash: {crash: true}\n",
        "6:20: unknown key 'crash' in engine.crash (it takes no keys)",
    ),
    (
        HEAD + "steps:\n  - engine.restart: {crash: maybe}\n",
        "6:29: 'crash' in engine.restart must be true or false, got 'maybe'",
    ),
    (
        HEAD + "steps:\n  - faults.clear: {all: true}\n",
        "6:20: unknown key 'all' in faults.clear (it takes no keys)",
    ),
    (
        HEAD + "steps:\n  - sleep: 5 parsecs\n",
        "6:12: 'sleep' must be a duration (seconds as a number, or a string such as 500ms, "
        "15s, 2m, 1h, 1m30s), got '5 parsecs'",
    ),
    (
        HEAD + "steps:\n  - sleep: '5'\n",
        "6:12: 'sleep' must be a duration (seconds as a number, or a string such as 500ms, "
        "15s, 2m, 1h, 1m30s), got '5'",
    ),
    (
        HEAD + "steps:\n  - sleep:\n",
        "6:11: 'sleep' must be a duration (seconds as a number, or a string such as 500ms, "
        "15s, 2m, 1h, 1m30s), got nothing (null)",
    ),
    (
        HEAD + "steps:\n  - parallel: []\n",
        "6:15: 'parallel' (a list of steps) must not be empty",
    ),
    (
        HEAD + "steps:\n  - parallel:\n      - slep: 1\n",
        "7:9: unknown action 'slep' in step (did you mean 'sleep'?)",
    ),
    (
        HEAD + "steps:\n  - faults.add: {match: {}, fault: hang}\n",
        "6:17: 'faults.add' (a list of faults) must be a list, got a mapping",
    ),
    (
        HEAD + "steps:\n  - faults.add:\n      - {match: {plugin: x}, fault: hang}\n",
        "7:26: match names plugin 'x', which is not in 'plugins' (declared: myvol)",
    ),
    # expect.calls and expect.no_calls
    (
        HEAD + "steps:\n  - expect.calls: []\n",
        "6:19: the calls of expect.calls must not be empty",
    ),
    (
        HEAD + "steps:\n  - expect.calls: VolumeDriver.Get\n",
        "6:19: expect.calls must be a list of calls, or a mapping with 'calls' (and optionally "
        "'since', 'plugin'), got 'VolumeDriver.Get'",
    ),
    (
        HEAD + "steps:\n  - expect.calls: [{A.B: 1, C.D: 2}]\n",
        "6:20: a call in expect.calls must have exactly one key, the method; this one has "
        "'A.B', 'C.D' (write one list item per call)",
    ),
    (
        HEAD + "steps:\n  - expect.calls: [{A.B: Name}]\n",
        "6:26: the fields of A.B in expect.calls must be a mapping, got 'Name'",
    ),
    (
        HEAD + "steps:\n  - expect.calls: [[A.B]]\n",
        "6:20: a call in expect.calls must be a method name or '{Iface.Method: {field: "
        "value}}', got a list",
    ),
    (
        HEAD + "steps:\n  - expect.no_calls: [Mount]\n",
        "6:23: a call in expect.no_calls must be Iface.Method (such as VolumeDriver.Mount) or "
        "a glob (such as VolumeDriver.*), got 'Mount'",
    ),
    (
        HEAD + "steps:\n  - expect.calls: [{'Volume[.x': {}}]\n",
        "6:21: bad glob 'Volume[.x' in a call in expect.calls: '[' (character 7) is never closed",
    ),
    (
        HEAD + "steps:\n  - expect.calls: {calls: [A.B], since: last}\n",
        "6:41: 'since' in expect.calls must be one of start, last_step; got 'last' (did you "
        "mean 'last_step'?)",
    ),
    (
        HEAD + "steps:\n  - expect.calls: {calls: [A.B], plugin: nope}\n",
        "6:42: expect.calls names plugin 'nope', which is not in 'plugins' (declared: myvol)",
    ),
    (
        HEAD + "steps:\n  - expect.calls: {since: start}\n",
        "6:19: expect.calls is missing the required key 'calls'",
    ),
    (
        HEAD + "steps:\n  - expect.no_calls: {calls: [A.B], snce: start}\n",
        "6:37: unknown key 'snce' in expect.no_calls (did you mean 'since'?)",
    ),
    # expect on a step
    (
        HEAD + "steps:\n  - sleep: 1\n    expect: {eror: x}\n",
        "7:14: unknown key 'eror' in expect (did you mean 'error'?)",
    ),
    (
        HEAD + "steps:\n  - sleep: 1\n    expect: error\n",
        "7:13: 'expect' of a step must be a mapping, got 'error'",
    ),
    (
        HEAD + "steps:\n  - sleep: 1\n    expect: {error: '('}\n",
        "7:21: 'error' in expect is not a valid regular expression: missing ), unterminated "
        "subpattern at position 0",
    ),
    (
        HEAD + "steps:\n  - sleep: 1\n    expect: {error: x, result: {}}\n",
        "7:24: 'error' and 'result' exclude each other in expect: a failing step has no result",
    ),
    (
        HEAD + "steps:\n  - sleep: 1\n    expect: {result: [1]}\n",
        "7:22: 'result' in expect must be a mapping, got a list",
    ),
    (
        HEAD + "steps:\n  - sleep: 1\n    expect: {duration: {}}\n",
        "7:24: 'duration' in expect needs 'max', 'min' or both",
    ),
    (
        HEAD + "steps:\n  - sleep: 1\n    expect: {duration: 5s}\n",
        "7:24: 'duration' in expect must be a mapping, got '5s'",
    ),
    (
        HEAD + "steps:\n  - sleep: 1\n    expect: {duration: {max: 1s, min: 2s}}\n",
        "7:39: 'min' in duration must not be more than 'max'",
    ),
    (
        HEAD + "steps:\n  - sleep: 1\n    expect: {duration: {mx: 1s}}\n",
        "7:25: unknown key 'mx' in duration (did you mean 'max'?)",
    ),
    (
        HEAD + "steps:\n  - sleep: 1\n    expect: {duration: {max: long}}\n",
        "7:30: 'max' in duration must be a duration (seconds as a number, or a string such as "
        "500ms, 15s, 2m, 1h, 1m30s), got 'long'",
    ),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_error_message_and_position(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load(text)
    assert str(caught.value) == "x.yaml:" + message
    error = caught.value
    line, column, rest = message.split(":", 2)
    assert (error.path, error.line, error.column) == ("x.yaml", int(line), int(column))
    assert error.message == rest.removeprefix(" ")


def test_error_from_a_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + "steps:\n  - sleep: 5 parsecs\n")
    with pytest.raises(ScenarioError, match=r"^.*bad\.yaml:6:12: 'sleep' must be a duration"):
        load_scenario(path)


def test_unreadable_file() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario("/nonexistent/x.yaml")
    assert str(caught.value) == (
        "/nonexistent/x.yaml:1:1: cannot read the scenario file: No such file or directory"
    )


def test_bytes_that_are_not_utf8() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(b"version: 1\nname: \xff\n", filename="x.yaml")
    assert str(caught.value) == (
        "x.yaml:2:7: the file is not UTF-8 text (byte 0xff): save it as UTF-8"
    )


def test_alias_bombs_are_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(ScenarioError, match="expands to more than 100000 YAML nodes"):
        load("\n".join(lines) + "\n")


def test_default_filename() -> None:
    with pytest.raises(ScenarioError, match=r"^<string>:1:1: "):
        load_scenario_text("")


# -- the JSON Schema ----------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = scenario_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    step = schema["$defs"]["step"]
    assert set(step["properties"]) == {"name", "expect", *ACTIONS}
    assert schema["$defs"]["fault"]["properties"]["fault"]["enum"][0] == "hang"
    assert set(schema["properties"]) == set(TOP_KEYS)
    assert set(schema["$defs"]["engine"]["properties"]) == set(ENGINE_KEYS)
    assert set(schema["$defs"]["plugin"]["properties"]) == set(PLUGIN_KEYS)
    assert set(schema["$defs"]["fault"]["properties"]) == set(FAULT_KEYS)
    match = schema["$defs"]["fault"]["properties"]["match"]
    assert set(match["properties"]) == set(MATCH_KEYS)
    assert set(schema["$defs"]["fault"]["properties"]["respond"]["properties"]) == set(RESPOND_KEYS)
    for action, arguments in ARGUMENTS.items():
        object_schema = step["properties"][action]
        object_schema = object_schema.get("anyOf", [object_schema])[0]
        assert set(object_schema["properties"]) == {a.key for a in arguments}, action


_FREE_FORM = frozenset({"body", "opts", "labels", "env", "result", "filters", "headers"})
"""Keys whose values take any keys (request bodies, options …)."""


def _walk_dicts(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every mapping in ``data``, not looking inside free-form ones (nor inside the
    fields of a call in expect.calls)."""
    if isinstance(data, dict):
        yield path
        if path and (path[-1] in _FREE_FORM or "." in str(path[-1])) and path[-2:-1] != ("steps",):
            return
        for key, value in data.items():
            yield from _walk_dicts(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _walk_dicts(value, (*path, index))


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


@pytest.mark.parametrize("path", shipped_examples(), ids=lambda p: p.name)
def test_every_example_is_valid_for_loader_and_schema(path: Path) -> None:
    load_scenario(path)
    assert schema_errors(yaml.safe_load(path.read_text())) == []


def test_doc_examples_are_valid_for_loader_and_schema() -> None:
    for text in doc_examples():
        load(text)
        assert schema_errors(yaml.safe_load(text)) == []


def _focus(data: dict[str, Any], path: tuple[Any, ...]) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """A smaller document that still holds the mapping at ``path``: of 'steps' and 'faults'
    only the item on the path (or the first step) is kept; plugins stay, for references."""
    doc = dict(data)
    section = path[0] if path else None
    if isinstance(doc.get("faults"), list):
        doc["faults"] = [doc["faults"][path[1]]] if section == "faults" else []
    if isinstance(doc.get("steps"), list):
        doc["steps"] = [doc["steps"][path[1] if section == "steps" else 0]]
    if section in ("steps", "faults"):
        path = (section, 0, *path[2:])
    return copy.deepcopy(doc), path


@pytest.mark.parametrize("path", shipped_examples(), ids=lambda p: p.name)
def test_unknown_keys_rejected_by_loader_and_schema_alike(path: Path) -> None:
    """Put an unknown key into every mapping of an example: where the loader refuses it (a
    mapping with fixed keys) the schema must refuse it too; where the loader takes it (request
    bodies, options, labels …) the schema must take it too."""
    data = yaml.load(path.read_text(), Loader=FastLoader)
    refused = 0
    for where in _walk_dicts(data):
        mutated, inner = _focus(data, where)
        _get(mutated, inner)["bogus_key"] = 1
        message = ""
        try:
            load(yaml.dump(mutated, Dumper=FastDumper, sort_keys=False))
        except ScenarioError as error:
            message = error.message
        if message:
            assert "'bogus_key'" in message or "exactly one key" in message, message
            assert not VALIDATOR.is_valid(mutated), f"schema took bogus_key at {where}"
            refused += 1
        else:
            assert schema_errors(mutated) == [], f"schema refused bogus_key at {where}"
    assert refused > 0


def test_schema_command_prints_the_schema() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == scenario_json_schema()
    assert result.output.startswith('{\n  "$schema"')


# -- fuzzing ----------------------------------------------------------------------------

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check_outcome(text: str | bytes) -> Scenario | None:
    """Load ``text``: a Scenario, or None after a well-formed ScenarioError."""
    error: ScenarioError | None = None
    try:
        return load_scenario_text(text, filename="f.yaml")
    except ScenarioError as caught:
        error = caught
    assert str(error).startswith(f"f.yaml:{error.line}:{error.column}: ")
    assert error.line >= 1
    assert error.column >= 1
    assert "\n" not in error.message
    return None


@FUZZ
@given(st.text())
def test_fuzz_any_text(text: str) -> None:
    _check_outcome(text)


@FUZZ
@given(st.binary())
def test_fuzz_any_bytes(data: bytes) -> None:
    _check_outcome(data)


_YAML_BITS = st.sampled_from(
    [
        "version: 1\n",
        "name: t\n",
        "steps:\n",
        "  - sleep: 1\n",
        "  - volume.create: v1\n",
        "plugins:\n  - {name: p, builtin: volume}\n",
        "faults:\n",
        "  - match: {plugin: p}\n    fault: hang\n",
        "    expect: {error: x}\n",
        "- ",
        ": ",
        "{",
        "}",
        "[",
        "]",
        "&a ",
        "*a ",
        "<<: ",
        "!!str ",
        "'",
        '"',
        "\n",
        "  ",
        "#",
        "---\n",
        "? ",
        "|\n",
        "\t",
    ]
)


@FUZZ
@given(st.lists(_YAML_BITS, max_size=30).map("".join))
def test_fuzz_yaml_fragments(text: str) -> None:
    _check_outcome(text)


@FUZZ
@given(SCENARIOS)
def test_fuzz_structured(data: dict[str, Any]) -> None:
    """Documents of right and wrong keys and values: a Scenario or a ScenarioError, and every
    document the loader takes, the schema takes too."""
    text = yaml.safe_dump(data, sort_keys=False)
    if _check_outcome(text) is not None:
        assert schema_errors(yaml.safe_load(text)) == []
