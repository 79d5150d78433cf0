"""dockerd's plugin retry schedule (``pkg/plugins/client.go`` ``backoff`` and ``abort``).

Both the lookup retry (plugin file not there yet) and the connect retry (every
call, ``Plugin.Activate`` included) use it.  With attempts that fail at once it
gives attempts at 0, 1, 3, 7 and 15 s and the final error at ~15 s, not the 30 s
the docs promise.
"""

from __future__ import annotations


def backoff(retries: int, cap: float = 30.0) -> float:
    """Seconds to wait after ``retries`` failed retries: 1, 2, 4, 8 … capped at ``cap``."""
    delay = 1.0
    while delay < cap and retries > 0:
        delay *= 2
        retries -= 1
    return min(delay, cap)


def should_give_up(elapsed: float, delay: float, budget: float = 30.0) -> bool:
    """True when waiting ``delay`` more would reach the ``budget`` (dockerd's ``abort``)."""
    return delay + elapsed >= budget
