"""Run Debian's ``rclone serve docker`` as a real third-party volume plugin in tests.

``rclone serve docker`` is a Docker volume plugin (it answers ``POST /Plugin.Activate``,
``/VolumeDriver.Create`` … on a unix socket and FUSE-mounts volumes under its base
directory).  :func:`serve_rclone` starts one as a subprocess listening where our emulated
daemon looks for plugins, ``ROOT/run/docker/plugins/NAME.sock``; everything else it
writes (volume mountpoints, VFS cache, state file, an empty config file) goes into a
fresh directory ``ROOT/NAME-XXXXXX`` that is removed afterwards::

    async with trio.open_nursery() as nursery:
        sock = await nursery.start(serve_rclone, root)
        ...  # talk to the plugin on sock (or let the emulated daemon discover it)
        nursery.cancel_scope.cancel()

On cancellation the helper stops the process group (SIGTERM, then SIGKILL after
``grace`` seconds: rclone 1.60 deadlocks on SIGTERM when two or more volumes are still
mounted), unmounts whatever FUSE mounts are left under its directory, removes the
socket and its directory.  rclone's log (stderr) goes to the ``emulator.plugin.rclone``
logger line by line.  See docs/rclone.md for what works in this environment.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import trio

LOG = logging.getLogger("emulator.plugin.rclone")

INSTALL = "apt-get install -y rclone fuse3"

#: sun_path holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107

_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "NOTICE": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}
_LINE = re.compile(
    r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (?:(DEBUG|INFO|NOTICE|ERROR|CRITICAL) *: ?)?(.*)$"
)


class RcloneError(RuntimeError):
    """rclone did not start, died while serving, or left something behind."""


def _not_run(why: str) -> str:
    return (
        f"RCLONE PLUGIN TESTS NOT RUN: {why}. These tests drive Debian's rclone as a real "
        f"volume plugin; install it with `{INSTALL}`. In CI this skip is a defect."
    )


@functools.cache
def rclone_available() -> str | None:
    """None when rclone (with ``serve docker``) and FUSE are usable, else a loud reason."""
    rclone = shutil.which("rclone")
    if rclone is None:
        return _not_run("no `rclone` on PATH")
    try:
        probe = subprocess.run(
            [rclone, "serve", "docker", "--help"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _not_run(f"`rclone serve docker --help` failed: {exc}")
    if probe.returncode != 0 or b"--socket-addr" not in probe.stdout:
        return _not_run(
            f"`{rclone} serve docker --help` exited {probe.returncode} without documenting "
            f"--socket-addr (rclone too old or built without the docker plugin): "
            f"{probe.stderr.decode(errors='replace').strip()[-500:]}"
        )
    return fuse_available()


@functools.cache
def rclone_version() -> str:
    """The version ``rclone version`` reports, e.g. ``1.60.1-DEV`` (Debian bookworm)."""
    rclone = shutil.which("rclone")
    if rclone is None:
        raise RcloneError(_not_run("no `rclone` on PATH"))
    out = subprocess.run([rclone, "version"], capture_output=True, timeout=30, check=True).stdout
    match = re.match(rb"rclone v(\S+)", out)
    if match is None:
        raise RcloneError(f"unexpected `rclone version` output: {out[:200]!r}")
    return match.group(1).decode()


def fuse_available() -> str | None:
    """None when FUSE looks usable (device, kernel support, fusermount), else a reason."""
    if not os.path.exists("/dev/fuse"):
        return _not_run("/dev/fuse does not exist (no FUSE device in this container)")
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return _not_run(f"/dev/fuse is not readable and writable by uid {os.getuid()}")
    with contextlib.suppress(OSError):
        filesystems = Path("/proc/filesystems").read_text()
        if not re.search(r"\bfuse$", filesystems, re.MULTILINE):
            return _not_run("the kernel does not list `fuse` in /proc/filesystems")
    if shutil.which("fusermount3") is None and shutil.which("fusermount") is None:
        return _not_run("neither fusermount3 nor fusermount is on PATH (package fuse3)")
    return None


def _unescape_mountinfo(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts_under(directory: Path) -> list[tuple[Path, str]]:
    """``(mountpoint, fstype)`` of every mount at or below ``directory``, deepest first."""
    prefix = str(directory.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        point = _unescape_mountinfo(left.split()[4])
        if point == prefix or point.startswith(prefix + "/"):
            found.append((Path(point), right.split()[0]))
    return sorted(found, key=lambda m: len(str(m[0])), reverse=True)


def processes_with(needle: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line contains ``needle``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            if needle.encode() in cmdline:
                stat = Path(f"/proc/{entry}/stat").read_text()
                if stat.rpartition(")")[2].split()[0] != "Z":
                    pids.append(int(entry))
    return pids


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    members.append(int(entry))
    return members


async def _unmount(point: Path) -> None:
    """Detach a mount left behind (a dead FUSE mount reads "transport endpoint not connected")."""
    attempts = [["fusermount3", "-u", "-z"], ["fusermount", "-u", "-z"], ["umount", "-l"]]
    for command in attempts:
        if shutil.which(command[0]) is None:
            continue
        result = await trio.run_process(
            [*command, str(point)], check=False, capture_stdout=True, capture_stderr=True
        )
        if result.returncode == 0:
            LOG.warning("unmounted leftover mount %s with %s", point, " ".join(command))
            return
        LOG.warning(
            "%s %s failed (%d): %s",
            " ".join(command),
            point,
            result.returncode,
            result.stderr.decode(errors="replace").strip(),
        )


async def _socket_accepts(path: Path) -> bool:
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        await sock.connect(str(path))
    except OSError:
        return False
    finally:
        sock.close()
    return True


async def serve_rclone(
    root: Path,
    name: str = "rclone",
    *,
    extra_args: Sequence[str] = (),
    verbose: int = 1,
    startup_timeout: float = 30.0,
    grace: float = 5.0,
    task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``rclone serve docker`` on ``ROOT/run/docker/plugins/NAME.sock`` until cancelled.

    ``task_status.started`` receives the socket path once it accepts connections.
    ``extra_args`` are appended to the command line (e.g. ``--vfs-cache-mode writes``);
    ``verbose`` is the number of ``-v`` flags (1: INFO, 2: DEBUG with every FUSE call).
    Raises :class:`RcloneError` (with rclone's last output) when rclone exits or stays
    silent on its socket for ``startup_timeout`` seconds, and when it exits while serving.
    """
    sock = root / "run/docker/plugins" / f"{name}.sock"
    if len(os.fsencode(sock)) > MAX_SOCKET_PATH:
        raise ValueError(f"socket path is {len(os.fsencode(sock))} bytes (max 107): {sock}")
    rclone = shutil.which("rclone")
    if rclone is None:
        raise RcloneError(_not_run("no `rclone` on PATH"))
    sock.parent.mkdir(parents=True, exist_ok=True)
    if sock.is_socket():
        sock.unlink()  # a stale socket would answer nothing; a live one would fool the wait
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
    base, cache, config = work / "base", work / "cache", work / "rclone.conf"
    base.mkdir()
    cache.mkdir()
    config.touch()  # empty: volumes name their backend (":local:/dir" or type=local)
    command = [
        rclone,
        "serve",
        "docker",
        f"--socket-addr={sock}",
        f"--base-dir={base}",
        f"--cache-dir={cache}",
        f"--config={config}",
        "--forget-state",
        "--no-spec",
        *(["-" + "v" * verbose] if verbose else []),
        *extra_args,
    ]
    # rclone reads RCLONE_* variables as flag defaults: keep the caller's out.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
    tail: collections.deque[str] = collections.deque(maxlen=60)

    def output() -> str:
        return "\n".join(tail) or "(no output)"

    LOG.info("starting %s", " ".join(command))
    started_at = time.monotonic()
    proc = await trio.lowlevel.open_process(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )
    assert proc.stdout is not None
    stdout = proc.stdout
    pump_scope = trio.CancelScope(shield=True)  # keeps draining while we stop rclone
    pump_done = trio.Event()

    async def pump() -> None:
        pending = b""
        with pump_scope:
            while chunk := await stdout.receive_some(65536):
                *lines, pending = (pending + chunk).split(b"\n")
                for raw in lines:
                    _log_line(raw.decode(errors="replace"), tail)
        if pending:
            _log_line(pending.decode(errors="replace"), tail)
        pump_done.set()

    try:
        async with _unwrapped_rclone_error(), trio.open_nursery() as nursery:
            nursery.start_soon(pump)
            try:
                await _wait_ready(proc, sock, startup_timeout, output)
                LOG.info("rclone serving on %s after %.3fs", sock, time.monotonic() - started_at)
                task_status.started(sock)
                code = await proc.wait()
                raise RcloneError(f"rclone exited with status {code} while serving:\n{output()}")
            finally:
                with trio.CancelScope(shield=True):
                    await _stop(proc, grace)
                    with trio.move_on_after(2):
                        await pump_done.wait()
                    pump_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await stdout.aclose()
            await _clean_up(work, sock)


