"""The scenario format's tables (docs/scenario-format.md): what the loader checks a file
against and what its JSON Schema is generated from (the fault words are
:mod:`emulator.faults.vocabulary`'s)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Final

import attrs
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from emulator.faults.vocabulary import FAULT
from emulator.mocks.authz_rules import PHASES, AuthzRule
from emulator.protocol.profiles import PROFILES
from emulator.scenario.arguments import ACTION_HELP, ARGUMENTS, Arguments
from emulator.scenario.model import (
    ACTIONS,
    CallPattern,
    DockerCommand,
    EngineSettings,
    ExpectCalls,
    ExpectNoCalls,
    FaultsAdd,
    Parallel,
    PluginSpec,
    Scenario,
    Sleep,
    Step,
    StepExpect,
)
from emulator.vocabulary.kinds import (
    Argv,
    Bool,
    Choice,
    Duration,
    Int,
    JsonObject,
    Kind,
    ListOf,
    PluginRef,
    SchemaContext,
    Str,
    TextMap,
    call_pattern_schema,
    described,
    or_null,
)
from emulator.vocabulary.nodes import describe, kind_of, line_of, quote, suggest
from emulator.vocabulary.reader import PLUGIN_NAME_PATTERN, Pairs, Reader, whole_number
from emulator.vocabulary.shapes import (
    AtLeastOne,
    ExactlyOne,
    Excludes,
    Field,
    Requires,
    RequiresValue,
    Shape,
)

__all__ = ["ENGINE", "EXPECT", "PLUGIN", "PLUGINS_FILE", "STEP", "STEP_KEYS", "TOP"]

CLOCKS: Final = ("virtual", "real")
SCOPES: Final = ("local", "global")
BUILTINS: Final = ("volume", "network", "ipam", "authz", "log")
#: The step actions that run the docker CLI or send an API request (``status``/``output``).
API_ACTIONS: Final = ("docker", "api", "container.exec", "container.logs")
SINCE: Final = ("start", "last_step")
STEP_KEYS: Final = ("name", "expect")
_PLUGIN_NAME_RE: Final = re.compile(PLUGIN_NAME_PATTERN.strip("^$"))


# -- engine and plugins ---------------------------------------------------------------------


@attrs.frozen
class _Profile(Kind):
    """dockerd's major version: ``"28"`` (or 28)."""

    def read(self, r: Reader, node: Node, label: str) -> str:
        number = whole_number(node)
        text = str(number) if number is not None else str(node.value)
        if kind_of(node) not in ("str", "int", "float") or text not in PROFILES:
            profiles = ", ".join(f'"{p}"' for p in sorted(PROFILES))
            r.fail(
                node,
                f"{label} must be one of {profiles} (dockerd's major version), "
                f"got {describe(node)}",
            )
        return text

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        profiles = sorted(PROFILES)
        return {"enum": [*profiles, *(int(p) for p in profiles)]}


ENGINE = Shape(
    what="engine",
    label="'engine'",
    define="engine",
    description="How the emulated daemon behaves.",
    items=(
        Field("profile", _Profile(), 'dockerd major version to behave as (default "28").'),
        Field(
            "clock",
            Choice(CLOCKS),
            "virtual (default): engine time jumps over waits; real: wall clock.",
        ),
        Field(
            "seed",
            Int(minimum=0),
            "Seed of every random draw (default: random, printed in every report).",
            null="absent",
        ),
        Field(
            "hang_guard",
            Duration(nullable=True),
            "Abandon a call nobody answers after this much engine time (default 5m); null: never.",
        ),
        Field(
            "authorization_plugins",
            ListOf(Str(nonempty=True)),
            "dockerd's --authorization-plugin list: every docker/api step goes through them.",
        ),
        Field(
            "containers",
            Choice(("auto", "processes", "fake")),
            "auto (default): commands run as real processes where the host allows it; "
            "processes: or fail; fake: the command table only.",
        ),
    ),
    build=lambda r, node, m, v: EngineSettings(**v),
)


