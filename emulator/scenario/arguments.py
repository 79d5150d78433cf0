"""The arguments of the scenario actions that take a plain mapping (``volume.create``,
``container.run`` …): one table, :data:`ARGUMENTS`, read by the loader and turned into the
JSON Schema."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final

import attrs
from yaml.nodes import Node, ScalarNode

from emulator.scenario.model import ACTIONS, EngineRestart
from emulator.vocabulary.kinds import (
    Argv,
    Bool,
    Duration,
    Filters,
    Int,
    JsonObject,
    Kind,
    PluginRef,
    SchemaContext,
    Str,
    TextMap,
    Words,
    described,
)
from emulator.vocabulary.nodes import kind_of, quote
from emulator.vocabulary.reader import Reader
from emulator.vocabulary.shapes import Field, Shape

__all__ = ["ACTION_HELP", "ARGUMENTS", "Argument", "Arguments"]


@attrs.frozen
class Argument:
    """One key of a step action's arguments.

    ``kind`` says how the value is read: ``string`` (a YAML string), ``bool``, ``duration``,
    ``argv`` (a list of words, or one string split like a shell), ``words`` (a list of
    scalars, taken as written), ``textmap`` (a mapping of names to scalars, taken as
    written), ``filters`` (a mapping of names to one scalar or a list), ``exit_code``
    (an integer 0…255), ``plugin`` (the name of a declared plugin) or ``json`` (a
    mapping of free-form data).
    """

    key: str
    kind: str
    required: bool = False
    description: str = ""


_ARGUMENT_KINDS: Final[dict[str, Kind]] = {
    "string": Str(),
    "bool": Bool(),
    "duration": Duration(),
    "argv": Argv(),
    "words": Words(),
    "textmap": TextMap(),
    "filters": Filters(),
    "exit_code": Int(0, 255),
    "count": Int(0, 1 << 31),
    "plugin": PluginRef(),
    "json": JsonObject(),
}


def _container_args(*, detach: bool) -> tuple[Argument, ...]:
    args = [
        Argument("name", "string", description="Container name (random if not given)."),
        Argument("image", "string", description="Image name; nothing is pulled."),
        Argument("command", "argv", description="Command: a list, or a string split as a shell."),
        Argument("volumes", "words", description="-v specs: 'v1:/data', '/data', 'v1:/d:ro'."),
        Argument("volume_driver", "string", description="--volume-driver."),
        Argument("rm", "bool", description="--rm."),
        Argument("detach", "bool", description="-d: do not wait for the exit."),
        Argument("exit_code", "exit_code", description="Exit status of the fake process."),
        Argument("runs_for", "duration", description="How long the fake process runs."),
        Argument("networks", "words", description="--network: networks joined at start."),
        Argument("env", "words", description="-e NAME=VALUE (a real process's environment)."),
        Argument("workdir", "string", description="-w: the working directory."),
        Argument("user", "string", description="-u: user[:group] in the container."),
        Argument("log_driver", "string", description="--log-driver (a plugin's name works)."),
        Argument("log_opts", "textmap", description="--log-opt KEY=VALUE."),
    ]
    return tuple(a for a in args if detach or a.key != "detach")


_NAME: Final = Argument("name", "string", required=True)
_PLUGIN: Final = Argument("name", "plugin", required=True, description="A declared plugin.")
_NETWORK_CONTAINER: Final = (
    Argument("network", "string", required=True, description="Network name or ID."),
    Argument("container", "string", required=True, description="Container name or ID."),
)

ARGUMENTS: Final[dict[str, tuple[Argument, ...]]] = {
    "volume.create": (
        _NAME,
        Argument("driver", "string", description="Volume driver (default local)."),
        Argument("opts", "textmap", description="Driver options (-o)."),
        Argument("labels", "textmap", description="Labels."),
    ),
    "volume.inspect": (_NAME,),
    "volume.ls": (Argument("filters", "filters", description="--filter: name → value(s)."),),
    "volume.rm": (_NAME, Argument("force", "bool")),
    "volume.prune": (Argument("all", "bool", description="Also named volumes (--all)."),),
    "network.create": (
        _NAME,
        Argument("driver", "string", description="Network driver (-d; default bridge)."),
        Argument("ipam_driver", "string", description="--ipam-driver (default: default)."),
        Argument("subnet", "string", description="--subnet (CIDR)."),
        Argument("gateway", "string", description="--gateway."),
        Argument("ip_range", "string", description="--ip-range (CIDR inside the subnet)."),
        Argument("options", "textmap", description="Driver options (-o)."),
        Argument("labels", "textmap", description="Labels."),
        Argument("internal", "bool", description="--internal."),
    ),
    "network.rm": (_NAME,),
    "network.connect": _NETWORK_CONTAINER,
    "network.disconnect": _NETWORK_CONTAINER,
    "container.run": _container_args(detach=True),
    "container.create": _container_args(detach=False),
    "container.start": (_NAME,),
    "container.stop": (_NAME,),
    "container.kill": (_NAME,),
    "container.rm": (
        _NAME,
        Argument("force", "bool"),
        Argument("volumes", "bool", description="-v: remove anonymous volumes."),
    ),
    "container.cp": (
        _NAME,
        Argument("path", "string", required=True, description="Path in the container."),
        Argument("host_path", "string", required=True, description="Path on the host."),
        Argument("into", "bool", description="Copy from the host into the container."),
    ),
    "container.exec": (
        _NAME,
        Argument("command", "argv", required=True, description="The command to run."),
        Argument("env", "words", description="-e NAME=VALUE."),
        Argument("user", "string", description="-u."),
        Argument("workdir", "string", description="-w."),
        Argument("stdin", "string", description="Given to the command's stdin, then its end."),
    ),
    "container.logs": (
        _NAME,
        Argument("stdout", "bool", description="Show stdout (default true)."),
        Argument("stderr", "bool", description="Show stderr (default true)."),
        Argument("tail", "count", description="--tail: the last N lines."),
    ),
    "plugin.kill": (_PLUGIN,),
    "plugin.stop": (_PLUGIN,),
    "plugin.continue": (_PLUGIN,),
    "plugin.restart": (_PLUGIN,),
    "plugin.remove_socket": (_PLUGIN,),
    "plugin.start": (_PLUGIN,),
    "plugin.stall": (_PLUGIN,),
    "plugin.resume": (_PLUGIN,),
    "expect.logs": (
        Argument("container", "string", required=True, description="Container name or ID."),
        Argument("lines", "words", required=True, description="The lines, in order."),
        Argument("source", "string", description="Only this stream's: stdout or stderr."),
    ),
    "engine.restart": (Argument("crash", "bool", description="Containers die, no unmounts."),),
    "engine.crash": (),
    "api": (
        Argument("method", "string", required=True, description="GET, POST, ..."),
        Argument("path", "string", required=True, description="/v1.51/volumes?filters=..."),
        Argument("body", "json", description="Sent as JSON (Content-Type: application/json)."),
        Argument("headers", "textmap", description="More request headers."),
    ),
    "faults.clear": (),
}
"""The actions whose arguments are a plain mapping (the others — ``faults.add``, ``sleep``,
``parallel``, ``expect.calls``, ``expect.no_calls`` — have a shape of their own)."""

ACTION_HELP: Final[dict[str, str]] = {
    "volume.create": "docker volume create.",
    "volume.inspect": "docker volume inspect.",
    "volume.ls": "docker volume ls.",
    "volume.rm": "docker volume rm.",
    "volume.prune": "docker volume prune.",
    "network.create": "docker network create.",
    "network.rm": "docker network rm.",
    "network.connect": "docker network connect.",
    "network.disconnect": "docker network disconnect.",
    "container.run": "docker run (its command runs where the host allows it, docs/containers.md).",
    "container.create": "docker create.",
    "container.start": "docker start.",
    "container.stop": "docker stop.",
    "container.kill": "docker kill.",
    "container.rm": "docker rm.",
    "container.cp": "docker cp (mounts the container's volumes for the copy).",
    "container.exec": "docker exec in a running container; the result is its status and output.",
    "container.logs": "docker logs; the result's output is the lines, in order.",
    "plugin.kill": "SIGKILL a plugin (its socket stays, nobody answers).",
    "plugin.stop": "SIGSTOP a plugin: connections hang.",
    "plugin.continue": "SIGCONT a stopped plugin.",
    "plugin.restart": "Stop a plugin and start it again.",
    "plugin.remove_socket": "Remove a plugin's socket file.",
    "plugin.start": "Start a plugin (again).",
    "plugin.stall": "A builtin log plugin stops reading its FIFOs (the container blocks).",
    "plugin.resume": "A stalled builtin log plugin reads again.",
    "expect.logs": "These lines went to log plugins for the container (engine.logs.entries).",
    "engine.restart": "Restart the daemon; {crash: true} lets containers die without unmounts.",
    "engine.crash": "A restart in which containers die and nothing is unmounted.",
    "docker": "The real docker CLI against the engine: a list of arguments or a string.",
    "api": "One raw Engine API request; the result is its status, headers and body.",
    "faults.add": "Faults active from this step on.",
    "faults.clear": "Remove every fault.",
    "sleep": "Wait this much engine time.",
    "parallel": "Steps run concurrently.",
    "expect.calls": "These plugin calls happened, in this order (others may come between).",
    "expect.no_calls": "None of these plugin calls happened.",
}


def _arguments_shape(action: str) -> Shape:
    """The mapping form of an action's arguments, from :data:`ARGUMENTS`."""
    arguments = ARGUMENTS[action]
    defaults = {f.name: f.default for f in attrs.fields(ACTIONS[action])}
    required = [a.key for a in arguments if a.required]
    cls: Callable[..., Any] = ACTIONS[action]
    if action == "engine.crash":
        cls = functools.partial(EngineRestart, crash=True)
    shorthand = " (or the name as a string)" if required == ["name"] else ""
    return Shape(
        what=action,
        label=f"the arguments of {action}{shorthand}",
        items=tuple(
            Field(
                a.key,
                _ARGUMENT_KINDS[a.kind],
                a.description,
                required=a.required,
                label=action if a.kind == "plugin" else None,
                null="none" if defaults.get(a.key, attrs.NOTHING) is None else "kind",
            )
            for a in arguments
        ),
        build=lambda r, node, m, v: cls(**v),
    )


@attrs.frozen
class Arguments(Kind):
    """An action's arguments: a mapping, the name alone, or nothing (when none is needed)."""

    action: str

    @functools.cached_property
    def shape(self) -> Shape:
        return _arguments_shape(self.action)

    def read(self, r: Reader, node: Node, label: str) -> Any:
        shape = self.shape
        required = [f.key for f in shape.fields if f.required]
        if isinstance(node, ScalarNode) and kind_of(node) != "null" and required == ["name"]:
            name = shape.field("name")
            return shape.build(r, node, {}, {"name": name.kind.read(r, node, shape.label_of(name))})
        if kind_of(node) == "null":
            if required:
                r.fail(node, f"{self.action} is missing the required key {quote(required[0])}")
            return shape.build(r, node, {}, {})
        return shape.read(r, node)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        body = self.shape.object_schema(ctx)
        required = [f.key for f in self.shape.fields if f.required]
        help_text = ACTION_HELP[self.action]
        if required == ["name"]:
            string = {"type": "string", "description": "The name alone."}
            return {"anyOf": [body, string], "description": help_text}
        if not required:
            return {"anyOf": [body, {"type": "null"}], "description": help_text}
        return described(body, help_text)
