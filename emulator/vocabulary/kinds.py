"""Kinds of values: each reads a node (``kind.read``) and says what it accepts as JSON
Schema (``kind.schema``), so the loader and the schema cannot disagree.

Mappings with fixed keys are :class:`~emulator.vocabulary.shapes.Shape` kinds.  What a JSON
Schema cannot say (that a named plugin is declared, that a regex compiles, that ``until``
comes after ``from``) the reader alone checks, in a few kinds and in the shapes' ``build``
functions, each of which says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from yaml.nodes import Node

from emulator.vocabulary.reader import DURATION_HELP, DURATION_PATTERN, METHOD_PATTERN, Reader

__all__ = [
    "GLOB_PATTERN",
    "Argv",
    "Bool",
    "CallPattern",
    "Choice",
    "Duration",
    "Filters",
    "Int",
    "JsonObject",
    "Kind",
    "ListOf",
    "Num",
    "PluginRef",
    "SchemaContext",
    "Str",
    "Text",
    "TextMap",
    "Words",
    "call_pattern_schema",
    "described",
    "duration_schema",
    "or_null",
    "scalar",
]

GLOB_PATTERN = r"^(?=.*[*?\[])(?:[A-Za-z0-9_.*?-]|\[!?[A-Za-z0-9_.-]+\])+$"
"""A glob of a method name, as the reader takes it (JSON Schema pattern)."""


class SchemaContext:
    """Collects the ``$defs`` of a schema while the tables are walked."""

    def __init__(self) -> None:
        self.defs: dict[str, dict[str, Any]] = {}

    def ref(self, name: str, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """A ``$ref`` to definition ``name``, made by ``make`` the first time."""
        if name not in self.defs:
            self.defs[name] = {}  # taken: a recursive definition refers to itself
            self.defs[name] = make()
        return {"$ref": f"#/$defs/{name}"}


def described(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """``schema`` with a description (when there is one)."""
    return {**schema, "description": description} if description else schema


def or_null(schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    """``schema`` or null."""
    return described({"anyOf": [schema, {"type": "null"}]}, description)


class Kind:
    """A kind of value: how the reader reads it and what JSON Schema says of it."""

    def read(self, r: Reader, node: Node, label: str) -> Any:
        """The value at ``node`` (``label`` names it in errors)."""
        raise NotImplementedError

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        """The JSON Schema of the values this kind accepts."""
        raise NotImplementedError


def scalar(ctx: SchemaContext) -> dict[str, Any]:
    """A string, number or boolean, taken as written."""
    return ctx.ref(
        "scalar",
        lambda: {"type": ["string", "number", "boolean"], "description": "Taken as written."},
    )


@attrs.frozen
class Str(Kind):
    """A YAML string (``nonempty``: at least one character)."""

    nonempty: bool = False

    def read(self, r: Reader, node: Node, label: str) -> str:
        return r.string(node, label, nonempty=self.nonempty)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return {"type": "string", "minLength": 1} if self.nonempty else {"type": "string"}


@attrs.frozen
class Bool(Kind):
    """``true`` or ``false``."""

    def read(self, r: Reader, node: Node, label: str) -> bool:
        return r.boolean(node, label)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return {"type": "boolean"}


def _bounded(kind: str, minimum: float | None, maximum: float | None) -> dict[str, Any]:
    """A JSON Schema number type with its bounds."""
    result: dict[str, Any] = {"type": kind}
    if minimum is not None:
        result["minimum"] = minimum
    if maximum is not None:
        result["maximum"] = maximum
    return result


@attrs.frozen
class Int(Kind):
    """A whole number within bounds."""

    minimum: int | None = None
    maximum: int | None = None

    def read(self, r: Reader, node: Node, label: str) -> int:
        return r.integer(node, label, minimum=self.minimum, maximum=self.maximum)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return _bounded("integer", self.minimum, self.maximum)


@attrs.frozen
class Num(Kind):
    """A finite number within bounds."""

    minimum: float | None = None
    maximum: float | None = None

    def read(self, r: Reader, node: Node, label: str) -> float:
        return r.number(node, label, minimum=self.minimum, maximum=self.maximum)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return _bounded("number", self.minimum, self.maximum)


@attrs.frozen
class Choice(Kind):
    """One of a few words."""

    values: tuple[str, ...]

    def read(self, r: Reader, node: Node, label: str) -> str:
        return r.choice(node, label, self.values)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return {"enum": list(self.values)}


def duration_schema(ctx: SchemaContext) -> dict[str, Any]:
    """The shared definition of a duration."""
    return ctx.ref(
        "duration",
        lambda: {
            "anyOf": [
                {"type": "number", "minimum": 0, "description": "Seconds."},
                {
                    "type": "string",
                    "pattern": DURATION_PATTERN,
                    "description": "A number with a unit: 500ms, 15s, 2m, 1h, 1m30s.",
                },
            ],
            "description": "A duration: seconds, or a string such as 500ms, 15s, 2m, 1h, 1m30s.",
        },
    )


@attrs.frozen
class Duration(Kind):
    """Seconds, or a string with units; ``nullable``: null (None) too."""

    nullable: bool = False

    def read(self, r: Reader, node: Node, label: str) -> float | None:
        if self.nullable:
            return r.optional_duration(node, label)
        return r.duration(node, label, expected=DURATION_HELP)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return or_null(duration_schema(ctx)) if self.nullable else duration_schema(ctx)


@attrs.frozen
class Text(Kind):
    """Any scalar but null, taken as written."""

    def read(self, r: Reader, node: Node, label: str) -> str:
        return r.text(node, label)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return scalar(ctx)


@attrs.frozen
class TextMap(Kind):
    """Names to scalars, taken as written (``env``, ``opts``, ``labels``)."""

    def read(self, r: Reader, node: Node, label: str) -> dict[str, str]:
        return r.text_map(node, label)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return ctx.ref("textMap", lambda: {"type": "object", "additionalProperties": scalar(ctx)})


@attrs.frozen
class Words(Kind):
    """A list of scalars, taken as written."""

    def read(self, r: Reader, node: Node, label: str) -> tuple[str, ...]:
        return r.words(node, label)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return {"type": "array", "items": scalar(ctx)}


@attrs.frozen
class Argv(Kind):
    """A command: a list of words, or a string split as a POSIX shell would.

    With ``empty`` (an error message), it must name a program.  (That a string splits at
    all, its quotes balanced, only the reader checks.)
    """

    empty: str | None = None

    def read(self, r: Reader, node: Node, label: str) -> tuple[str, ...]:
        argv = r.argv(node, label)
        if not argv and self.empty is not None:
            r.fail(node, self.empty.format(label=label))
        return argv

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        if self.empty is None:
            return ctx.ref(
                "argv",
                lambda: {
                    "anyOf": [
                        {"type": "string", "description": "Split as a POSIX shell would."},
                        {"type": "array", "items": scalar(ctx)},
                    ]
                },
            )
        return {
            "anyOf": [
                {"type": "string", "pattern": r"\S", "description": "Split as a shell would."},
                {"type": "array", "items": scalar(ctx), "minItems": 1},
            ]
        }


@attrs.frozen
class Filters(Kind):
    """Filter names to one scalar or a list of them."""

    def read(self, r: Reader, node: Node, label: str) -> dict[str, tuple[str, ...]]:
        return r.filters(node, label)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": {
                "anyOf": [scalar(ctx), {"type": "array", "items": scalar(ctx)}]
            },
        }


@attrs.frozen
class JsonObject(Kind):
    """A mapping of free-form data (request bodies, results)."""

    def read(self, r: Reader, node: Node, label: str) -> dict[str, Any]:
        return r.json_object(node, label)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return {"type": "object"}


@attrs.frozen
class PluginRef(Kind):
    """A plugin's name; in a scenario one it declares (only the reader checks that)."""

    def read(self, r: Reader, node: Node, label: str) -> str:
        return r.plugin_ref(node, label)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return {"type": "string"}


def call_pattern_schema() -> dict[str, Any]:
    """``Iface.Method`` or a glob of one, as a JSON Schema."""
    return {"type": "string", "anyOf": [{"pattern": METHOD_PATTERN}, {"pattern": GLOB_PATTERN}]}


@attrs.frozen
class CallPattern(Kind):
    """``Iface.Method`` (such as ``VolumeDriver.Mount``) or a shell-style glob of one."""

    def read(self, r: Reader, node: Node, label: str) -> str:
        return r.call_pattern(node, label)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        return call_pattern_schema()


@attrs.frozen
class ListOf(Kind):
    """A list of ``item`` values (``nonempty``: at least one)."""

    item: Kind
    nonempty: bool = False

    def read(self, r: Reader, node: Node, label: str) -> tuple[Any, ...]:
        items = r.sequence(node, label, nonempty=self.nonempty)
        return tuple(self.item.read(r, item, "") for item in items)  # items name themselves

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        result: dict[str, Any] = {"type": "array", "items": self.item.schema(ctx)}
        if self.nonempty:
            result["minItems"] = 1
        return result
