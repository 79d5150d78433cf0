"""dockerd's ``filters.Args`` matching rules (moby/moby ``api/types/filters/parse.go``, v28.5.2).

``filters`` is the decoded ``filters`` query parameter: each key with its values.  A
key that is absent (or has no values) never filters anything out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = ["exact_match", "fuzzy_match", "match", "match_kv_list", "match_labels"]

Filters = Mapping[str, Sequence[str]]


def exact_match(filters: Filters, key: str, source: str) -> bool:
    """``ExactMatch``: ``source`` is one of the values."""
    values = filters.get(key)
    return not values or source in values


def fuzzy_match(filters: Filters, key: str, source: str) -> bool:
    """``FuzzyMatch``: a value equals ``source`` or is a prefix of it."""
    values = filters.get(key)
    return not values or any(source.startswith(value) for value in values)


def match(filters: Filters, key: str, source: str) -> bool:
    """``Match``: a value equals ``source`` or, as a regular expression, is found in it."""
    values = filters.get(key)
    if not values or source in values:
        return True
    for value in values:
        try:
            if re.search(value, source):
                return True
        except re.error:
            continue
    return False


def match_kv_list(filters: Filters, key: str, sources: Mapping[str, str] | None) -> bool:
    """``MatchKVList``: every ``k`` or ``k=v`` value is among ``sources``."""
    values = filters.get(key)
    if not values:
        return True
    if not sources:
        return False
    for value in values:
        name, sep, wanted = value.partition("=")
        if name not in sources or (sep and sources[name] != wanted):
            return False
    return True


def match_labels(filters: Filters, labels: Mapping[str, str] | None) -> bool:
    """The prune commands' ``matchLabels`` (daemon/prune.go): every ``label`` and not
    every ``label!``."""
    if not match_kv_list(filters, "label", labels):
        return False
    return not (filters.get("label!") and match_kv_list(filters, "label!", labels))
