"""Running :mod:`emulator.protocol.sandbox` steps: iproute2 in the right network namespace.

``sandbox`` steps run as ``nsenter --net=KEY ip -batch -`` (consecutive ones in one
batch; ``Command failed -:N`` says which failed), ``daemon`` steps in the namespace
network plugins make their interfaces in (the engine's own, or ``nsenter --net=NS``),
``host`` steps bind and unbind the sandbox key with util-linux ``mount``/``umount``.
The ``sysctl`` step is busybox's, inside the sandbox's namespace (``/proc/sys/net`` is
the reading process's).  iproute2's messages are turned into the texts Go's netlink
errors give (``Link not found``, ``file exists``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import trio

from emulator.clock import real_io
from emulator.protocol.sandbox import SandboxStep

__all__ = ["NetnsError", "NetnsRunner", "go_error"]

_FAILED_LINE: Final = re.compile(r"Command failed -:(\d+)")


class NetnsError(Exception):
    """A step failed; ``str()`` is dockerd's text for it."""


def go_error(text: str) -> str:
    """iproute2's complaint as Go's netlink library words it."""
    for line in text.strip().splitlines():
        line = line.strip()
        if not line or _FAILED_LINE.match(line):
            continue
        if line.startswith("Cannot find device") or (
            line.startswith("Device ") and line.endswith("does not exist.")
        ):
            return "Link not found"
        line = line.removeprefix("RTNETLINK answers: ").removeprefix("Error: ")
        return line[:1].lower() + line[1:].rstrip(".")
    return "unknown error"


class NetnsRunner:
    """Runs sandbox steps; ``daemon_namespace`` None is the engine's own namespace."""

    def __init__(self, busybox: Path, daemon_namespace: str | None) -> None:
        self.busybox = busybox
        self.daemon_namespace = daemon_namespace

    @property
    def daemon_ns_path(self) -> str:
        """Where interfaces go back to (``LinkSetNsFd`` to the daemon's namespace)."""
        return self.daemon_namespace or f"/proc/{os.getpid()}/ns/net"

    async def run(
        self, steps: Sequence[SandboxStep], values: Mapping[str, str], *, strict: bool = True
    ) -> None:
        """Run ``steps`` in order (those whose ``when`` is empty skipped).

        ``strict`` False: failures are ignored (teardown: dockerd only logs them).
        """
        pending: list[tuple[SandboxStep, list[str]]] = []
        for step in steps:
            if step.when and not values.get(step.when):
                continue
            argv = [part.format(**values) for part in step.argv]
            batchable = step.where in ("sandbox", "daemon") and argv[0] != "sysctl"
            if pending and (not batchable or pending[-1][0].where != step.where):
                await self._batch(pending, values, strict=strict)
                pending = []
            if batchable:
                pending.append((step, argv))
            else:
                await self._one(step, argv, values, strict=strict)
        await self._batch(pending, values, strict=strict)

    async def _batch(
        self, steps: list[tuple[SandboxStep, list[str]]], values: Mapping[str, str], *, strict: bool
    ) -> None:
        if not steps:
            return
        script = "".join(" ".join(argv) + "\n" for _, argv in steps)
        command = ["ip", "-batch", "-"]
        namespace = values["key"] if steps[0][0].where == "sandbox" else self.daemon_namespace
        if namespace is not None:
            command = ["nsenter", f"--net={namespace}", *command]
        if not strict:
            command.insert(-2, "-force")
        code, err = await _run(command, script.encode())
        if code == 0 or not strict:
            return
        found = _FAILED_LINE.search(err)
        index = int(found.group(1)) - 1 if found else 0
        step = steps[min(index, len(steps) - 1)][0]
        raise NetnsError(step.error.format(**values, err=go_error(err)))

    async def _one(
        self, step: SandboxStep, argv: list[str], values: Mapping[str, str], *, strict: bool
    ) -> None:
        if step.where == "host":
            command = _host_command(argv)
        elif step.where == "sandbox":  # the sysctl step
            path = "/proc/sys/" + argv[1].split("=", 1)[0].replace(".", "/")
            command = [
                "nsenter",
                f"--net={values['key']}",
                str(self.busybox),
                "sh",
                "-c",
                f"test ! -e {path} || echo {argv[1].split('=', 1)[1]} > {path}",
            ]
        elif self.daemon_namespace is not None:
            command = ["nsenter", f"--net={self.daemon_namespace}", "ip", *argv]
        else:
            command = ["ip", *argv]
        if argv[0] == "bind":
            Path(argv[2]).parent.mkdir(parents=True, exist_ok=True)
            Path(argv[2]).touch()
        code, err = await _run(command)
        if argv[0] == "unmount":
            with contextlib.suppress(OSError):
                Path(argv[1]).unlink()
        if code != 0 and strict:
            raise NetnsError(step.error.format(**values, err=go_error(err)))


def _host_command(argv: list[str]) -> list[str]:
    if argv[0] == "bind":
        return ["mount", "--bind", argv[1], argv[2]]
    if argv[0] == "unmount":
        return ["umount", "--lazy", argv[1]]
    raise ValueError(f"unknown host step {argv!r}")


async def _run(command: list[str], stdin: bytes = b"") -> tuple[int, str]:
    with real_io():
        result = await trio.run_process(
            command, stdin=stdin, capture_stdout=True, capture_stderr=True, check=False
        )
    return result.returncode, result.stderr.decode(errors="replace")
