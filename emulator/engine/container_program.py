"""What a container that follows the command table does between its start and its exit.

The fake command table (:mod:`emulator.engine.fake_shell`) turns the command into steps
(write these bytes to stdout or stderr, wait N seconds); :func:`run_program` performs
them on the container's :class:`~emulator.engine.streams.ContainerStreams`, as a real
process's output goes there: to the log driver's copier or the json-file log, and to
attached clients.  A writer that does not keep up holds the output back (a log driver
that does not read its FIFO blocks the container, as under dockerd).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from emulator.engine.container_model import Container
from emulator.engine.fake_shell import Pause, Step, Write
from emulator.engine.lifecycle import script_of
from emulator.engine.streams import ContainerStreams

__all__ = ["program_of", "run_program"]


def program_of(container: Container, runs_for: float) -> tuple[Step, ...]:
    """The steps of the table's process; empty when it writes nothing.

    With ``runs_for`` given to ``run``/``create``, the output is written at once and the
    pause is that override; otherwise the script's own pauses (``sleep``) apply."""
    script = script_of(container.command)
    if script is None or not script.output:
        return ()
    if container.runs_for_override is not None:
        writes = tuple(s for s in script.steps if isinstance(s, Write))
        return (*writes, Pause(runs_for))
    return script.steps


async def run_program(
    streams: ContainerStreams,
    steps: tuple[Step, ...],
    scope: trio.CancelScope,
    exited: Callable[[], Awaitable[None]],
) -> None:
    """Perform ``steps`` inside ``scope`` (cancelled by a stop or kill), then, unless
    cancelled, call ``exited`` (the process ended by itself)."""
    with scope:
        for step in steps:
            if isinstance(step, Pause):
                await trio.sleep(step.seconds)
            else:
                await streams.write(step.stream, step.data)
    if not scope.cancelled_caught:
        await exited()