@attrs.frozen
class _PluginName(Kind):
    """A plugin's name: a socket or spec file name, unique in the scenario."""

    def read(self, r: Reader, node: Node, label: str) -> str:
        name = r.string(node, label)
        if not _PLUGIN_NAME_RE.fullmatch(name):
            r.fail(
                node,
                f"plugin name {quote(name)} must be letters, digits, '_', '.' and '-', starting "
                "with a letter or digit (it becomes a socket or spec file name)",
            )
        declared = r.plugins if r.plugins is not None else {}
        if name in declared:  # reader only: JSON Schema cannot see other items
            r.fail(node, f"duplicate plugin name {quote(name)} (first at line {declared[name]})")
        declared[name] = line_of(node)
        return name

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return {"type": "string", "pattern": PLUGIN_NAME_PATTERN}


def _only_with(key: str, owner: str) -> Requires:
    return Requires(key, owner, f"{quote(key)} applies only to a plugin with {quote(owner)}")


@attrs.frozen
class _Regex(Kind):
    """A regular expression (that it compiles, only the reader checks)."""

    def read(self, r: Reader, node: Node, label: str) -> str:
        pattern = r.string(node, label)
        try:
            re.compile(pattern)
        except re.error as exc:
            r.fail(node, f"{label} is not a valid regular expression: {exc}")
        return pattern

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return {"type": "string", "format": "regex"}


AUTHZ_RULE = Shape(
    what="rule",
    label="a rule of the built-in authz plugin",
    define="authzRule",
    description="Allow or deny the calls it matches (every given condition must hold).",
    items=(
        Field("allow", Bool(), "The verdict (default true)."),
        Field("msg", Str(), "Msg of the answer (shown in dockerd's 403)."),
        Field("method", Str(nonempty=True), "HTTP method, exact."),
        Field("path", _Regex(), "Regex searched in the path without /vX.Y and query."),
        Field("user", Str(), "The TLS client's common name, exact."),
        Field("body", JsonObject(), "A subset of the JSON request body."),
        Field("phase", Choice(PHASES), "request (default: AuthZReq), response or both."),
        Field("error", Str(), "Answer HTTP 500 {Err: error} instead of a verdict."),
    ),
    build=lambda r, node, m, v: AuthzRule(**v),
)

_KINDS_OF_PLUGIN = "'builtin', 'command', 'address'"
PLUGIN = Shape(
    what="plugin",
    define="plugin",
    description="A plugin: exactly one of builtin, command, address.",
    order=(
        "name",
        "builtin",
        "command",
        "address",
        "appear_after",
        "env",
        "startup_timeout",
        "scope",
        "rules",
    ),
    items=(
        Field(
            "name",
            _PluginName(),
            "The plugin name dockerd looks up.",
            required=True,
            label="'name' of a plugin",
        ),
        ExactlyOne(
            ("builtin", "command", "address"),
            none=f"plugin {{name}} needs exactly one of {_KINDS_OF_PLUGIN}",
            two=f"plugin {{name}} has both {{a}} and {{b}}: give exactly one of {_KINDS_OF_PLUGIN}",
        ),
        _only_with("env", "command"),
        _only_with("startup_timeout", "command"),
        _only_with("scope", "builtin"),
        Field("builtin", Choice(BUILTINS), "The built-in mock plugin, served in-process."),
        Field("scope", Choice(SCOPES), "Capabilities scope (builtin)."),
        RequiresValue(
            "rules", "builtin", "authz", "'rules' applies only to a plugin with 'builtin: authz'"
        ),
        Field("rules", ListOf(AUTHZ_RULE), "The built-in authz plugin's rules, first match wins."),
        Field(
            "command",
            Argv(empty="{label} must name a program"),
            "Started as a process; {socket}, {root} and {name} are substituted.",
        ),
        Field("env", TextMap(), "Environment of the command."),
        Field(
            "startup_timeout",
            Duration(),
            "How long the command may take to create its socket (30s).",
        ),
        Field("address", Str(nonempty=True), "A plugin already running: written to a .spec file."),
        Field(
            "appear_after",
            Duration(nullable=True),
            "The socket or spec file appears only after this long.",
        ),
    ),
    build=lambda r, node, m, v: PluginSpec(**v),
)


