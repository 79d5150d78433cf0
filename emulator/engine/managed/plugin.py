"""One managed plugin as the manager holds it, and how it is kept on disk.

A :class:`ManagedPlugin` is the ``types.Plugin`` API object plus the engine's run-time
state (its process, client and references).  It is saved as dockerd saves a
``v2.Plugin``: ``DATA_ROOT/plugins/<id>/config.json``, written atomically with mode
0600 (settings may hold secrets), and read back by :func:`load_plugins` when a new
daemon starts on the data-root.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from emulator.discovery import PluginSpec
from emulator.engine.managed.blobs import PluginBlobs
from emulator.engine.plugins import Plugin as RegistryPlugin
from emulator.engine.scoped_fs import go_clean, remove_tree
from emulator.errors import ManagedPluginError, PluginLookupError
from emulator.golang import json as gojson
from emulator.golang.strconv import quote as go_quote
from emulator.protocol import plugin_config as pc
from emulator.protocol.activation import Manifest
from emulator.transport.client import PluginClient

if TYPE_CHECKING:
    from emulator.engine.managed.runtime import Supervisor
    from emulator.engine.processes import PluginProcess

__all__ = [
    "FULL_ID",
    "ManagedPlugin",
    "RunningPlugin",
    "RuntimeBind",
    "load_plugins",
    "plugin_filter",
    "save_plugin",
]

LOG = logging.getLogger("emulator.managed")

#: A full plugin ID: 64 lower-case hex digits.
FULL_ID = re.compile(r"^[a-f0-9]{64}$")


@attrs.frozen
class RuntimeBind:
    """A host path bound into a plugin's namespace by the daemon (``RegisterRuntimeOpt``).

    dockerd binds the metrics socket with ``bind,ro`` (moby/moby
    internal/metrics/plugin_unix.go, v28.5.2): a read-only bind still lets the
    plugin connect to a socket, but not replace or remove it.
    """

    source: Path
    destination: str
    read_only: bool = True


@attrs.frozen
class _Persisted:
    """``v2.Plugin`` as dockerd writes it to ``plugins/<id>/config.json``."""

    __go_name__ = "v2.Plugin"
    PluginObj: pc.Plugin = attrs.field(metadata={"json": {"name": "plugin"}})
    Rootfs: str = ""
    Config: str = ""
    Blobsums: list[str] | None = None
    Manifest: str = ""
    SwarmServiceID: str = ""


@attrs.frozen
class RunningPlugin:
    """A managed plugin as ``runc list`` would show its container, plus how to enter it.

    ``status`` is ``running``, ``paused`` (SIGSTOPped) or ``stopped``; ``cwd`` and
    ``env`` are the process's; ``private_namespace`` says whether it runs in its
    own mount namespace (enter it with ``nsenter --target PID --mount``).
    """

    id: str
    name: str
    pid: int | None
    status: str
    socket: str
    cwd: str
    env: dict[str, str]
    private_namespace: bool


class ManagedPlugin:
    """One managed plugin: its API object plus the engine's run-time state."""

    def __init__(
        self, obj: pc.Plugin, data_dir: Path, exec_dir: Path, blobs: PluginBlobs | None = None
    ) -> None:
        self.obj = obj
        self.data_dir = data_dir
        self.exec_dir = exec_dir
        self.blobs = blobs or PluginBlobs()
        """The config, layer and manifest digests in the blob store (``v2.Plugin``)."""
        self.refcount = 0
        """Explicit references (``Acquire``/``Release``) from networks and the like."""
        self.timeout = 0
        """The ``enable`` timeout, in seconds (dockerd: the plugin client's HTTP timeout)."""
        self.client: PluginClient | None = None
        self.supervisor: Supervisor | None = None
        """The process and its supervision while enabled (:mod:`.runtime`)."""
        self.private_run = False
        """True while its process runs in a mount namespace where ``/run`` is its own."""
        self.runtime_binds: list[RuntimeBind] = []
        """Extra binds into its namespace (``RegisterRuntimeOpt``: the metrics socket)."""

    def runtime_dir(self, path: str) -> tuple[Path, str]:
        """A directory under ``/run`` as the plugin sees it: ``(host path, its name)``.

        The plugin's ``/run`` is ``DATA_ROOT/plugins/<id>/run`` (dockerd: inside the
        plugin's rootfs).  Without a private namespace the plugin runs in the host's
        and is given the host path instead."""
        inside = os.path.normpath("/" + path.lstrip("/"))
        host = self.data_dir / "run" / inside.removeprefix("/run").lstrip("/")
        return host, (inside if self.private_run else str(host))

    @property
    def process(self) -> PluginProcess | None:
        """The host process while enabled."""
        return self.supervisor.process if self.supervisor is not None else None

    @property
    def id(self) -> str:
        """The 64-hex ID."""
        return self.obj.ID

    @property
    def name(self) -> str:
        """The normalized ``repo:tag`` name."""
        return self.obj.Name

    @property
    def enabled(self) -> bool:
        """True once enable succeeded (until disable, or a failed restart)."""
        return self.obj.Enabled

    def set_enabled(self, enabled: bool) -> None:
        """``SetState``: the API object's ``Enabled`` (saving is the caller's choice)."""
        self.obj = attrs.evolve(self.obj, Enabled=enabled)

    @property
    def rootfs(self) -> Path:
        """``DATA_ROOT/plugins/<id>/rootfs``."""
        return self.data_dir / "rootfs"

    @property
    def socket_name(self) -> str:
        """``Socket``, kept inside the socket directory (``..`` stops at it).

        The plugin sees that directory as ``/run/docker/plugins``: a name that leaves
        it could not work in dockerd either, and the engine dials nothing else.
        """
        return go_clean("/" + self.obj.Config.Interface.Socket).lstrip("/")

    @property
    def socket_path(self) -> Path:
        """``ROOT/run/docker/plugins/<id>/<Socket>``: where the engine dials."""
        return self.exec_dir / self.socket_name

    def filter_by_cap(self, capability: str) -> bool:
        """``FilterByCap``: lower-cased capability, exact match, prefix ``docker``."""
        capability = capability.lower()
        return any(
            t.Capability == capability and t.Prefix == "docker" for t in self.obj.Config.types
        )

    def scoped_path(self, path: str) -> str:
        """``ScopedPath``: a path the plugin reported, as the host sees it."""
        propagated = self.obj.Config.PropagatedMount
        if propagated and path.startswith(propagated):
            rest = path[len(propagated) :]
            return os.path.normpath(f"{self.data_dir}/propagated-mount/{rest}")
        return os.path.normpath(f"{self.rootfs}/{path}")

    def registry_view(self, name: str, iface: str) -> RegistryPlugin:
        """``Store.Get``'s answer for an enabled plugin with ``iface``, as the v1 registry
        holds plugins; a disabled one or one without the capability is refused."""
        if not self.enabled or self.client is None:
            raise PluginLookupError(pc.disabled_text(name), name=name, http_status=409, cause=None)
        if not self.filter_by_cap(iface):
            raise PluginLookupError(
                f"plugin does not provide {go_quote(iface.lower())} capability",
                name=name,
                http_status=404,
                cause=None,
            )
        spec = PluginSpec(
            name=self.name,
            addr=f"unix://{self.socket_path}",
            tls=None,
            source=self.data_dir / "config.json",
            kind="socket",
        )
        view = RegistryPlugin(spec)
        view.manifest = Manifest(Implements=[t.Capability for t in self.obj.Config.types])
        view.client = self.client
        view.scoped_path = self.scoped_path
        view.runtime_dir = self.runtime_dir
        return view

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"<ManagedPlugin {self.name} {self.id[:12]} {state}>"


