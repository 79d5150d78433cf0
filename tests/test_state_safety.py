"""The data-root: dockerd's permission modes, and a damaged state database said plainly.

Modes as dockerd sets them (moby/moby v28.5.2): the data-root 0710
(daemon/daemon_unix.go ``setupDaemonRoot``), ``containers`` and each container's
directory 0710, ``volumes`` and each volume's directory 0701 with ``_data`` 0755
(volume/local/local.go), ``plugins`` 0700, and the metadata database 0600 — here
``emulator.db`` with its ``-wal`` and ``-shm``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from emulator import ContainerSpec
from emulator.engine.core import open_engine
from emulator.engine.database import StateError
from tests.test_managed import plugin_dir

EMULATOR = [sys.executable, "-m", "emulator"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _populate(root: Path) -> Path:
    """An engine's data-root with three local volumes and a container; its database."""
    async with open_engine(root) as engine:
        for name in ("v1", "v2", "v3"):
            await engine.volumes.create(name, labels={"k": name})
        await engine.containers.create(ContainerSpec(name="c1", volumes=["v1:/data"]))
        await engine.containers.create(ContainerSpec(name="c2"))
        return engine.data_root / "emulator.db"


async def test_data_root_modes_are_dockerds(short_tmp: Path) -> None:
    data_root = short_tmp / "var/lib/docker"
    data_root.mkdir(parents=True, mode=0o755)
    async with open_engine(short_tmp) as engine:
        await engine.volumes.create("vol", driver="local", opts=None)
        container = await engine.containers.create(ContainerSpec(name="c", volumes=["vol:/data"]))
        engine.managed_plugins.create("mockvol", plugin_dir(short_tmp))
        [plugin] = engine.managed_plugins.list()
        engine.db.put_volume(engine.db.volumes()[0])  # a write: the WAL is in use
        modes = {
            "data-root": _mode(data_root),
            "containers": _mode(data_root / "containers"),
            "container": _mode(data_root / "containers" / container.id),
            "volumes": _mode(data_root / "volumes"),
            "volume": _mode(data_root / "volumes/vol"),
            "_data": _mode(data_root / "volumes/vol/_data"),
            "plugins": _mode(data_root / "plugins"),
            "plugin": _mode(data_root / "plugins" / plugin.ID),
            "plugin config": _mode(data_root / "plugins" / plugin.ID / "config.json"),
        }
        modes |= {f.name: _mode(f) for f in data_root.glob("emulator.db*")}
    assert modes == {
        "data-root": 0o710,
        "containers": 0o710,
        "container": 0o710,
        "volumes": 0o701,
        "volume": 0o701,
        "_data": 0o755,
        "plugins": 0o700,
        "plugin": 0o700,
        "plugin config": 0o600,
        "emulator.db": 0o600,
        "emulator.db-wal": 0o600,
        "emulator.db-shm": 0o600,
    }


async def test_a_loose_existing_database_is_made_private(short_tmp: Path) -> None:
    db = await _populate(short_tmp)
    os.chmod(db, 0o644)
    async with open_engine(short_tmp) as engine:
        assert len(engine.db.volumes()) == 3
    assert _mode(db) == 0o600


