"""Scenario steps that go through the Engine API: ``docker`` (the real CLI) and ``api``.

The engine's API is served on ``ROOT/docker.sock`` from the first such step, so the
request goes through everything a real client's does, the authorization chain first.
Each step's result is a mapping:

* ``docker``: ``{status: <exit code>, stdout, stderr, output: stdout + stderr}``; the step
  fails (its error is stderr) when the exit code is not 0;
* ``api``: ``{status, headers, body, output: <body as text>}`` (``body`` is JSON data when
  the answer is JSON); the step fails (its error is dockerd's ``message``, or the body)
  when the status is 400 or more.

``expect: {status: N}`` decides instead (a refused command is then what the step
expects), and ``expect: {output: REGEX}`` is searched in ``output``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from emulator.api.clients import ApiEndpoint, api_request, run_docker
from emulator.engine.core import Engine
from emulator.errors import EmulatorError
from emulator.scenario.model import ApiCall, DockerCommand, StepExpect

__all__ = ["StepFailure", "api_step", "check_status_and_output", "docker_step"]


class StepFailure(EmulatorError):
    """A docker or api step that failed, with its result (kept for ``expect``)."""

    def __init__(self, text: str, result: dict[str, Any]) -> None:
        super().__init__(text)
        self.result = result


async def docker_step(
    endpoint: ApiEndpoint, engine: Engine, root: Path, step: DockerCommand
) -> dict[str, Any]:
    """Run the docker CLI (a stretch of real time under the virtual clock)."""
    host = await endpoint.start(engine)
    done = await run_docker(host, root / "docker-config", step.args)
    result = {
        "status": done.exit_code,
        "stdout": done.stdout,
        "stderr": done.stderr,
        "output": done.output,
    }
    if done.exit_code != 0:
        raise StepFailure(done.stderr.strip() or f"docker exited {done.exit_code}", result)
    return result


async def api_step(endpoint: ApiEndpoint, engine: Engine, step: ApiCall) -> dict[str, Any]:
    """Send one request; the answer as data."""
    host = await endpoint.start(engine)
    headers = list((step.headers or {}).items())
    body = b""
    if step.body is not None:
        body = json.dumps(step.body, separators=(",", ":")).encode()
        headers.insert(0, ("Content-Type", "application/json"))
    answer = await api_request(host, step.method, step.path, body, headers)
    data = answer.data()
    result = {
        "status": answer.status,
        "headers": answer.headers,
        "body": data,
        "output": answer.body.decode("utf-8", "replace"),
    }
    if answer.status >= 400:
        message = data.get("message") if isinstance(data, dict) else None
        raise StepFailure(str(message) if message is not None else result["output"], result)
    return result


def check_status_and_output(expect: StepExpect, result: Any) -> str | None:
    """What is wrong with a docker/api result against ``status``/``output``, or None."""
    if not isinstance(result, dict):
        return None
    if expect.status is not None and result.get("status") != expect.status:
        shown = str(result.get("output", "")).strip()
        return f"status {result.get('status')}, expected {expect.status}; output: {shown!r}"
    if expect.output is not None and not re.search(expect.output, str(result.get("output"))):
        return f"output {result.get('output')!r} does not match /{expect.output}/"
    return None
