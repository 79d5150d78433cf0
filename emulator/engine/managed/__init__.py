"""Managed (v2) plugins: dockerd's plugin manager, with a host process for the container.

``engine.managed_plugins`` is :class:`ManagedPlugins` (:mod:`.manager`).  The rest of
the package is what it uses, each in dockerd's terms:

* :mod:`.settings` -- ``docker plugin set`` rules;
* :mod:`.upload` and :mod:`.layers` -- a ``plugin create`` upload and a pulled layer
  unpacked into a rootfs;
* :mod:`.blobstore` and :mod:`.blobs` -- ``DATA_ROOT/plugins/storage``: configs, layers
  and manifests by digest, and which plugin refers to which;
* :mod:`.install`, :mod:`.remote`, :mod:`.registry_session`, :mod:`.registry_auth` --
  ``docker plugin install/upgrade/push`` against a registry;
* :mod:`.leftovers` -- processes a killed daemon left running;
* :mod:`.lint` -- ``plugin-emulator plugin lint``: a plugin directory checked against
  what the manager will do with it.
"""

from emulator.engine.managed.manager import ManagedPlugin, ManagedPlugins, RunningPlugin
from emulator.errors import ManagedPluginError

__all__ = ["ManagedPlugin", "ManagedPluginError", "ManagedPlugins", "RunningPlugin"]
