"""The output part of the fake command table: what a fake container writes, and when.

No process runs; a container's command is read as a tiny shell script and turned into
steps (write these bytes to stdout or stderr, wait N seconds) and an exit status.  The
words understood (``docs/logging.md`` has the table):

* ``echo [-n] [-e] WORDS…`` (one line; ``-n`` without newline, ``-e`` reads ``\\n``,
  ``\\t``, ``\\\\``, ``\\0NNN``, ``\\xHH``), ``printf FORMAT [ARGS…]`` (``%s %d %i %c %b
  %x %o %%`` with flags and widths, the format reused while arguments remain),
  ``seq [FIRST [STEP]] LAST``, ``yes [WORD] | head -n N``;
* ``true``, ``false``, ``exit N``, ``sleep N`` (engine seconds);
* ``;``, ``&&``, ``||`` and newlines between commands; ``>&2`` / ``1>&2`` /
  ``>/dev/stderr`` send a command's output to stderr, ``>/dev/null`` drops it.

Anything else makes the script *unknown*: :func:`read_script` returns None and the
lifetime table's fallback applies (see :mod:`emulator.engine.lifecycle`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Final

import attrs

__all__ = ["Pause", "Script", "Step", "Write", "read_command", "read_script"]

#: Output one fake command may produce (a typo in a test must not eat the memory).
MAX_OUTPUT: Final = 64 << 20


@attrs.frozen
class Write:
    """Write ``data`` to ``stream`` (``stdout`` or ``stderr``)."""

    stream: str
    data: bytes


@attrs.frozen
class Pause:
    """Wait ``seconds`` of engine time."""

    seconds: float


Step = Write | Pause


@attrs.frozen
class Script:
    """What a fake command does: its steps in order, then its exit status."""

    steps: tuple[Step, ...]
    exit_code: int

    @property
    def output(self) -> bool:
        """True when it writes anything."""
        return any(isinstance(s, Write) for s in self.steps)


class _Unknown(Exception):
    """A word the table does not know."""


_FD_TO_STDERR = re.compile(r"(?<![\w>])1?>&2\b|>\s*/dev/stderr\b")
_DROP = re.compile(r"(?<![\w>])1?>\s*/dev/null\b")
_ESCAPES: Final = {"n": "\n", "t": "\t", "\\": "\\", "a": "\a", "b": "\b", "r": "\r", "v": "\v"}
_FORMAT = re.compile(r"%([-+ #0]*)(\d*)(?:\.(\d+))?([sdicbxXo%])")


def read_command(command: Sequence[str]) -> Script | None:
    """The script of ``docker run IMAGE COMMAND…`` (``sh -c SCRIPT`` read as a script)."""
    words = list(command)
    if not words:
        return None
    head = words[0].rsplit("/", 1)[-1]
    if head in ("sh", "bash", "ash") and len(words) >= 3 and words[1] == "-c":
        return read_script(words[2])
    return read_script(shlex.join(words))


def read_script(script: str) -> Script | None:
    """Steps and status of ``script``; None when it uses anything the table does not know."""
    script = _FD_TO_STDERR.sub(" \x01STDERR ", script)
    script = _DROP.sub(" \x01NULL ", script)
    try:
        lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|\n")
        lexer.whitespace = " \t\r"
        lexer.whitespace_split = True
        tokens = list(lexer)
        return _run(tokens)
    except (ValueError, _Unknown):
        return None


def _run(tokens: list[str]) -> Script:
    steps: list[Step] = []
    status = 0
    joiner = ";"
    size = 0
    for command, next_joiner in _commands(tokens):
        skip = (joiner == "&&" and status != 0) or (joiner == "||" and status == 0)
        joiner = next_joiner
        if skip or not command:
            continue
        if command[0] == "exit":
            code = int(command[1]) % 256 if len(command) > 1 else status
            return Script(tuple(steps), code)
        produced, status = _one(command)
        for step in produced:
            if isinstance(step, Write):
                size += len(step.data)
                if size > MAX_OUTPUT:
                    raise _Unknown("too much output")
        steps.extend(produced)
    return Script(tuple(steps), status)


def _commands(tokens: list[str]) -> list[tuple[list[str], str]]:
    """Split at ``;``, newlines, ``&&`` and ``||``; a pipe stays inside its command."""
    result: list[tuple[list[str], str]] = []
    current: list[str] = []
    for token in tokens:
        if token in (";", "\n", "&&", "||", ";\n", "\n\n"):
            result.append((current, "||" if token == "||" else "&&" if token == "&&" else ";"))
            current = []
        elif token in ("|",):
            current.append(token)
        elif set(token) <= set(";&|\n"):
            raise _Unknown(token)
        else:
            current.append(token)
    result.append((current, ";"))
    return result


def _one(command: list[str]) -> tuple[list[Step], int]:
    """One simple command (with its redirection): its steps and status."""
    stream = "stdout"
    words = []
    for word in command:
        if word == "\x01STDERR":
            stream = "stderr"
        elif word == "\x01NULL":
            stream = ""
        else:
            words.append(word)
    name, args = words[0], words[1:]
    if name == "true":
        return [], 0
    if name == "false":
        return [], 1
    if name == "sleep" and len(args) == 1:
        return [Pause(_seconds(args[0]))], 0
    if "|" in args:
        text = _pipeline(name, args)
    elif name == "echo":
        text = _echo(args)
    elif name == "printf" and args:
        text = _printf(args[0], args[1:])
    elif name == "seq" and 1 <= len(args) <= 3:
        text = _seq(args)
    else:
        raise _Unknown(name)
    data = text.encode("utf-8", "surrogateescape")
    return ([Write(stream, data)] if stream and data else []), 0


def _seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text)
    if not match:
        raise _Unknown(f"sleep {text}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def _pipeline(name: str, args: list[str]) -> str:
    """``yes [WORD] | head -n N``."""
    left = args[: args.index("|")]
    right = args[args.index("|") + 1 :]
    if name != "yes" or len(left) > 1 or len(right) != 3 or right[:2] != ["head", "-n"]:
        raise _Unknown("pipeline")
    word = left[0] if left else "y"
    return (word + "\n") * int(right[2])


def _unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] == "0":
            return chr(int(code[1:] or "0", 8) & 0xFF)
        if code[0] == "x":
            return chr(int(code[1:], 16))
        return _ESCAPES.get(code, "\\" + code)

    return re.sub(r"\\(0[0-7]{0,3}|x[0-9a-fA-F]{1,2}|.)", one, text)


def _echo(args: list[str]) -> str:
    newline, escapes = True, False
    while args and args[0] in ("-n", "-e", "-ne", "-en", "-E"):
        flag = args.pop(0)
        newline = newline and "n" not in flag
        escapes = "e" in flag
    text = " ".join(args)
    if escapes:
        text, _, _ = _unescape(text).partition("\\c")
    return text + ("\n" if newline else "")


def _printf(fmt: str, args: list[str]) -> str:
    out = []
    remaining = list(args)
    template = _unescape(fmt)
    while True:
        text, used = _format_once(template, remaining)
        out.append(text)
        remaining = remaining[used:]
        if not remaining or used == 0:
            return "".join(out)


def _format_once(template: str, args: list[str]) -> tuple[str, int]:
    """One pass of the format over ``args``: the text and how many arguments it used."""
    used = 0

    def field(match: re.Match[str]) -> str:
        nonlocal used
        flags, width, precision, conv = match.groups()
        if conv == "%":
            return "%"
        value = args[used] if used < len(args) else ""
        used += 1
        return _field(flags, width, precision, conv, value)

    return _FORMAT.sub(field, template), used


def _field(flags: str, width: str, precision: str | None, conv: str, value: str) -> str:
    spec = "%" + flags + width + (f".{precision}" if precision is not None else "")
    if conv in "dixXo":
        try:
            number = int(value or "0", 0)
        except ValueError:
            raise _Unknown(f"printf number {value!r}") from None
        return (spec + ("d" if conv == "i" else conv)) % number
    if conv == "c":
        return (spec + "s") % value[:1]
    if conv == "b":
        value = _unescape(value)
    return (spec + "s") % value


def _seq(args: list[str]) -> str:
    numbers = [int(a) for a in args]
    first, step, last = (
        (1, 1, numbers[0])
        if len(numbers) == 1
        else (numbers[0], 1, numbers[1])
        if len(numbers) == 2
        else (numbers[0], numbers[1], numbers[2])
    )
    if step == 0:
        raise _Unknown("seq step 0")
    count = max(0, (last - first) // step + 1)
    if count * (len(str(last)) + 2) > MAX_OUTPUT:
        raise _Unknown("too much output")
    return "".join(f"{n}\n" for n in range(first, last + (1 if step > 0 else -1), step))
