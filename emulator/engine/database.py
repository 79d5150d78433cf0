"""The engine's persistent state: an SQLite database (WAL) in the data-root.

dockerd keeps volume metadata in ``volumes/metadata.db``, containers as JSON files and
networks and endpoints in libnetwork's local store (``network/files/local-kv.db``); the
emulator keeps all of them in one SQLite file.  Each change is its own transaction.

Durability: by default the database runs in WAL mode with ``synchronous=NORMAL``: a
commit is in the write-ahead log, in the operating system's page cache, when it
returns, without waiting for the disk.  A killed process (SIGKILL, a crash: the
failure an emulator meets, ``tests/test_crash_consistency.py``) loses nothing that was
committed and never a consistent state; a power cut or a kernel crash may lose the
last commits, never the database.  ``durable=True`` (``serve --durable``) adds
``synchronous=FULL``: every commit waits for the disk, as dockerd's boltdb and
libnetwork stores do (a few milliseconds per commit on a disk, most of a cold start).
The standard library's ``sqlite3`` is used.  Every method is one bounded statement;
the listing methods return lists (never a live cursor), so a caller may write while
it walks them without reading its own writes back.

The file is the emulator's own (``PRAGMA application_id``), mode 0600 like dockerd's
``metadata.db`` (SQLite gives its ``-wal`` and ``-shm`` files the same mode).  Opening
checks it (``quick_check``) and refuses, with :class:`StateError` naming the file, what
is wrong and what to do, a directory or other non-file in its place, an empty file, a
file that is not SQLite or not the emulator's, and a damaged one.  ``reset=True`` (the
``--reset-state`` flag) first moves such a file aside (never deletes it).  A row that
cannot be decoded is skipped with an error in the log and kept as it is: its
neighbours load normally (``bad_rows`` lists what was skipped).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from emulator.errors import ConfigurationError

log = logging.getLogger("emulator.state")

#: ``PRAGMA application_id`` of the emulator's database ("PEmu").
APPLICATION_ID: Final = 0x50456D75
_SIDE_FILES: Final = ("-wal", "-shm")


class StateError(ConfigurationError):
    """The state database cannot be used: ``str()`` names the file, the problem and the fix."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(
            f"the state database {path} {problem}: move it aside (for example "
            f"'mv {path} {path}.bad') and start again, or start with --reset-state, "
            "which moves it aside for you and begins with an empty state"
        )


SCHEMA = """
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,
    driver TEXT NOT NULL,
    labels TEXT NOT NULL,
    options TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS endpoints (
    id TEXT PRIMARY KEY,
    network_id TEXT NOT NULL,
    data TEXT NOT NULL
);
"""


@attrs.frozen
class VolumeMetadata:
    """What dockerd persists per volume (``volumeMetadata``): never the plugin's answers."""

    name: str
    driver: str
    labels: Mapping[str, str] | None = None
    options: Mapping[str, str] | None = None


