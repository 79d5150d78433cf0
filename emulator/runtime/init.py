"""The container's first process: set up its namespaces from a plan, then become its command.

This file runs as a separate interpreter (``python -I -S init.py PLAN``), never imported
by the engine, so it uses the standard library only.  It plays runc's ``init``: it reads
the plan the engine wrote (``config.json`` in the container's directory, the way runc
reads an OCI bundle), performs it, reports on a FIFO and execs the command.

Why ctypes: Python 3.11 has no ``os.unshare``/``os.setns``, ``mount(2)``, ``pivot_root(2)``
or ``prctl(2)``.  The engine cannot call them in a ``preexec_fn`` (trio starts processes
from worker threads; ``preexec_fn`` is not safe with threads) and shelling out to
``mount``/``pivot_root`` commands would need a host userland inside the new root.  A
short-lived interpreter that calls libc through ctypes and then ``execve``s leaves no
Python behind in a running container.

Modes (the plan's ``mode``):

``create``
    Started by busybox ``unshare -p -f -m -u -i [-n]``, so this process is PID 1 of new
    PID, mount, UTS and IPC (and network) namespaces.  It reports its host PID (read
    from the host's ``/proc/self`` before a new ``/proc`` is mounted), makes every mount
    of the plan (targets were created and resolved inside the root by the engine), moves
    into the root with ``pivot_root``, masks and write-protects what Docker masks,
    changes to the working directory, drops capabilities and changes user, finds the
    executable on ``PATH``, reports ``ready`` and waits for the engine's ``go`` (the
    engine configures the network namespace in between, as dockerd's prestart hook
    does), then ``execve``s.  Any failure is reported as ``{"error": ...}`` and ends it.
``exec``
    ``docker exec``: joins the namespaces of the container's PID 1 (``setns``), forks the
    command inside them and waits for it, exiting with its status (128 + signal when
    killed), as the exec's shim does.

Messages on the status FIFO are JSON lines: ``{"pid": N}``, ``{"ready": true}``,
``{"error": TEXT}``.  The FIFO is opened close-on-exec, so the engine sees end-of-file
when the command starts.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import signal
import socket
import stat
import struct
import sys
from typing import Any

# -- libc ---------------------------------------------------------------------------------

# The process's own symbols (dlopen(NULL)): libc is there, and nothing is searched for
# (ctypes.util.find_library forks `ldconfig -p`: 10-20 ms per container and per exec).
_LIBC = ctypes.CDLL(None, use_errno=True)

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
PROPAGATION = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
}
MNT_DETACH = 0x2
FLAGS = {
    "ro": MS_RDONLY,
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "strictatime": 1 << 24,
    "bind": MS_BIND,
    "rbind": MS_BIND | MS_REC,
}
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
CAP_LAST = 63
NAMESPACE_FLAGS = {
    "user": 0x10000000,
    "ipc": 0x08000000,
    "uts": 0x04000000,
    "net": 0x40000000,
    "pid": 0x20000000,
    "mnt": 0x00020000,
}
#: ``pivot_root`` by number where libc has no wrapper (glibc < 2.34).
PIVOT_ROOT_SYSCALL = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


class InitError(Exception):
    """A step failed; the text is what the engine reports."""


def _reason(exc: OSError) -> str:
    """An OS error as Go prints it (``no such file or directory``)."""
    return (exc.strerror or str(exc)).lower()


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise InitError(f"{what}: {os.strerror(code).lower()}")


def mount(source: str, target: str, fstype: str, flags: int, data: str, what: str) -> None:
    """``mount(2)``; errors read like Go's (``operation not permitted``)."""
    _check(
        _LIBC.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        what,
    )


def pivot_root(new_root: str, put_old: str) -> None:
    if hasattr(_LIBC, "pivot_root"):
        _check(_LIBC.pivot_root(new_root.encode(), put_old.encode()), "pivot_root")
        return
    number = PIVOT_ROOT_SYSCALL.get(platform.machine())
    if number is None:
        raise InitError(f"pivot_root: unknown system call number on {platform.machine()}")
    _check(_LIBC.syscall(number, new_root.encode(), put_old.encode()), "pivot_root")


def prctl(option: int, arg: int, what: str) -> None:
    _check(_LIBC.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), what)


def setns(fd: int, kind: str) -> None:
    _check(_LIBC.setns(fd, NAMESPACE_FLAGS[kind]), f"setns {kind}")


# -- reporting ----------------------------------------------------------------------------


