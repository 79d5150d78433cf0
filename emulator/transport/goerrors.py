"""Go's texts for network errors, as they appear inside dockerd's plugin errors.

dockerd surfaces the text of Go's ``*net.OpError`` and ``*url.Error`` values to users
(``Post "http://plugin.moby.localhost/Plugin.Activate": dial unix /run/docker/plugins/x.sock:
connect: no such file or directory``), so the emulator builds the same strings.
"""

from __future__ import annotations

import errno
import os


def errno_text(err: OSError) -> str:
    """Go's ``syscall.Errno`` text: the C library message with a lower-case first letter."""
    code = err.errno
    if code is None:
        return str(err)
    message = os.strerror(code)
    return message[:1].lower() + message[1:]


def op_error(op: str, network: str, remote: str, cause: str, local: str | None = None) -> str:
    """``*net.OpError`` text: ``dial unix /path: connect: …`` or ``read unix @->/path: read: …``."""
    source = f" {local}->" if local is not None else " "
    return f"{op} {network}{source}{remote}: {cause}"


def url_error(target_url: str, cause: str) -> str:
    """``*url.Error`` text for a POST: ``Post "URL": cause``."""
    return f'Post "{target_url}": {cause}'


CONNECTION_BROKEN = "net/http: HTTP/1.x transport connection broken: "
DEADLINE_EXCEEDED = "context deadline exceeded"
#: Go's text when an ``http.Client.Timeout`` fires before the answer's head.
CLIENT_TIMEOUT = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
IO_TIMEOUT = "i/o timeout"
ECONNRESET_TEXT = os.strerror(errno.ECONNRESET)[:1].lower() + os.strerror(errno.ECONNRESET)[1:]
