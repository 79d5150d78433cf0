"""A scenario file as frozen data (format version 1, ``docs/scenario-format.md``).

:func:`emulator.scenario.load_scenario` builds these classes; the runner only reads them.
Durations are seconds (floats).  Faults are the classes of :mod:`emulator.faults.model`.
Mappings taken from the file (request bodies, options, labels…) are plain dicts: treat
them as read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from emulator.faults.model import Fault
from emulator.mocks.authz_rules import AuthzRule

# -- engine and plugins -------------------------------------------------------------


@attrs.frozen
class EngineSettings:
    """The ``engine:`` mapping: how the emulated daemon behaves."""

    profile: str = "28"
    """dockerd version to behave as ("24" … "28")."""
    clock: Literal["virtual", "real"] = "virtual"
    seed: int | None = None
    """Seed of every random draw (fault probabilities, delay distributions); None means
    the runner picks one at random and prints it."""
    hang_guard: float | None = 300.0
    """Engine seconds after which a call nobody answers is abandoned; None: never."""
    authorization_plugins: tuple[str, ...] = ()
    """dockerd's ``--authorization-plugin`` list (each looked up when the engine starts)."""
    containers: str | None = None
    """``auto``, ``processes`` or ``fake`` (None: ``EMULATOR_CONTAINERS``, else auto)."""


@attrs.frozen
class PluginSpec:
    """One entry of ``plugins:``; exactly one of ``builtin``, ``command``, ``address``."""

    name: str
    builtin: Literal["volume", "network", "ipam", "authz", "log"] | None = None
    command: tuple[str, ...] | None = None
    """argv; ``{socket}``, ``{root}`` and ``{name}`` are still to be substituted."""
    address: str | None = None
    appear_after: float | None = None
    env: Mapping[str, str] | None = None
    startup_timeout: float = 30.0
    scope: str | None = None
    """``local`` or ``global`` (built-in volume and network plugins only)."""
    rules: tuple[AuthzRule, ...] = ()
    """The built-in authz plugin's allow/deny rules (:mod:`emulator.mocks.authz`)."""


# -- step arguments -----------------------------------------------------------------


@attrs.frozen
class VolumeCreate:
    """``volume.create``."""

    name: str
    driver: str = "local"
    opts: Mapping[str, str] | None = None
    labels: Mapping[str, str] | None = None


@attrs.frozen
class VolumeInspect:
    """``volume.inspect``."""

    name: str


@attrs.frozen
class VolumeLs:
    """``volume.ls``: ``filters`` maps a filter name to its values."""

    filters: Mapping[str, tuple[str, ...]] | None = None


@attrs.frozen
class VolumeRm:
    """``volume.rm``."""

    name: str
    force: bool = False


@attrs.frozen
class VolumePrune:
    """``volume.prune``."""

    all: bool = False


@attrs.frozen
class ContainerRun:
    """``container.run``; ``rm`` is ``docker run --rm``."""

    name: str | None = None
    image: str = "busybox"
    command: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    """``-v`` specs as written: ``v1:/data``, ``/data``, ``v1:/data:ro``."""
    volume_driver: str = ""
    rm: bool = False
    detach: bool = False
    exit_code: int | None = None
    runs_for: float | None = None
    networks: tuple[str, ...] = ()
    """``--network``: networks joined at start."""
    env: tuple[str, ...] = ()
    """``-e NAME=VALUE``."""
    workdir: str = ""
    user: str = ""
    log_driver: str = ""
    """``--log-driver`` (a plugin's name works)."""
    log_opts: Mapping[str, str] = attrs.field(factory=dict)
    """``--log-opt``."""


@attrs.frozen
class ContainerCreate:
    """``container.create``: as :class:`ContainerRun` without ``detach``."""

    name: str | None = None
    image: str = "busybox"
    command: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    volume_driver: str = ""
    rm: bool = False
    exit_code: int | None = None
    runs_for: float | None = None
    networks: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    workdir: str = ""
    user: str = ""
    log_driver: str = ""
    log_opts: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class NetworkCreate:
    """``network.create``: ``subnet``, ``gateway`` and ``ip_range`` make one IPAM config."""

    name: str
    driver: str = "bridge"
    ipam_driver: str = "default"
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    options: Mapping[str, str] | None = None
    labels: Mapping[str, str] | None = None
    internal: bool = False