# -- expectations ---------------------------------------------------------------------------


def _bounds(r: Reader, node: Node, m: Pairs, v: dict[str, Any]) -> dict[str, float]:
    if "max" in v and "min" in v and v["min"] > v["max"]:  # reader only
        r.fail(m["min"][1], "'min' in duration must not be more than 'max'")
    return {f"duration_{key}": value for key, value in v.items()}


_DURATION_BOUNDS = Shape(
    what="duration",
    label="'duration' in expect",
    description="Bounds on the step's engine time.",
    items=(
        AtLeastOne(("max", "min"), "'duration' in expect needs 'max', 'min' or both"),
        Field("max", Duration()),
        Field("min", Duration()),
    ),
    build=_bounds,
)

EXPECT = Shape(
    what="expect",
    label="'expect' of a step",
    description="What the step must do.",
    items=(
        Excludes(
            "error",
            ("result",),
            "'error' and 'result' exclude each other in expect: a failing step has no result",
        ),
        Field(
            "error",
            _Regex(),
            "A regex the error text must match; without it the step must succeed.",
        ),
        Field("result", JsonObject(), "A subset of the result fields."),
        Field("duration", _DURATION_BOUNDS),
        Field(
            "status",
            Int(0, 599),
            "docker and api steps: the exit code or HTTP status (then a failure is no error).",
        ),
        Field("output", _Regex(), "docker and api steps: a regex the output or body must match."),
    ),
    build=lambda r, node, m, v: StepExpect(
        error=v.get("error"),
        result=v.get("result"),
        status=v.get("status"),
        output=v.get("output"),
        **v.get("duration", {}),
    ),
)


@attrs.frozen
class _CallItem(Kind):
    """One call of expect.calls: a method pattern, or ``{Iface.Method: {fields}}``."""

    action: str

    def read(self, r: Reader, node: Node, label: str) -> CallPattern:
        label = f"a call in {self.action}"
        if isinstance(node, ScalarNode):
            return CallPattern(method=r.call_pattern(node, label))
        if not isinstance(node, MappingNode):
            r.fail(
                node,
                f"{label} must be a method name or '{{Iface.Method: {{field: value}}}}', "
                f"got {describe(node)}",
            )
        pairs = r.pairs(node, label)
        if len(pairs) != 1:
            names = ", ".join(quote(k.value) for k, _ in pairs) or "none"
            r.fail(
                node,
                f"{label} must have exactly one key, the method; this one has {names} "
                "(write one list item per call)",
            )
        key, value = pairs[0]
        method = r.call_pattern(key, label)
        if kind_of(value) == "null":
            return CallPattern(method=method)
        fields = r.json_object(value, f"the fields of {method} in {self.action}")
        return CallPattern(method=method, fields=fields)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return {
            "anyOf": [
                described(
                    call_pattern_schema(),
                    "Iface.Method (VolumeDriver.Mount), or a glob of one (VolumeDriver.*).",
                ),
                {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "propertyNames": call_pattern_schema(),
                    "additionalProperties": or_null(
                        {"type": "object"}, "A subset of the request JSON."
                    ),
                    "description": "{Iface.Method: {field: value}}: the call with these fields.",
                },
            ]
        }


