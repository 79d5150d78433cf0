"""What a ``plugin-emulator run`` loads: subsystems a scenario does not use stay unloaded.

The managed plugins' manager (made when a data-root has plugins, else on first use),
protobuf (the ``LogEntry`` codec), ``prometheus_client``
(the metrics registry), the log mock and the Engine API server are imported on first use,
for start-up time (docs/performance.md, "Command-line start-up").  A module-level import
of one of them again fails here; each is loaded by the tests of its own feature.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Top-level packages and emulator modules a quickstart run with fake containers never needs.
UNUSED = (
    "prometheus_client",
    "google.protobuf",
    "emulator.engine.managed",
    "emulator.mocks.log",
    "emulator.api.app",
    "emulator.check",
    "quart",
    "hypercorn",
)

PROGRAM = """
import json, sys
from emulator.cli import main
try:
    main([*sys.argv[1:]], standalone_mode=False)
finally:
    print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def test_quickstart_run_leaves_unused_subsystems_unloaded(tmp_path: Path) -> None:
    text = (ROOT / "scenarios/quickstart.yaml").read_text()
    assert "containers: auto" in text
    scenario = tmp_path / "quickstart-fake.yaml"
    scenario.write_text(text.replace("containers: auto", "containers: fake"))
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, "run", str(scenario)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert "1 passed, 0 failed" in done.stdout, done.stdout + done.stderr
    loaded = set(json.loads(done.stderr.strip().splitlines()[-1]))
    assert "emulator.engine.core" in loaded  # the run did open an engine
    found = sorted(
        name
        for name in loaded
        for unused in UNUSED
        if name == unused or name.startswith(f"{unused}.")
    )
    assert found == []
