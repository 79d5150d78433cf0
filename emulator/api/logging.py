"""dockerd's log lines: logrus text (``time="…" level=info msg="…"``) or JSON.

Extra key/value fields (``plugin=<ID>`` on a plugin process's output) come from a log
record's ``fields`` attribute (``log.info(msg, extra={"fields": {...}})``).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from emulator.golang.time import rfc3339_nano

_LEVELS = {"WARNING": "warning", "CRITICAL": "fatal"}
_BARE = re.compile(r"^[A-Za-z0-9\-._/@^+]+$")


def _quote(value: str) -> str:
    """logrus quotes a value unless it is made of safe characters only."""
    if value and _BARE.match(value):
        return value
    return json.dumps(value, ensure_ascii=False)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    if isinstance(fields, dict):
        return dict(fields)
    plugin = getattr(record, "plugin", None)
    return {"plugin": plugin} if plugin else {}


def _without_suffix(message: str, fields: dict[str, Any]) -> str:
    """Plugin output lines already end in `` plugin=<ID>``; it becomes a field instead."""
    plugin = fields.get("plugin")
    suffix = f" plugin={plugin}"
    return message.removesuffix(suffix) if plugin else message


class LogrusTextFormatter(logging.Formatter):
    """``time="2025-01-01T00:00:00.000000000Z" level=info msg="…" key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        level = _LEVELS.get(record.levelname, record.levelname.lower())
        fields = _fields(record)
        message = _without_suffix(record.getMessage(), fields)
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        parts = [
            f'time="{rfc3339_nano(record.created)}"',
            f"level={level}",
            f"msg={json.dumps(message, ensure_ascii=False)}",
        ]
        parts += [f"{k}={_quote(str(v))}" for k, v in sorted(fields.items())]
        return " ".join(parts)


class LogrusJSONFormatter(logging.Formatter):
    """logrus' JSON formatter: ``{"level", "msg", "time", ...fields}``."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "level": _LEVELS.get(record.levelname, record.levelname.lower()),
            "msg": _without_suffix(record.getMessage(), _fields(record)),
            "time": rfc3339_nano(record.created),
        }
        data |= {k: str(v) for k, v in _fields(record).items()}
        return json.dumps(data, ensure_ascii=False, sort_keys=True)


def setup_logging(level: str, fmt: str) -> None:
    """Route every ``emulator`` logger to stderr in dockerd's format."""
    handler = logging.StreamHandler()
    handler.setFormatter(LogrusJSONFormatter() if fmt == "json" else LogrusTextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("hypercorn.error", "hypercorn.access", "quart.app", "quart.serving"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