@attrs.frozen
class _ExpectCalls(Kind):
    """expect.calls / expect.no_calls: a list of calls, or ``{calls, since, plugin}``."""

    action: str

    @functools.cached_property
    def shape(self) -> Shape:
        calls = ListOf(_CallItem(self.action), nonempty=True)
        return Shape(
            what=self.action,
            items=(
                Field("calls", calls, required=True, label=f"the calls of {self.action}"),
                Field(
                    "since",
                    Choice(SINCE),
                    "start (default): every call; last_step: the calls made during the "
                    "previous step.",
                ),
                Field("plugin", PluginRef(), "Only this plugin's calls.", label=self.action),
            ),
            build=lambda r, node, m, v: v,
        )

    def read(self, r: Reader, node: Node, label: str) -> ExpectCalls | ExpectNoCalls:
        cls = ExpectCalls if self.action == "expect.calls" else ExpectNoCalls
        if isinstance(node, SequenceNode):
            calls = self.shape.field("calls")
            return cls(calls=calls.kind.read(r, node, self.shape.label_of(calls)))
        if not isinstance(node, MappingNode):
            r.fail(
                node,
                f"{self.action} must be a list of calls, or a mapping with 'calls' (and "
                f"optionally 'since', 'plugin'), got {describe(node)}",
            )
        return cls(**self.shape.read(r, node))

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        def make() -> dict[str, Any]:
            calls = self.shape.field("calls").kind.schema(ctx)
            return {"anyOf": [calls, self.shape.object_schema(ctx)]}

        return described(ctx.ref("expectCalls", make), ACTION_HELP[self.action])


# -- steps ----------------------------------------------------------------------------------


@attrs.frozen
class _Wrapped(Kind):
    """An action argument that is one value, wrapped in its class."""

    kind: Kind
    wrap: Callable[[Any], Any]
    help: str

    def read(self, r: Reader, node: Node, label: str) -> Any:
        return self.wrap(self.kind.read(r, node, label))

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return described(self.kind.schema(ctx), self.help)


def _action_kinds() -> dict[str, tuple[Kind, str]]:
    """Each action's kind of argument and the label of its value."""
    kinds: dict[str, tuple[Kind, str]] = {
        action: (Arguments(action), action) for action in ARGUMENTS
    }
    kinds["faults.add"] = (
        _Wrapped(
            ListOf(FAULT, nonempty=True), lambda v: FaultsAdd(faults=v), ACTION_HELP["faults.add"]
        ),
        "'faults.add' (a list of faults)",
    )
    kinds["docker"] = (
        _Wrapped(
            Argv(empty="{label} must give the docker CLI's arguments"),
            lambda v: DockerCommand(args=v),
            ACTION_HELP["docker"],
        ),
        "'docker'",
    )
    kinds["sleep"] = (
        _Wrapped(Duration(), lambda v: Sleep(seconds=v), ACTION_HELP["sleep"]),
        "'sleep'",
    )
    kinds["parallel"] = (
        _Wrapped(ListOf(STEP, nonempty=True), lambda v: Parallel(steps=v), ACTION_HELP["parallel"]),
        "'parallel' (a list of steps)",
    )
    kinds["expect.calls"] = (_ExpectCalls("expect.calls"), "expect.calls")
    kinds["expect.no_calls"] = (_ExpectCalls("expect.no_calls"), "expect.no_calls")
    return kinds