@contextlib.asynccontextmanager
async def _unwrapped_rclone_error() -> AsyncIterator[None]:
    """Raise our nursery's lone RcloneError as itself, not inside an ExceptionGroup."""
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1 and isinstance(group.exceptions[0], RcloneError):
            raise group.exceptions[0] from None
        raise


async def _wait_ready(
    proc: trio.Process, sock: Path, timeout: float, output: Callable[[], str]
) -> None:
    with trio.move_on_after(timeout):
        while proc.returncode is None:
            if await _socket_accepts(sock):
                return
            await trio.sleep(0.005)
        await trio.sleep(0.05)  # let the pump log rclone's last words
        raise RcloneError(
            f"rclone exited with status {proc.returncode} before serving {sock}:\n{output()}"
        )
    raise RcloneError(f"rclone did not accept connections on {sock} within {timeout}s:\n{output()}")


def _log_line(line: str, tail: collections.deque[str]) -> None:
    line = line.rstrip("\r")
    if not line:
        return
    tail.append(line)
    match = _LINE.match(line)
    if match is None:  # usage text, Go panics and stack traces
        LOG.warning("%s", line)
    else:  # levelless lines: "Fatal error: …", "mount helper error: …" (fusermount3)
        LOG.log(_LEVELS.get(match.group(1) or "", logging.WARNING), "%s", match.group(2))


async def _stop(proc: trio.Process, grace: float) -> None:
    pgid = proc.pid  # start_new_session: rclone leads its own process group
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with trio.move_on_after(grace):
            await proc.wait()
        if proc.returncode is None:
            LOG.warning("rclone (pid %d) still running %.1fs after SIGTERM: SIGKILL", pgid, grace)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            await proc.wait()
    for pid in _group_members(pgid):  # e.g. a fusermount3 rclone was waiting for
        LOG.warning("killing pid %d left in rclone's process group", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def _clean_up(work: Path, sock: Path) -> None:
    for point, fstype in mounts_under(work):
        LOG.warning("rclone left %s mounted (%s)", point, fstype)
        await _unmount(point)
    with contextlib.suppress(FileNotFoundError):
        if sock.is_socket():
            sock.unlink()
    left = mounts_under(work)
    if left:  # never rmtree through a live mount: it would delete the backend's files
        raise RcloneError(f"could not unmount {left}; leaving {work} in place")
    shutil.rmtree(work, ignore_errors=True)
