"""Fake containers as data: what is asked for, a container, its mount points, the ``-v`` parser.

Persisted as JSON in the state database (:meth:`Container.to_json`); what is only true
while the engine runs (mount counts, host paths) is not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from emulator.engine.endpoint_settings import DEFAULT_NETWORK, EndpointConfig
from emulator.engine.log_config import DEFAULT_LOG_DRIVER
from emulator.errors import EngineError
from emulator.protocol import volume as wire


class ContainerError(EngineError):
    """A container operation failed; ``str()`` is dockerd's text.

    ``exit_code`` is set on start failures that give the container an exit code
    (dockerd's ``setExitCodeFromError``: 126, 127, 128).
    """

    default_hint = (
        "check the container's name, state and volumes (`containers.list(all=True)`); "
        "engine.journal shows the volume driver calls of its start and stop"
    )

    def __init__(self, text: str, *, http_status: int = 500) -> None:
        super().__init__(text)
        self.http_status = http_status
        self.exit_code: int | None = None


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _networks(
    values: Iterable[str] | Mapping[str, EndpointConfig],
) -> tuple[str, ...] | dict[str, EndpointConfig]:
    return dict(values) if isinstance(values, Mapping) else tuple(values)


def _log_config(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else dict(value)


def _texts(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in values or ())


def _text_map(values: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(values or {}).items()}


@attrs.frozen
class RunConfig:
    """How the container's process runs (the ``Config``/``HostConfig`` fields it uses).

    Honoured by real processes (:mod:`emulator.runtime`); the command table has no
    process to apply them to.  ``hostname`` "" is the first 12 hex of the ID,
    ``stop_timeout`` None is dockerd's 10 s.
    """

    env: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    working_dir: str = ""
    user: str = ""
    hostname: str = ""
    open_stdin: bool = False
    stdin_once: bool = False
    tmpfs: dict[str, str] = attrs.field(factory=dict, converter=_text_map)
    cap_add: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    cap_drop: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    group_add: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    readonly_rootfs: bool = False
    shm_size: int = 0
    stop_signal: str = ""
    stop_timeout: int | None = None
    dns: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    dns_search: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    dns_options: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    extra_hosts: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    no_new_privileges: bool = False

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class MountRequest:
    """One ``HostConfig.Mounts`` entry of type ``volume`` or ``bind`` (``--mount``).

    Unlike a ``-v`` spec it names its own volume driver (``DriverConfig.Name``; the
    container's ``--volume-driver`` does not apply) and may carry the options and labels
    the volume is created with, a ``subpath`` and a bind ``propagation``.
    """

    type: str
    target: str
    source: str = ""
    read_only: bool = False
    driver: str = ""
    driver_opts: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    subpath: str = ""
    propagation: str = ""
    volume_options: bool = False
    """Whether ``VolumeOptions`` was given (dockerd then passes options and labels)."""
    create_source: bool = False
    """``BindOptions.CreateMountpoint``: a missing bind source is made at start."""


def _mount_tuple(values: Iterable[MountRequest]) -> tuple[MountRequest, ...]:
    return tuple(values)


@attrs.frozen
class ContainerSpec:
    """What ``docker create`` / ``docker run`` asks for: the container to make.

    ``image`` and ``command`` may be given by position, the rest by name::

        await engine.containers.run(ContainerSpec(volumes=["v1:/data"], name="c1", detach=True))

    ``volumes`` are ``-v`` specs (``NAME:/dst[:mode]``, ``/dst``, ``/src:/dst``),
    ``anonymous_volumes`` the image's and ``Config.Volumes`` destinations,
    ``volumes_from`` ``--volumes-from`` (``C[:ro|:rw]``), ``mounts`` the ``--mount``s of
    type volume and bind (:class:`MountRequest`), ``volume_driver`` ``--volume-driver``;
    ``auto_remove`` is ``--rm``, ``detach`` is ``-d`` (an attached run waits for the exit).
    ``networks`` are ``--network`` names, or names with their
    :class:`~emulator.engine.endpoint_settings.EndpointConfig` (looked up at start, as
    dockerd does); ``network_mode`` defaults to the first of them, else ``bridge``.
    ``log_config`` is ``HostConfig.LogConfig`` (``{"Type", "Config"}``).  ``exit_code``
    and ``runs_for`` override what the command's lifetime table says
    (:mod:`emulator.engine.lifecycle`).
    """

    image: str = "busybox"
    command: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    name: str | None = attrs.field(default=None, kw_only=True)
    volumes: tuple[str, ...] = attrs.field(default=(), converter=_strings, kw_only=True)
    anonymous_volumes: tuple[str, ...] = attrs.field(default=(), converter=_strings, kw_only=True)
    volumes_from: tuple[str, ...] = attrs.field(default=(), converter=_strings, kw_only=True)
    mounts: tuple[MountRequest, ...] = attrs.field(default=(), converter=_mount_tuple, kw_only=True)
    volume_driver: str = attrs.field(default="", kw_only=True)
    auto_remove: bool = attrs.field(default=False, kw_only=True)
    detach: bool = attrs.field(default=False, kw_only=True)
    exit_code: int | None = attrs.field(default=None, kw_only=True)
    runs_for: float | None = attrs.field(default=None, kw_only=True)
    networks: tuple[str, ...] | dict[str, EndpointConfig] = attrs.field(
        default=(), converter=_networks, kw_only=True
    )
    network_mode: str = attrs.field(default="", kw_only=True)
    log_config: dict[str, Any] | None = attrs.field(
        default=None, converter=_log_config, kw_only=True
    )
    config: RunConfig = attrs.field(factory=lambda: RunConfig(), kw_only=True)
    """How the process runs: ``-e``, ``-w``, ``-u``, ``--tmpfs``, ``-i`` … (:class:`RunConfig`)."""
    labels: dict[str, str] | None = attrs.field(default=None, kw_only=True)
    """``Config.Labels`` (a logging plugin sees them in ``Info.ContainerLabels``)."""


@attrs.define
class MountPoint:
    """One ``-v`` of a container (``volume/mounts.MountPoint``)."""

    destination: str
    """The path inside the container (``/data``)."""
    type: str
    """``volume`` or ``bind``."""
    name: str = ""
    """The volume's name (a random 64-hex one for an anonymous volume)."""
    driver: str = ""
    """The volume's driver (``local`` or a plugin name)."""
    source: str = ""
    """For volumes: the API ``Mountpoint`` when the container was created (error texts use it)."""
    rw: bool = True
    """False for ``:ro``."""
    mode: str = ""
    """The mode part of the ``-v`` spec (``ro``, ``z``, ...)."""
    anonymous: bool = False
    """True for ``-v /data`` (removed with the container under ``--rm`` or ``rm -v``)."""
    id: str = ""
    """The mount ID sent to the driver; kept while mounted and after a failed Unmount."""
    active: int = attrs.field(default=0, metadata={"persist": False})
    """How many times it is mounted now (not persisted, as in dockerd)."""
    path: str = attrs.field(default="", metadata={"persist": False})
    """Where the volume is mounted on the host while active."""
    attached: bool = attrs.field(default=True, metadata={"persist": False})
    """Whether the volume was looked up for this container (dockerd's ``Volume`` is set);
    a ``--volumes-from`` copy with a source is looked up at start instead."""
    subpath: str = ""
    """``--mount …,volume-subpath=``: the directory of the volume that is mounted."""
    create_source: bool = False
    """A missing host directory is made at start (``MountPoint.Setup``): ``-v /host:/dst``
    binds, and ``--mount type=bind`` with ``CreateMountpoint`` (else dockerd sets
    ``SkipMountpointCreation``)."""

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self, filter=lambda a, _v: a.metadata.get("persist", True))


@attrs.define
class Container:
    """A container and its state (what ``containers.run``/``create`` return; the object
    stays current: ``state`` and ``exit_code`` change as it runs; its process, if it runs
    one, is not persisted)."""

    id: str
    """64 hex digits."""
    name: str
    """Without the leading ``/`` (``emulated_`` and 8 hex digits when none was given)."""
    image: str
    command: list[str]
    mounts: list[MountPoint]
    """One per ``-v``, in the order given; ``mounts[i].path`` is where the volume is
    mounted on the host while the container runs."""
    volume_driver: str = ""
    """``--volume-driver``."""
    auto_remove: bool = False
    """``--rm``."""
    detach: bool = False
    """``-d``."""
    exit_code_override: int | None = None
    """The ``exit_code`` given to ``run``/``create``, if any."""
    runs_for_override: float | None = None
    """The ``runs_for`` (engine seconds) given to ``run``/``create``, if any."""
    state: str = "created"
    """``created``, ``running`` or ``exited``."""
    exit_code: int = 0
    """Set when it exits (137 after ``kill``, 143 after ``stop``)."""
    error: str = ""
    """Why the last start failed (dockerd's ``State.Error``), else empty."""
    network_mode: str = "bridge"
    """``HostConfig.NetworkMode``: ``bridge``, ``host``, ``none``, ``container:<ref>`` or a
    network's name or ID."""
    networks: dict[str, EndpointConfig] = attrs.Factory(dict)
    """Networks to connect at start, by the name they were given under, with their
    configured endpoint settings (``NetworkSettings.Networks`` before operational data)."""
    log_config: dict[str, Any] = attrs.Factory(lambda: {"Type": DEFAULT_LOG_DRIVER, "Config": {}})
    """``HostConfig.LogConfig`` after create's defaults (``Type`` and ``Config``)."""
    volumes_from: list[str] = attrs.Factory(list)
    """``HostConfig.VolumesFrom`` as given (``CONTAINER[:ro|:rw]``)."""
    binds: list[str] = attrs.Factory(list)
    """``HostConfig.Binds`` as given (``-v`` specs)."""
    created: float = 0.0
    """When it was created (Unix seconds): ``Created``."""
    started_at: float | None = None
    """When it last started (``State.StartedAt``); None if it never ran."""
    finished_at: float | None = None
    """When it last exited (``State.FinishedAt``); kept while it runs again, as in dockerd."""
    config: RunConfig = attrs.Factory(lambda: RunConfig())
    """How its process runs (real processes only)."""
    pid: int = attrs.field(default=0, metadata={"persist": False})
    """Its PID 1's host PID while a real process runs (``State.Pid``), else 0."""
    labels: dict[str, str] | None = None
    """``Config.Labels`` as the client sent them."""
    exiting: bool = attrs.field(default=False, repr=False, metadata={"persist": False})
    """True while its exit is handled (the log driver closes before it is ``exited``)."""

    @property
    def env(self) -> list[str]:
        """``Config.Env`` as given (``-e``)."""
        return list(self.config.env)

    @property
    def running(self) -> bool:
        return self.state == "running"

    def to_json(self) -> dict[str, Any]:
        """Every field a container has, for the state database (not the runtime ones)."""
        data = attrs.asdict(
            self, recurse=False, filter=lambda a, _v: a.metadata.get("persist", True)
        )
        data["mounts"] = [mp.to_json() for mp in self.mounts]
        data["networks"] = {name: cfg.to_json() for name, cfg in self.networks.items()}
        data["config"] = self.config.to_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Container:
        """A stored container; records from before ``network_mode`` get dockerd's mode
        (the first network, else ``bridge``)."""
        fields = dict(data)
        fields["mounts"] = [MountPoint(**m) for m in fields["mounts"]]
        networks = {
            str(name): EndpointConfig.from_json(cfg or {})
            for name, cfg in (fields.get("networks") or {}).items()
        }
        fields["networks"] = networks
        fields.setdefault("network_mode", next(iter(networks), DEFAULT_NETWORK))
        if "binds" not in fields:  # records from before binds were kept
            fields["binds"] = [
                f"{m.name if m.type == 'volume' else m.source}:{m.destination}"
                + (f":{m.mode}" if m.mode else "")
                for m in fields["mounts"]
                if not m.anonymous
            ]
        fields["config"] = RunConfig(**(fields.get("config") or {}))
        return cls(**fields)


def parse_volume_spec(spec: str, volume_driver: str) -> MountPoint:
    """``-v`` as dockerd's Linux parser reads it: ``NAME:/dst[:mode]``, ``/dst``, ``/src:/dst``."""
    parts = spec.split(":")
    if len(parts) == 1:
        dest, source, mode = parts[0], "", ""
    elif len(parts) == 2:
        source, dest, mode = parts[0], parts[1], ""
    elif len(parts) == 3:
        source, dest, mode = parts
    else:
        raise ContainerError(f"invalid volume specification: '{spec}'", http_status=400)
    if not dest.startswith("/"):
        raise ContainerError(
            f"invalid volume specification: '{spec}': invalid mount config for type "
            f"\"volume\": invalid mount path: '{dest}' mount path must be absolute",
            http_status=400,
        )
    modes = [m for m in mode.split(",") if m]
    for m in modes:
        if m not in wire.VALID_BIND_MODES:
            raise ContainerError(f"invalid mode: {m}", http_status=400)
    rw = "ro" not in modes
    if source.startswith("/"):
        return MountPoint(
            destination=dest, type="bind", source=source, rw=rw, mode=mode, create_source=True
        )
    return MountPoint(
        destination=dest,
        type="volume",
        name=source,
        driver=volume_driver,
        rw=rw,
        mode=mode,
        anonymous=source == "",
    )
