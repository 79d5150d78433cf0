"""The built-in mock volume plugin: a small but real VolumeDriver.

:class:`MockVolumePlugin` is the emulator's default volume driver for demos and
scenarios, and a reference for plugin authors: it answers every
``VolumeDriver`` method the way a carefully written plugin built on
docker/go-plugins-helpers (the Go plugin SDK) does, byte for byte where the SDK
decides the bytes::

    driver = MockVolumePlugin(Path("/tmp/mockvol-state"))
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.serve, "unix:/tmp/root/run/docker/plugins/mockvol.sock")
        ...
        nursery.cancel_scope.cancel()

Storage
    Each volume is a directory ``ROOT/volumes/NAME``; its data (the mountpoint
    handed to the daemon) is ``ROOT/volumes/NAME/data`` and its options and
    creation time are kept in ``ROOT/volumes/NAME/meta.json``.  A new instance
    over the same root re-discovers those volumes, as a real plugin restarted
    over its state directory would.  Active mounts are kept in memory only: a
    restarted plugin has none.

What the SDK decides (and so this plugin does)
    * ``Plugin.Activate`` answers ``{"Implements": ["VolumeDriver"]}`` and a
      newline (the SDK prints its manifest string, spaces included).
    * Requests are decoded from the raw body, whatever the ``Content-Type``
      (dockerd sends none), with Go's ``json.Decoder`` rules: the first JSON
      value, keys matched case-insensitively, unknown keys ignored.  A body
      that does not decode is answered like Go's ``http.Error``: HTTP 400,
      ``text/plain; charset=utf-8``, the decoder's error text and a newline
      (an empty body gives ``EOF``).  ``List`` and ``Capabilities`` ignore
      their body.
    * Success is HTTP 200 with ``Content-Type:
      application/vnd.docker.plugins.v1.1+json`` and the response struct as Go
      encodes it (``{}`` for Create, Remove and Unmount).  A driver error is
      HTTP 500 with ``{"Err": "<text>"}``.
    * In ``Get`` and ``List`` a volume's ``Mountpoint``, ``CreatedAt`` and
      ``Status`` are ``omitempty``: absent when empty.

What this driver chose
    * ``Create`` of an existing volume succeeds and keeps the existing
      volume's options.  ``Opts: null`` means no options.  Names that are
      empty, ``.``, ``..`` or contain ``/`` (or NUL) are refused.
    * Options are stored and reported in ``Get``'s ``Status``.  ``size`` is
      stored only.  ``fail`` makes later calls on the volume fail on purpose:
      ``fail=mount``, ``fail=unmount``, ``fail=remove`` or several separated by
      commas (``fail=mount,remove``); the refused call answers
      ``mount refused by option fail=mount``.  Any other ``fail`` value is
      refused at ``Create``.  Other option keys are accepted and stored.
    * ``Mount`` counts each mount ID: dockerd sends the same ID again for
      ``docker cp`` into a running container, so a second Mount with an active
      ID is accepted and needs a second Unmount.
    * ``Unmount`` is strict: an ID that is not mounted is an error (``volume V
      is not mounted with ID X``).  A lenient driver would hide daemon bugs
      such as an Unmount without its Mount or with another ID.
    * ``Remove`` is refused while the volume has active mounts.
    * ``Path`` and ``Get``/``List`` report the mountpoint only while the volume
      is mounted, as go-plugins-helpers drivers commonly do.
    * A ``fail`` option refuses its call before any other check except the
      volume's existence.

Concurrency
    Hypercorn runs handlers concurrently, but every handler here is
    synchronous: it never awaits, so each state change (checks included) is
    atomic with respect to the other requests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import attrs
import trio

from emulator.golang.strconv import quote as go_quote
from emulator.mocks.bugs import HANDLER_BUGS, crash_page, validate_bugs, with_bugs
from emulator.mocks.host import (
    PLUGIN_CONTENT_TYPE,
    Handler,
    MockPlugin,
    RecordedRequest,
    Reply,
)
from emulator.mocks.volume_sdk import (
    CapabilitiesResponse,
    Capability,
    CreateRequest,
    DriverError,
    Empty,
    GetRequest,
    GetResponse,
    ListResponse,
    MountRequest,
    MountResponse,
    PathRequest,
    RemoveRequest,
    UnmountRequest,
    Volume,
    answering,
    decode,
    error_reply,
)
from emulator.protocol import volume as proto

__all__ = ["FAIL_OPERATIONS", "VOLUME_BUGS", "MockVolumePlugin", "VolumeState"]

#: The operations the ``fail`` option can refuse.
FAIL_OPERATIONS: Final = frozenset({"mount", "unmount", "remove"})

#: What the SDK answers ``Plugin.Activate`` with (``fmt.Fprintln(w, manifest)``).
_ACTIVATE_BODY: Final = b'{"Implements": ["VolumeDriver"]}\n'

#: The deliberate bugs :class:`MockVolumePlugin` can have (``bugs=``), for the checks' tests.
VOLUME_BUGS: Final = {
    **HANDLER_BUGS,
    "refuse_resent_mount_id": "refuse a second Mount with an ID that is already mounted",
    "mount_id_set": "keep mount IDs in a set (one Unmount forgets an ID mounted twice)",
    "single_mount": "any Unmount unmounts every ID",
    "get_requires_mount": "Get fails for a volume that is not mounted",
    "crash_on_null_opts": 'crash (HTML 500) on Create with "Opts": null',
    "list_empty_names": "List entries without names",
    "relative_mountpoint": "Mount answers a relative path",
    "missing_mountpoint": "Mount answers a path that does not exist",
    "remove_while_mounted": "Remove succeeds while the volume is mounted",
    "lost_updates": "concurrent Creates overwrite each other's records",
    "slow_mount": "Mount answers after 150 s (past dockerd's 2 min deadline)",
    "ascii_names": "store names with non-ASCII characters replaced",
    "activate_once": "refuse every Plugin.Activate after the first",
    "capabilities_404": "no Capabilities endpoint",
}
_KNOWN_KEYS: Final = {
    proto.CREATE: ("Name", "Opts"),
    proto.MOUNT: ("Name", "ID"),
    proto.UNMOUNT: ("Name", "ID"),
}

_META_FILE: Final = "meta.json"
_DATA_DIR: Final = "data"


@attrs.frozen
class VolumeState:
    """A snapshot of one volume, for tests.

    Attributes:
        name: The volume name.
        options: The options given at creation (``{}`` for none).
        created_at: When the volume was created (UTC, whole seconds).
        mounts: Active mount IDs and how many Mounts each has outstanding.
        path: The volume's data directory, its mountpoint.
    """

    name: str
    options: dict[str, str]
    created_at: dt.datetime
    mounts: dict[str, int]
    path: Path

    @property
    def mount_count(self) -> int:
        """Outstanding Mounts over all IDs."""
        return sum(self.mounts.values())


# --------------------------------------------------------------------------- state


@attrs.define
class _VolumeRecord:
    """The driver's live state for one volume (mutable, private)."""

    name: str
    options: dict[str, str]
    created_at: dt.datetime
    directory: Path
    mounts: dict[str, int] = attrs.Factory(dict)

    @property
    def data(self) -> Path:
        return self.directory / _DATA_DIR

    @property
    def mount_count(self) -> int:
        return sum(self.mounts.values())

    def mountpoint(self) -> str:
        """The data directory while mounted, else ``""``."""
        return str(self.data) if self.mounts else ""

    def refuses(self, operation: str) -> bool:
        """Whether the ``fail`` option names ``operation``."""
        return operation in _fail_operations(self.options.get("fail", ""))

    def snapshot(self) -> VolumeState:
        return VolumeState(
            name=self.name,
            options=dict(self.options),
            created_at=self.created_at,
            mounts=dict(self.mounts),
            path=self.data,
        )


