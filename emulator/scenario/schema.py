"""A JSON Schema (draft 2020-12) of scenario files, for editors.

Point the YAML language server at it (``# yaml-language-server: $schema=scenario.json`` at
the top of a file, after ``plugin-emulator schema > scenario.json``) to get completion,
hover text and most errors while typing.  The loader stays the authority: it also checks
what a schema cannot say (that a named plugin is declared, that a regex compiles, that
``until`` comes after ``from``…), and every file it accepts is valid against this schema.
"""

from __future__ import annotations

from typing import Any

import attrs

from emulator.faults.model import FAULT_KINDS
from emulator.protocol.profiles import PROFILES
from emulator.scenario.loader import (
    ARGUMENTS,
    BUILTINS,
    CLOCKS,
    DISTRIBUTIONS,
    DURATION_PATTERN,
    PLUGIN_NAME_PATTERN,
    SCOPES,
    SINCE,
)
from emulator.scenario.model import ACTIONS

__all__ = ["SCHEMA_ID", "scenario_json_schema"]

SCHEMA_ID = "https://docker-plugin-emulator.invalid/schemas/scenario-v1.json"
"""The schema's ``$id`` (a name, not a place to download it from)."""

_CALL_PATTERN = r"^[A-Za-z0-9_.*?!\[\]-]+$"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{name}"}


