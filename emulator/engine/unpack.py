"""Unpacking an untrusted tar into a :class:`~emulator.engine.scoped_fs.ScopedFS`.

The one place the emulator writes files it was sent: ``POST /plugins/create``,
``PUT /containers/{id}/archive`` (``docker cp`` into a container), the engine's own
``containers.copy`` and, later, plugin layers pulled from a registry.  It mirrors
moby/go-archive ``Unpack`` and ``UnpackLayer`` (archive.go, diff.go; vendored by
moby v28.5.2) as dockerd runs them inside a chroot or the container's mount namespace:

* each name is cleaned (``filepath.Clean``); one that leaves the destination is
  ``"NAME" is outside of "DEST"``; a symbolic link whose target, joined to its
  directory, does not start with the destination is ``invalid symlink "P" -> "T"``; a
  hard link likewise ``invalid hardlink "P" -> "T"``;
* every other path is walked *inside* the scope (links on the way followed, ``..``
  stopped at the root), the last component is never followed: an existing entry is
  removed and replaced, except a directory by a directory (merged);
  ``no_overwrite_dir_non_dir`` refuses both swaps with dockerd's texts;
* missing parent directories are created 0755; owners are set from the header (when
  the emulator runs as root), then modes (set-id and sticky bits included), then
  times, directories' last; ``SCHILY.xattr.*`` records become extended attributes
  where the file system takes them;
* ``layer=True`` adds ``UnpackLayer``'s AUFS whiteouts: ``.wh.NAME`` removes ``NAME``,
  ``.wh..wh..opq`` empties its directory of what this layer did not bring.

Stricter than dockerd, on purpose (the emulator's files live on the host, not in a
container with a device cgroup): character and block devices and FIFOs are refused,
and :class:`UnpackLimits` bounds the entries, the bytes written (sparse files count
their full size) and ``config.json``-style side reads.  Tar read errors get Go's
``archive/tar`` texts where one matches.  The caller runs :func:`unpack` in a worker
thread; it never touches trio.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import logging
import os
import posixpath
import stat as statmod
import tarfile
from collections.abc import Iterable, Iterator
from typing import IO, Any, Final

import attrs

from emulator.engine.scoped_fs import Located, ScopedFS, go_clean, go_join
from emulator.golang.strconv import quote as go_quote

__all__ = [
    "UnpackError",
    "UnpackLimits",
    "UnpackOptions",
    "UnpackReport",
    "read_members",
    "renamed",
    "unpack",
    "unpack_members",
]

log = logging.getLogger("emulator.unpack")

#: Go's ``archive/tar`` errors, as dockerd's texts carry them.
TAR_INVALID_HEADER: Final = "archive/tar: invalid tar header"
UNEXPECTED_EOF: Final = "unexpected EOF"

_WHITEOUT_PREFIX: Final = ".wh."
_WHITEOUT_META: Final = ".wh..wh."
_WHITEOUT_OPAQUE: Final = ".wh..wh..opq"
_CHUNK: Final = 1 << 20
_REFUSED_TYPES: Final = {
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "FIFO",
}
_READ_DIR: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_UNIX_MAX_TIME: Final = (1 << 63) // 1_000_000_000 - 1


class UnpackError(Exception):
    """The archive was refused or could not be unpacked; ``str()`` is dockerd's text.

    ``http_status`` is what the Engine API answers (dockerd: 500 for all of these).
    ``reading`` says the tar itself was bad: ``"header"`` (a header could not be
    read) or ``"content"`` (a file's data was cut short); callers that read the tar
    through a pipe, as ``plugin create`` does, prefix their own words.
    """

    def __init__(self, text: str, *, http_status: int = 500, reading: str = "") -> None:
        super().__init__(text)
        self.text = text
        self.http_status = http_status
        self.reading = reading

    def __str__(self) -> str:
        return self.text


@attrs.frozen
class UnpackLimits:
    """Bounds on one archive (dockerd has none; the emulator must not fill the disk)."""

    max_entries: int = 250_000
    """Entries (files, directories, links) in the archive."""
    max_bytes: int = 4 << 30
    """File content written, in bytes (a sparse file counts its full size)."""


@attrs.frozen
class UnpackOptions:
    """How :func:`unpack_members` writes (moby's ``TarOptions`` that the emulator uses)."""

    no_overwrite_dir_non_dir: bool = False
    """``NoOverwriteDirNonDir``: never replace a directory by a non-directory, or back."""
    chown: bool = attrs.field(factory=lambda: os.geteuid() == 0)
    """Set owners from the headers (``Lchown``); only possible as root."""
    layer: bool = False
    """Apply AUFS whiteouts as ``UnpackLayer`` does (image and plugin layers)."""
    limits: UnpackLimits = UnpackLimits()


@attrs.define
class UnpackReport:
    """What one unpack wrote."""

    entries: int = 0
    bytes: int = 0
    """File content written (``UnpackLayer``'s size counts the same)."""


def read_members(
    archive: IO[bytes], *, compressed: bool = False, limits: UnpackLimits = UnpackLimits()
) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    """The entries of the tar in ``archive``, each with the open archive to read it from.

    ``compressed`` accepts gzip, bzip2 and xz as dockerd's ``DecompressStream`` does;
    otherwise the bytes must be a plain tar (``tar.NewReader``).  An empty archive has
    no entries (Go: ``EOF``).  Read errors raise :class:`UnpackError` with Go's texts;
    more than ``limits.max_entries`` entries is refused.
    """
    tar = _open_tar(archive, compressed=compressed)
    if tar is None:
        return
    with tar:
        count = 0
        while True:
            try:
                member = tar.next()
            except tarfile.ReadError as exc:
                text = UNEXPECTED_EOF if "unexpected end" in str(exc) else TAR_INVALID_HEADER
                raise UnpackError(text, reading="header") from None
            except (EOFError, OSError):
                raise UnpackError(UNEXPECTED_EOF, reading="header") from None
            if member is None:
                _check_end(tar)
                return
            count += 1
            if count > limits.max_entries:
                raise UnpackError(
                    f"the archive has more than {limits.max_entries} entries: "
                    "plugin-emulator refuses it (split it, or raise UnpackLimits.max_entries)"
                )
            # tarfile keeps every header it read; nothing here looks back.
            vars(tar)["members"].clear()
            yield member, tar


def _check_end(tar: tarfile.TarFile) -> None:
    """Go's verdict where tarfile stopped: two zero blocks or the end of the data.

    tarfile ends quietly at any header it cannot read past the first; Go's reader
    calls that ``archive/tar: invalid tar header`` (``unexpected EOF`` when cut short).
    """
    source: Any = tar.fileobj
    if source is None or not getattr(source, "seekable", lambda: False)():
        return
    source.seek(tar.offset)
    first = source.read(tarfile.BLOCKSIZE)
    if not first:
        return
    if len(first) < tarfile.BLOCKSIZE:
        raise UnpackError(UNEXPECTED_EOF, reading="header")
    if first.count(0) != tarfile.BLOCKSIZE:
        raise UnpackError(TAR_INVALID_HEADER, reading="header")
    second = source.read(tarfile.BLOCKSIZE)
    if second and len(second) < tarfile.BLOCKSIZE:
        raise UnpackError(UNEXPECTED_EOF, reading="header")
    if second and second.count(0) != tarfile.BLOCKSIZE:
        raise UnpackError(TAR_INVALID_HEADER, reading="header")


def _open_tar(archive: IO[bytes], *, compressed: bool) -> tarfile.TarFile | None:
    """The archive opened for reading; None when it is empty (Go's ``EOF``)."""
    try:
        return tarfile.open(fileobj=archive, mode="r:*" if compressed else "r:")
    except tarfile.ReadError as exc:
        if "empty file" in str(exc):
            return None
        raise UnpackError(TAR_INVALID_HEADER, reading="header") from None
    except (EOFError, OSError):  # a truncated compressed stream
        raise UnpackError(UNEXPECTED_EOF, reading="header") from None


def unpack(
    archive: IO[bytes],
    fs: ScopedFS,
    dest: str = "/",
    options: UnpackOptions = UnpackOptions(),
    *,
    compressed: bool = False,
) -> UnpackReport:
    """Unpack the tar in ``archive`` into the directory ``dest`` of ``fs`` (see the module)."""
    members = read_members(archive, compressed=compressed, limits=options.limits)
    return unpack_members(members, fs, dest, options)


def unpack_members(
    members: Iterable[tuple[tarfile.TarInfo, tarfile.TarFile]],
    fs: ScopedFS,
    dest: str = "/",
    options: UnpackOptions = UnpackOptions(),
) -> UnpackReport:
    """Unpack ``members`` (from :func:`read_members`, possibly renamed) into ``dest``.

    ``dest`` is a path inside ``fs`` naming an existing directory (resolved, no links).
    """
    writer = _Writer(fs, go_clean("/" + dest), options)
    for member, tar in members:
        writer.entry(member, tar)
    writer.finish()
    return writer.report


def renamed(member: tarfile.TarInfo, name: str, linkname: str | None = None) -> tarfile.TarInfo:
    """A copy of ``member`` under another name (and link target), to unpack elsewhere."""
    other = copy.copy(member)
    other.name = name
    if linkname is not None:
        other.linkname = linkname
    return other


class _Writer:
    """The state of one unpack: the destination, the budget, directories to date."""

    def __init__(self, fs: ScopedFS, dest: str, options: UnpackOptions) -> None:
        self.fs = fs
        self.dest = dest
        self.options = options
        self.report = UnpackReport()
        self.dirs: list[tuple[str, tarfile.TarInfo]] = []
        self.unpacked: set[str] = set()

    def entry(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        """Unpack one entry (``Unpack``'s loop body)."""
        self.report.entries += 1
        name = go_clean(member.name)
        path = go_join(self.dest, name)
        rel = posixpath.relpath(path, self.dest)
        if rel == ".." or rel.startswith("../"):
            raise UnpackError(f"{go_quote(name)} is outside of {go_quote(self.dest)}")
        if self.options.layer and self._whiteout(name, path):
            return
        refused = _REFUSED_TYPES.get(member.type)
        if refused is not None:
            raise UnpackError(
                f"refusing to create the {refused} {go_quote(path)}: plugin-emulator keeps "
                "plugins' and containers' files on the host, so it creates no device nodes "
                "or FIFOs (remove it from the archive)",
                http_status=400,
            )
        try:
            if self._write(member, tar, name, path):
                return
        except OSError as exc:
            raise UnpackError(_os_text(exc, member, path)) from None
        if member.isdir():
            self.dirs.append((path, member))
        self.unpacked.add(path)

    def _write(self, member: tarfile.TarInfo, tar: tarfile.TarFile, name: str, path: str) -> bool:
        """Create the entry; True when it was skipped (``.`` onto a directory)."""
        parent = posixpath.dirname(path)
        try:
            with self.fs.locate(parent) as found:
                missing_parent = not found.exists
        except FileNotFoundError:  # a directory above it is missing too
            missing_parent = True
        if missing_parent:
            self.fs.make_dirs(parent)
        with self.fs.locate(path) as found:
            if found.exists and self._keep_existing(found, member, name, path):
                return True
            self._create(found, member, tar, path)
        return False

    def _keep_existing(self, found: Located, member: tarfile.TarInfo, name: str, path: str) -> bool:
        """Remove what is at ``path`` unless a directory meets a directory (True: skip)."""
        is_dir = found.is_dir
        if self.options.no_overwrite_dir_non_dir and is_dir and not member.isdir():
            raise UnpackError(
                f"cannot overwrite directory {go_quote(path)} with non-directory "
                f"{go_quote(self.dest)}"
            )
        if self.options.no_overwrite_dir_non_dir and not is_dir and member.isdir():
            raise UnpackError(
                f"cannot overwrite non-directory {go_quote(path)} with directory "
                f"{go_quote(self.dest)}"
            )
        if is_dir and name == ".":
            return True
        if not is_dir or not member.isdir():
            self.fs.remove(found)
        return False

    def _create(
        self, found: Located, member: tarfile.TarInfo, tar: tarfile.TarFile, path: str
    ) -> None:
        """``createTarFile``: the entry itself, then owner, mode, times and xattrs."""
        if found.parent is None or found.name == ".":
            if member.isdir():
                return
            raise UnpackError(f"cannot replace {go_quote(path)}: it is a mount point or root")
        parent, name = found.parent, found.name
        if member.isdir():
            if not found.is_dir:
                os.mkdir(name, 0o700, dir_fd=parent)
            self._finish_dir(parent, name, member)
        elif member.isreg():
            self._write_file(parent, name, member, tar)
        elif member.islnk():
            self._hard_link(parent, name, member, path)
            self._finish_link(parent, name, member)
        elif member.issym():
            target = go_join(posixpath.dirname(path), member.linkname)
            if not target.startswith(self.dest):
                raise UnpackError(
                    f"invalid symlink {go_quote(path)} -> {go_quote(member.linkname)}"
                )
            os.symlink(member.linkname, name, dir_fd=parent)
            self._chown(parent, name, member, follow=False)
            with contextlib.suppress(OSError):
                os.utime(name, ns=_times(member), dir_fd=parent, follow_symlinks=False)
        else:
            raise UnpackError(f"unhandled tar header type {member.type[0]}")

    def _write_file(
        self, parent: int, name: str, member: tarfile.TarInfo, tar: tarfile.TarFile
    ) -> None:
        budget = self.options.limits.max_bytes - self.report.bytes
        if member.size > budget:
            raise UnpackError(
                f"the archive holds more than {self.options.limits.max_bytes} bytes of files "
                f"({go_quote(member.name)} is {member.size}): plugin-emulator refuses it"
            )
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, 0o600, dir_fd=parent)
        try:
            source = tar.extractfile(member)
            assert source is not None
            try:
                while chunk := source.read(_CHUNK):
                    os.write(fd, chunk)
            except (tarfile.ReadError, EOFError):
                raise UnpackError(UNEXPECTED_EOF, reading="content") from None
            self.report.bytes += member.size
            self._finish_fd(fd, member)
        finally:
            os.close(fd)

    def _hard_link(self, parent: int, name: str, member: tarfile.TarInfo, path: str) -> None:
        target = go_join(self.dest, member.linkname)
        if not target.startswith(self.dest):
            raise UnpackError(f"invalid hardlink {go_quote(target)} -> {go_quote(member.linkname)}")
        with self.fs.locate(target) as source:
            if not source.exists or source.parent is None or source.name == ".":
                raise UnpackError(f"link {target} {path}: no such file or directory")
            if source.is_dir:
                raise UnpackError(f"link {target} {path}: operation not permitted")
            os.link(
                source.name,
                name,
                src_dir_fd=source.parent,
                dst_dir_fd=parent,
                follow_symlinks=False,
            )

    def _finish_dir(self, parent: int, name: str, member: tarfile.TarInfo) -> None:
        fd = os.open(name, _READ_DIR, dir_fd=parent)
        try:
            self._finish_fd(fd, member, times=False)
        finally:
            os.close(fd)

    def _finish_link(self, parent: int, name: str, member: tarfile.TarInfo) -> None:
        """A hard link's owner, mode and times are its file's (dockerd sets them too)."""
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            if not statmod.S_ISREG(os.fstat(fd).st_mode):
                return
            self._chown(parent, name, member, follow=False)
            magic = f"/proc/self/fd/{fd}"  # an O_PATH descriptor cannot be fchmod'ed
            os.chmod(magic, _mode(member))
            os.utime(magic, ns=_times(member))
        finally:
            os.close(fd)

    def _finish_fd(self, fd: int, member: tarfile.TarInfo, *, times: bool = True) -> None:
        """Owner, then mode (chown clears set-id bits), xattrs, then times."""
        if self.options.chown:
            try:
                os.fchown(fd, member.uid, member.gid)
            except OSError as exc:
                raise UnpackError(
                    f"failed to Lchown {go_quote(member.name)} for UID {member.uid}, "
                    f"GID {member.gid}: {exc.strerror}"
                ) from None
        os.fchmod(fd, _mode(member))
        _set_xattrs(fd, member)
        if times:
            os.utime(fd, ns=_times(member))

    def _chown(self, parent: int, name: str, member: tarfile.TarInfo, *, follow: bool) -> None:
        if not self.options.chown:
            return
        try:
            os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=follow)
        except OSError as exc:
            raise UnpackError(
                f"failed to Lchown {go_quote(member.name)} for UID {member.uid}, "
                f"GID {member.gid}: {exc.strerror}"
            ) from None

    def _whiteout(self, name: str, path: str) -> bool:
        """AUFS whiteouts (``UnpackLayer``); True when the entry is one (not written)."""
        base = posixpath.basename(path)
        if name.startswith(_WHITEOUT_META) and name != _WHITEOUT_OPAQUE:
            if name.startswith(_WHITEOUT_META + "plnk"):
                raise UnpackError(
                    "invalid aufs hardlink: plugin-emulator does not unpack .wh..wh.plnk"
                )
            return True
        if not base.startswith(_WHITEOUT_PREFIX):
            return False
        directory = posixpath.dirname(path)
        if base == _WHITEOUT_OPAQUE:
            for child_path in self._children(directory):
                if child_path not in self.unpacked:
                    with self.fs.locate(child_path) as victim:
                        self.fs.remove(victim)
            return True
        original = posixpath.join(directory, base[len(_WHITEOUT_PREFIX) :])
        with self.fs.locate(original) as victim:
            self.fs.remove(victim)
        return True

    def _children(self, directory: str) -> list[str]:
        """The paths of the entries of ``directory`` (inside the scope)."""
        with self.fs.locate(directory, follow_last=True) as found:
            if not found.is_dir or found.parent is None:
                raise UnpackError(f"lstat {directory}: no such file or directory")
            fd = os.open(found.name, _READ_DIR, dir_fd=found.parent)
            try:
                return [posixpath.join(found.virtual, n) for n in sorted(os.listdir(fd))]
            finally:
                os.close(fd)

    def finish(self) -> None:
        """Directory times last: creating files in them changed them."""
        for path, member in self.dirs:
            with contextlib.suppress(OSError), self.fs.locate(path) as found:
                if found.is_dir and found.parent is not None:
                    fd = os.open(
                        found.name,
                        _READ_DIR,
                        dir_fd=found.parent,
                    )
                    try:
                        os.utime(fd, ns=_times(member))
                    finally:
                        os.close(fd)


def _os_text(exc: OSError, member: tarfile.TarInfo, path: str) -> str:
    """Go's ``*PathError`` / ``*LinkError`` text for the call that failed on ``path``."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    reason = reason[:1].lower() + reason[1:]
    if member.issym():
        return f"symlink {member.linkname} {path}: {reason}"
    if member.islnk():
        return f"link {member.linkname} {path}: {reason}"
    if member.isdir():
        return f"mkdir {path}: {reason}"
    return f"open {path}: {reason}"


def _mode(member: tarfile.TarInfo) -> int:
    """The permission, set-id and sticky bits of the header (``hdrInfo.Mode()``)."""
    return member.mode & 0o7777


def _bound(seconds: float) -> int:
    """``boundTime``: times before the epoch or beyond Go's range become the epoch."""
    if seconds < 0 or seconds > _UNIX_MAX_TIME:
        return 0
    return int(seconds * 1_000_000_000)


def _times(member: tarfile.TarInfo) -> tuple[int, int]:
    """(atime, mtime) in nanoseconds: the later of atime and mtime, then mtime."""
    mtime = float(member.mtime)
    atime = mtime
    with contextlib.suppress(KeyError, ValueError):
        atime = max(float(member.pax_headers["atime"]), mtime)
    return _bound(atime), _bound(mtime)


def _set_xattrs(fd: int, member: tarfile.TarInfo) -> None:
    """``SCHILY.xattr.*`` PAX records; refused by the file system → logged, as dockerd does."""
    for key, value in member.pax_headers.items():
        if not key.startswith("SCHILY.xattr."):
            continue
        attribute = key.removeprefix("SCHILY.xattr.")
        try:
            os.setxattr(fd, attribute, value.encode("utf-8", "surrogateescape"))
        except OSError as exc:
            if exc.errno not in (errno.ENOTSUP, errno.EPERM):
                raise
            log.warning("ignored xattr %s on %s: %s", attribute, member.name, exc.strerror)
