"""``plugin-emulator check``: a conformance suite that tells a plugin author what dockerd
will trip on.

Each check (:class:`Check`) declares the dockerd rule it protects, where that rule lives
in moby, what dockerd does and a hint, and drives the plugin through the emulated daemon.
:func:`run_checks_sync` runs the catalogue against a plugin; see docs/check.md.
"""

from emulator.check import (  # noqa: F401 (registers)
    authz_common,
    authz_requests,
    authz_runtime,
    common,
    ipam,
    log,
    log_read,
    network,
    volume,
    volume_mounts,
)
from emulator.check.catalogue import CATALOGUE, KINDS, PluginKind, check, register, selection
from emulator.check.context import CheckContext, Settings
from emulator.check.model import Check, CheckResult, Problem, Skipped, Verdict
from emulator.check.runner import CheckOptions, CheckRun, run_checks, run_checks_sync
from emulator.check.target import Target, TargetError, parse_target

__all__ = [
    "CATALOGUE",
    "KINDS",
    "Check",
    "CheckContext",
    "CheckOptions",
    "CheckResult",
    "CheckRun",
    "PluginKind",
    "Problem",
    "Settings",
    "Skipped",
    "Target",
    "TargetError",
    "Verdict",
    "check",
    "parse_target",
    "register",
    "run_checks",
    "run_checks_sync",
    "selection",
]
