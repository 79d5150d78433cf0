"""The JSON fields of a wire model, as Go's ``typeFields`` and ``foldName`` see them.

A field may carry ``metadata={"json": {"name": "RequestUri", "omitempty": True}}``
(Go's ``json:"RequestUri,omitempty"``; name ``"-"`` skips the field); a field whose name
does not start with an upper-case letter is unexported in Go and skipped unless it carries
such metadata.  Two fields with one JSON name: a lone tagged one wins, else both are dropped.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import attrs

__all__ = ["FieldSpec", "fold", "struct_fields"]


@attrs.frozen
class FieldSpec:
    """One struct field as Go's ``typeFields`` sees it."""

    attr: str
    """The Python attribute (the Go field name)."""
    key: str
    """The JSON name."""
    omitempty: bool
    tagged: bool
    """The name came from a json tag."""
    type: Any


def _exported(name: str) -> bool:
    """Go's export rule: the name starts with an upper-case letter."""
    return name[:1].isupper()


_FIELDS: dict[type, tuple[FieldSpec, ...]] = {}


def struct_fields(cls: type) -> tuple[FieldSpec, ...]:
    """The JSON fields of an attrs wire model, in declaration order (cached)."""
    cached = _FIELDS.get(cls)
    if cached is None:
        cached = _FIELDS[cls] = tuple(_dominant(list(_declared_fields(cls))))
    return cached


def _declared_fields(cls: type) -> Iterable[FieldSpec]:
    """Every field Go's ``typeFields`` would see, before name clashes are settled."""
    attrs.resolve_types(cls)
    for field in attrs.fields(cls):
        options = field.metadata.get("json")
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"gojson: {cls.__name__}.{field.name}: json metadata must be a dict")
        options = options or {}
        key = options.get("name") or field.name
        if key == "-" or (not options and not _exported(field.name)):
            continue
        omit = bool(options.get("omitempty", False))
        yield FieldSpec(field.name, key, omit, "name" in options, field.type)


def _dominant(specs: list[FieldSpec]) -> Iterable[FieldSpec]:
    """Go's rule for clashing JSON names: a lone tagged field wins, else all are dropped."""
    for spec in specs:
        rivals = [other for other in specs if other.key == spec.key]
        if len(rivals) == 1:
            yield spec
        else:
            tagged = [other for other in rivals if other.tagged]
            if len(tagged) == 1 and tagged[0] is spec:
                yield spec


@functools.cache
def _fold_table() -> dict[str, str]:
    """Each non-ASCII cased character -> the smallest character of its case-folding set."""
    parent: dict[str, str] = {}

    def find(char: str) -> str:
        root = char
        while parent.get(root, root) != root:
            root = parent[root]
        parent[char] = root
        return root

    for code in range(0x1F000):  # ASCII too: U+212A KELVIN SIGN joins 'k' and 'K'
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        for mapped in (char.lower(), char.upper(), char.title(), char.casefold()):
            if len(mapped) == 1 and mapped != char:
                a, b = find(char), find(mapped)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return {char: find(char) for char in parent if not char.isascii()}


def fold(name: str) -> str:
    """Go's ``foldName``: names equal under it are equal under ``bytes.EqualFold``."""
    if name.isascii():
        return name.upper()
    table = _fold_table()
    return "".join(char.upper() if char.isascii() else table.get(char, char) for char in name)