def _or_null(schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    result: dict[str, Any] = {"anyOf": [schema, {"type": "null"}]}
    if description:
        result["description"] = description
    return result


def _object(
    properties: dict[str, Any],
    *,
    required: tuple[str, ...] = (),
    description: str = "",
) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def _described(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {**schema, "description": description} if description else schema


def _argument_schema(kind: str) -> dict[str, Any]:
    kinds: dict[str, dict[str, Any]] = {
        "string": {"type": "string"},
        "bool": {"type": "boolean"},
        "duration": _ref("duration"),
        "argv": _ref("argv"),
        "words": {"type": "array", "items": _ref("scalar")},
        "textmap": _ref("textMap"),
        "filters": {
            "type": "object",
            "additionalProperties": {
                "anyOf": [_ref("scalar"), {"type": "array", "items": _ref("scalar")}]
            },
        },
        "exit_code": {"type": "integer", "minimum": 0, "maximum": 255},
        "plugin": {"type": "string"},
    }
    return dict(kinds[kind])


_ACTION_HELP: dict[str, str] = {
    "volume.create": "docker volume create.",
    "volume.inspect": "docker volume inspect.",
    "volume.ls": "docker volume ls.",
    "volume.rm": "docker volume rm.",
    "volume.prune": "docker volume prune.",
    "network.create": "docker network create.",
    "network.rm": "docker network rm.",
    "network.connect": "docker network connect.",
    "network.disconnect": "docker network disconnect.",
    "container.run": "docker run (a fake container: nothing runs, volumes are mounted).",
    "container.create": "docker create.",
    "container.start": "docker start.",
    "container.stop": "docker stop.",
    "container.kill": "docker kill.",
    "container.rm": "docker rm.",
    "container.cp": "docker cp (mounts the container's volumes for the copy).",
    "plugin.kill": "SIGKILL a plugin (its socket stays, nobody answers).",
    "plugin.stop": "SIGSTOP a plugin: connections hang.",
    "plugin.continue": "SIGCONT a stopped plugin.",
    "plugin.restart": "Stop a plugin and start it again.",
    "plugin.remove_socket": "Remove a plugin's socket file.",
    "plugin.start": "Start a plugin (again).",
    "engine.restart": "Restart the daemon; {crash: true} lets containers die without unmounts.",
    "engine.crash": "A restart in which containers die and nothing is unmounted.",
    "faults.add": "Faults active from this step on.",
    "faults.clear": "Remove every fault.",
    "sleep": "Wait this much engine time.",
    "parallel": "Steps run concurrently.",
    "expect.calls": "These plugin calls happened, in this order (others may come between).",
    "expect.no_calls": "None of these plugin calls happened.",
}


def _action_schema(action: str) -> dict[str, Any]:
    help_text = _ACTION_HELP[action]
    if action == "faults.add":
        return {"type": "array", "items": _ref("fault"), "minItems": 1, "description": help_text}
    if action == "sleep":
        return _described(_ref("duration"), help_text)
    if action == "parallel":
        return {"type": "array", "items": _ref("step"), "minItems": 1, "description": help_text}
    if action in ("expect.calls", "expect.no_calls"):
        return _described(_ref("expectCalls"), help_text)
    arguments = ARGUMENTS[action]
    defaults = {f.name: f.default for f in attrs.fields(ACTIONS[action])}
    properties: dict[str, Any] = {}
    for arg in arguments:
        schema = _argument_schema(arg.kind)
        if defaults.get(arg.key, attrs.NOTHING) is None:
            schema = _or_null(schema)
        properties[arg.key] = _described(schema, arg.description)
    required = tuple(a.key for a in arguments if a.required)
    body = _object(properties, required=required)
    if required == ("name",):
        string = {"type": "string", "description": "The name alone."}
        return {"anyOf": [body, string], "description": help_text}
    if not required:
        return {"anyOf": [body, {"type": "null"}], "description": help_text}
    return _described(body, help_text)


def _defs() -> dict[str, Any]:
    duration = {
        "anyOf": [
            {"type": "number", "minimum": 0, "description": "Seconds."},
            {
                "type": "string",
                "pattern": DURATION_PATTERN,
                "description": "A number with a unit: 500ms, 15s, 2m, 1h, 1m30s.",
            },
        ],
        "description": "A duration: seconds, or a string such as 500ms, 15s, 2m, 1h, 1m30s.",
    }
    scalar = {"type": ["string", "number", "boolean"], "description": "Taken as written."}
    call_pattern = {
        "type": "string",
        "pattern": _CALL_PATTERN,
        "description": "Iface.Method (VolumeDriver.Mount), or a glob of one (VolumeDriver.*).",
    }
    call_item = {
        "anyOf": [
            call_pattern,
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "propertyNames": {"pattern": _CALL_PATTERN},
                "additionalProperties": _or_null(
                    {"type": "object"}, "A subset of the request JSON."
                ),
                "description": "{Iface.Method: {field: value}}: the call with these fields.",
            },
        ]
    }
    call_list = {"type": "array", "items": call_item, "minItems": 1}
    expect_calls = {
        "anyOf": [
            call_list,
            _object(
                {
                    "calls": call_list,
                    "since": {
                        "enum": list(SINCE),
                        "description": "start (default): every call; last_step: the calls "
                        "made during the previous step.",
                    },
                    "plugin": {"type": "string", "description": "Only this plugin's calls."},
                },
                required=("calls",),
            ),
        ]
    }
    profiles = sorted(PROFILES)
    engine = _object(
        {
            "profile": {
                "enum": [*profiles, *(int(p) for p in profiles)],
                "description": 'dockerd major version to behave as (default "28").',
            },
            "clock": {
                "enum": list(CLOCKS),
                "description": "virtual (default): engine time jumps over waits; real: wall clock.",
            },
            "seed": _or_null(
                {"type": "integer", "minimum": 0},
                "Seed of every random draw (default: random, printed in every report).",
            ),
            "hang_guard": _or_null(
                _ref("duration"),
                "Abandon a call nobody answers after this much engine time (default 5m); "
                "null: never.",
            ),
        },
        description="How the emulated daemon behaves.",
    )
    plugin = _object(
        {
            "name": {
                "type": "string",
                "pattern": PLUGIN_NAME_PATTERN,
                "description": "The plugin name dockerd looks up.",
            },
            "builtin": {
                "enum": list(BUILTINS),
                "description": "The built-in mock plugin, served in-process.",
            },
            "command": _described(
                _ref("argv"),
                "Started as a process; {socket}, {root} and {name} are substituted.",
            ),
            "address": {
                "type": "string",
                "minLength": 1,
                "description": "A plugin already running: written to a .spec file.",
            },
            "appear_after": _or_null(
                _ref("duration"), "The socket or spec file appears only after this long."
            ),
            "env": _described(_ref("textMap"), "Environment of the command."),
            "startup_timeout": _described(
                _ref("duration"), "How long the command may take to create its socket (30s)."
            ),
            "scope": {"enum": list(SCOPES), "description": "Capabilities scope (builtin)."},
        },
        required=("name",),
        description="A plugin: exactly one of builtin, command, address.",
    )
    plugin["oneOf"] = [{"required": [k]} for k in ("builtin", "command", "address")]
    window = _object(
        {
            "from": _described(_ref("duration"), "Start (engine time since the start)."),
            "until": _or_null(_ref("duration"), "End (excluded)."),
        },
        description="Engine time since the scenario started.",
    )
    match = _object(
        {
            "plugin": {"type": "string", "description": "A declared plugin's name."},
            "call": _described(call_pattern, "The call, exact or a glob."),
            "body": {"type": "object", "description": "A subset of the request JSON."},
            "nth": {"type": "integer", "minimum": 1, "description": "Only the Nth call."},
            "first": {"type": "integer", "minimum": 1, "description": "The first N calls."},
            "after": {"type": "integer", "minimum": 0, "description": "Calls after the first N."},
            "times": {"type": "integer", "minimum": 1, "description": "Fire at most N times."},
            "probability": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "Chance of firing, drawn from the seed.",
            },
            "window": window,
        },
        description="Which calls (all given conditions must hold).",
    )
    delay_object = _object(
        {
            "distribution": {"enum": list(DISTRIBUTIONS)},
            "low": _ref("duration"),
            "high": _ref("duration"),
            "mean": _ref("duration"),
            "stddev": _ref("duration"),
            "mu": {"type": "number", "description": "Mean of the log of the seconds."},
            "sigma": {"type": "number", "minimum": 0},
            "jitter": _ref("duration"),
        },
        required=("distribution",),
    )
    delay_object["allOf"] = [
        {
            "if": {"properties": {"distribution": {"const": name}}},
            "then": {"required": list(params)},
        }
        for name, params in DISTRIBUTIONS.items()
    ]
    respond = _object(
        {
            "status": {"type": "integer", "minimum": 100, "maximum": 599},
            "body": {"type": ["string", "object", "null"], "description": "The answer's body."},
            "content_type": {"type": ["string", "null"]},
            "err": {"type": "string", "description": 'HTTP 200 with {"Err": err}.'},
        },
        description="Answer instead of the plugin.",
    )
    respond["anyOf"] = [{"required": [k]} for k in ("status", "body", "err")]
    fault = _object(
        {
            "match": match,
            "delay": {
                "anyOf": [_ref("duration"), delay_object],
                "description": "Wait before sending; the plugin then answers.",
            },
            "respond": respond,
            "fault": {
                "enum": list(FAULT_KINDS),
                "description": "A connection-level failure.",
            },
            "jitter": _described(_ref("duration"), "Random extra delay (with delay)."),
            "rate": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "Bytes per second (fault: drip; default 10).",
            },
            "name": {"type": "string", "description": "Shown in reports."},
        },
        required=("match",),
        description="A match plus exactly one of delay, respond, fault.",
    )
    fault["oneOf"] = [{"required": [k]} for k in ("delay", "respond", "fault")]
    expect = _object(
        {
            "error": {
                "type": "string",
                "format": "regex",
                "description": "A regex the error text must match; without it the step "
                "must succeed.",
            },
            "result": {"type": "object", "description": "A subset of the result fields."},
            "duration": {
                **_object({"max": _ref("duration"), "min": _ref("duration")}),
                "minProperties": 1,
                "description": "Bounds on the step's engine time.",
            },
        },
        description="What the step must do.",
    )
    step_properties: dict[str, Any] = {
        "name": {"type": "string", "description": "Shown in reports."},
        "expect": expect,
    }
    for action in ACTIONS:
        step_properties[action] = _action_schema(action)
    step = _object(step_properties, description="One action key, optional name and expect.")
    step["oneOf"] = [{"required": [action]} for action in ACTIONS]
    return {
        "duration": duration,
        "scalar": scalar,
        "textMap": {"type": "object", "additionalProperties": scalar},
        "argv": {
            "anyOf": [
                {"type": "string", "description": "Split as a POSIX shell would."},
                {"type": "array", "items": scalar},
            ]
        },
        "expectCalls": expect_calls,
        "engine": engine,
        "plugin": plugin,
        "fault": fault,
        "step": step,
    }


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (a fresh dict each call)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "plugin-emulator scenario (format version 1)",
        "description": "What the emulated daemon does, what goes wrong and when, and what "
        "must be seen; see docs/scenario-format.md.",
        **_object(
            {
                "version": {"const": 1, "description": "The format version: 1."},
                "name": {"type": "string", "minLength": 1, "description": "Shown in reports."},
                "description": {"type": "string"},
                "engine": _or_null(_ref("engine")),
                "plugins": _or_null({"type": "array", "items": _ref("plugin")}),
                "faults": _or_null(
                    {"type": "array", "items": _ref("fault")}, "Faults active from the start."
                ),
                "steps": {"type": "array", "items": _ref("step"), "minItems": 1},
            },
            required=("version", "name", "steps"),
        ),
        "$defs": _defs(),
    }
