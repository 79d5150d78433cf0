"""The engine's persistent state: an SQLite database (WAL) in the data-root.

dockerd keeps volume metadata in ``volumes/metadata.db`` and containers as JSON files;
the emulator keeps both in one SQLite file so that a killed process loses nothing
that was committed (each change is its own transaction, ``synchronous=FULL``).
The standard library's ``sqlite3`` is used: every write is a few hundred
microseconds on local disk, well below any plugin round trip.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

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
"""


@attrs.frozen
class VolumeMetadata:
    """What dockerd persists per volume (``volumeMetadata``): never the plugin's answers."""

    name: str
    driver: str
    labels: Mapping[str, str] | None = None
    options: Mapping[str, str] | None = None


class StateDB:
    """Volume metadata and container records, committed on every change."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        # One transaction for the whole schema: one sync instead of one per table.
        self._db.executescript("BEGIN;\n" + SCHEMA + "COMMIT;\n")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # -- volumes --------------------------------------------------------------------

    def get_volume(self, name: str) -> VolumeMetadata | None:
        row = self._db.execute(
            "SELECT name, driver, labels, options FROM volumes WHERE name = ?", (name,)
        ).fetchone()
        return _volume(row) if row else None

    def put_volume(self, meta: VolumeMetadata) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO volumes (name, driver, labels, options) VALUES (?, ?, ?, ?)",
            (meta.name, meta.driver, _dump(meta.labels), _dump(meta.options)),
        )

    def delete_volume(self, name: str) -> None:
        self._db.execute("DELETE FROM volumes WHERE name = ?", (name,))

    def volumes(self) -> list[VolumeMetadata]:
        rows = self._db.execute("SELECT name, driver, labels, options FROM volumes ORDER BY name")
        return [_volume(row) for row in rows]

    # -- containers -----------------------------------------------------------------

    def put_container(self, container_id: str, name: str, data: Mapping[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO containers (id, name, data) VALUES (?, ?, ?)",
            (container_id, name, json.dumps(data, sort_keys=True)),
        )

    def delete_container(self, container_id: str) -> None:
        self._db.execute("DELETE FROM containers WHERE id = ?", (container_id,))

    def containers(self) -> Iterator[dict[str, Any]]:
        for (data,) in self._db.execute("SELECT data FROM containers ORDER BY rowid"):
            yield json.loads(data)


def _dump(value: Mapping[str, str] | None) -> str:
    return json.dumps(dict(value) if value is not None else None, sort_keys=True)


def _volume(row: tuple[str, str, str, str]) -> VolumeMetadata:
    name, driver, labels, options = row
    return VolumeMetadata(name, driver, json.loads(labels), json.loads(options))
