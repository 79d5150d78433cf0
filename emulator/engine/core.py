"""The engine: one emulated dockerd, with its plugin registry and call journal."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from emulator.discovery import LocalRegistry, PluginPaths
from emulator.engine.plugins import PluginRegistry
from emulator.journal import Journal
from emulator.protocol.profiles import EngineProfile, get_profile
from emulator.transport.client import DEFAULT_BODY_LIMIT


class Engine:
    """An emulated dockerd.  Create it with :func:`open_engine`.

    Attributes: ``plugins`` (the v1 plugin registry), ``journal`` (every plugin call),
    ``profile`` (the dockerd version emulated), ``paths`` (where plugins are looked
    for), ``data_root`` (the engine's state directory).
    """

    def __init__(
        self,
        *,
        paths: PluginPaths,
        data_root: Path,
        profile: EngineProfile,
        nursery: trio.Nursery,
        hang_guard: float | None,
        body_limit: int,
        in_userns: bool,
    ) -> None:
        self.paths = paths
        self.data_root = data_root
        self.profile = profile
        self.journal = Journal()
        self.nursery = nursery
        discovery = LocalRegistry(
            paths, in_userns=in_userns and profile.userns_skips_unreadable_spec_dirs
        )
        self.plugins = PluginRegistry(
            discovery, profile, self.journal, hang_guard=hang_guard, body_limit=body_limit
        )

    async def aclose(self) -> None:
        """Close every connection the engine holds."""
        await self.plugins.aclose()


@asynccontextmanager
async def open_engine(
    root: str | os.PathLike[str] = "/",
    data_root: str | os.PathLike[str] | None = None,
    profile: str | EngineProfile = "28",
    *,
    hang_guard: float | None = 300.0,
    body_limit: int = DEFAULT_BODY_LIMIT,
    in_userns: bool = False,
) -> AsyncIterator[Engine]:
    """Run an emulated dockerd for the duration of the ``async with`` block (trio).

    ``root`` relocates every path the daemon uses: plugins are looked for under
    ``ROOT/run/docker/plugins``, ``ROOT/etc/docker/plugins`` and
    ``ROOT/usr/lib/docker/plugins``.  ``data_root`` is the engine's state directory
    (default ``ROOT/var/lib/docker``).  ``profile`` picks the dockerd version ("24" …
    "28").  ``hang_guard`` bounds, in engine seconds, the calls dockerd itself would
    wait on forever (``Plugin.Activate`` and other calls without a deadline); None
    waits forever like dockerd.  ``body_limit`` caps plugin answers (dockerd has none).
    ``in_userns`` says to behave as a dockerd running in a user namespace.

    Every task the engine starts belongs to it and ends with the block.
    """
    root_path = Path(root)
    paths = PluginPaths.under(root_path)
    state = Path(data_root) if data_root is not None else root_path / "var/lib/docker"
    async with trio.open_nursery() as nursery:
        engine = Engine(
            paths=paths,
            data_root=state,
            profile=get_profile(profile),
            nursery=nursery,
            hang_guard=hang_guard,
            body_limit=body_limit,
            in_userns=in_userns,
        )
        try:
            yield engine
        finally:
            with trio.CancelScope(shield=True):
                await engine.aclose()
            nursery.cancel_scope.cancel()
