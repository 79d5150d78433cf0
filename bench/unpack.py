"""Benchmark: the safe unpacker against tarfile's own extraction of the same archive.

Every upload (``docker cp`` into a container, ``plugin create``, pulled plugin layers) goes
through :func:`emulator.engine.unpack.unpack`, which walks each path inside its scope with
``O_PATH`` descriptors.  The baseline is ``tarfile.extractall(filter="tar")`` (what the
emulator used before) of the same bytes in the same run, into a fresh directory each time,
so the ratio is the cost of the walk and the checks.

Run: ``.venv/bin/python bench/unpack.py [--files N] [--rounds N]``
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from emulator.engine.scoped_fs import ScopedFS
from emulator.engine.unpack import UnpackOptions, unpack


def make_tar(files: int) -> bytes:
    """A rootfs-like tree: 20 directories, ``files`` small files, a few links."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in range(20):
            info = tarfile.TarInfo(f"usr/lib/d{d}")
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for i in range(files):
            data = b"x" * (200 + i % 3000)
            info = tarfile.TarInfo(f"usr/lib/d{i % 20}/f{i}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for i in range(20):
            info = tarfile.TarInfo(f"usr/lib/link{i}")
            info.type, info.linkname = tarfile.SYMTYPE, f"d{i}/f{i}"
            tar.addfile(info)
    return buffer.getvalue()


def timed(fn: Callable[[Path], object], data_dir: Path, rounds: int) -> float:
    """Median seconds of ``fn(fresh directory)`` over ``rounds`` runs."""
    runs = []
    for index in range(rounds):
        dest = data_dir / f"r{index}"
        dest.mkdir()
        started = time.perf_counter()
        fn(dest)
        runs.append(time.perf_counter() - started)
        shutil.rmtree(dest)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    data = make_tar(args.files)

    def baseline(dest: Path) -> None:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(dest, filter="tar")

    def safe(dest: Path) -> None:
        with ScopedFS(dest) as fs:
            unpack(io.BytesIO(data), fs, "/", UnpackOptions())

    with tempfile.TemporaryDirectory(prefix="bench-unpack-") as tmp:
        base = timed(baseline, Path(tmp), args.rounds)
        ours = timed(safe, Path(tmp), args.rounds)
    print(f"{args.files} files, {len(data) / 1e6:.1f} MB tar")
    print(f"tarfile.extractall(filter='tar'): {base * 1000:8.1f} ms")
    print(f"emulator.engine.unpack:           {ours * 1000:8.1f} ms  ({ours / base:.2f}x)")


if __name__ == "__main__":
    main()
