"""Go's error texts: ``syscall.Errno``, ``*fs.PathError``, ``*net.OpError``, ``*url.Error``.

dockerd surfaces the text of Go's error values to users (``Post
"http://plugin.moby.localhost/Plugin.Activate": dial unix /run/docker/plugins/x.sock:
connect: no such file or directory``; ``open /etc/docker/plugins/x.spec: permission
denied``), so the emulator builds the same strings, in one place.
"""

from __future__ import annotations

import errno
import os
from typing import Final

__all__ = [
    "CLIENT_TIMEOUT",
    "CONNECTION_BROKEN",
    "DEADLINE_EXCEEDED",
    "IO_TIMEOUT",
    "PathError",
    "errno_text",
    "op_error",
    "url_error",
]

# Where Go's table (syscall/zerrors_linux_amd64.go) words an errno differently from the C
# library's strerror once the first letter is lower-cased.
_GO_ERRNO_TEXT: Final = {
    errno.ESTALE: "stale NFS file handle",
    errno.EDOTDOT: "RFS specific error",
}


def errno_text(code: int) -> str:
    """Go's ``syscall.Errno.Error()`` on Linux: the C text with a lower-case start.

    ``errno_text(errno.ECONNRESET)`` is ``connection reset by peer``.
    """
    text = _GO_ERRNO_TEXT.get(code)
    if text is not None:
        return text
    message = os.strerror(code)
    return message[:1].lower() + message[1:]


class PathError(Exception):
    """Go's ``*fs.PathError``: ``str()`` is ``<op> <path>: <errno text>``."""

    def __init__(self, op: str, path: str, code: int) -> None:
        super().__init__(op, path, code)
        self.op = op
        self.path = path
        self.errno = code

    def __str__(self) -> str:
        return f"{self.op} {self.path}: {errno_text(self.errno)}"

    @property
    def not_exist(self) -> bool:
        """Go's ``os.IsNotExist``."""
        return self.errno == errno.ENOENT

    @property
    def permission(self) -> bool:
        """Go's ``os.IsPermission``."""
        return self.errno in (errno.EACCES, errno.EPERM)


def op_error(op: str, network: str, remote: str, cause: str, local: str | None = None) -> str:
    """``*net.OpError`` text: ``dial unix /path: connect: …`` or ``read unix @->/path: read: …``."""
    source = f" {local}->" if local is not None else " "
    return f"{op} {network}{source}{remote}: {cause}"


def url_error(target_url: str, cause: str) -> str:
    """``*url.Error`` text for a POST: ``Post "URL": cause``."""
    return f'Post "{target_url}": {cause}'


#: net/http's prefix for a connection that broke while a request was on it.
CONNECTION_BROKEN: Final = "net/http: HTTP/1.x transport connection broken: "
#: ``context.DeadlineExceeded``.
DEADLINE_EXCEEDED: Final = "context deadline exceeded"
#: Go's text when an ``http.Client.Timeout`` fires before the answer's head.
CLIENT_TIMEOUT: Final = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
#: A dial or I/O deadline (``os.ErrDeadlineExceeded`` as net reports it).
IO_TIMEOUT: Final = "i/o timeout"