@attrs.frozen
class _Step(Kind):
    """A step: one action key, an optional ``name`` and ``expect``."""

    @functools.cached_property
    def actions(self) -> dict[str, tuple[Kind, str]]:
        return _action_kinds()

    def read(self, r: Reader, node: Node, label: str) -> Step:
        if not isinstance(node, MappingNode):
            r.fail(
                node,
                "a step must be a mapping with one action key, such as "
                f"'- volume.create: {{name: v1}}', got {describe(node)}",
            )
        pairs = r.pairs(node, "step")
        actions = [(k, v) for k, v in pairs if k.value in ACTIONS]
        for key, _ in pairs:
            if key.value in ACTIONS or key.value in STEP_KEYS:
                continue
            if not actions:
                r.fail(
                    key, f"unknown action {quote(key.value)} in step{suggest(key.value, ACTIONS)}"
                )
            r.fail(
                key,
                f"unknown key {quote(key.value)} in step"
                + suggest(key.value, (*STEP_KEYS, *ACTIONS)),
            )
        if not actions:
            r.fail(
                node,
                "step has no action: give one action key such as volume.create, container.run, "
                "sleep or expect.calls (see docs/scenario-format.md)",
            )
        if len(actions) > 1:
            r.fail(
                actions[1][0],
                f"step has two actions, {quote(actions[0][0].value)} and "
                f"{quote(actions[1][0].value)}: give each its own step (or use 'parallel')",
            )
        key, value = actions[0]
        kind, value_label = self.actions[str(key.value)]
        args = kind.read(r, value, value_label)
        others = {k.value: v for k, v in pairs}
        expect = EXPECT.read(r, others["expect"]) if "expect" in others else None
        if expect is not None and key.value not in API_ACTIONS:
            for word in ("status", "output"):
                if getattr(expect, word) is not None:
                    r.fail(
                        others["expect"],
                        f"{quote(word)} in expect applies only to docker, api, "
                        "container.exec and container.logs steps",
                    )
        name = r.string(others["name"], "'name' of a step") if "name" in others else None
        return Step(action=str(key.value), args=args, expect=expect, name=name, line=line_of(node))

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        def make() -> dict[str, Any]:
            properties: dict[str, Any] = {
                "name": {"type": "string", "description": "Shown in reports."},
                "expect": EXPECT.schema(ctx),
            }
            for action in ACTIONS:
                properties[action] = self.actions[action][0].schema(ctx)
            return {
                "type": "object",
                "properties": properties,
                "additionalProperties": False,
                "description": "One action key, optional name and expect.",
                "oneOf": [{"required": [action]} for action in ACTIONS],
                # expect.status and expect.output only for docker and api steps
                "if": {"not": {"anyOf": [{"required": [a]} for a in API_ACTIONS]}},
                "then": {
                    "properties": {
                        "expect": {
                            "not": {"anyOf": [{"required": [w]} for w in ("status", "output")]}
                        }
                    }
                },
            }

        return ctx.ref("step", make)


STEP: Final = _Step()


# -- the scenario ---------------------------------------------------------------------------


@attrs.frozen
class _Version(Kind):
    """The format version: 1."""

    def read(self, r: Reader, node: Node, label: str) -> int:
        if whole_number(node) != 1:
            r.fail(node, f"'version' must be 1 (the only format version), got {describe(node)}")
        return 1

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return {"const": 1}


TOP = Shape(
    what="the scenario",
    items=(
        Field("version", _Version(), "The format version: 1.", required=True),
        Field(
            "name",
            Str(nonempty=True),
            "Shown in reports.",
            required=True,
            label="'name' of the scenario",
        ),
        Field("description", Str(), label="'description' of the scenario"),
        Field("engine", ENGINE, null="absent"),
        Field("plugins", ListOf(PLUGIN), null="absent", label="'plugins'"),
        Field(
            "faults",
            ListOf(FAULT),
            "Faults active from the start.",
            null="absent",
            label="'faults'",
        ),
        Field("steps", ListOf(STEP, nonempty=True), required=True, label="'steps'"),
    ),
    build=lambda r, node, m, v: Scenario(
        version=1,
        name=v["name"],
        description=v.get("description"),
        engine=v.get("engine", EngineSettings()),
        plugins=v.get("plugins", ()),
        faults=v.get("faults", ()),
        steps=v["steps"],
    ),
)
"""The whole file."""


PLUGINS_FILE = Shape(
    what="the plugins file",
    items=(
        Field(
            "plugins",
            ListOf(PLUGIN, nonempty=True),
            "The plugins to start, as under a scenario's plugins:.",
            required=True,
            label="'plugins'",
        ),
    ),
    build=lambda r, node, m, v: tuple(v["plugins"]),
)
"""``plugin-emulator serve --plugins-file``: a scenario's ``plugins:`` list on its own."""
