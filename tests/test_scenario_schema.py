"""The JSON Schema is generated from the loader's tables: the two accept and reject the
same documents, except for the checks only the loader can make (LOADER_ONLY)."""

from __future__ import annotations

import math
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from emulator.scenario import ScenarioError, load_scenario_text, scenario_json_schema
from emulator.scenario.schema import LOADER_ONLY
from emulator.vocabulary.nodes import compose
from emulator.vocabulary.reader import Reader
from tests.scenario_documents import SCENARIOS
from tests.test_scenario_loader import ERRORS

VALIDATOR = jsonschema.Draft202012Validator(scenario_json_schema())


def loader_verdict(text: str) -> str:
    """The loader's message for ``text``, or "" when it takes the document."""
    try:
        load_scenario_text(text, filename="x.yaml")
    except ScenarioError as error:
        return error.message
    return ""


def loader_only(message: str) -> bool:
    return any(fragment in message for fragment in LOADER_ONLY)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(SCENARIOS)
def test_schema_and_loader_accept_and_reject_the_same_documents(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, sort_keys=False)
    message = loader_verdict(text)
    schema_takes = VALIDATOR.is_valid(yaml.safe_load(text))
    if not message:
        assert schema_takes, "the loader took a document the schema refuses"
    elif not loader_only(message):
        assert not schema_takes, f"the schema took a document the loader refuses: {message}"


def _as_the_loader_reads_it(text: str) -> Any:
    """The document's data as the loader sees it (YAML 1.1's yes/no and dates are
    strings), or None for a document that is not YAML the loader reads or not JSON data."""
    try:
        root = compose(text, "x.yaml")
        reader = Reader("x.yaml")
        if root is None:
            return None
        reader.check_graph(root)
        data = reader.plain(root)
    except ScenarioError:
        return None
    return data if _is_json(data) else None


def _is_json(data: Any) -> bool:
    """Whether JSON can hold ``data`` (YAML's .inf and .nan it cannot)."""
    if isinstance(data, dict):
        return all(_is_json(v) for v in data.values())
    if isinstance(data, list):
        return all(_is_json(v) for v in data)
    return not isinstance(data, float) or math.isfinite(data)


SCHEMA_CHECKABLE = [
    (data, message)
    for text, message in ERRORS
    if (data := _as_the_loader_reads_it(text)) is not None and not loader_only(message)
]
"""The loader's error cases that are neither about YAML itself nor loader-only."""


def test_most_error_cases_are_schema_checkable() -> None:
    assert len(SCHEMA_CHECKABLE) > len(ERRORS) * 3 // 4


@pytest.mark.parametrize(("data", "message"), SCHEMA_CHECKABLE)
def test_every_document_the_loader_refuses_the_schema_refuses(data: Any, message: str) -> None:
    """Each of the loader's error cases, unless it is about YAML itself or one of the
    loader-only checks, is refused by the schema too."""
    assert not VALIDATOR.is_valid(data), message