@attrs.frozen
class NetworkRm:
    """``network.rm``."""

    name: str


@attrs.frozen
class NetworkConnect:
    """``network.connect`` and ``network.disconnect``."""

    network: str
    container: str


@attrs.frozen
class ContainerAction:
    """``container.start``, ``container.stop``, ``container.kill``."""

    name: str


@attrs.frozen
class ContainerRm:
    """``container.rm``; ``volumes`` is ``docker rm -v``."""

    name: str
    force: bool = False
    volumes: bool = False


@attrs.frozen
class ContainerExec:
    """``container.exec``: ``docker exec`` (``stdin`` is given, then end-of-file)."""

    name: str
    command: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    stdin: str | None = None


@attrs.frozen
class ContainerLogs:
    """``container.logs``: ``docker logs`` of the chosen streams (``tail``: the last lines)."""

    name: str
    stdout: bool = True
    stderr: bool = True
    tail: int | None = None


@attrs.frozen
class ContainerCp:
    """``container.cp``: ``path`` in the container, ``host_path`` on the host;
    ``into`` copies from the host into the container."""

    name: str
    path: str
    host_path: str
    into: bool = False


@attrs.frozen
class PluginAction:
    """``plugin.kill`` / ``stop`` / ``continue`` / ``restart`` / ``remove_socket`` /
    ``start``: the name of a plugin declared in ``plugins:``."""

    name: str


@attrs.frozen
class ExpectLogs:
    """``expect.logs``: the lines the engine wrote to log plugins for ``container`` (every
    logger it had), in order; ``source`` keeps one stream's (``stdout``/``stderr``)."""

    container: str
    lines: tuple[str, ...]
    source: str = ""


@attrs.frozen
class EngineRestart:
    """``engine.restart``; ``engine.crash`` gives ``EngineRestart(crash=True)``."""

    crash: bool = False


@attrs.frozen
class DockerCommand:
    """``docker``: the real docker CLI with these arguments, against the engine."""

    args: tuple[str, ...]


@attrs.frozen
class ApiCall:
    """``api``: one raw Engine API request (``body`` sent as JSON)."""

    method: str
    path: str
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None


@attrs.frozen
class FaultsAdd:
    """``faults.add``: faults active from this step on."""

    faults: tuple[Fault, ...]


@attrs.frozen
class FaultsClear:
    """``faults.clear``."""


@attrs.frozen
class Sleep:
    """``sleep``: engine seconds."""

    seconds: float


@attrs.frozen
class Parallel:
    """``parallel``: steps run concurrently."""

    steps: tuple[Step, ...]


@attrs.frozen
class CallPattern:
    """One item of ``expect.calls`` / ``expect.no_calls``.

    ``method`` is ``Iface.Method``, exact or a shell-style glob; ``fields`` a subset of the
    request JSON (nested mappings match as subsets), or None for any request.  Matched by
    the rules of every matcher (:mod:`emulator.matching`, docs/matching.md).
    """

    method: str
    fields: Mapping[str, Any] | None = None


@attrs.frozen
class ExpectCalls:
    """``expect.calls``: the calls happened, in this order (other calls may come between).

    ``since="last_step"`` looks only at calls made during the previous step; ``plugin``
    restricts the calls looked at to one plugin's.
    """

    calls: tuple[CallPattern, ...]
    since: Literal["start", "last_step"] = "start"
    plugin: str | None = None


@attrs.frozen
class ExpectNoCalls:
    """``expect.no_calls``: none of these calls happened (``since`` and ``plugin`` as for
    :class:`ExpectCalls`)."""

    calls: tuple[CallPattern, ...]
    since: Literal["start", "last_step"] = "start"
    plugin: str | None = None


