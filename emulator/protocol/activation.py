"""The ``/Plugin.Activate`` handshake's wire model and dockerd's texts around it."""

from __future__ import annotations

from typing import Final

import attrs

from emulator.golang.strconv import quote as go_quote

#: ``Implements`` values dockerd's subsystems ask for (v1 plugins).
KNOWN_INTERFACES: Final = (
    "VolumeDriver",
    "NetworkDriver",
    "IpamDriver",
    "authz",
    "LogDriver",
    "MetricsCollector",
)

ACTIVATE: Final = "Plugin.Activate"


@attrs.frozen
class Manifest:
    """What a plugin answers to ``/Plugin.Activate`` (``pkg/plugins.Manifest``)."""

    __go_name__ = "plugins.Manifest"
    Implements: list[str] | None = None

    def implements(self, iface: str) -> bool:
        """Exact, case-sensitive match, as dockerd's ``Plugin.implements``."""
        return iface in (self.Implements or ())


def not_implemented_text(name: str, iface: str) -> str:
    """``ErrNotImplements`` wrapped with the plugin and interface (Go ``%q`` quoting)."""
    return (
        "Plugin does not implement the requested driver: "
        f"plugin={go_quote(name)}, requested implementation={go_quote(iface)}"
    )


def not_found_text(name: str) -> str:
    """``plugin.errNotFound``: what the API reports after the lookup retry gives up."""
    return f"plugin {go_quote(name)} not found"


def legacy_text(cause: str) -> str:
    """How ``plugin.Store.Get`` wraps any other v1 lookup or activation failure."""
    return f"legacy plugin: {cause}"


NO_NAME_TEXT: Final = "Unable to find plugin without name"

#: The name dockerd (v25+) gives a 2 s lookup budget instead of 30 s (``testNonExistingPlugin``).
TEST_NONEXISTENT_PLUGIN: Final = "this-plugin-does-not-exist"
