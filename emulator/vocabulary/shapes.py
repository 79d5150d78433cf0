"""Tables of mappings: a :class:`Shape` is a mapping's fields (each a key, a kind of value
and a description) and its rules (:class:`ExactlyOne`, :class:`Excludes` …), in the order
the reader applies them; the same objects give the mapping's JSON Schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import attrs
from yaml.nodes import Node

from emulator.vocabulary.kinds import Kind, SchemaContext, described, or_null
from emulator.vocabulary.nodes import kind_of, quote
from emulator.vocabulary.reader import Pairs, Reader

__all__ = [
    "AtLeastOne",
    "ExactlyOne",
    "Excludes",
    "Field",
    "Inline",
    "Requires",
    "RequiresValue",
    "Rule",
    "Shape",
    "merge_constraints",
]


@attrs.frozen
class Field:
    """One key of a :class:`Shape`.

    ``label`` names its value in errors (default ``'KEY' in WHAT``); ``null`` says what a
    null value is: an error (the kind decides), ``absent`` (as if the key were not
    there) or ``none`` (the value None).
    """

    key: str
    kind: Kind
    description: str = ""
    required: bool = False
    label: str | None = None
    null: Literal["kind", "absent", "none"] = "kind"

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        """The JSON Schema of this key's value."""
        base = self.kind.schema(ctx)
        if self.null != "kind":
            return or_null(base, self.description)
        return described(base, self.description)


class Rule:
    """A check over a mapping's keys, applied at its place among the fields."""

    def check(self, r: Reader, node: Node, m: Pairs, values: dict[str, Any]) -> None:
        """Fail if the mapping breaks the rule (``values``: the fields read so far)."""
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        """The same rule as JSON Schema keywords, merged into the mapping's schema."""
        raise NotImplementedError


def _message(template: str, values: dict[str, Any], **words: str) -> str:
    name = values.get("name")
    return template.format(name=quote(name) if isinstance(name, str) else "", **words)


@attrs.frozen
class ExactlyOne(Rule):
    """Exactly one of ``keys``: ``none`` names the error without any, ``two`` with two
    (templates: ``{a}``, ``{b}`` the two keys, ``{name}`` the mapping's name field)."""

    keys: tuple[str, ...]
    none: str
    two: str

    def check(self, r: Reader, node: Node, m: Pairs, values: dict[str, Any]) -> None:
        given = [k for k in self.keys if k in m]
        if not given:
            r.fail(node, _message(self.none, values))
        if len(given) > 1:
            words = {"a": quote(given[0]), "b": quote(given[1])}
            r.fail(m[given[1]][0], _message(self.two, values, **words))

    def schema(self) -> dict[str, Any]:
        return {"oneOf": [{"required": [k]} for k in self.keys]}


@attrs.frozen
class AtLeastOne(Rule):
    """At least one of ``keys``."""

    keys: tuple[str, ...]
    message: str

    def check(self, r: Reader, node: Node, m: Pairs, values: dict[str, Any]) -> None:
        if not any(k in m for k in self.keys):
            r.fail(node, self.message)

    def schema(self) -> dict[str, Any]:
        return {"anyOf": [{"required": [k]} for k in self.keys]}


@attrs.frozen
class Excludes(Rule):
    """``key`` and each of ``others`` exclude each other (the error is at the other)."""

    key: str
    others: tuple[str, ...]
    message: str

    def check(self, r: Reader, node: Node, m: Pairs, values: dict[str, Any]) -> None:
        if self.key not in m:
            return
        for other in self.others:
            if other in m:
                r.fail(m[other][0], self.message.format(other=quote(other)))

    def schema(self) -> dict[str, Any]:
        return {"allOf": [{"not": {"required": [self.key, o]}} for o in self.others]}


@attrs.frozen
class Requires(Rule):
    """``key`` goes only with ``owner``."""

    key: str
    owner: str
    message: str

    def check(self, r: Reader, node: Node, m: Pairs, values: dict[str, Any]) -> None:
        if self.key in m and self.owner not in m:
            r.fail(m[self.key][0], self.message)

    def schema(self) -> dict[str, Any]:
        return {"dependentRequired": {self.key: [self.owner]}}


@attrs.frozen
class RequiresValue(Rule):
    """``key`` goes only with ``owner: value`` (``owner`` must have been read before)."""

    key: str
    owner: str
    value: str
    message: str

    def check(self, r: Reader, node: Node, m: Pairs, values: dict[str, Any]) -> None:
        if self.key in m and values.get(self.owner) != self.value:
            r.fail(m[self.key][0], self.message)

    def schema(self) -> dict[str, Any]:
        return {
            "if": {"required": [self.key]},
            "then": {"required": [self.owner], "properties": {self.owner: {"const": self.value}}},
        }


