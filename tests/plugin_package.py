"""Test helper: a ``docker plugin create`` directory whose entrypoint is a script."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def script_package(
    directory: Path, script: str, config: Mapping[str, Any], executable: str = ""
) -> Path:
    """``directory`` with ``config.json`` and a rootfs holding ``script`` at ``executable``
    (default: the config's entrypoint) and the config's workdir, if it names one."""
    rootfs = directory / "rootfs"
    exe = rootfs / (executable or str(config["entrypoint"][0])).lstrip("/")
    exe.parent.mkdir(parents=True)
    if config.get("workdir"):
        (rootfs / str(config["workdir"]).lstrip("/")).mkdir(parents=True, exist_ok=True)
    exe.write_text(script)
    exe.chmod(0o755)
    (directory / "config.json").write_text(json.dumps(config))
    return directory