StepArgs = (
    VolumeCreate
    | VolumeInspect
    | VolumeLs
    | VolumeRm
    | VolumePrune
    | ContainerRun
    | ContainerCreate
    | NetworkCreate
    | NetworkRm
    | NetworkConnect
    | ContainerAction
    | ContainerRm
    | ContainerExec
    | ContainerLogs
    | ContainerCp
    | PluginAction
    | ExpectLogs
    | EngineRestart
    | DockerCommand
    | ApiCall
    | FaultsAdd
    | FaultsClear
    | Sleep
    | Parallel
    | ExpectCalls
    | ExpectNoCalls
)
"""Every argument class; :data:`ACTIONS` says which action takes which."""

ACTIONS: Mapping[str, type[StepArgs]] = {
    "volume.create": VolumeCreate,
    "volume.inspect": VolumeInspect,
    "volume.ls": VolumeLs,
    "volume.rm": VolumeRm,
    "volume.prune": VolumePrune,
    "container.run": ContainerRun,
    "container.create": ContainerCreate,
    "network.create": NetworkCreate,
    "network.rm": NetworkRm,
    "network.connect": NetworkConnect,
    "network.disconnect": NetworkConnect,
    "container.start": ContainerAction,
    "container.stop": ContainerAction,
    "container.kill": ContainerAction,
    "container.rm": ContainerRm,
    "container.cp": ContainerCp,
    "container.exec": ContainerExec,
    "container.logs": ContainerLogs,
    "plugin.kill": PluginAction,
    "plugin.stop": PluginAction,
    "plugin.continue": PluginAction,
    "plugin.restart": PluginAction,
    "plugin.remove_socket": PluginAction,
    "plugin.start": PluginAction,
    "plugin.stall": PluginAction,
    "plugin.resume": PluginAction,
    "engine.restart": EngineRestart,
    "engine.crash": EngineRestart,
    "docker": DockerCommand,
    "api": ApiCall,
    "faults.add": FaultsAdd,
    "faults.clear": FaultsClear,
    "sleep": Sleep,
    "parallel": Parallel,
    "expect.calls": ExpectCalls,
    "expect.no_calls": ExpectNoCalls,
    "expect.logs": ExpectLogs,
}
"""Every step action name, in the order of the format doc, with its argument class."""


# -- steps and the scenario ---------------------------------------------------------


@attrs.frozen
class StepExpect:
    """A step's ``expect:``.  Without ``error`` the step must succeed."""

    error: str | None = None
    """A regular expression the error text must match (``re.search``)."""
    result: Mapping[str, Any] | None = None
    """A subset of the step's result fields."""
    duration_max: float | None = None
    duration_min: float | None = None
    status: int | None = None
    """``docker`` and ``api`` steps: the exit code or HTTP status; given, it decides
    instead of "must succeed"."""
    output: str | None = None
    """``docker`` and ``api`` steps: a regex the output (stdout and stderr, or the
    answer's body) must match."""


@attrs.frozen
class Step:
    """One step: ``action`` is a key of :data:`ACTIONS`, ``args`` an instance of its class.

    ``line`` is the 1-based line of the step in the file, for reports.
    """

    action: str
    args: Any
    expect: StepExpect | None = None
    name: str | None = None
    line: int = 0

    def describe(self) -> str:
        """``name`` if given, else ``action`` and its line."""
        return self.name or f"{self.action} (line {self.line})"


@attrs.frozen
class Scenario:
    """A whole scenario file."""

    version: int
    name: str
    description: str | None = None
    engine: EngineSettings = attrs.Factory(EngineSettings)
    plugins: tuple[PluginSpec, ...] = ()
    faults: tuple[Fault, ...] = ()
    """Faults active from the start."""
    steps: tuple[Step, ...] = ()
    path: Path | None = None
    """The file it came from (None for text)."""

    def plugin(self, name: str) -> PluginSpec:
        """The declared plugin called ``name`` (KeyError if there is none)."""
        for spec in self.plugins:
            if spec.name == name:
                return spec
        raise KeyError(name)
