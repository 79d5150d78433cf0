"""VolumeDriver wire models, as ``volume/drivers/proxy.go`` declares them (dockerd v28).

Field names are the Go (and so the JSON) names.  Requests encode in declaration
order; ``Opts`` is a Go map, so ``None`` encodes as ``null`` (implicit creation)
and ``{}`` as ``{}`` (``docker volume create`` always sends a map).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import attrs

CREATE: Final = "VolumeDriver.Create"
REMOVE: Final = "VolumeDriver.Remove"
MOUNT: Final = "VolumeDriver.Mount"
UNMOUNT: Final = "VolumeDriver.Unmount"
PATH: Final = "VolumeDriver.Path"
GET: Final = "VolumeDriver.Get"
LIST: Final = "VolumeDriver.List"
CAPABILITIES: Final = "VolumeDriver.Capabilities"


@attrs.frozen
class CreateRequest:
    __go_name__ = "drivers.volumeDriverProxyCreateRequest"
    Name: str
    Opts: dict[str, str] | None


@attrs.frozen
class NameRequest:
    """``Remove``, ``Path`` and ``Get`` requests: ``{"Name": …}``."""

    __go_name__ = "drivers.volumeDriverProxyGetRequest"
    Name: str


@attrs.frozen
class MountRequest:
    """``Mount`` and ``Unmount`` requests: the mount ID is 64 hex characters."""

    __go_name__ = "drivers.volumeDriverProxyMountRequest"
    Name: str
    ID: str


@attrs.frozen
class EmptyRequest:
    """``List`` and ``Capabilities`` send ``{}``."""

    __go_name__ = "drivers.volumeDriverProxyListRequest"


@attrs.frozen
class ErrResponse:
    """``Create``, ``Remove`` and ``Unmount`` answers: only ``Err`` is read."""

    __go_name__ = "drivers.volumeDriverProxyCreateResponse"
    Err: str = ""


@attrs.frozen
class MountpointResponse:
    """``Mount`` and ``Path`` answers."""

    __go_name__ = "drivers.volumeDriverProxyMountResponse"
    Mountpoint: str = ""
    Err: str = ""


@attrs.frozen
class ProxyVolume:
    """A volume as a plugin describes it (``drivers.proxyVolume``)."""

    __go_name__ = "drivers.proxyVolume"
    Name: str = ""
    Mountpoint: str = ""
    CreatedAt: datetime | None = None
    Status: dict[str, Any] | None = None


@attrs.frozen
class GetResponse:
    __go_name__ = "drivers.volumeDriverProxyGetResponse"
    Volume: ProxyVolume | None = None
    Err: str = ""


@attrs.frozen
class ListResponse:
    __go_name__ = "drivers.volumeDriverProxyListResponse"
    Volumes: list[ProxyVolume] | None = None
    Err: str = ""


@attrs.frozen
class Capability:
    __go_name__ = "volume.Capability"
    Scope: str = ""


@attrs.frozen
class CapabilitiesResponse:
    __go_name__ = "drivers.volumeDriverProxyCapabilitiesResponse"
    Capabilities: Capability = attrs.Factory(Capability)
    Err: str = ""


#: Scopes dockerd accepts; anything else is logged and becomes ``local``.
LOCAL_SCOPE: Final = "local"
GLOBAL_SCOPE: Final = "global"


def normalize_scope(raw: str) -> tuple[str, bool]:
    """dockerd's scope rule: lower-case, ``""`` → local; unknown → local, flagged invalid."""
    scope = raw.lower()
    if scope == "":
        return LOCAL_SCOPE, True
    if scope in (LOCAL_SCOPE, GLOBAL_SCOPE):
        return scope, True
    return LOCAL_SCOPE, False


# -- dockerd's texts (volume/service/errors.go, volume/drivers, volume/local) ----------

NO_SUCH_VOLUME: Final = "no such volume"
VOLUME_IN_USE: Final = "volume is in use"
NAME_CONFLICT: Final = "volume name must be unique"
LOCAL_NOT_FOUND: Final = "volume not found"
EMPTY_DRIVER_NAME: Final = "driver name cannot be empty"
ANONYMOUS_LABEL: Final = "com.docker.volume.anonymous"
DEFAULT_DRIVER: Final = "local"
LOCAL_DATA_DIR: Final = "_data"
#: ``names.RestrictedNameChars``: what a local volume name may contain.
RESTRICTED_NAME_CHARS: Final = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
LOCAL_VALID_OPTS: Final = frozenset({"type", "device", "o", "size"})
#: Modes the Linux mount parser accepts after ``-v SRC:DST:`` (``volume/mounts/linux_parser.go``:
#: rw/ro, SELinux labels, nocopy, propagation, and the Docker Desktop consistency words).
VALID_BIND_MODES: Final = frozenset(
    {
        "ro",
        "rw",
        "z",
        "Z",
        "nocopy",
        "shared",
        "rshared",
        "slave",
        "rslave",
        "private",
        "rprivate",
        "consistent",
        "cached",
        "delegated",
    }
)


def op_error(op: str, name: str, cause: str, refs: list[str] | None = None) -> str:
    """``OpErr.Error``: ``op name: cause`` and `` - [ref1, ref2]`` when refs are given."""
    text = op + (f" {name}" if name else "") + ": " + cause
    if refs:
        text += " - [" + ", ".join(refs) + "]"
    return text


def plugin_lookup_text(driver: str, cause: str) -> str:
    """How the volume driver store wraps a plugin lookup failure."""
    return f"error looking up volume plugin {driver}: {cause}"
