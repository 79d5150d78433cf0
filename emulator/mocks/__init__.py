"""Scriptable mock plugins for tests: a generic host and, later, built-in drivers."""

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
