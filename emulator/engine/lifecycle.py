"""How long a fake container runs, from its command (no process is started).

A small, documented table (``docs/volumes.md``, ``docs/logging.md``): ``true`` exits 0
at once, ``false`` exits 1, ``sh -c 'exit N'`` exits N, ``sleep N`` runs N seconds of
engine time; ``echo``, ``printf``, ``seq`` and the short scripts
:mod:`emulator.engine.fake_shell` reads write their output, then exit with the script's
status; anything else runs until stopped when detached, and exits 0 at once when
attached.  ``exit_code`` and ``runs_for`` given to the API override the table.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Sequence

import attrs

from emulator.engine.fake_shell import Pause, Script, read_command

#: Commands that never end by themselves.
FOREVER = ("top", "tail -f", "sleep infinity", "cat")


@attrs.frozen
class Lifetime:
    """When the container's main process exits, in engine seconds, and with what code."""

    runs_for: float
    """0 exits at once; ``math.inf`` runs until stopped or killed."""
    exit_code: int = 0


def lifetime_of(command: Sequence[str], *, detach: bool) -> Lifetime:
    """Apply the table to ``command`` (as given to ``docker run``)."""
    words = list(command)
    text = " ".join(words)
    script = script_of(words)
    if script is not None:
        pauses = sum(step.seconds for step in script.steps if isinstance(step, Pause))
        return Lifetime(pauses, script.exit_code)
    if not words:
        return Lifetime(math.inf if detach else 0.0)
    head = words[0].rsplit("/", 1)[-1]
    if head == "true":
        return Lifetime(0.0, 0)
    if head == "false":
        return Lifetime(0.0, 1)
    if head in ("sh", "bash", "ash") and len(words) >= 3 and words[1] == "-c":
        return _shell(words[2], detach=detach)
    if head == "sleep" and len(words) == 2:
        seconds = _seconds(words[1])
        if seconds is not None:
            return Lifetime(seconds, 0)
    if any(text.startswith(prefix) for prefix in FOREVER) or head == "top":
        return Lifetime(math.inf if detach else 0.0)
    return Lifetime(math.inf if detach else 0.0)


def script_of(command: Sequence[str]) -> Script | None:
    """What the command writes and when (None when the table does not know it)."""
    if list(command[:1]) == ["sleep"] and command[1:] == ["infinity"]:
        return None
    return read_command(command)


def _shell(script: str, *, detach: bool) -> Lifetime:
    match = re.fullmatch(r"\s*exit\s+(\d+)\s*", script)
    if match:
        return Lifetime(0.0, int(match.group(1)) % 256)
    try:
        words = shlex.split(script)
    except ValueError:
        return Lifetime(math.inf if detach else 0.0)
    if words and words[0] in ("true", "false", "sleep"):
        return lifetime_of(words, detach=detach)
    return Lifetime(math.inf if detach else 0.0)


def _seconds(text: str) -> float | None:
    if text == "infinity":
        return math.inf
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text)
    if not match:
        return None
    scale = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return float(match.group(1)) * scale
