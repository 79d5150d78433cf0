"""A directory tree seen from inside, as a chroot with bind mounts sees it.

dockerd never resolves a user's path on the host.  The archive API (``docker cp``)
works in a private mount namespace whose root is the container's rootfs, with each
volume bind-mounted at its destination (moby/moby daemon/containerfs_linux.go,
``openContainerFS``, v28.5.2); ``plugin create`` unpacks its upload inside a chroot
(moby/go-archive chrootarchive, ``Untar``).  In there the kernel resolves ``..`` and
symbolic links, absolute and relative, without ever leaving the root.

The emulator has no namespace, so :class:`ScopedFS` walks each path itself, one
component at a time, on ``O_PATH`` descriptors opened with ``O_NOFOLLOW``:

* a symbolic link is read and its target walked again, from the scope's root when it
  is absolute and from the link's directory when it is relative (at most 40 links, the
  kernel's limit: more is ``ELOOP``);
* ``..`` goes to the directory the walk came from and stops at the root; ``..`` from
  the top of a mount goes back to the directory it is mounted on;
* a mount point switches to the mount's host directory.

Operations then act on a (directory descriptor, name) pair with the ``*at`` system
calls and never follow the last component unless asked, so a symbolic link swapped in
after the walk (a running plugin writing its own volume) cannot send them outside.

:meth:`ScopedFS.locate` is the kernel's walk (a missing directory on the way is
``ENOENT``); :meth:`ScopedFS.follow_in_scope` is moby/sys/symlink
``FollowSymlinkInScope`` (missing components are taken as written), which dockerd uses
for the ``linkTarget`` of a stat.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat as statmod
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs

__all__ = [
    "MAX_LINKS",
    "Located",
    "Mount",
    "ScopedFS",
    "go_base",
    "go_clean",
    "go_file_mode",
    "go_join",
    "remove_tree",
]

#: The kernel's ``MAXSYMLINKS``: links followed in one walk before ``ELOOP``.
MAX_LINKS = 40

_O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_O_READ_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC

# Go's os.FileMode type bits (io/fs/fs.go), as ``PathStat.mode`` carries them.
_GO_DIR = 1 << 31
_GO_SYMLINK = 1 << 27
_GO_DEVICE = 1 << 26
_GO_NAMED_PIPE = 1 << 25
_GO_SOCKET = 1 << 24
_GO_SETUID = 1 << 23
_GO_SETGID = 1 << 22
_GO_CHAR_DEVICE = 1 << 21
_GO_STICKY = 1 << 20
_GO_TYPE_BITS = {
    statmod.S_IFDIR: _GO_DIR,
    statmod.S_IFLNK: _GO_SYMLINK,
    statmod.S_IFBLK: _GO_DEVICE,
    statmod.S_IFCHR: _GO_DEVICE | _GO_CHAR_DEVICE,
    statmod.S_IFIFO: _GO_NAMED_PIPE,
    statmod.S_IFSOCK: _GO_SOCKET,
}


def go_file_mode(st_mode: int) -> int:
    """Go's ``os.FileMode`` for a ``stat`` mode (``fillFileStatFromSys``)."""
    mode = st_mode & 0o777
    mode |= _GO_TYPE_BITS.get(statmod.S_IFMT(st_mode), 0)
    if st_mode & statmod.S_ISUID:
        mode |= _GO_SETUID
    if st_mode & statmod.S_ISGID:
        mode |= _GO_SETGID
    if st_mode & statmod.S_ISVTX:
        mode |= _GO_STICKY
    return mode


def go_clean(path: str) -> str:
    """Go's ``filepath.Clean``: lexical, ``..`` kept at the front of a relative path."""
    if path == "":
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):  # POSIX keeps two leading slashes; Go does not
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def go_join(base: str, name: str) -> str:
    """Go's ``filepath.Join(base, name)``: an absolute ``name`` is still joined below ``base``."""
    return go_clean(f"{base}/{name}")


def go_base(path: str) -> str:
    """Go's ``filepath.Base``: the last element, trailing slashes ignored; ``/`` for root."""
    if path == "":
        return "."
    stripped = path.rstrip("/")
    if stripped == "":
        return "/"
    return stripped.rsplit("/", 1)[-1]


@attrs.frozen
class Mount:
    """A host directory mounted at ``destination`` (absolute, inside the scope)."""

    destination: str
    source: Path
    writable: bool = True


