"""A ``ContainerSpec`` from the words the logging tests use (``--log-driver`` …)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from emulator.engine.container_model import ContainerSpec, RunConfig


def spec(
    *,
    command: Sequence[str] = (),
    log_driver: str = "",
    log_opts: Mapping[str, str] | None = None,
    env: Sequence[str] = (),
    **rest: Any,
) -> ContainerSpec:
    """``docker run --log-driver D --log-opt K=V -e ENV …`` as a spec."""
    log_config = (
        {"Type": log_driver, "Config": dict(log_opts or {})} if log_driver or log_opts else None
    )
    return ContainerSpec(
        command=tuple(command), log_config=log_config, config=RunConfig(env=env), **rest
    )