def _damage(db: Path, how: str) -> None:
    if how == "truncated":
        with db.open("r+b") as f:
            f.truncate(db.stat().st_size // 2)
    elif how == "random":
        db.write_bytes(os.urandom(8192))
    elif how == "damaged page":
        with db.open("r+b") as f:  # page 2 onwards: the tables' b-tree pages
            f.seek(4096)
            f.write(b"\xa5" * 4096)
    elif how == "empty":
        db.write_bytes(b"")
    elif how == "directory":
        db.unlink()
        db.mkdir()
    elif how == "other program":
        db.unlink()
        other = sqlite3.connect(db)
        other.execute("PRAGMA application_id = 1234")
        other.execute("CREATE TABLE t (x)")
        other.commit()
        other.close()


PROBLEMS = {
    "truncated": "is damaged",
    "random": "cannot be read as an SQLite database (file is not a database)",
    "damaged page": "is damaged",
    "empty": "is empty (0 bytes)",
    "directory": "is a directory, not a file",
    "other program": "is the SQLite database of another program (application_id 0x4d2)",
}


@pytest.mark.parametrize("how", sorted(PROBLEMS))
async def test_a_bad_database_is_named_with_what_to_do(short_tmp: Path, how: str) -> None:
    db = await _populate(short_tmp)
    for side in db.parent.glob("emulator.db-*"):
        side.unlink()
    _damage(db, how)
    with pytest.raises(StateError) as info:
        async with open_engine(short_tmp):
            pass
    text = str(info.value)
    assert text.startswith(f"the state database {db} ")
    assert PROBLEMS[how] in text
    assert f"'mv {db} {db}.bad'" in text
    assert "--reset-state" in text
    before = sorted(p.name for p in db.parent.iterdir())
    async with open_engine(short_tmp, reset_state=True) as engine:
        assert engine.db.volumes() == []
    after = sorted(p.name for p in db.parent.iterdir())
    assert "emulator.db" in after
    moved = [name for name in after if name.startswith("emulator.db.reset-")]
    assert len(moved) == 1  # moved aside, never deleted
    assert set(before) - {"emulator.db"} <= set(after)


async def test_bad_rows_are_skipped_and_their_neighbours_load(
    short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = await _populate(short_tmp)
    raw = sqlite3.connect(db)
    raw.execute("UPDATE volumes SET labels = '{not json' WHERE name = 'v2'")
    raw.execute("UPDATE volumes SET options = '[1, 2]' WHERE name = 'v3'")
    raw.execute("UPDATE containers SET data = 'garbage' WHERE name = 'c2'")
    raw.commit()
    raw.close()
    caplog.set_level(logging.ERROR)
    async with open_engine(short_tmp) as engine:
        assert [v.name for v in engine.db.volumes()] == ["v1"]
        assert [c.name for c in engine.containers.list(all=True)] == ["c1"]
        assert len(engine.db.bad_rows) >= 3
        assert any("volume 'v2': bad JSON" in line for line in engine.db.bad_rows)
    assert f"state database {db}: volume 'v2': bad JSON" in caplog.text
    raw = sqlite3.connect(db)  # the bad rows are still there, untouched
    assert raw.execute("SELECT labels FROM volumes WHERE name = 'v2'").fetchone() == ("{not json",)
    raw.close()


def test_serve_says_what_is_wrong_and_exits_2(short_tmp: Path) -> None:
    db = trio.run(_populate, short_tmp)
    for side in db.parent.glob("emulator.db-*"):
        side.unlink()
    _damage(db, "random")
    args = [*EMULATOR, "serve", "--engine-socket", str(short_tmp / "e.sock")]
    args += ["--root", str(short_tmp)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: the state database {db} cannot be read")
    assert "--reset-state" in done.stderr
    assert "Traceback" not in done.stderr
    proc = subprocess.Popen([*args, "--reset-state"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("export DOCKER_HOST=")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0


@pytest.mark.parametrize(("durable", "synchronous"), [(False, 1), (True, 2)])
def test_commits_wait_for_the_disk_only_when_durable(
    short_tmp: Path, durable: bool, synchronous: int
) -> None:
    """WAL always; ``synchronous=NORMAL`` by default (a commit survives a killed process,
    tests/test_crash_consistency.py), ``FULL`` with ``durable`` (``serve --durable``)."""
    from emulator.engine.database import StateDB, VolumeMetadata

    path = short_tmp / "state" / "emulator.db"
    for _ in range(2):  # made, then opened again
        db = StateDB(path, durable=durable)
        try:
            db.put_volume(VolumeMetadata("v1", "local"))
            assert db.durable is durable
            assert db.synchronous == synchronous
        finally:
            db.close()
        assert _mode(path) == 0o600
        check = sqlite3.connect(path)
        try:
            assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        finally:
            check.close()


def test_serve_durable_is_a_documented_flag() -> None:
    shown = subprocess.run(
        [*EMULATOR, "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--durable" in shown
