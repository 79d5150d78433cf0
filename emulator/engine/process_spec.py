"""A plugin command to run, and how: what :class:`~emulator.engine.processes.PluginProcess`,
the fixtures' ``plugin_process`` and ``start_process`` take.

::

    plugin_process(ProcessSpec("myvol", ["./myvol", "--socket", "{socket}"]))
    plugin_process(ProcessSpec("rclone", argv, private_run=False, startup_timeout=60))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

__all__ = ["ProcessSpec"]


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _environment(values: Mapping[str, str] | None) -> dict[str, str]:
    return dict(values or {})


def _path(value: Path | str | None) -> Path | None:
    return None if value is None else Path(value)


@attrs.frozen
class ProcessSpec:
    """A plugin command and how to run it; ``name`` and ``argv`` by position, the rest by name.

    ``argv`` may contain ``{socket}``, ``{root}`` and ``{name}``, replaced when the
    process is made (other braces are left alone).  ``socket`` is where the plugin
    listens (None: where the engine looks for ``name``, ``ROOT/run/docker/plugins/
    NAME.sock``).  ``env`` is added to this process's environment (with
    ``inherit_env=False`` it is the whole environment, as a managed plugin gets it);
    ``cwd`` is its working directory.  ``startup_timeout`` and ``grace`` (SIGTERM to
    SIGKILL) are real seconds.  ``private_run`` runs the command in a mount namespace
    where only the socket directory is redirected under the root, and
    ``propagated_mount`` makes one host directory shared for the plugin's life (see
    :mod:`emulator.engine.private_run`).  ``log_output`` logs the output as dockerd logs
    a managed plugin's.
    """

    name: str
    argv: tuple[str, ...] = attrs.field(converter=_strings)
    socket: Path | None = attrs.field(default=None, converter=_path, kw_only=True)
    env: dict[str, str] = attrs.field(factory=dict, converter=_environment, kw_only=True)
    startup_timeout: float = attrs.field(default=30.0, kw_only=True)
    grace: float = attrs.field(default=5.0, kw_only=True)
    private_run: bool = attrs.field(default=True, kw_only=True)
    propagated_mount: Path | None = attrs.field(default=None, converter=_path, kw_only=True)
    cwd: Path | None = attrs.field(default=None, converter=_path, kw_only=True)
    inherit_env: bool = attrs.field(default=True, kw_only=True)
    log_output: bool = attrs.field(default=False, kw_only=True)
