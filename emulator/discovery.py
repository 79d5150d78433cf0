"""Finding v1 plugins on disk, exactly as dockerd v28's ``pkg/plugins`` does.

dockerd looks for a plugin ``NAME`` in a fixed order (first hit wins)::

    /run/docker/plugins/NAME.sock             must be a socket (symlinks followed)
    /run/docker/plugins/NAME/NAME.sock
    /etc/docker/plugins/NAME.spec             any existing path, no type check
    /etc/docker/plugins/NAME/NAME.spec
    /etc/docker/plugins/NAME.json
    /etc/docker/plugins/NAME/NAME.json
    /usr/lib/docker/plugins/...               the same four spec candidates

The first existing spec candidate is read; if it is broken its error is final.
:meth:`LocalRegistry.scan` lists every plugin name the directories advertise.

All directories are relocated under :attr:`PluginPaths.root` so tests and
users need not touch the real ``/run`` or ``/etc``.  Every error's ``str()`` is
dockerd's text; ``hint`` says what to do about it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Annotated, Literal, Protocol

import attrs

from emulator.errors import EmulatorError
from emulator.golang import filepath
from emulator.golang import json as gojson
from emulator.golang import url as gourl
from emulator.golang.errors import PathError
from emulator.golang.json import GoType

__all__ = [
    "DirEntry",
    "DiscoveryError",
    "FileSystem",
    "LocalRegistry",
    "OSFileSystem",
    "PathError",
    "PluginNotFound",
    "PluginPaths",
    "PluginSpec",
    "ScanError",
    "SpecFileError",
    "TLSOptions",
]

PluginKind = Literal["socket", "spec", "json"]


# ---------------------------------------------------------------------------
# data


@attrs.frozen
class PluginPaths:
    """Where dockerd looks for v1 plugins, relocated under ``root``."""

    root: Path = Path("/")

    @classmethod
    def under(cls, root: Path | str) -> PluginPaths:
        """The standard layout below ``root`` (``/`` gives dockerd's real paths)."""
        return cls(Path(root))

    @property
    def sockets_dir(self) -> Path:
        """``ROOT/run/docker/plugins``: plugin unix sockets."""
        return self.root / "run/docker/plugins"

    @property
    def spec_dirs(self) -> tuple[Path, ...]:
        """The ``.spec``/``.json`` directories, in priority order."""
        return (self.root / "etc/docker/plugins", self.root / "usr/lib/docker/plugins")


@attrs.frozen
class TLSOptions:
    """go-connections ``tlsconfig.Options`` as a plugin carries it.

    The last four fields are decoded from ``.json`` files but dockerd's plugin
    client does not use them; they are kept as the raw values.
    """

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure_skip_verify: bool = False
    client_auth: int = 0
    exclusive_root_pools: bool = False
    min_version: int = 0
    passphrase: str = ""


_INSECURE_TLS = TLSOptions(insecure_skip_verify=True)


@attrs.frozen
class PluginSpec:
    """A v1 plugin found on disk.

    ``addr`` is exactly what dockerd stores (``unix://PATH`` for sockets, the
    trimmed file content for ``.spec``, ``Addr`` for ``.json``).  ``tls`` is
    ``None`` when a ``.json`` file has no ``TLSConfig`` (Go default verification).
    """

    name: str
    addr: str
    tls: TLSOptions | None
    source: Path
    kind: PluginKind


@attrs.frozen
class DirEntry:
    """One entry of Go's ``os.ReadDir``: the name and the type bits of ``lstat``."""

    name: str
    mode: int

    @property
    def is_dir(self) -> bool:
        """A real directory (a symlink to one does not count)."""
        return stat.S_ISDIR(self.mode)

    @property
    def is_socket(self) -> bool:
        """A socket itself (a symlink to one does not count)."""
        return stat.S_ISSOCK(self.mode)


# ---------------------------------------------------------------------------
# errors


class DiscoveryError(EmulatorError):
    """A discovery failure; ``str()`` is dockerd's exact text.

    ``name`` is the plugin looked up ("" for a scan), ``path`` the file or
    directory at fault (None when nothing was found), ``hint`` what to do.
    """

    def __init__(self, text: str, *, name: str, path: Path | None, hint: str) -> None:
        super().__init__(text, hint=hint)
        self.name = name
        self.path = path


class PluginNotFound(DiscoveryError):
    """No socket or spec file for the name: dockerd's wrapped ``ErrNotFound``."""

    def __init__(self, name: str, paths: PluginPaths) -> None:
        dirs = " or ".join(str(d) for d in paths.spec_dirs)
        super().__init__(
            f"could not find plugin {name} in v1 plugin registry: plugin not found",
            name=name,
            path=None,
            hint=(
                f"start the plugin listening on {paths.sockets_dir}/{name}.sock, "
                f"or write {name}.spec or {name}.json into {dirs}"
            ),
        )


class SpecFileError(DiscoveryError):
    """The first spec candidate exists but cannot be used; later ones are not tried."""


class ScanError(DiscoveryError):
    """A plugin directory could not be listed, so the whole scan fails."""

    def __init__(self, directory: str, cause: PathError) -> None:
        super().__init__(
            f"error reading dir entries: {cause}",
            name="",
            path=Path(directory),
            hint=f"make {directory} a readable directory, or remove it",
        )


# ---------------------------------------------------------------------------
# file system seam


class FileSystem(Protocol):
    """The file operations discovery needs, with Go's semantics (a test seam)."""

    def stat_mode(self, path: str) -> int | None:
        """``st_mode`` of ``os.Stat`` (symlinks followed), None if it fails."""
        ...

    def read_file(self, path: str) -> bytes:
        """Go's ``os.ReadFile``; raises :class:`PathError` (op ``open`` or ``read``)."""
        ...

    def read_dir(self, path: str) -> list[DirEntry]:
        """Go's ``os.ReadDir``, sorted by name; raises :class:`PathError`."""
        ...


class OSFileSystem:
    """The real file system."""

    def stat_mode(self, path: str) -> int | None:
        """``st_mode`` following symlinks, or None (also for a NUL in ``path``)."""
        try:
            return os.stat(path).st_mode
        except (OSError, ValueError):
            return None

    def read_file(self, path: str) -> bytes:
        """Read all of ``path``: ``open`` errors, then ``read`` errors, as Go names them."""
        fd = _open(path)
        try:
            chunks: list[bytes] = []
            while chunk := _read_chunk(fd, path):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def read_dir(self, path: str) -> list[DirEntry]:
        """Like Go: ``open`` any path, then ``readdirent`` fails if it is no directory."""
        fd = _open(path)
        try:
            with os.scandir(fd) as entries:
                found = [DirEntry(entry.name, _lstat_mode(entry)) for entry in entries]
        except OSError as err:
            raise PathError("readdirent", path, err.errno or errno.EIO) from None
        finally:
            os.close(fd)
        return sorted(found, key=lambda entry: os.fsencode(entry.name))


def _open(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise PathError("open", path, err.errno or errno.EIO) from None
    except ValueError:
        raise PathError("open", path, errno.EINVAL) from None


def _read_chunk(fd: int, path: str) -> bytes:
    try:
        return os.read(fd, 1 << 16)
    except OSError as err:
        raise PathError("read", path, err.errno or errno.EIO) from None


def _lstat_mode(entry: os.DirEntry[str]) -> int:
    try:
        return stat.S_IFMT(entry.stat(follow_symlinks=False).st_mode)
    except OSError:
        return 0


# ---------------------------------------------------------------------------
# Go string and path helpers


def _trim_ext(name: str) -> str:
    """``strings.TrimSuffix(name, filepath.Ext(name))``."""
    ext = filepath.ext(name)
    return name[: len(name) - len(ext)]


def _candidates(base: str, name: str, ext: str) -> tuple[str, str]:
    """dockerd's ``pluginPaths``: ``BASE/NAME.EXT`` then ``BASE/NAME/NAME.EXT``."""
    return filepath.join(base, name + ext), filepath.join(base, name, name + ext)


# ---------------------------------------------------------------------------
# reading spec files

_URL_EXAMPLES = "unix:///run/my.sock or tcp://127.0.0.1:8080"


def _read_error(name: str, path: str, err: PathError) -> SpecFileError:
    return SpecFileError(
        str(err),
        name=name,
        path=Path(path),
        hint=(
            f"dockerd stops at the first existing candidate, {path}: "
            "make it a readable file or remove it"
        ),
    )


def _read_candidate(fs: FileSystem, name: str, path: str) -> bytes:
    try:
        return fs.read_file(path)
    except PathError as err:
        raise _read_error(name, path, err) from err


def _read_spec(fs: FileSystem, name: str, path: str) -> PluginSpec:
    """dockerd's ``readPluginInfo``: the trimmed content must parse as a URL with a scheme."""
    addr = filepath.trim_space(_read_candidate(fs, name, path).decode("utf-8", "surrogateescape"))
    try:
        url = gourl.parse(addr)
    except gourl.URLError as err:
        raise SpecFileError(
            str(err),
            name=name,
            path=Path(path),
            hint=f"write a URL such as {_URL_EXAMPLES} into {path}",
        ) from err
    if not url.scheme:
        raise SpecFileError(
            "Unknown protocol",
            name=name,
            path=Path(path),
            hint=f"write a URL with a scheme such as {_URL_EXAMPLES} into {path}",
        )
    return PluginSpec(name=name, addr=addr, tls=_INSECURE_TLS, source=Path(path), kind="spec")


def _read_json(fs: FileSystem, name: str, path: str) -> PluginSpec:
    """dockerd's ``readPluginJSONInfo``: decode ``Addr`` and ``TLSConfig``, no validation."""
    try:
        plugin = gojson.loads_into(_read_candidate(fs, name, path), _PluginJSON)
    except gojson.GoJSONError as err:
        raise SpecFileError(
            str(err),
            name=name,
            path=Path(path),
            hint=f'write a JSON object such as {{"Addr": "tcp://127.0.0.1:8080"}} into {path}',
        ) from err
    tls = None if plugin.TLSConfig is None else plugin.TLSConfig.options()
    return PluginSpec(name=name, addr=plugin.Addr, tls=tls, source=Path(path), kind="json")


# ---------------------------------------------------------------------------
# .json wire models (Go: pkg/plugins.Plugin, go-connections tlsconfig.Options)


@attrs.frozen
class _TLSConfigJSON:
    """``tlsconfig.Options`` as ``encoding/json`` decodes it (field names are Go's)."""

    __go_name__ = "tlsconfig.Options"

    CAFile: str = ""
    CertFile: str = ""
    KeyFile: str = ""
    InsecureSkipVerify: bool = False
    ClientAuth: Annotated[int, GoType("tls.ClientAuthType", "int")] = 0
    ExclusiveRootPools: bool = False
    MinVersion: Annotated[int, GoType("uint16")] = 0
    Passphrase: str = ""

    def options(self) -> TLSOptions:
        """dockerd's view: no ``CAFile`` forces ``InsecureSkipVerify``."""
        return TLSOptions(
            ca_file=self.CAFile,
            cert_file=self.CertFile,
            key_file=self.KeyFile,
            insecure_skip_verify=self.InsecureSkipVerify or not self.CAFile,
            client_auth=self.ClientAuth,
            exclusive_root_pools=self.ExclusiveRootPools,
            min_version=self.MinVersion,
            passphrase=self.Passphrase,
        )


@attrs.frozen
class _PluginJSON:
    """dockerd's ``Plugin`` struct: only ``Addr`` and ``TLSConfig`` are decoded.

    ``name`` is unexported and ``Manifest`` is tagged ``json:"-"``, so a ``Name``
    or ``Manifest`` key in the file is ignored like any unknown key.
    """

    __go_name__ = "plugins.Plugin"

    Addr: str = ""
    TLSConfig: _TLSConfigJSON | None = None


# ---------------------------------------------------------------------------
# the registry


@attrs.frozen
class LocalRegistry:
    """dockerd's ``LocalRegistry``: v1 plugins from sockets and spec files.

    ``in_userns`` reproduces running dockerd in a user namespace, where an
    unreadable spec directory is skipped by :meth:`scan`.  ``fs`` is the file
    system seam (tests inject errors through it).
    """

    paths: PluginPaths = attrs.field(factory=PluginPaths)
    in_userns: bool = False
    fs: FileSystem = attrs.field(factory=OSFileSystem)

    def lookup(self, name: str) -> PluginSpec:
        """dockerd's ``Plugin(name)``: the first candidate that exists wins.

        Raises :class:`PluginNotFound`, or :class:`SpecFileError` when the first
        existing spec file is unusable.
        """
        for path in _candidates(str(self.paths.sockets_dir), name, ".sock"):
            mode = self.fs.stat_mode(path)
            if mode is not None and stat.S_ISSOCK(mode):
                return PluginSpec(
                    name=name,
                    addr="unix://" + path,
                    tls=_INSECURE_TLS,
                    source=Path(path),
                    kind="socket",
                )
        for path in self._spec_candidates(name):
            if self.fs.stat_mode(path) is not None:
                if path.endswith(".json"):
                    return _read_json(self.fs, name, path)
                return _read_spec(self.fs, name, path)
        raise PluginNotFound(name, self.paths)

    def _spec_candidates(self, name: str) -> list[str]:
        found: list[str] = []
        for directory in self.paths.spec_dirs:
            found += _candidates(str(directory), name, ".spec")
            found += _candidates(str(directory), name, ".json")
        return found

    def scan(self) -> list[str]:
        """dockerd's ``Scan()``: every advertised name, in order, duplicates kept.

        Raises :class:`ScanError` when a directory cannot be listed.
        """
        names = self._scan_sockets()
        for directory in self.paths.spec_dirs:
            names += self._scan_spec_dir(str(directory))
        return names

    def _scan_sockets(self) -> list[str]:
        directory = str(self.paths.sockets_dir)
        try:
            entries = self.fs.read_dir(directory)
        except PathError as err:
            if err.not_exist:
                return []
            raise ScanError(directory, err) from err
        names: list[str] = []
        for entry in entries:
            if entry.is_dir:
                mode = self.fs.stat_mode(filepath.join(directory, entry.name, entry.name + ".sock"))
                if mode is not None and stat.S_ISSOCK(mode):
                    names.append(entry.name)
            elif entry.is_socket:
                names.append(_trim_ext(entry.name))
        return names

    def _scan_spec_dir(self, directory: str) -> list[str]:
        try:
            entries = self.fs.read_dir(directory)
        except PathError as err:
            if err.not_exist or (err.permission and self.in_userns):
                return []
            raise ScanError(directory, err) from err
        names: list[str] = []
        for entry in entries:
            chosen = entry.name
            if entry.is_dir:
                try:
                    inner = self.fs.read_dir(filepath.join(directory, entry.name))
                except PathError:
                    continue
                chosen = next((i.name for i in inner if _trim_ext(i.name) == entry.name), chosen)
            ext = filepath.ext(chosen)
            if ext in (".spec", ".json"):
                names.append(chosen[: -len(ext)])
        return names
