"""PLUGIN, as ``plugin-emulator check`` takes it: what to check and how to reach it.

* a name under ``--root`` (a running plugin dockerd would discover there);
* a unix socket path (``/run/myplugin.sock``) or a spec URL (``unix://…``, ``tcp://…``):
  a running plugin, placed as a ``.spec`` file in a root of the check's own;
* a command (several words, or one quoted string with spaces), started as
  ``serve --plugin`` and scenarios start one (:class:`~emulator.engine.processes.PluginProcess`:
  ``{socket}``, ``{root}`` and ``{name}`` are replaced; it must listen on ``{socket}``);
* a managed plugin directory (``config.json`` and ``rootfs/``), created and enabled in the
  check's engine as ``docker plugin create`` and ``enable`` would.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from collections.abc import Sequence
from pathlib import Path

import attrs

__all__ = ["Target", "TargetError", "parse_target"]

_NAME_CHARS = re.compile(r"[^a-z0-9_.-]+")


class TargetError(ValueError):
    """PLUGIN names nothing the check can use (a usage error: exit 2)."""


@attrs.frozen
class Target:
    """What to check, as :func:`parse_target` understood PLUGIN."""

    mode: str
    """``name``, ``socket``, ``url``, ``command`` or ``managed``."""
    name: str
    """The plugin's name in the emulated daemon."""
    address: str = ""
    """For ``socket`` and ``url``: the spec file's content."""
    argv: tuple[str, ...] = ()
    """For ``command``: the command, placeholders unreplaced."""
    directory: Path | None = None
    """For ``managed``: the plugin directory."""
    root: Path | None = None
    """For ``name``: where the plugin is discovered."""

    def describe(self) -> str:
        """PLUGIN in a sentence, for reports."""
        if self.mode == "command":
            return f"{self.name} (started: {shlex.join(self.argv)})"
        if self.mode == "managed":
            return f"{self.name} (managed plugin from {self.directory})"
        if self.mode == "name":
            return f"{self.name} (under {self.root})"
        return f"{self.name} ({self.address})"


def _clean(name: str) -> str:
    cleaned = _NAME_CHARS.sub("-", name.lower()).strip("-.")
    return cleaned or "plugin"


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


def parse_target(
    words: Sequence[str], *, root: Path | None = None, name: str | None = None
) -> Target:
    """Understand PLUGIN (see the module docstring); :class:`TargetError` when it is unusable."""
    if not words:
        raise TargetError(
            "give PLUGIN: a name, a socket path, a spec URL, a command or a directory"
        )
    if len(words) == 1 and " " in words[0].strip():
        words = shlex.split(words[0])
    if len(words) > 1:
        return Target("command", _clean(name or Path(words[0]).name), argv=tuple(words))
    word = words[0]
    path = Path(word)
    if "://" in word:
        return Target("url", _clean(name or "plugin"), address=word)
    if path.is_dir() and (path / "config.json").is_file():
        return Target("managed", _clean(name or path.resolve().name), directory=path.resolve())
    if path.is_dir():
        raise TargetError(f"{word} is a directory without config.json (not a managed plugin)")
    if _is_socket(path) or word.endswith(".sock"):
        if not _is_socket(path):
            raise TargetError(f"{word}: no unix socket there (is the plugin running?)")
        absolute = os.path.abspath(word)
        return Target("socket", _clean(name or path.stem), address=f"unix://{absolute}")
    if "/" in word:
        raise TargetError(f"{word}: no such socket or plugin directory")
    return Target("name", word, root=root or Path("/"))
