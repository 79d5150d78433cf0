"""The pytest plugin's logging helpers: ``mock_log_driver`` and ``plugin_engine.logs``."""

from __future__ import annotations

from typing import Any

from tests.logspec import spec


def test_entries_of_a_container_as_a_plugin_author_reads_them(
    plugin_engine: Any, mock_log_driver: Any
) -> None:
    container = plugin_engine.containers.run(
        spec(command=["sh", "-c", "echo out; echo err >&2"], log_driver="mocklog")
    )
    sent = plugin_engine.logs.entries(container.id)
    assert sorted((r.source, r.text) for r in sent) == [("stderr", "err"), ("stdout", "out")]
    assert mock_log_driver.entries(container.id) == sent
    plugin_engine.assert_called_once("LogDriver.StartLogging")
    plugin_engine.assert_called_once("LogDriver.StopLogging")