class Status:
    """The status FIFO (close-on-exec)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)

    def send(self, **message: Any) -> None:
        os.write(self.fd, (json.dumps(message) + "\n").encode())


# -- create -------------------------------------------------------------------------------


def loopback_up() -> None:
    """``lo`` up in a new network namespace (libnetwork's ``loopbackUp``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        import fcntl

        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def perform(entry: dict[str, Any]) -> None:
    """One operation of the plan: ``mount``, or a ``mkdir``/``touch``/``symlink`` inside a
    file system the plan mounted (a fresh, empty one: nothing there can be a link)."""
    op = entry["op"]
    if op == "mkdir":
        os.makedirs(entry["path"], mode=0o755, exist_ok=True)
    elif op == "touch":
        os.makedirs(os.path.dirname(entry["path"]), mode=0o755, exist_ok=True)
        os.close(os.open(entry["path"], os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    elif op == "symlink":
        os.symlink(entry["to"], entry["path"])
    elif op == "mount":
        do_mount(entry)
    else:
        raise InitError(f"unknown operation {op!r} in the plan")


def do_mount(entry: dict[str, Any]) -> None:
    """One mount: a bind (then remounted read-only if asked) or a file system."""
    target, source, kind = entry["target"], entry["source"], entry["type"]
    options = entry.get("options", [])
    flags = 0
    data = []
    propagation = 0
    for option in options:
        if option in PROPAGATION:
            propagation = PROPAGATION[option]
        elif option in FLAGS:
            flags |= FLAGS[option]
        else:
            data.append(option)
    what = f'error mounting "{source}" to rootfs at "{entry["destination"]}"'
    if kind == "bind":
        mount(source, target, "", flags & (MS_BIND | MS_REC), "", what)
        extra = flags & ~(MS_BIND | MS_REC)
        if extra:
            mount("", target, "", MS_REMOUNT | MS_BIND | extra, "", what)
        if propagation:
            mount("", target, "", propagation, "", what)
        return
    mount(source, target, kind, flags, ",".join(data), what)


def enter_root(rootfs: str) -> None:
    """runc's ``pivotRoot``: the root bind-mounted on itself, pivoted, the old root dropped."""
    os.chdir(rootfs)
    pivot_root(".", ".")
    _check(_LIBC.umount2(b".", MNT_DETACH), "unmount old root")
    os.chdir("/")


def mask(paths: list[str], readonly: list[str]) -> None:
    """Docker's masked paths (``/dev/null`` or an empty read-only tmpfs over them) and
    read-only paths (bound on themselves, read-only); missing ones are skipped."""
    for path in paths:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(info.st_mode):
            mount("tmpfs", path, "tmpfs", MS_RDONLY, "", f"mask {path}")
        else:
            mount("/dev/null", path, "", MS_BIND, "", f"mask {path}")
    for path in readonly:
        if not os.path.lexists(path):
            continue
        mount(path, path, "", MS_BIND | MS_REC, "", f"read-only {path}")
        mount("", path, "", MS_REMOUNT | MS_BIND | MS_RDONLY, "", f"read-only {path}")


def drop_privileges(process: dict[str, Any]) -> None:
    """Bounding set to the kept capabilities, then groups and user, then no_new_privs."""
    keep = set(process["capabilities"])
    for cap in range(CAP_LAST + 1):
        if cap in keep:
            continue
        if _LIBC.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) != 0:
            if ctypes.get_errno() == errno.EINVAL:  # beyond the kernel's last capability
                break
            _check(-1, f"drop capability {cap}")
    _LIBC.prctl(PR_CAP_AMBIENT, ctypes.c_ulong(PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0)
    try:
        if not process.get("in_user_namespace"):  # setgroups is denied in one of ours
            os.setgroups(process["groups"])
        os.setgid(process["gid"])
        os.setuid(process["uid"])
    except OSError as exc:
        raise InitError(f"setup user: {_reason(exc)}") from None
    if process.get("no_new_privileges"):
        prctl(PR_SET_NO_NEW_PRIVS, 1, "no_new_privs")
    # Changing the user clears the parent-death signal: set it again.
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "set parent death signal")


def look_path(name: str, env: dict[str, str]) -> str:
    """Go's ``exec.LookPath`` as runc uses it, with runc's error texts."""
    if "/" in name:
        _executable(name, name)
        return name
    for directory in env.get("PATH", "").split(":"):
        candidate = os.path.join(directory or ".", name)
        try:
            _executable(candidate, name)
        except InitError:
            continue
        return candidate
    raise InitError(f'exec: "{name}": executable file not found in $PATH')


def _executable(path: str, name: str) -> None:
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InitError(f'exec: "{name}": stat {path}: {_reason(exc)}') from None
    if stat.S_ISDIR(info.st_mode):
        raise InitError(f'exec: "{name}": is a directory')
    if not os.access(path, os.X_OK):
        raise InitError(f'exec: "{name}": permission denied')


def restore_signals() -> None:
    """What Python changed at start-up goes back to the default before the command runs."""
    for name in ("SIGPIPE", "SIGXFSZ", "SIGINT", "SIGQUIT"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def wait_for_go(fd: int) -> bool:
    """Block until the engine writes ``g`` (start); anything else or end-of-file aborts."""
    os.set_blocking(fd, True)
    try:
        data = os.read(fd, 1)
    finally:
        os.close(fd)
    return data == b"g"


def create(plan: dict[str, Any], status: Status) -> None:
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "set parent death signal")
    status.send(pid=int(os.readlink("/proc/self")))
    # Opened now: the FIFO is out of reach once the root has moved.  The engine holds
    # the other end open from before the start, so a non-blocking open cannot miss it.
    go = os.open(plan["go_fifo"], os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    mount("", "/", "", MS_REC | MS_PRIVATE, "", "make / private")
    socket.sethostname(plan["hostname"])
    if plan.get("new_network"):
        loopback_up()
    rootfs = plan["rootfs"]
    mount(rootfs, rootfs, "", MS_BIND | MS_REC, "", "bind the root on itself")
    for entry in plan["operations"]:
        perform(entry)
    enter_root(rootfs)
    mask(plan.get("masked", []), plan.get("readonly_paths", []))
    if plan.get("readonly_rootfs"):
        mount("", "/", "", MS_REMOUNT | MS_BIND | MS_RDONLY, "", "read-only root")
    run(plan["process"], status, go)


def run(process: dict[str, Any], status: Status | None, go: int | None) -> None:
    """Working directory, privileges, executable lookup, then (after ``go``) ``execve``."""
    env = dict(item.split("=", 1) if "=" in item else (item, "") for item in process["env"])
    cwd = process["cwd"]
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise InitError(
            f'chdir to cwd ("{cwd}") set in config.json failed: {_reason(exc)}'
        ) from None
    drop_privileges(process)
    args = process["args"]
    path = look_path(args[0], env)
    if status is not None:
        status.send(ready=True)
    if go is not None and not wait_for_go(go):
        raise SystemExit(137)
    restore_signals()
    try:
        os.execve(path, args, env)
    except OSError as exc:
        raise InitError(f'exec: "{args[0]}": {_reason(exc)}') from None


# -- exec ---------------------------------------------------------------------------------


def exec_in(plan: dict[str, Any], status: Status) -> int:
    """``docker exec``: join the container's namespaces, fork the command, wait for it."""
    target = plan["target_pid"]
    # Rootless, the container's user namespace owns the others: it is joined first.
    kinds: tuple[str, ...] = ("ipc", "uts", "net", "pid", "mnt")
    if plan["process"].get("in_user_namespace"):
        kinds = ("user", *kinds)
    fds = {}
    try:
        for kind in kinds:
            fds[kind] = os.open(f"/proc/{target}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise InitError(f"container process {target} is gone: {_reason(exc)}") from None
    for kind in kinds:
        setns(fds.pop(kind), kind)
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:
        os.close(read_end)
        try:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "set parent death signal")
            run(plan["process"], None, None)
        except InitError as exc:
            os.write(write_end, str(exc).encode())
            missing = "not found" in str(exc) or "no such file" in str(exc)
            raise SystemExit(127 if missing else 126) from None
        raise SystemExit(127)  # not reached: run() execs
    os.close(write_end)
    status.send(pid=child)
    failure = b""
    while chunk := os.read(read_end, 4096):
        failure += chunk
    os.close(read_end)
    if failure:
        status.send(error=failure.decode(errors="replace"))
    else:
        status.send(ready=True)
    os.close(status.fd)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the engine ends execs through the container
    _, code = os.waitpid(child, 0)
    if os.WIFSIGNALED(code):
        return 128 + os.WTERMSIG(code)
    return os.WEXITSTATUS(code)


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as file:
        plan = json.load(file)
    status = Status(plan["status_fifo"])
    try:
        if plan["mode"] == "exec":
            return exec_in(plan, status)
        create(plan, status)
    except InitError as exc:
        status.send(error=str(exc))
        return 127 if "not found" in str(exc) else 126 if "permission denied" in str(exc) else 128
    except OSError as exc:
        status.send(error=f"{exc.strerror or exc}".lower())
        return 128
    except Exception as exc:  # a bug here: say it where the engine reads
        status.send(error=f"container init failed: {exc!r}")
        return 128
    return 128  # not reached: create() execs


if __name__ == "__main__":
    sys.exit(main(sys.argv))