class StateDB:
    """Volume metadata, container, network and endpoint records, committed on every change.

    ``reset`` moves an existing database (and its ``-wal``/``-shm``) aside to
    ``<name>.reset-<unix time>`` before opening a new one.  ``durable`` waits for the
    disk at every commit (see the module).
    """

    def __init__(self, path: Path, *, reset: bool = False, durable: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.durable = durable
        self.bad_rows: list[str] = []
        """One line per row skipped because it could not be decoded."""
        self._written = True  # not known to be empty: clear() must look
        self._volume_cache: dict[str, VolumeMetadata | None] = {}
        """What ``get_volume`` found (None: no row), kept in step with every write:
        this process is the database's only writer.  A row that cannot be decoded is
        never kept, so it is reported at each read as before."""
        if reset:
            move_aside(path)
        fresh = _check_file(path)
        if fresh:
            _create(path, durable=durable)
            self._written = False
        self._db = _open(path, durable=durable, fresh=fresh)

    @property
    def synchronous(self) -> int:
        """SQLite's ``synchronous`` in force: 1 (``NORMAL``) or 2 (``FULL``, durable)."""
        return int(self._db.execute("PRAGMA synchronous").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def report_bad_row(self, what: str, problem: str) -> None:
        """Record and log a row that cannot be used (``what``: e.g. ``container 'ID'``)."""
        self._skip(what, problem)

    def _skip(self, what: str, problem: str) -> None:
        line = f"{what}: {problem}"
        self.bad_rows.append(line)
        log.error(
            "state database %s: %s; skipped (the row is kept as it is: fix or delete it)",
            self.path,
            line,
        )

    # -- volumes --------------------------------------------------------------------

    def get_volume(self, name: str) -> VolumeMetadata | None:
        """The volume's metadata, or None (dockerd's ``getMeta``); read once, then kept."""
        if name in self._volume_cache:
            return _fresh(self._volume_cache[name])
        row = self._db.execute(
            "SELECT name, driver, labels, options FROM volumes WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            self._volume_cache[name] = None
            return None
        meta = self._volume(row)
        if meta is not None:
            self._volume_cache[name] = meta
        return _fresh(meta)

    def put_volume(self, meta: VolumeMetadata) -> None:
        self._written = True
        self._db.execute(
            "INSERT OR REPLACE INTO volumes (name, driver, labels, options) VALUES (?, ?, ?, ?)",
            (meta.name, meta.driver, _dump(meta.labels), _dump(meta.options)),
        )
        self._volume_cache[meta.name] = _fresh(meta)

    def delete_volume(self, name: str) -> None:
        self._db.execute("DELETE FROM volumes WHERE name = ?", (name,))
        self._volume_cache[name] = None

    def volumes(self) -> list[VolumeMetadata]:
        rows = self._db.execute("SELECT name, driver, labels, options FROM volumes ORDER BY name")
        return [meta for row in rows if (meta := self._volume(row)) is not None]

    def _volume(self, row: tuple[Any, ...]) -> VolumeMetadata | None:
        try:
            return _volume_row(row)
        except _BadRow as exc:
            self._skip(f"volume {row[0]!r}", str(exc))
            return None

    # -- containers -----------------------------------------------------------------

    def put_container(self, container_id: str, name: str, data: Mapping[str, Any]) -> None:
        """Insert or update a container; its row keeps its place in creation order.

        An upsert, not ``INSERT OR REPLACE``: a replace deletes the row and inserts a new
        one at the end, which reorders the containers and makes a walk over the table
        meet the same container again.
        """
        self._written = True
        self._db.execute(
            "INSERT INTO containers (id, name, data) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, data = excluded.data",
            (container_id, name, json.dumps(data, sort_keys=True)),
        )

    def delete_container(self, container_id: str) -> None:
        self._db.execute("DELETE FROM containers WHERE id = ?", (container_id,))

    def containers(self) -> list[dict[str, Any]]:
        """Every container record, oldest first (a list: callers save while they walk it).

        Rows that are not a JSON object are skipped.
        """
        return self._records("containers", "container")

    def _records(self, table: str, what: str) -> list[dict[str, Any]]:
        rows = self._db.execute(f"SELECT id, data FROM {table} ORDER BY rowid").fetchall()
        found = []
        for row_id, data in rows:
            try:
                found.append(_record(data))
            except _BadRow as exc:
                self._skip(f"{what} {row_id!r}", str(exc))
        return found

    # -- networks and endpoints (libnetwork's local store) ---------------------------

    def put_network(self, network_id: str, name: str, data: Mapping[str, Any]) -> None:
        """Insert or update a network; its row keeps its place in creation order."""
        self._written = True
        self._db.execute(
            "INSERT INTO networks (id, name, data) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, data = excluded.data",
            (network_id, name, json.dumps(data, sort_keys=True)),
        )

    def delete_network(self, network_id: str) -> None:
        self._db.execute("DELETE FROM networks WHERE id = ?", (network_id,))

    def networks(self) -> list[dict[str, Any]]:
        """Every network record, in creation order (rows not a JSON object skipped)."""
        return self._records("networks", "network")

    def put_endpoint(self, endpoint_id: str, network_id: str, data: Mapping[str, Any]) -> None:
        """Insert or update an endpoint; its row keeps its place in creation order."""
        self._written = True
        self._db.execute(
            "INSERT INTO endpoints (id, network_id, data) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET network_id = excluded.network_id, "
            "data = excluded.data",
            (endpoint_id, network_id, json.dumps(data, sort_keys=True)),
        )

    def delete_endpoint(self, endpoint_id: str) -> None:
        self._db.execute("DELETE FROM endpoints WHERE id = ?", (endpoint_id,))

    def endpoints(self) -> list[dict[str, Any]]:
        """Every endpoint record, in creation order (rows not a JSON object skipped)."""
        return self._records("endpoints", "endpoint")

    # -- all --------------------------------------------------------------------------

    def clear(self) -> None:
        """Delete every record in one transaction (``Engine.reset``); nothing to do when
        nothing was written since the database was made or last cleared."""
        self._volume_cache.clear()
        if not self._written:
            return
        self._db.executescript(
            "BEGIN;\nDELETE FROM volumes;\nDELETE FROM containers;\n"
            "DELETE FROM networks;\nDELETE FROM endpoints;\nCOMMIT;\n"
        )
        self._written = False


def _fresh(meta: VolumeMetadata | None) -> VolumeMetadata | None:
    """A copy whose maps nobody else holds (what decoding the row afresh would give)."""
    if meta is None:
        return None
    labels = dict(meta.labels) if meta.labels is not None else None
    options = dict(meta.options) if meta.options is not None else None
    return VolumeMetadata(meta.name, meta.driver, labels, options)


def _dump(value: Mapping[str, str] | None) -> str:
    return json.dumps(dict(value) if value is not None else None, sort_keys=True)


class _BadRow(ValueError):
    """A stored row that cannot be decoded; ``str()`` says what is wrong with it."""


def _json(text: Any) -> Any:
    if not isinstance(text, str | bytes):
        raise _BadRow(f"a {type(text).__name__} where JSON text belongs")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _BadRow(f"bad JSON ({exc})") from None


def _record(text: Any) -> dict[str, Any]:
    """A container, network or endpoint record: a JSON object."""
    value = _json(text)
    if not isinstance(value, dict):
        raise _BadRow(f"the record is a JSON {type(value).__name__}, not an object")
    return value


def _string_map(text: Any) -> dict[str, str] | None:
    """A stored ``map[string]string`` (or null)."""
    value = _json(text)
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _BadRow(f"{str(text)[:60]!r} is not a JSON object of strings")
    return value


def _volume_row(row: tuple[Any, ...]) -> VolumeMetadata:
    name, driver, labels, options = row
    if not isinstance(name, str) or not isinstance(driver, str):
        raise _BadRow("its name and driver must be text")
    return VolumeMetadata(name, driver, _string_map(labels), _string_map(options))


def move_aside(path: Path) -> Path | None:
    """Rename the database and its ``-wal``/``-shm`` to ``<name>.reset-<time>``; the new name."""
    if not os.path.lexists(path):
        return None
    aside = path.with_name(f"{path.name}.reset-{int(time.time())}")
    while os.path.lexists(aside):
        aside = aside.with_name(aside.name + "-1")
    os.rename(path, aside)
    for suffix in _SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if os.path.lexists(side):
            os.rename(side, aside.with_name(aside.name + suffix))
    log.warning("state database %s moved aside to %s (--reset-state)", path, aside)
    return aside


def _check_file(path: Path) -> bool:
    """What is at ``path`` may be opened; True when nothing is there yet."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return True
    except OSError as exc:
        raise StateError(path, f"cannot be examined ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise StateError(path, "is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise StateError(path, "is not a regular file (a link, socket or device is in its place)")
    if info.st_size == 0:
        raise StateError(
            path,
            "is empty (0 bytes): the emulator never writes an empty database, so it was "
            "truncated or made by something else",
        )
    for candidate in (path, *(path.with_name(path.name + s) for s in _SIDE_FILES)):
        if candidate.exists() and stat.S_IMODE(candidate.stat().st_mode) != 0o600:
            candidate.chmod(0o600)  # older emulators left them 0644
    return False


def _create(path: Path, *, durable: bool) -> None:
    """A new database, schema included, renamed into place only when complete (mode 0600).

    The file is written without a journal or syncs (nothing refers to it until the
    rename); a durable database is synced once, before the rename, and so is its
    directory after.  WAL mode is set when it is first opened.
    """
    tmp = path.with_name(f".{path.name}.new")
    for stale in (tmp, *(tmp.with_name(tmp.name + s) for s in _SIDE_FILES)):
        stale.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600))
    db = sqlite3.connect(tmp, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA journal_mode=OFF")
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.executescript("BEGIN;\n" + SCHEMA + "COMMIT;\n")
    finally:
        db.close()
    if durable:
        _fsync(tmp)
    os.rename(tmp, path)
    if durable:
        _fsync(path.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_contents(db: sqlite3.Connection, path: Path) -> int:
    """The database's ``application_id`` once it proved to be ours and undamaged."""
    application_id = int(db.execute("PRAGMA application_id").fetchone()[0])
    if application_id not in (0, APPLICATION_ID):
        raise StateError(
            path, f"is the SQLite database of another program (application_id {application_id:#x})"
        )
    problems = [str(row[0]) for row in db.execute("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        raise StateError(path, "is damaged (" + "; ".join(problems) + ")")
    return application_id


def _open(path: Path, *, durable: bool, fresh: bool = False) -> sqlite3.Connection:
    """The open database, checked (unless ``fresh``: just made by :func:`_create`);
    :class:`StateError` when it is not usable."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        application_id = APPLICATION_ID if fresh else _check_contents(db, path)
        db.execute("PRAGMA journal_mode=WAL")  # kept in the file once set
        db.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=NORMAL")
        if not fresh:
            db.executescript("BEGIN;\n" + SCHEMA + "COMMIT;\n")
        if application_id == 0:
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    except sqlite3.DatabaseError as exc:
        db.close()
        damaged = "malformed" in str(exc) or "corrupt" in str(exc)
        problem = "is damaged" if damaged else "cannot be read as an SQLite database"
        raise StateError(path, f"{problem} ({exc})") from None
    except BaseException:
        db.close()
        raise
    return db