@attrs.frozen
class Located:
    """Where a walk ended: the name ``name`` in the directory open as ``parent``.

    ``name`` is ``"."`` when the path names a directory the walk stood in (the root, a
    mount's top, ``a/..``).  ``virtual`` is the resolved path inside the scope; ``mount``
    the mount that holds it (None: the root tree); ``stat`` its ``lstat`` (None: it does
    not exist, only its directory does).  ``parent`` is None for a missing directory
    reached by :meth:`ScopedFS.follow_in_scope`.  The descriptor belongs to the
    :meth:`ScopedFS.locate` block.
    """

    parent: int | None
    name: str
    virtual: str
    mount: Mount | None
    stat: os.stat_result | None

    @property
    def exists(self) -> bool:
        return self.stat is not None

    @property
    def is_dir(self) -> bool:
        return self.stat is not None and statmod.S_ISDIR(self.stat.st_mode)

    @property
    def is_symlink(self) -> bool:
        return self.stat is not None and statmod.S_ISLNK(self.stat.st_mode)


@attrs.define
class _Dir:
    """A directory the walk stands in (``fd`` None: a missing one, for scope semantics)."""

    virtual: str
    fd: int | None
    mount: Mount | None


def _parts(path: str) -> list[str]:
    """Path components; a trailing slash becomes a final ``.`` (the kernel then follows)."""
    parts = [p for p in path.split("/") if p]
    if path.endswith("/") and parts:
        parts.append(".")
    return parts


def _os_error(code: int, virtual: str) -> OSError:
    return OSError(code, os.strerror(code), virtual)


class ScopedFS:
    """``root`` (a host directory) with ``mounts``, walked as from inside a chroot.

    Use it as a context manager: entering opens the root and every mount source
    (``O_PATH``) and resolves each mount's destination inside the scope, creating it
    when missing as dockerd's ``openContainerFS`` does; leaving closes them.
    """

    def __init__(self, root: Path, mounts: Sequence[Mount] = ()) -> None:
        self.root = root
        self._wanted = sorted(mounts, key=lambda m: len(_parts(m.destination)))
        self._mounts: dict[str, Mount] = {}
        self._fds: dict[str, int] = {}
        self._root_fd: int | None = None

    def __enter__(self) -> ScopedFS:
        self._root_fd = os.open(self.root, _O_PATH_DIR)
        try:
            for mount in self._wanted:
                self._add_mount(mount)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every descriptor the scope holds."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        self._mounts.clear()
        if self._root_fd is not None:
            os.close(self._root_fd)
            self._root_fd = None

    def _add_mount(self, mount: Mount) -> None:
        source = os.open(mount.source, _O_PATH_DIR)
        try:
            target = self.follow_in_scope(mount.destination)
            self.make_dirs(target)
        except BaseException:
            os.close(source)
            raise
        self._fds[target] = source
        self._mounts[target] = mount

    @property
    def mounts(self) -> dict[str, Mount]:
        """The mounts by their resolved destination."""
        return dict(self._mounts)

    def mount_fd(self, virtual: str) -> int | None:
        """The open top directory of the mount at ``virtual``, if one is mounted there."""
        return self._fds.get(virtual)

    # -- walking --------------------------------------------------------------------

    @contextlib.contextmanager
    def locate(self, path: str, *, follow_last: bool = False) -> Iterator[Located]:
        """Walk ``path`` (relative paths start at the root) as the kernel would.

        The last component is followed only with ``follow_last`` (or a trailing
        slash).  A missing last component gives ``stat=None``; a missing or
        non-directory component on the way raises ``ENOENT`` / ``ENOTDIR``; a loop
        ``ELOOP``.  The ``OSError``'s filename is the path inside the scope.
        """
        opened: list[int] = []
        try:
            yield self._walk(path, follow_last=follow_last, missing_ok=False, opened=opened)
        finally:
            for fd in opened:
                os.close(fd)

    def follow_in_scope(self, path: str) -> str:
        """``FollowSymlinkInScope(path, "/")``: every link followed, missing parts accepted."""
        opened: list[int] = []
        try:
            return self._walk(path, follow_last=True, missing_ok=True, opened=opened).virtual
        finally:
            for fd in opened:
                os.close(fd)

    def _walk(
        self, path: str, *, follow_last: bool, missing_ok: bool, opened: list[int]
    ) -> Located:
        assert self._root_fd is not None, "use the ScopedFS as a context manager"
        stack = [_Dir("/", self._root_fd, None)]
        pending = deque(_parts(path))
        links = 0
        while pending:
            part = pending.popleft()
            if part == ".":
                continue
            if part == "..":
                if len(stack) > 1:
                    stack.pop()
                continue
            here = stack[-1]
            virtual = posixpath.join(here.virtual, part)
            last = not pending
            mount_fd = self._fds.get(virtual)
            if mount_fd is not None:
                stack.append(_Dir(virtual, mount_fd, self._mounts[virtual]))
                continue
            info = self._lstat(here, part, virtual, last=last, missing_ok=missing_ok)
            if info is None:
                if last:
                    return Located(here.fd, part, virtual, here.mount, None)
                stack.append(_Dir(virtual, None, here.mount))
                continue
            if statmod.S_ISLNK(info.st_mode) and (follow_last or not last):
                links += 1
                if links > MAX_LINKS:
                    raise _os_error(errno.ELOOP, virtual)
                assert here.fd is not None
                target = os.readlink(part, dir_fd=here.fd)
                if target.startswith("/"):
                    del stack[1:]
                pending.extendleft(reversed(_parts(target)))
                continue
            if last:
                return Located(here.fd, part, virtual, here.mount, info)
            if not statmod.S_ISDIR(info.st_mode):
                raise _os_error(errno.ENOTDIR, virtual)
            assert here.fd is not None
            fd = os.open(part, _O_PATH_DIR | os.O_NOFOLLOW, dir_fd=here.fd)
            opened.append(fd)
            stack.append(_Dir(virtual, fd, here.mount))
        here = stack[-1]
        info = os.stat(here.fd) if here.fd is not None else None
        return Located(here.fd, ".", here.virtual, here.mount, info)

    @staticmethod
    def _lstat(
        here: _Dir, part: str, virtual: str, *, last: bool, missing_ok: bool
    ) -> os.stat_result | None:
        """``lstat`` of ``part`` in ``here``; None when it is missing and that is allowed."""
        if here.fd is None:
            if missing_ok:
                return None
            raise _os_error(errno.ENOENT, virtual)
        try:
            return os.stat(part, dir_fd=here.fd, follow_symlinks=False)
        except FileNotFoundError:
            if last or missing_ok:
                return None
            raise _os_error(errno.ENOENT, virtual) from None

    # -- changing the tree ----------------------------------------------------------

    def make_dirs(self, path: str, mode: int = 0o755) -> None:
        """``os.MkdirAll`` inside the scope: create each missing directory of ``path``.

        An existing link on the way must lead to a directory (``file exists`` otherwise,
        as ``MkdirAll`` fails on a dangling link); nothing is created through one.
        """
        current = "/"
        for part in _parts(path):
            current = posixpath.join(current, part)
            with self.locate(current) as found:
                if found.is_dir:
                    continue
                if found.is_symlink:
                    if self._is_dir(current):
                        continue
                    raise _os_error(errno.EEXIST, found.virtual)
                if found.exists:
                    raise _os_error(errno.ENOTDIR, found.virtual)
                assert found.parent is not None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(found.name, mode, dir_fd=found.parent)
            # the link (if any) now leads somewhere real: walk on from its target
            current = self.follow_in_scope(current)

    def _is_dir(self, path: str) -> bool:
        with self.locate(path, follow_last=True) as found:
            return found.is_dir

    def remove(self, found: Located) -> None:
        """``os.RemoveAll`` of a located entry (never following a link, never leaving it)."""
        if found.stat is None or found.name == "." or found.parent is None:
            return
        if statmod.S_ISDIR(found.stat.st_mode):
            fd = os.open(found.name, _O_READ_DIR | os.O_NOFOLLOW, dir_fd=found.parent)
            try:
                _empty_dir(fd)
            finally:
                os.close(fd)
            os.rmdir(found.name, dir_fd=found.parent)
        else:
            os.unlink(found.name, dir_fd=found.parent)


