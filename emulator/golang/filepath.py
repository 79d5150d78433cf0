"""Go's ``path/filepath`` (on Unix) and ``strings.TrimSpace``, as dockerd applies them to
plugin file names and spec file contents."""

from __future__ import annotations

__all__ = ["clean", "ext", "join", "trim_space"]


# strings.TrimSpace: unicode.IsSpace is true for these runes only.
_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)


def trim_space(text: str) -> str:
    """Go's ``strings.TrimSpace`` (narrower than :meth:`str.strip`)."""
    return text.strip(_SPACE)


def clean(path: str) -> str:
    """Go's ``filepath.Clean`` on Unix."""
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part != "..":
            parts.append(part)
        elif parts and parts[-1] != "..":
            parts.pop()
        elif not rooted:
            parts.append("..")
    cleaned = "/".join(parts)
    return "/" + cleaned if rooted else cleaned or "."


def join(*elems: str) -> str:
    """Go's ``filepath.Join``: join the non-empty elements and clean the result."""
    kept = [elem for elem in elems if elem]
    return clean("/".join(kept)) if kept else ""


def ext(path: str) -> str:
    """Go's ``filepath.Ext``: from the last dot of the last element, or ""."""
    base = path.rsplit("/", 1)[-1]
    dot = base.rfind(".")
    return base[dot:] if dot >= 0 else ""
