"""moby's ``stdcopy``: the multiplexed stream of a container without a terminal.

Each write is one frame: an 8-byte header (stream: 0 stdin, 1 stdout, 2 stderr, 3 the
daemon's own errors; three zero bytes; the payload's length, big-endian) and the payload
(moby/moby ``pkg/stdcopy/stdcopy.go``, v28.5.2).
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["STREAM_IDS", "frame"]

STREAM_IDS: Final = {"stdin": 0, "stdout": 1, "stderr": 2, "systemerr": 3}
_HEADER: Final = struct.Struct(">B3xI")


def frame(stream: str, data: bytes) -> bytes:
    """One ``StdWriter.Write`` of ``data`` on ``stream``."""
    return _HEADER.pack(STREAM_IDS[stream], len(data)) + data
