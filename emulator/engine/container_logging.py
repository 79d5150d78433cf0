"""What the container service does about logging: the ``LogConfig`` check at create, the
log driver from a start to its exit, and dockerd's container-action timings.

dockerd (moby/moby v28.5.2): ``daemon/logs.go`` ``mergeAndVerifyLogConfig`` at create;
``container/container.go`` ``InitializeStdio``/``startLogging`` before the process runs
(a failure is the start's); ``container/monitor.go`` ``Reset`` at the exit, before the
networks and volumes are released.  A container's output reaches its log driver as one
writer of its streams (:data:`~emulator.engine.streams.OutputWriter`); ``json-file`` is
dockerd's own log (:mod:`emulator.engine.json_log`), every other driver goes through
:mod:`emulator.engine.logs`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import trio

from emulator.engine.container_model import Container
from emulator.engine.json_log import JsonFileLog
from emulator.engine.log_config import (
    LogConfigError,
    PluginGetter,
    check_log_driver,
    merged_log_config,
)
from emulator.engine.logs import LoggingError, LogService
from emulator.engine.streams import OutputWriter

__all__ = ["ContainerLogging"]


class ContainerLogging:
    """The container service's logging: ``service`` (``engine.logs``) when the engine
    has one, ``action_timer`` for dockerd's ``container_actions`` metric."""

    def __init__(
        self, plugins: PluginGetter | None, json_log: Callable[[Container], JsonFileLog]
    ) -> None:
        self._plugins = plugins
        self._json_log = json_log
        self.service: LogService | None = None
        self.action_timer: Callable[[str, float], None] | None = None

    async def config(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """``mergeAndVerifyLogConfig``: the daemon's defaults merged in, then checked
        (:meth:`LogService.prepare`; without one, only the driver's existence)."""
        if self.service is None:
            given = given or {}
            logs = merged_log_config(str(given.get("Type") or ""), given.get("Config"))
            if self._plugins is not None:
                await check_log_driver(self._plugins, logs["Type"])
            return logs
        try:
            return await self.service.prepare(given)
        except LoggingError as exc:
            raise LogConfigError(str(exc), hint=exc.hint) from None

    async def writers(self, container: Container) -> list[OutputWriter]:
        """``startLogging``: where the output goes (dockerd's json-file log, the log
        driver's copier, nothing for ``none``); raises LoggingError with dockerd's text."""
        if self.service is None or container.log_config.get("Type") == "json-file":
            log = self._json_log(container)
            log.begin()
            return [log.write]
        writer = await self.service.start(container)
        return [writer] if writer is not None else []

    async def stop(self, container: Container) -> None:
        """``Reset``: the json-file log closed, or the copier drained (≤ 10 s) and the log
        driver closed (``StopLogging``)."""
        log = self._json_log(container)
        if log.open:
            await log.close()
        if self.service is not None:
            await self.service.stop(container)

    def forget(self, container: Container) -> None:
        """The container was removed."""
        if self.service is not None:
            self.service.forget(container.id)

    def timed(self, action: str, began: float) -> None:
        """A container action (create, start, delete) that began at engine time ``began``."""
        if self.action_timer is not None:
            self.action_timer(action, trio.current_time() - began)
