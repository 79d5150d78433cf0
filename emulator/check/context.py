"""What a check's body works with: the engine, the plugin's name, and small helpers.

Every helper goes through the emulated daemon (``engine.volumes``, ``engine.containers``,
``engine.networks``, ``engine.plugins.call`` for a raw call) so the plugin sees dockerd's
bytes and order; what the plugin answered is read back from ``engine.journal``.  Resources a
check makes are named uniquely (:meth:`CheckContext.unique`) and removed after it
(:meth:`CheckContext.defer`), so checks do not see each other's leftovers.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import trio

from emulator.check.catalogue import PluginKind
from emulator.check.model import Skipped
from emulator.check.netns import NetworkNamespace
from emulator.engine.container_model import ContainerSpec
from emulator.engine.containers import Container
from emulator.engine.core import Engine
from emulator.engine.processes import PluginProcess
from emulator.errors import EngineError
from emulator.journal import JournalEntry

__all__ = ["CheckContext", "Exchange", "Settings"]

LOG = logging.getLogger("emulator.check")

#: Engine seconds the clean-up after a check may take.
CLEANUP_BUDGET = 300.0


@attrs.frozen
class Settings:
    """What the user told the check about the plugin (the same for every check)."""

    volume_opts: Mapping[str, str] | None = None
    """Options every volume a check creates gets (a plugin such as rclone needs some)."""
    parallel: int = 8
    """How many calls the concurrency checks make at once."""
    paths_visible: bool = True
    """Whether paths the plugin reports are paths of this host (not for managed plugins)."""
    netns: NetworkNamespace | None = None
    """The network namespace the plugin runs in, when the check started it in one."""
    netns_reason: str = ""
    """Why there is no namespace (for the checks that need one)."""
    managed: bool = False
    """Whether the plugin is a managed (v2) plugin (no ``Plugin.Activate``)."""
    process: PluginProcess | None = None
    """The plugin's process, when the check started it (a command): checks may crash
    and restart it."""


@attrs.frozen
class Exchange:
    """One raw call: the journal entry of its last attempt, the value, or dockerd's error."""

    entry: JournalEntry | None
    value: Any
    error: EngineError | None

    @property
    def ok(self) -> bool:
        """True when dockerd took the answer as a success."""
        return self.error is None

    @property
    def body(self) -> Any:
        """The answer decoded as JSON (None when absent or not JSON)."""
        return self.entry.response if self.entry is not None else None


class CheckContext:
    """The engine and plugin one check drives, with helpers; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        plugin: str,
        kind: PluginKind,
        settings: Settings,
        *,
        run_id: str,
        workdir: Path,
    ) -> None:
        self.engine = engine
        self.plugin = plugin
        self.kind = kind
        self.settings = settings
        self.run_id = run_id
        self.workdir = workdir
        self.mark = len(engine.journal)
        self._counter = 0
        self._cleanups: list[Callable[[], Awaitable[Any]]] = []

    # -- names and journal ---------------------------------------------------------------

    def unique(self, label: str) -> str:
        """A resource name no other check uses: ``pechk<run>-<label>-<n>``."""
        self._counter += 1
        return f"pechk{self.run_id}-{label}-{self._counter}"

    def calls(self, method: str | None = None) -> list[JournalEntry]:
        """Attempts made since the check started (``method`` without its interface works)."""
        entries = self.engine.journal.entries[self.mark :]
        if method is None:
            return list(entries)
        return [e for e in entries if e.method == method or e.method.endswith("." + method)]

    def last(self, method: str) -> JournalEntry | None:
        """The latest attempt of ``method`` since the check started."""
        found = self.calls(method)
        return found[-1] if found else None

    def method(self, name: str) -> str:
        """``Iface.Name`` for this plugin's kind."""
        return f"{self.kind.methods}.{name}"

    # -- raw calls -----------------------------------------------------------------------

    async def raw(self, name: str, args: object | None = None) -> Exchange:
        """Call ``Iface.name`` as dockerd's plugin client does (lookup, deadline, retries)."""
        method = self.method(name)
        before = len(self.engine.journal)
        value: Any = None
        error: EngineError | None = None
        try:
            plugin = await self.engine.plugins.get(self.plugin, self.kind.interface)
            assert plugin.client is not None
            deadline = self.engine.profile.deadline_for(method)
            value = await plugin.client.call_raw(method, args, timeout=deadline)
        except EngineError as exc:
            error = exc
        mine = [e for e in self.engine.journal.entries[before:] if e.method == method]
        return Exchange(mine[-1] if mine else None, value, error)

    # -- clean-up ------------------------------------------------------------------------

    def defer(self, cleanup: Callable[[], Awaitable[Any]]) -> None:
        """Run ``cleanup`` after the check (last deferred first); its errors are logged."""
        self._cleanups.append(cleanup)

    async def cleanup(self) -> None:
        """Run the deferred clean-ups, shielded, within :data:`CLEANUP_BUDGET` engine seconds."""
        with trio.CancelScope(shield=True), trio.move_on_after(CLEANUP_BUDGET):
            while self._cleanups:
                step = self._cleanups.pop()
                try:
                    await step()
                except Exception as exc:  # a clean-up failing must not hide the verdict
                    LOG.info("check clean-up step failed: %s", exc)

    # -- volumes and containers ----------------------------------------------------------

    def volume_opts(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The user's volume options plus ``extra``."""
        return {**(self.settings.volume_opts or {}), **(extra or {})}

    async def new_volume(self, label: str, *, name: str | None = None) -> str:
        """``docker volume create -d PLUGIN [-o ...] NAME``; removed after the check."""
        volume = name or self.unique(label)
        self.defer(lambda: self.engine.volumes.remove(volume, force=True))
        await self.engine.volumes.create(volume, driver=self.plugin, opts=self.volume_opts())
        return volume

    async def run_container(
        self, *, volumes: Sequence[str] = (), networks: Sequence[str] = ()
    ) -> Container:
        """``docker run -d`` with ``volumes`` / ``networks``; stopped and removed after."""
        name = self.unique("ctr")

        async def remove() -> None:
            with contextlib.suppress(EngineError):
                await self.engine.containers.remove(name, force=True)

        self.defer(remove)
        return await self.engine.containers.run(
            ContainerSpec(
                "busybox", ["top"], name=name, volumes=volumes, networks=networks, detach=True
            )
        )

    def require_netns(self) -> NetworkNamespace:
        """The plugin's network namespace, or :class:`Skipped` saying how to get one."""
        if self.settings.netns is None:
            raise Skipped(self.settings.netns_reason or "the plugin runs in no namespace of ours")
        return self.settings.netns


def random_mount_id() -> str:
    """A mount ID as dockerd makes them: 64 hex digits."""
    return secrets.token_hex(32)
