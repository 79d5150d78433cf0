"""Benchmark: Go-JSON decoding of plugin answers into wire models vs the stdlib's ``json.loads``.

dockerd decodes every 200 answer with ``json.NewDecoder(body).Decode(&ret)``; the emulator
does the same with :func:`emulator.golang.json.loads_into` (scan, then Go's struct rules).
The baseline is ``json.loads`` of the same bytes in the same run, so the ratio is the cost of
Go's rules (case-insensitive keys, type errors, zero values) on top of plain parsing.

Run: ``.venv/bin/python bench/go_json.py [--rounds N]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

try:  # the package layout after issue 13's split, or the one before it
    from emulator.golang import json as gojson
except ImportError:  # pragma: no cover - before the split
    from emulator.protocol import gojson  # type: ignore[no-redef]
from emulator.protocol.volume import CapabilitiesResponse, GetResponse, ListResponse

SAMPLES: dict[str, tuple[bytes, type]] = {
    "Capabilities": (b'{"Capabilities":{"Scope":"local"}}\n', CapabilitiesResponse),
    "Get": (
        b'{"Volume":{"Name":"v1","Mountpoint":"/m/v1","CreatedAt":"2024-01-02T03:04:05Z",'
        b'"Status":{"size":"1G"}},"Err":""}\n',
        GetResponse,
    ),
    "List (100 volumes)": (
        json.dumps(
            {"Volumes": [{"Name": f"v{i}", "Mountpoint": f"/m/v{i}"} for i in range(100)]}
        ).encode()
        + b"\n",
        ListResponse,
    ),
}


def per_call(fn: Callable[[], object], n: int) -> float:
    """Median seconds per call over 7 runs of ``n`` calls."""
    runs = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t0) / n)
    return statistics.median(runs)


def main(rounds: int) -> dict[str, dict[str, float]]:
    results = {}
    for name, (body, cls) in SAMPLES.items():
        gojson.loads_into(body, cls)  # warm caches
        base = per_call(lambda body=body: json.loads(body), rounds)
        go = per_call(lambda body=body, cls=cls: gojson.loads_into(body, cls), rounds)
        results[name] = {
            "json_loads_us": base * 1e6,
            "loads_into_us": go * 1e6,
            "ratio": go / base,
        }
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(main(args.rounds), indent=2))
