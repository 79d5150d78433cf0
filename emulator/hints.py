"""What to check, chosen by the text of dockerd's error: a table a reader can extend.

dockerd's errors wrap each other's texts (``error while mounting volume '…': VolumeDriver
.Mount: …``), so the text of the outermost error still says what went wrong at the
bottom.  :data:`HINTS` maps a pattern of that text to the hint an :class:`~emulator.errors
.EngineError` gets when it was raised without one and wraps none (see
:mod:`emulator.errors`); the first pattern that matches wins, so the specific ones come
first.  ``\\1``-style groups of the pattern may be used in the hint.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["HINTS", "hint_for_text"]

_METHOD = r"((?:VolumeDriver|NetworkDriver|IpamDriver|Plugin)\.\w+)"

HINTS: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern), hint)
    for pattern, hint in (
        (
            _METHOD + r"\": context deadline exceeded",
            r"the plugin did not answer \1 within dockerd's deadline for it (2 min for "
            "VolumeDriver.Create and Mount, 1 min for other volume calls): check what the "
            "plugin does in that call, or the delay/hang fault that held it back",
        ),
        (
            r"connect: connection refused|connect: no such file or directory",
            "nothing listens on the plugin's socket: the plugin died or was stopped and its "
            "socket file stayed behind (its output says why)",
        ),
        (
            r'plugin "([^"]+)" not found',
            r"dockerd found no socket or spec file for \1 (after ~15 s of retries): is it "
            r"running, listening on ROOT/run/docker/plugins/\1.sock, or described by "
            r"ROOT/etc/docker/plugins/\1.spec?",
        ),
        (
            _METHOD + r"\": (EOF|.*connection reset by peer)",
            r"the plugin closed the connection during \1 without answering (it crashed, or "
            "its handler failed): its output says why; dockerd re-sends the call once "
            "with an empty body",
        ),
        (
            _METHOD + r": ",
            r"the plugin answered \1 with an error: what follows '\1: ' is the plugin's "
            "own text; its output and engine.journal show the request it refused",
        ),
        (
            r"no such volume",
            "no volume of that name: `volumes.list()` / `docker volume ls` shows them (a "
            "plugin whose Get fails makes its volume 'no such volume' too)",
        ),
        (
            r"volume is in use|volume has active mounts",
            "containers still use the volume: stop and remove them first (`docker ps -a "
            "--filter volume=NAME`), or force",
        ),
        (
            r"No such container|Could not find the file",
            "check the container's name or ID (`containers.list(all=True)`, `docker ps -a`) "
            "and the path inside it",
        ),
        (
            r"is already in use by container|already exists|already has volume",
            "the name is taken: remove or rename the other one, or pick another name",
        ),
        (
            r"is not running|container is running",
            "the container's state does not allow it: start (or stop) it first",
        ),
        (
            r"invalid volume specification|invalid mount|Duplicate mount point|invalid mode",
            "-v takes NAME:/path[:ro], /host/path:/path[:ro] or /path (an anonymous volume), "
            "each destination once",
        ),
        (
            r"failed to set up container networking|network [^ ]+ not found",
            "a network the container joins is missing or its driver failed: `docker network "
            "ls`, and engine.journal for the NetworkDriver/IpamDriver calls",
        ),
        (
            r"page not found",
            "the emulator does not serve this endpoint: docs/engine-api.md lists what it serves",
        ),
        (
            r"client version .* is too (new|old)",
            "use an API version between 1.24 and 1.51 (DOCKER_API_VERSION)",
        ),
    )
)


def hint_for_text(text: str) -> str:
    """The hint of the first pattern of :data:`HINTS` found in ``text``, or ``""``."""
    for pattern, hint in HINTS:
        found = pattern.search(text)
        if found is not None:
            return found.expand(hint)
    return ""
