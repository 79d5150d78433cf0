"""Scriptable mock plugins for tests: a generic host and the built-in drivers.

The names below are imported on first use (PEP 562): importing one mock does not load
the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.mocks.authz import AuthzAsked, AuthzRule, MockAuthzPlugin
    from emulator.mocks.host import (
        PLUGIN_CONTENT_TYPE,
        BindError,
        Handler,
        MockPlugin,
        RecordedRequest,
        Reply,
    )
    from emulator.mocks.volume import MockVolumePlugin, VolumeState

#: Where each public name is defined.
_HOMES = {
    "AuthzAsked": "emulator.mocks.authz_rules",
    "AuthzRule": "emulator.mocks.authz_rules",
    "MockAuthzPlugin": "emulator.mocks.authz",
    "PLUGIN_CONTENT_TYPE": "emulator.mocks.host",
    "BindError": "emulator.mocks.host",
    "Handler": "emulator.mocks.host",
    "MockPlugin": "emulator.mocks.host",
    "RecordedRequest": "emulator.mocks.host",
    "Reply": "emulator.mocks.host",
    "MockVolumePlugin": "emulator.mocks.volume",
    "VolumeState": "emulator.mocks.volume",
}

__all__ = [
    "PLUGIN_CONTENT_TYPE",
    "AuthzAsked",
    "AuthzRule",
    "BindError",
    "Handler",
    "MockAuthzPlugin",
    "MockPlugin",
    "MockVolumePlugin",
    "RecordedRequest",
    "Reply",
    "VolumeState",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'emulator.mocks' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
