"""A JSON Schema (draft 2020-12) of scenario files, for editors.

Point the YAML language server at it (``# yaml-language-server: $schema=scenario.json`` at
the top of a file, after ``plugin-emulator schema > scenario.json``) to get completion,
hover text and most errors while typing.  It is generated from the tables the loader
checks files against (:mod:`emulator.scenario.vocabulary`, :mod:`emulator.faults.vocabulary`),
so the two accept and reject the same documents, except for what a JSON Schema cannot say,
which only the loader checks: that a named plugin is declared and plugin names are unique,
that a regex compiles and a command string splits like a shell's, that ``until`` comes after
``from``, ``high`` is not below ``low`` and ``min`` not above ``max``; and YAML matters
(tags, anchors, duplicate keys, nesting depth).
"""

from __future__ import annotations

from typing import Any

from emulator.scenario.vocabulary import TOP
from emulator.vocabulary.kinds import SchemaContext

__all__ = ["LOADER_ONLY", "SCHEMA_ID", "scenario_json_schema"]

SCHEMA_ID = "https://docker-plugin-emulator.invalid/schemas/scenario-v1.json"
"""The schema's ``$id`` (a name, not a place to download it from)."""


LOADER_ONLY: tuple[str, ...] = (
    "which is not in 'plugins'",
    "duplicate plugin name",
    "is not a valid regular expression",
    "cannot be split into words",
    "must be later than 'from'",
    "'high' in delay must not be less than 'low'",
    "'min' in duration must not be more than 'max'",
)
"""The loader's messages for what the schema cannot check (besides YAML matters)."""


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (a fresh dict each call)."""
    ctx = SchemaContext()
    body = TOP.object_schema(ctx)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "plugin-emulator scenario (format version 1)",
        "description": "What the emulated daemon does, what goes wrong and when, and what "
        "must be seen; see docs/scenario-format.md.",
        **body,
        "$defs": ctx.defs,
    }