def save_plugin(plugin: ManagedPlugin) -> None:
    """Write ``plugins/<id>/config.json`` as dockerd does (atomically)."""
    blobs = plugin.blobs
    persisted = _Persisted(
        plugin.obj, str(plugin.rootfs), blobs.config, list(blobs.blobsums), blobs.manifest
    )
    data = gojson.encode(persisted)
    path = plugin.data_dir / "config.json"
    tmp = path.with_name(".config.json.tmp")
    # dockerd's atomicwriter.WriteFile(..., 0o600): settings may hold secrets
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_plugins(root: Path, exec_root: Path) -> dict[str, ManagedPlugin]:
    """The plugins saved under ``root`` (``DATA_ROOT/plugins``), by ID.

    What a crash left half done is removed first: unfinished uploads (``tmp``) and
    removals (``<id>-removing``).  A plugin whose ``config.json`` cannot be read is
    logged and skipped.
    """
    found: dict[str, ManagedPlugin] = {}
    if not root.is_dir():
        return found
    root.chmod(0o700)  # dockerd's plugin root (plugin/manager.go NewManager)
    remove_tree(root / "tmp")  # uploads a crash left half unpacked
    for entry in sorted(root.iterdir()):
        if entry.name.endswith("-removing") and FULL_ID.match(entry.name[: -len("-removing")]):
            remove_tree(entry)
            continue
        if not FULL_ID.match(entry.name):
            continue
        try:
            saved = gojson.unmarshal_into((entry / "config.json").read_bytes(), _Persisted)
        except (OSError, gojson.GoJSONError) as exc:
            LOG.error("failed to load plugin %s: %s", entry.name, exc)
            continue
        blobs = PluginBlobs(saved.Config, tuple(saved.Blobsums or ()), saved.Manifest)
        found[entry.name] = ManagedPlugin(saved.PluginObj, entry, exec_root / entry.name, blobs)
    return found


def plugin_filter(filters: Mapping[str, Sequence[str]]) -> Callable[[ManagedPlugin], bool]:
    """``GET /plugins``' filters as a test: ``enabled`` (a bool), ``capability`` (regexps).

    Unknown keys and bad ``enabled`` values are refused with dockerd's texts (400).
    """
    lists = {k: list(v) for k, v in filters.items()}
    for key in lists:
        if key not in ("enabled", "capability"):
            raise ManagedPluginError(f"invalid filter '{key}'", http_status=400)
    enabled_only = disabled_only = False
    if "enabled" in lists:
        values = set(lists["enabled"])
        if not values:
            raise ManagedPluginError("invalid filter 'enabled'", http_status=400)
        is_false, is_true = bool(values & {"0", "false"}), bool(values & {"1", "true"})
        if is_false == is_true:
            shown = " ".join(sorted(values))
            raise ManagedPluginError(f"invalid filter 'enabled=[{shown}]'", http_status=400)
        enabled_only, disabled_only = is_true, is_false
    capabilities = lists.get("capability")

    def wanted(plugin: ManagedPlugin) -> bool:
        if (enabled_only and not plugin.enabled) or (disabled_only and plugin.enabled):
            return False
        return capabilities is None or all(
            _filter_match(capabilities, t.Capability) for t in plugin.obj.Config.types
        )

    return wanted


def _filter_match(values: Sequence[str], source: str) -> bool:
    """``filters.Args.Match``: exact, else any value as an unanchored regexp."""
    if source in values:
        return True
    for value in values:
        with contextlib.suppress(re.error):
            if re.search(value, source):
                return True
    return False
