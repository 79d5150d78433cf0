"""Installing, upgrading and pushing managed plugins: dockerd's rules around the registry.

:class:`PluginInstaller` is what ``engine.managed_plugins.pull/upgrade/push/
remote_privileges`` run.  It mirrors moby v28.5.2 ``plugin/backend_linux.go``
(``Pull``, ``Upgrade``, ``Push``, ``Privileges``) and ``plugin/manager_linux.go``
(``createPlugin``, ``upgradePlugin``, ``setupNewPlugin``); the registry traffic is
:class:`~emulator.engine.managed.remote.RegistryAccess`'s.

Order of checks in a pull, as dockerd: the local name (``failed to parse "N"``,
400), taken (``plugin N already exists``, 400), then the fetch into
``DATA_ROOT/plugins/tmp/.rootfsXXXX`` (an unknown tag is ``error resolving plugin
reference: …: not found``, 404), a ``pull`` event, the config and the privileges
(``incorrect privileges``), then the new plugin (disabled, settings from the
config, ``PluginReference`` the full remote reference).

Upgrades keep ID, name and settings; the old rootfs is ``rootfs-old`` until the
new one is in place.  As in dockerd, the config digest, the blobsums and
``PluginReference`` change in memory after the plugin was saved (a restart shows
the old reference), and there is no check that the remote is the same repository.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from emulator.engine.managed.blobs import (
    PluginBlobs,
    PluginBlobsError,
    manifest_descriptor,
    setup_new_plugin,
)
from emulator.engine.managed.remote import Fetched, FetchFailed, RemoteOptions
from emulator.errors import ManagedPluginError
from emulator.protocol import distribution as dist
from emulator.protocol import jsonmessage as jm
from emulator.protocol import plugin_config as pc
from emulator.protocol import reference as refs

if TYPE_CHECKING:
    from emulator.engine.managed import ManagedPlugins

__all__ = ["PluginInstaller"]

LOG = logging.getLogger("emulator.managed")

Progress = Callable[[jm.Progress], None]


class PluginInstaller:
    """The registry-facing half of one :class:`~emulator.engine.managed.ManagedPlugins`."""

    def __init__(self, manager: ManagedPlugins) -> None:
        self._manager = manager

    def _error(self, text: str, status: int = 500) -> ManagedPluginError:
        return ManagedPluginError(text, http_status=status)

    async def privileges(
        self, remote: str, options: RemoteOptions
    ) -> list[pc.PluginPrivilege] | None:
        """``Manager.Privileges`` of a remote reference."""
        ref, _ = self._remote_ref(remote)
        try:
            return await self._manager.registry.privileges(ref, options)
        except FetchFailed as exc:
            raise self._error(str(exc)) from None

    async def pull(
        self,
        remote: str,
        name: str,
        privileges: Sequence[pc.PluginPrivilege] | None,
        options: RemoteOptions,
        out: Progress,
    ) -> str:
        """``Manager.Pull`` + ``createPlugin``: returns the new plugin's name."""
        ref, tag = self._remote_ref(remote)
        name = self._local_name(ref, tag, name)
        try:
            name = refs.parse_normalized_named(name).tag_name_only().familiar_string()
        except refs.ReferenceError as exc:
            raise self._error(f'failed to parse "{name}": {exc}', 400) from None
        if self._manager.name_in_use(name):
            raise self._error(pc.exists_text(name), 400)
        with self._tmp_rootfs() as rootfs:
            fetched = await self._fetch(ref, options, out, rootfs)
            self._manager.log_event(ref.familiar_string(), name, "pull")
            if self._manager.name_in_use(name):
                raise self._error(pc.exists_text(name), 400)
            config = self._new_config(fetched, privileges)
            obj = pc.Plugin(
                Config=config,
                Name=name,
                PluginReference=ref.string(),
                Settings=pc.initial_settings(config),
            )
            blobs = PluginBlobs(fetched.config, fetched.blobs, fetched.manifest)
            plugin = self._manager.add(obj, rootfs, blobs)
        LOG.info("plugin %s pulled from %s with ID %s", name, ref.string(), plugin.id)
        return name

    async def upgrade(
        self,
        ref: str,
        remote: str,
        privileges: Sequence[pc.PluginPrivilege] | None,
        options: RemoteOptions,
        out: Progress,
    ) -> None:
        """``Manager.Upgrade`` + ``upgradePlugin``."""
        plugin = self._manager.resolve(ref)
        if plugin.enabled:
            raise self._error(
                f"plugin must be disabled before upgrading: {pc.enabled_text(plugin.name)}", 409
            )
        remote_ref, _ = self._remote_ref(remote)
        with self._tmp_rootfs() as rootfs:
            fetched = await self._fetch(remote_ref, options, out, rootfs)
            self._manager.log_event(remote_ref.familiar_string(), ref, "pull")
            config = self._new_config(fetched, privileges)
            backup = plugin.rootfs.with_name("rootfs-old")
            plugin.rootfs.rename(backup)
            try:
                rootfs.rename(plugin.rootfs)
                plugin.obj = attrs.evolve(plugin.obj, Config=config)
                plugin.blobs = attrs.evolve(plugin.blobs, manifest=fetched.manifest)
                self._manager.save(plugin)
            except BaseException:
                shutil.rmtree(plugin.rootfs, ignore_errors=True)
                backup.rename(plugin.rootfs)
                raise
        shutil.rmtree(backup, ignore_errors=True)
        plugin.blobs = attrs.evolve(plugin.blobs, config=fetched.config, blobsums=fetched.blobs)
        plugin.obj = attrs.evolve(plugin.obj, PluginReference=remote_ref.string())
        LOG.info("plugin %s upgraded to %s", plugin.name, remote_ref.string())

    async def push(self, ref: str, options: RemoteOptions, out: Progress) -> dist.Descriptor:
        """``Manager.Push``: the manifest (stored or rebuilt), then the registry traffic."""
        plugin = self._manager.resolve(ref)
        try:
            name_ref = refs.parse_normalized_named(plugin.name)
        except refs.ReferenceError as exc:
            raise self._error(f"plugin has invalid name {plugin.name} for push: {exc}") from None
        try:
            manifest = manifest_descriptor(self._manager.blobs, plugin.blobs)
        except PluginBlobsError as exc:
            raise self._error(f"error reading plugin manifest: {exc}") from None
        try:
            await self._manager.registry.push(name_ref, manifest, options, out)
        except FetchFailed as exc:
            raise self._error(str(exc)) from None
        return manifest

    # -- helpers ---------------------------------------------------------------------------

    def _remote_ref(self, remote: str) -> tuple[refs.Reference, str]:
        """``parseRemoteRef``; its errors are the reference package's (500)."""
        try:
            return refs.parse_remote_ref(remote)
        except refs.ReferenceError as exc:
            raise self._error(str(exc)) from None

    def _local_name(self, ref: refs.Reference, tag: str, name: str) -> str:
        """``getName``; its errors are 500."""
        try:
            return refs.local_name(ref, tag, name)
        except refs.ReferenceError as exc:
            raise self._error(str(exc)) from None

    @contextlib.contextmanager
    def _tmp_rootfs(self) -> Iterator[Path]:
        """``os.MkdirTemp(<root>/plugins/tmp, ".rootfs")``, removed unless moved."""
        tmp = self._manager.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        rootfs = Path(tempfile.mkdtemp(prefix=".rootfs", dir=tmp))
        try:
            yield rootfs
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)

    async def _fetch(
        self, ref: refs.Reference, options: RemoteOptions, out: Progress, rootfs: Path
    ) -> Fetched:
        """``pm.fetch`` with the pull handlers, then ``validateFetchedMetadata``."""
        try:
            fetched = await self._manager.registry.fetch(ref, options, out, rootfs=rootfs)
        except FetchFailed as exc:
            raise self._error(str(exc), 404 if exc.not_found else 500) from None
        if not fetched.config:
            raise self._error("fetched plugin image but plugin config is missing")
        if not fetched.manifest:
            raise self._error("fetched plugin image but manifest is missing")
        return fetched

    def _new_config(
        self, fetched: Fetched, privileges: Sequence[pc.PluginPrivilege] | None
    ) -> pc.PluginConfig:
        try:
            return setup_new_plugin(self._manager.blobs, fetched.config, privileges)
        except PluginBlobsError as exc:
            raise self._error(str(exc)) from None
