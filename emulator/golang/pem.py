"""Go's ``encoding/pem``: ``Decode`` (and ``EncodeToMemory`` for what it re-encodes).

dockerd reads a plugin's TLS certificates, keys and CA bundles through Go's PEM decoder,
which is lenient in its own ways: text around blocks is skipped, a malformed block is
skipped and the search goes on, headers (``Proc-Type``, ``DEK-Info``) are key/value
lines.  This is the decoder of Go 1.24.9, the Go moby v28.5.2 is built with
(its ``Dockerfile`` ``GO_VERSION``): it finds the first ``END`` line and then the last
``BEGIN`` line before it (Go 1.24.8 changed this from a forward scan).
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

import attrs

__all__ = ["Block", "decode", "encode_to_memory"]

_PEM_START: Final = b"\n-----BEGIN "
_PEM_END: Final = b"\n-----END "
_PEM_END_OF_LINE: Final = b"-----"


@attrs.frozen
class Block:
    """``pem.Block``: the type from the ``BEGIN`` line, headers, and the decoded bytes."""

    type: str
    headers: dict[str, str]
    bytes: bytes


def _get_line(data: bytes) -> tuple[bytes, bytes, int]:
    """``getLine``: the first line without its end and trailing blanks, the rest, bytes used."""
    i = data.find(b"\n")
    if i < 0:
        i = j = len(data)
    else:
        j = i + 1
        if i > 0 and data[i - 1 : i] == b"\r":
            i -= 1
    return data[:i].rstrip(b" \t"), data[j:], j


def _base64(data: bytes) -> bytes | None:
    """``base64.StdEncoding.Decode`` after spaces and tabs are removed (newlines are skipped)."""
    cleaned = data.replace(b" ", b"").replace(b"\t", b"").replace(b"\r", b"").replace(b"\n", b"")
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        return None


def decode(data: bytes) -> tuple[Block | None, bytes]:
    """``pem.Decode``: the next PEM block and the rest, or ``(None, data)`` when there is none."""
    rest = data
    end_trailer_index = 0
    while True:
        rest = rest[end_trailer_index:]
        end_index = rest.find(_PEM_END)
        if end_index < 0:
            return None, data
        end_trailer_index = end_index + len(_PEM_END)
        begin_index = rest.rfind(_PEM_START[1:], 0, end_index)
        if begin_index < 0 or (begin_index > 0 and rest[begin_index - 1 : begin_index] != b"\n"):
            continue
        skip = begin_index + len(_PEM_START) - 1
        rest = rest[skip:]
        end_index -= skip
        end_trailer_index -= skip
        type_line, rest, consumed = _get_line(rest)
        if not type_line.endswith(_PEM_END_OF_LINE):
            continue
        end_index -= consumed
        end_trailer_index -= consumed
        type_line = type_line[: -len(_PEM_END_OF_LINE)]
        headers: dict[str, str] = {}
        while True:
            if not rest:
                return None, data
            line, following, consumed = _get_line(rest)
            key, colon, value = line.partition(b":")
            if not colon:
                break
            headers[_text(key.strip())] = _text(value.strip())
            rest = following
            end_index -= consumed
            end_trailer_index -= consumed
        if headers and end_index < 0:
            continue
        found = _finish(rest, type_line, headers, end_index, end_trailer_index)
        if found is not None:
            return found


def _finish(
    rest: bytes, type_line: bytes, headers: dict[str, str], end_index: int, trailer_index: int
) -> tuple[Block, bytes] | None:
    """The ``END`` line must name the same type and end the line; then the base64 body."""
    end_trailer = rest[trailer_index:]
    trailer_length = len(type_line) + len(_PEM_END_OF_LINE)
    if len(end_trailer) < trailer_length:
        return None
    rest_of_end_line = end_trailer[trailer_length:]
    end_trailer = end_trailer[:trailer_length]
    if not end_trailer.startswith(type_line) or not end_trailer.endswith(_PEM_END_OF_LINE):
        return None
    if _get_line(rest_of_end_line)[0]:
        return None
    body = b""
    if end_index > 0:
        decoded = _base64(rest[:end_index])
        if decoded is None:
            return None
        body = decoded
    _, after, _ = _get_line(rest[end_index + len(_PEM_END) - 1 :])
    return Block(_text(type_line), headers, body), after


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def encode_to_memory(block: Block) -> bytes:
    """``pem.EncodeToMemory``: ``Proc-Type`` first, other headers sorted, 64-column base64."""
    lines = [b"-----BEGIN " + block.type.encode("utf-8", "surrogateescape") + b"-----"]
    if block.headers:
        keys = sorted(k for k in block.headers if k != "Proc-Type")
        if "Proc-Type" in block.headers:
            keys.insert(0, "Proc-Type")
        lines += [f"{k}: {block.headers[k]}".encode("utf-8", "surrogateescape") for k in keys]
        lines.append(b"")
    encoded = base64.b64encode(block.bytes)
    lines += [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    lines.append(b"-----END " + block.type.encode("utf-8", "surrogateescape") + b"-----")
    return b"\n".join(lines) + b"\n"
