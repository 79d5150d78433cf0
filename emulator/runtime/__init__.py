"""Real container processes without a container runtime: namespaces, a busybox root, a plan.

What runs where (docs/containers.md tells users the same):

* The **engine** (this Python process) decides everything as data: the container's root
  (:mod:`~emulator.runtime.rootfs`: Debian's ``busybox-static`` plus ``/etc`` files,
  whatever image was named), its mount plan (:mod:`~emulator.runtime.mounts`: plugin
  volumes bound from the ``Mountpoint`` the plugin answered, local volumes, binds, tmpfs,
  ``/proc``, a minimal ``/dev``; every target resolved inside the root, never on the
  host), its process (:mod:`~emulator.runtime.spec`: ``-w``, ``-e``, ``-u``,
  ``--entrypoint``, capabilities), written as ``config.json`` in the container's
  directory, the way runc reads an OCI bundle.
* A **shim** per container: busybox ``unshare -p -f -m -u -i [-n]`` (static, about 1 MiB
  resident), which creates the namespaces, forks PID 1 and waits for it, exiting with
  its status.  util-linux's ``unshare --fork`` is not used: version 2.38 exits 1 instead
  of re-raising when its child was SIGKILLed, which would turn ``docker kill``'s 137
  into 1.
* **PID 1** starts as :mod:`emulator.runtime.init` (a stdlib-only interpreter run), which
  performs the plan (mounts, ``pivot_root``, masked paths, capabilities, user) and then
  ``execve``\\ s the command: no Python stays in a running container.
* The engine's :class:`~emulator.runtime.process.ContainerProcess` starts it, waits for
  its ``ready``, lets the network controller configure the network namespace (dockerd's
  ``libnetwork-setkey`` prestart hook; :mod:`~emulator.runtime.netns`), sends ``go``,
  copies its stdout/stderr to the container's streams and reaps it.

Where the kernel does not allow it (not root, or no namespaces), containers fall back to
the command table of :mod:`emulator.engine.lifecycle`; :mod:`~emulator.runtime.support`
says why, once.
"""