def _empty_dir(fd: int) -> None:
    """Remove everything inside the open directory ``fd`` without following links.

    Iterative (a hostile tar may nest deeper than Python's recursion limit); the
    descriptors of the directories being emptied stay open until each is done.
    """
    stack: list[tuple[int, str | None, int, list[str]]] = [(fd, None, -1, os.listdir(fd))]
    try:
        while stack:
            current, name, parent, children = stack[-1]
            if not children:
                stack.pop()
                if name is not None:
                    os.close(current)
                    os.rmdir(name, dir_fd=parent)
                continue
            child = children.pop()
            info = os.stat(child, dir_fd=current, follow_symlinks=False)
            if statmod.S_ISDIR(info.st_mode):
                opened = os.open(child, _O_READ_DIR | os.O_NOFOLLOW, dir_fd=current)
                stack.append((opened, child, current, []))
                stack[-1][3].extend(os.listdir(opened))
            else:
                os.unlink(child, dir_fd=current)
    finally:
        for current, name, _parent, _children in stack:
            if name is not None:
                os.close(current)


def remove_tree(path: Path) -> None:
    """Remove the host directory ``path`` and everything in it (links are not followed).

    Used to clean up after a failed unpack; a missing ``path`` is not an error.
    """
    try:
        fd = os.open(path, _O_READ_DIR | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    try:
        _empty_dir(fd)
    finally:
        os.close(fd)
    os.rmdir(path)