@attrs.frozen
class Inline:
    """Another shape's keys taken at this level too (the flat form of a nested mapping):
    read with that shape's fields and rules into the value ``key``, when any is given."""

    key: str
    shape: Shape


Build = Callable[[Reader, Node, Pairs, dict[str, Any]], Any]


@attrs.frozen
class Shape(Kind):
    """A mapping with fixed keys: its fields and rules, in the order they are applied.

    ``what`` names it in errors (``unknown key 'x' in WHAT``); ``label``, if given, in
    "must be a mapping"; ``build`` makes the result from the values read (and may check
    what JSON Schema cannot say); ``define`` makes it a shared ``$defs`` entry; ``order``,
    if given, is the order messages and the schema list the keys in (else the items').
    """

    what: str
    items: tuple[Field | Rule | Inline, ...]
    build: Build
    label: str | None = None
    description: str = ""
    define: str | None = None
    order: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[Field, ...]:
        """Its own fields, in order."""
        return tuple(item for item in self.items if isinstance(item, Field))

    @property
    def inlined(self) -> tuple[Inline, ...]:
        """The shapes whose keys it takes too."""
        return tuple(item for item in self.items if isinstance(item, Inline))

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys it takes (its fields', then the inlined shapes')."""
        keys = tuple(f.key for f in self.fields) + tuple(
            key for inline in self.inlined for key in inline.shape.keys
        )
        if self.order:
            assert sorted(self.order) == sorted(keys), self.what
            return self.order
        return keys

    def field(self, key: str) -> Field:
        """The field of ``key``."""
        return next(f for f in self.fields if f.key == key)

    def label_of(self, field: Field) -> str:
        """How errors name a field's value."""
        return field.label or f"{quote(field.key)} in {self.what}"

    def read(self, r: Reader, node: Node, label: str = "") -> Any:
        required = [f.key for f in self.fields if f.required]
        m = r.mapping(node, self.what, self.keys, required=required, label=self.label or label)
        return self.read_pairs(r, node, m)

    def read_pairs(self, r: Reader, node: Node, m: Pairs) -> Any:
        """Apply fields and rules to a mapping whose keys are already checked."""
        values: dict[str, Any] = {}
        for item in self.items:
            if isinstance(item, Rule):
                item.check(r, node, m, values)
                continue
            if isinstance(item, Inline):
                given = {key: m[key] for key in item.shape.keys if key in m}
                if given:
                    values[item.key] = item.shape.read_pairs(r, node, given)
                continue
            if item.key not in m:
                continue
            value_node = m[item.key][1]
            if item.null != "kind" and kind_of(value_node) == "null":
                if item.null == "none":
                    values[item.key] = None
                continue
            values[item.key] = item.kind.read(r, value_node, self.label_of(item))
        return self.build(r, node, m, values)

    def schema(self, ctx: SchemaContext) -> dict[str, Any]:
        if self.define is not None:
            return ctx.ref(self.define, lambda: self.object_schema(ctx))
        return self.object_schema(ctx)

    def object_schema(self, ctx: SchemaContext) -> dict[str, Any]:
        """The mapping's schema, inline."""
        fields = {f.key: f for f in self.fields}
        rules = [item for item in self.items if isinstance(item, Rule)]
        for inline in self.inlined:
            fields.update({f.key: f for f in inline.shape.fields})
            rules += [item for item in inline.shape.items if isinstance(item, Rule)]
        properties = {key: fields[key].schema(ctx) for key in self.keys}
        result: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        required = [f.key for f in self.fields if f.required]
        if required:
            result["required"] = required
        if self.description:
            result["description"] = self.description
        constraints: list[dict[str, Any]] = []
        for rule in rules:
            keywords = rule.schema()
            if keywords:
                constraints.append(keywords)
        return merge_constraints(result, constraints)


def merge_constraints(schema: dict[str, Any], constraints: list[dict[str, Any]]) -> dict[str, Any]:
    """``schema`` with each constraint's keywords added; a constraint whose keywords are
    already there goes into ``allOf`` whole (``if``/``then`` stay together)."""
    all_of: list[dict[str, Any]] = list(schema.get("allOf", []))
    for keywords in constraints:
        if set(keywords) == {"allOf"}:
            all_of.extend(keywords["allOf"])
        elif any(key in schema for key in keywords):
            all_of.append(keywords)
        else:
            schema.update(keywords)
    if all_of:
        schema["allOf"] = all_of
    return schema
