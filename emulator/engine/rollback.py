"""Undo steps that run to their end even when the operation they undo was cancelled.

dockerd undoes a failed operation in deferred clean-ups (``defer func() { if err != nil
{ ... } }()``) that run on the daemon's own context, not the request's: a client that
goes away mid-``docker network create`` still gets the IPAM pool released.  In trio a
cancelled task's ``except BaseException:`` block would have every ``await`` of its
clean-up cancelled at once, so the plugin would keep what it handed out.  :func:`undo`
shields the step from the caller's cancellation; the step stays bounded by the plugin
calls' own deadlines and the engine's hang guard, so it cannot hold a cancelled caller
forever.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import trio

__all__ = ["undo"]

T = TypeVar("T")


async def undo(step: Awaitable[T]) -> T:
    """Await ``step`` (a clean-up) shielded from the caller's cancellation."""
    with trio.CancelScope(shield=True):
        result = await step
    return result
