"""Signal names as dockerd reads them (``docker kill -s``, ``docker stop -s``, ``--stop-signal``).

moby/sys/signal ``ParseSignal`` with its Linux ``SignalMap`` (as vendored by moby/moby
v28.5.2): a number (not 0) or a name with or without ``SIG``, any case; ``RTMIN+n`` and
``RTMAX-n`` for real-time signals.  ``ValidSignalForPlatform`` then refuses numbers the
platform does not have.
"""

from __future__ import annotations

import signal
from typing import Final

__all__ = ["SIGNALS", "SignalError", "parse_signal", "valid_for_platform"]

_RTMIN: Final = 34
_RTMAX: Final = 64

SIGNALS: Final[dict[str, int]] = {
    "ABRT": 6,
    "ALRM": 14,
    "BUS": 7,
    "CHLD": 17,
    "CLD": 17,
    "CONT": 18,
    "FPE": 8,
    "HUP": 1,
    "ILL": 4,
    "INT": 2,
    "IO": 29,
    "IOT": 6,
    "KILL": 9,
    "PIPE": 13,
    "POLL": 29,
    "PROF": 27,
    "PWR": 30,
    "QUIT": 3,
    "SEGV": 11,
    "STKFLT": 16,
    "STOP": 19,
    "SYS": 31,
    "TERM": 15,
    "TRAP": 5,
    "TSTP": 20,
    "TTIN": 21,
    "TTOU": 22,
    "URG": 23,
    "USR1": 10,
    "USR2": 12,
    "VTALRM": 26,
    "WINCH": 28,
    "XCPU": 24,
    "XFSZ": 25,
    "RTMIN": _RTMIN,
    **{f"RTMIN+{n}": _RTMIN + n for n in range(1, 16)},
    **{f"RTMAX-{n}": _RTMAX - n for n in range(14, 0, -1)},
    "RTMAX": _RTMAX,
}


class SignalError(ValueError):
    """Not a signal: ``str()`` is dockerd's text (``Invalid signal: X``)."""


def parse_signal(raw: str) -> int:
    """``ParseSignal``: the signal number ``raw`` names."""
    try:
        number = int(raw)
    except ValueError:
        pass
    else:
        if number == 0:
            raise SignalError(f"Invalid signal: {raw}")
        return number
    found = SIGNALS.get(raw.upper().removeprefix("SIG"))
    if found is None:
        raise SignalError(f"Invalid signal: {raw}")
    return found


def valid_for_platform(number: int) -> bool:
    """``ValidSignalForPlatform`` on Linux: a signal the kernel has."""
    return 0 < number <= signal.SIGRTMAX