def _fail_operations(value: str) -> set[str]:
    """The operations named by a ``fail`` option value (comma separated)."""
    return {part.strip() for part in value.split(",") if part.strip()}


def _valid_name(name: str) -> bool:
    """A name that is one path component under ``ROOT/volumes``."""
    return name not in ("", ".", "..") and "/" not in name and "\x00" not in name


def _rfc3339(moment: dt.datetime) -> str:
    """Go's ``time.Format(time.RFC3339)`` of a UTC time: ``2006-01-02T15:04:05Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _os_error(op: str, err: OSError) -> DriverError:
    """A Go-like text for a failed file operation: ``mkdir /x: permission denied``."""
    reason = err.strerror or str(err)
    reason = reason[:1].lower() + reason[1:]
    return DriverError(f"{op} {err.filename}: {reason}" if err.filename else f"{op}: {reason}")


# --------------------------------------------------------------------------- the driver


class MockVolumePlugin:
    """A real volume driver on a :class:`~emulator.mocks.host.MockPlugin`.

    Args:
        root: The driver's state directory; volumes live in ``root/volumes``.
            Volumes already there are re-discovered.
        name: The plugin name (a label for the underlying mock's logs).
        scope: What ``Capabilities`` reports.  Any string is sent as given,
            so scenarios can exercise dockerd's scope normalisation.
        record_limit: Passed to :class:`MockPlugin` (how many requests it keeps).

    Attributes:
        plugin: The underlying :class:`MockPlugin`.  Its ``requests`` record
            every call; ``plugin.on(method, handler)`` overrides a method.
        root: The state directory (absolute).
        name: The plugin name.
        scope: The scope ``Capabilities`` reports.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        name: str = "mockvol",
        scope: str = "local",
        bugs: Iterable[str] = (),
        record_limit: int | None = None,
    ) -> None:
        self.root = Path(os.path.abspath(root))
        self.name = name
        self.scope = scope
        self.bugs = validate_bugs(bugs, VOLUME_BUGS)
        self._volumes: dict[str, _VolumeRecord] = {}
        self.volumes_dir.mkdir(parents=True, exist_ok=True)
        for record in self._discover():
            self._volumes[record.name] = record
        handlers: dict[str, Handler] = {
            "Plugin.Activate": Reply(body=_ACTIVATE_BODY, content_type=PLUGIN_CONTENT_TYPE),
            proto.CREATE: answering(self._create),
            proto.REMOVE: answering(self._remove),
            proto.MOUNT: answering(self._mount),
            proto.UNMOUNT: answering(self._unmount),
            proto.PATH: answering(self._path),
            proto.GET: answering(self._get),
            proto.LIST: answering(self._list),
            proto.CAPABILITIES: answering(self._capabilities),
        }
        if self.bugs:
            self._break(handlers)
        self.plugin = MockPlugin(("VolumeDriver",), handlers, name=name, record_limit=record_limit)

    def __repr__(self) -> str:
        return f"<MockVolumePlugin {self.name!r} root={str(self.root)!r}>"

    @property
    def volumes_dir(self) -> Path:
        """``root/volumes``: one directory per volume."""
        return self.root / "volumes"

    async def serve(
        self,
        bind: str,
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve the driver on ``bind`` until cancelled; see :meth:`MockPlugin.serve`."""
        await self.plugin.serve(bind, task_status=task_status)

    # ------------------------------------------------------------------ introspection

    def volumes(self) -> dict[str, VolumeState]:
        """Snapshots of every volume, by name (sorted)."""
        return {name: self._volumes[name].snapshot() for name in sorted(self._volumes)}

    def mount_count(self, name: str) -> int:
        """Outstanding Mounts of volume ``name`` over all IDs.

        Raises:
            KeyError: There is no such volume.
        """
        return self._volumes[name].mount_count

    # ------------------------------------------------------------------ persistence

    def _discover(self) -> Iterator[_VolumeRecord]:
        """The volumes found on disk, with their saved options and creation time."""
        for entry in sorted(self.volumes_dir.iterdir()):
            if not entry.is_dir() or not _valid_name(entry.name):
                continue
            options, created_at = self._load_meta(entry)
            yield _VolumeRecord(entry.name, options, created_at, entry)

    @staticmethod
    def _load_meta(directory: Path) -> tuple[dict[str, str], dt.datetime]:
        """Options and creation time from ``meta.json``; the directory's mtime if unusable."""
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
            meta = json.loads((directory / _META_FILE).read_text("utf-8"))
            options = {str(k): str(v) for k, v in (meta.get("Opts") or {}).items()}
            created_at = dt.datetime.fromisoformat(meta["CreatedAt"]).astimezone(dt.UTC)
            return options, created_at
        mtime = directory.stat().st_mtime
        return {}, dt.datetime.fromtimestamp(mtime, dt.UTC).replace(microsecond=0)

    @staticmethod
    def _save_meta(record: _VolumeRecord) -> None:
        """Write ``meta.json`` atomically (temporary file, then rename)."""
        meta = {"Opts": record.options, "CreatedAt": _rfc3339(record.created_at)}
        target = record.directory / _META_FILE
        temporary = target.with_name(f".{_META_FILE}.tmp")
        temporary.write_text(json.dumps(meta, sort_keys=True) + "\n", "utf-8")
        os.replace(temporary, target)

    # ------------------------------------------------------------------ the methods

    def _lookup(self, name: str) -> _VolumeRecord:
        record = self._volumes.get(name)
        if record is None:
            raise DriverError("no such volume")
        return record

    def _create(self, recorded: RecordedRequest) -> object:
        """``Create {Name, Opts}``: make the directories; idempotent for an existing volume."""
        request = decode(recorded, CreateRequest)
        name = request.Name
        if "ascii_names" in self.bugs:
            name = name.encode("ascii", "replace").decode("ascii")
        if not _valid_name(name):
            raise DriverError(
                f"invalid volume name {go_quote(name)}: "
                'must be non-empty, not "." or "..", and contain no "/"'
            )
        options = dict(request.Options or {})
        named = _fail_operations(options.get("fail", ""))
        if "fail" in options and (not named or not named <= FAIL_OPERATIONS):
            raise DriverError(
                f"invalid option fail={options['fail']}: "
                f"expected {', '.join(sorted(FAIL_OPERATIONS))} or a comma-separated list"
            )
        existing = self._volumes.get(name)
        if existing is not None:
            try:
                existing.data.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise _os_error("mkdir", err) from None
            return Empty()
        record = _VolumeRecord(name, options, _now(), self.volumes_dir / name)
        try:
            record.data.mkdir(parents=True, exist_ok=True)
            self._save_meta(record)
        except OSError as err:
            raise _os_error("create", err) from None
        self._volumes[name] = record
        return Empty()

    def _remove(self, recorded: RecordedRequest) -> object:
        """``Remove {Name}``: refused while mounted, else the directory is deleted."""
        record = self._lookup(decode(recorded, RemoveRequest).Name)
        if record.refuses("remove"):
            raise DriverError(f"remove refused by option fail={record.options['fail']}")
        if record.mounts and "remove_while_mounted" not in self.bugs:
            raise DriverError(f"volume {record.name} is in use")
        try:
            shutil.rmtree(record.directory)
        except FileNotFoundError:
            pass
        except OSError as err:
            raise _os_error("remove", err) from None
        del self._volumes[record.name]
        return Empty()

    def _mount(self, recorded: RecordedRequest) -> object:
        """``Mount {Name, ID}``: count the ID, answer the data directory."""
        request = decode(recorded, MountRequest)
        record = self._lookup(request.Name)
        if record.refuses("mount"):
            raise DriverError(f"mount refused by option fail={record.options['fail']}")
        try:
            record.data.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise _os_error("mkdir", err) from None
        if request.ID in record.mounts and "refuse_resent_mount_id" in self.bugs:
            raise DriverError("volume is already mounted by this id")
        count = 1 if "mount_id_set" in self.bugs else record.mounts.get(request.ID, 0) + 1
        record.mounts[request.ID] = count
        if "relative_mountpoint" in self.bugs:
            return MountResponse(str(record.data.relative_to(self.root)))
        if "missing_mountpoint" in self.bugs:
            return MountResponse(str(record.data / "not-created"))
        return MountResponse(str(record.data))

    def _unmount(self, recorded: RecordedRequest) -> object:
        """``Unmount {Name, ID}``: strict, the ID must have an outstanding Mount."""
        request = decode(recorded, UnmountRequest)
        record = self._lookup(request.Name)
        if record.refuses("unmount"):
            raise DriverError(f"unmount refused by option fail={record.options['fail']}")
        count = record.mounts.get(request.ID, 0)
        if count == 0:
            raise DriverError(f"volume {record.name} is not mounted with ID {request.ID}")
        if "single_mount" in self.bugs:
            record.mounts.clear()
        elif count == 1:
            del record.mounts[request.ID]
        else:
            record.mounts[request.ID] = count - 1
        return Empty()

    def _path(self, recorded: RecordedRequest) -> object:
        """``Path {Name}``: the mountpoint while mounted, else ``""``."""
        record = self._lookup(decode(recorded, PathRequest).Name)
        return MountResponse(record.mountpoint())

    def _get(self, recorded: RecordedRequest) -> object:
        """``Get {Name}``: name, mountpoint (while mounted), creation time and status."""
        record = self._lookup(decode(recorded, GetRequest).Name)
        if "get_requires_mount" in self.bugs and not record.mounts:
            raise DriverError("volume is not mounted")
        status: dict[str, Any] = {"mounts": record.mount_count, "options": dict(record.options)}
        return GetResponse(
            Volume(
                Name=record.name,
                Mountpoint=record.mountpoint(),
                CreatedAt=_rfc3339(record.created_at),
                Status=status,
            )
        )

    def _list(self, recorded: RecordedRequest) -> object:
        """``List``: every volume's name and mountpoint (while mounted), sorted by name."""
        del recorded  # the SDK does not read List's body
        return ListResponse(
            [
                Volume(
                    Name="" if "list_empty_names" in self.bugs else name,
                    Mountpoint=self._volumes[name].mountpoint(),
                )
                for name in sorted(self._volumes)
            ]
        )

    def _capabilities(self, recorded: RecordedRequest) -> object:
        """``Capabilities``: the configured scope."""
        del recorded  # the SDK does not read Capabilities' body
        return CapabilitiesResponse(Capability(self.scope))

    # ------------------------------------------------------------------ deliberate bugs

    def _break(self, handlers: dict[str, Handler]) -> None:
        """Apply :attr:`bugs` to ``handlers`` (see :data:`VOLUME_BUGS`)."""
        bugs = self.bugs
        create = handlers[proto.CREATE]
        mount = handlers[proto.MOUNT]
        assert callable(create)
        assert callable(mount)

        def null_opts(recorded: RecordedRequest) -> Reply:
            with contextlib.suppress(ValueError, AttributeError):
                body = json.loads(recorded.body)
                if "Opts" in body and body["Opts"] is None:
                    return crash_page()  # body["Opts"].items() on None
            return _reply(create(recorded))

        async def racy_create(recorded: RecordedRequest) -> Reply:
            before = dict(self._volumes)
            await trio.sleep(0.01)  # a state file read, then written back
            now = set(self._volumes)
            reply = (
                null_opts(recorded) if "crash_on_null_opts" in bugs else _reply(create(recorded))
            )
            mine = {k: v for k, v in self._volumes.items() if k not in now}
            self._volumes = {**before, **mine}  # what others created meanwhile is lost
            return reply

        def slow(recorded: RecordedRequest) -> Reply:
            return attrs.evolve(_reply(mount(recorded)), delay=150.0)

        if "crash_on_null_opts" in bugs:
            handlers[proto.CREATE] = null_opts
        if "lost_updates" in bugs:
            handlers[proto.CREATE] = racy_create
        if "slow_mount" in bugs:
            handlers[proto.MOUNT] = slow
        if "capabilities_404" in bugs:
            del handlers[proto.CAPABILITIES]
        if "activate_once" in bugs:
            activations = [0]

            def activate(_: RecordedRequest) -> Reply:
                activations[0] += 1
                if activations[0] > 1:
                    return error_reply("already activated")
                return Reply(body=_ACTIVATE_BODY, content_type=PLUGIN_CONTENT_TYPE)

            handlers["Plugin.Activate"] = activate
        for method, handler in list(handlers.items()):
            if method != "Plugin.Activate" and callable(handler):
                keys = _KNOWN_KEYS.get(method, ("Name",) if method != proto.LIST else ())
                handlers[method] = with_bugs(
                    method,
                    handler,  # type: ignore[arg-type]
                    bugs,
                    error_key="Err",
                    known_keys=keys if method != proto.CAPABILITIES else (),
                )


def _reply(result: object) -> Reply:
    assert isinstance(result, Reply)
    return result
