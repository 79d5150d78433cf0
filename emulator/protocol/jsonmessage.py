"""dockerd's JSON progress stream (pull, push, upgrade of plugins), byte for byte.

Sources (moby v28.5.2): ``pkg/progress/progress.go`` (``Progress``, ``Update``,
``Message``, ``Aux``), ``pkg/streamformatter/streamformatter.go`` (one compact
JSON object per event, ``\\r\\n`` after each; ``formatProgress`` always writes a
``progressDetail``, ``formatStatus`` never), ``pkg/jsonmessage/jsonmessage.go``
(``JSONMessage`` field order; ``JSONProgress.String``: dockerd has no terminal, so
the width is 200 and the bar is drawn; no time left since ``Start`` is 0),
``vendor/github.com/docker/go-units/size.go`` (``HumanSize``: 4 significant
digits, powers of 1000).
"""

from __future__ import annotations

import json
from typing import Any, Final

import attrs

__all__ = ["Progress", "format_error", "format_progress", "human_size", "progress_bar"]

STREAM_NEWLINE: Final = b"\r\n"
#: ``JSONProgress.width`` when ``GetWinsize`` fails (dockerd's stdin is no terminal).
WIDTH: Final = 200
_UNITS: Final = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


@attrs.frozen
class Progress:
    """``progress.Progress``: a message (``message``), an action with counts, or an aux value."""

    id: str = ""
    message: str = ""
    action: str = ""
    current: int = 0
    total: int = 0
    aux: Any = None
    last_update: bool = False


def update(id_: str, action: str) -> Progress:
    """``progress.Update``."""
    return Progress(id=id_, action=action)


def message(id_: str, text: str) -> Progress:
    """``progress.Message``."""
    return Progress(id=id_, message=text)


def human_size(size: float) -> str:
    """``units.HumanSize``: ``%.4g`` of the size in powers of 1000, then the unit."""
    index = 0
    while size >= 1000.0 and index < len(_UNITS) - 1:
        size /= 1000.0
        index += 1
    return f"{size:.4g}{_UNITS[index]}"


def progress_bar(current: int, total: int, width: int = WIDTH) -> str:
    """``JSONProgress.String`` for byte counts (no units, counts shown)."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    percentage = min(int(current / total * 100) // 2, 50)
    bar = ""
    if width > 110:
        bar = f"[{'=' * percentage}>{' ' * max(50 - percentage, 0)}] "
    numbers = f"{human_size(current):>8}/{human_size(total)}"
    if current > total:
        numbers = f"{human_size(current):>8}"
    return bar + numbers


def _dumps(value: dict[str, Any]) -> bytes:
    # Go's encoder: compact, HTML-safe escaping of <, > and &.
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode() + STREAM_NEWLINE


def format_progress(event: Progress) -> bytes:
    """``progressOutput.WriteProgress`` with the JSON formatter (no extra newlines)."""
    if event.message:
        value: dict[str, Any] = {"status": event.message}
        if event.id:
            value["id"] = event.id
        return _dumps(value)
    detail: dict[str, int] = {}
    if event.current:
        detail["current"] = event.current
    if event.total:
        detail["total"] = event.total
    value = {}
    if event.action:
        value["status"] = event.action
    value["progressDetail"] = detail
    bar = progress_bar(event.current, event.total)
    if bar:
        value["progress"] = bar
    if event.id:
        value["id"] = event.id
    if event.aux is not None:
        value["aux"] = event.aux
    return _dumps(value)


def format_error(text: str) -> bytes:
    """``streamformatter.FormatError``: ``errorDetail`` and the deprecated ``error``."""
    return _dumps({"errorDetail": {"message": text}, "error": text})
