"""The emulated daemon: dockerd's services as trio objects, and the few places they touch the OS.

The services (:mod:`.volumes`, :mod:`.containers`, :mod:`.networks`, :mod:`.plugins`,
:mod:`.managed`, :mod:`.authz`) are state machines: they keep dockerd's state, decide
what dockerd decides and call plugins through :mod:`emulator.transport`, so a test
drives them without any server (:func:`emulator.open_engine`).  They are not free of
I/O, and each kind of I/O has one home:

* the state database, SQLite in the data-root (synchronous, one short transaction per
  change): :mod:`.database` only;
* processes (plugin commands, managed plugins' entrypoints, ``unshare``/``mount`` for
  their namespaces): started by :mod:`.processes` and :mod:`.private_run`, reached
  through :class:`~.processes.PluginProcess`; signalled and read from ``/proc`` by
  :mod:`.process_table` and, for what a killed daemon left, :mod:`.managed.leftovers`;
* containers' own processes (their root, mounts, namespaces and interfaces): built by
  :mod:`emulator.runtime`, decided and started by :mod:`.container_runtime`, supervised
  by :mod:`.container_processes` (docs/containers.md);
* files in the data-root (the ``local`` volume driver, containers' root directories,
  the managed-plugin store) and ``docker cp``'s archives, the latter in worker threads
  under :func:`emulator.clock.real_io`: :mod:`.volume_drivers`, :mod:`.scoped_fs`,
  :mod:`.container_archive`, :mod:`.unpack`, :mod:`.managed`;
* time: only trio's clock (a test's virtual clock runs them all).

docs/architecture.md shows the layers and how a call flows through them.
"""
