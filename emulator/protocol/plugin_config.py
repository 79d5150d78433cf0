"""A managed (v2) plugin's ``config.json`` and API object, as dockerd v28 reads and writes them.

The models mirror moby's ``api/types/plugin.go`` field for field (Go names, Go
order).  :func:`parse_config` reads ``config.json`` the way ``CreateFromContext``
does (``json.Unmarshal`` into ``types.PluginConfig``: case-insensitive keys,
unknown keys ignored, no validation beyond JSON types); interface types are
parsed with ``PluginInterfaceType.UnmarshalJSON``'s quirks and kept in their
``String()`` form.  Slices Go leaves nil are ``None`` here, so they encode as
``null`` as dockerd's API does.

This module also holds dockerd's texts for the managed-plugin errors
(``plugin/errors.go``, ``plugin/v2/settable.go``, ``plugin/v2/plugin.go``) and
the name rules of ``reference.ParseNormalizedNamed`` + ``TagNameOnly`` +
``FamiliarString`` (:func:`normalize_name`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Final

import attrs

from emulator.golang import json as gojson
from emulator.golang.json import GoType
from emulator.golang.strconv import quote as go_quote

__all__ = [
    "ConfigError",
    "InterfaceType",
    "Plugin",
    "PluginConfig",
    "PluginConfigArgs",
    "PluginConfigInterface",
    "PluginConfigLinux",
    "PluginConfigNetwork",
    "PluginConfigRootfs",
    "PluginConfigUser",
    "PluginDevice",
    "PluginEnv",
    "PluginMount",
    "PluginPrivilege",
    "PluginSettings",
    "ReferenceError",
    "compute_privileges",
    "decode_config",
    "initial_settings",
    "normalize_name",
    "parse_config",
    "parse_interface_type",
    "privileges_match",
]

#: Every interface type dockerd v28 knows (``docs/extend/config.md``).
KNOWN_TYPES: Final = (
    "docker.volumedriver/1.0",
    "docker.networkdriver/1.0",
    "docker.ipamdriver/1.0",
    "docker.authz/1.0",
    "docker.logdriver/1.0",
    "docker.metricscollector/1.0",
)
#: ``plugins.ProtocolSchemeHTTPV1``: the only protocol scheme dockerd speaks.
PROTOCOL_HTTP_V1: Final = "moby.plugins.http/v1"
#: Where a managed plugin's socket directory appears inside the plugin.
RUNTIME_SOCKET_DIR: Final = "/run/docker/plugins"


def _opt(name: str, *, omitempty: bool = False) -> dict[str, Any]:
    """Field metadata for a Go json tag."""
    return {"json": {"name": name, "omitempty": omitempty}}


@attrs.frozen
class PluginConfigArgs:
    """``types.PluginConfigArgs``."""

    __go_name__ = "types.PluginConfigArgs"
    Description: str = ""
    Name: str = ""
    Settable: list[str] | None = None
    Value: list[str] | None = None


@attrs.frozen
class PluginConfigInterface:
    """``types.PluginConfigInterface``; ``Types`` in their ``String()`` form."""

    __go_name__ = "types.PluginConfigInterface"
    ProtocolScheme: str = attrs.field(default="", metadata=_opt("ProtocolScheme", omitempty=True))
    Socket: str = ""
    Types: list[Any] | None = None


@attrs.frozen
class PluginDevice:
    """``types.PluginDevice``."""

    __go_name__ = "types.PluginDevice"
    Description: str = ""
    Name: str = ""
    Path: str | None = None
    Settable: list[str] | None = None


@attrs.frozen
class PluginConfigLinux:
    """``types.PluginConfigLinux``."""

    __go_name__ = "types.PluginConfigLinux"
    AllowAllDevices: bool = False
    Capabilities: list[str] | None = None
    Devices: list[PluginDevice] | None = None


@attrs.frozen
class PluginMount:
    """``types.PluginMount``."""

    __go_name__ = "types.PluginMount"
    Description: str = ""
    Destination: str = ""
    Name: str = ""
    Options: list[str] | None = None
    Settable: list[str] | None = None
    Source: str | None = None
    Type: str = ""


@attrs.frozen
class PluginConfigNetwork:
    """``types.PluginConfigNetwork``."""

    __go_name__ = "types.PluginConfigNetwork"
    Type: str = ""


@attrs.frozen
class PluginEnv:
    """``types.PluginEnv``."""

    __go_name__ = "types.PluginEnv"
    Description: str = ""
    Name: str = ""
    Settable: list[str] | None = None
    Value: str | None = None


@attrs.frozen
class PluginConfigUser:
    """``types.PluginConfigUser`` (unused at run time by dockerd)."""

    __go_name__ = "types.PluginConfigUser"
    GID: Annotated[int, GoType("uint32")] = attrs.field(
        default=0, metadata=_opt("GID", omitempty=True)
    )
    UID: Annotated[int, GoType("uint32")] = attrs.field(
        default=0, metadata=_opt("UID", omitempty=True)
    )


@attrs.frozen
class PluginConfigRootfs:
    """``types.PluginConfigRootfs`` (lower-case JSON tags)."""

    __go_name__ = "types.PluginConfigRootfs"
    DiffIds: list[str] | None = attrs.field(default=None, metadata=_opt("diff_ids"))
    Type: str = attrs.field(default="", metadata=_opt("type", omitempty=True))


@attrs.frozen
class PluginConfig:
    """``types.PluginConfig``: what ``config.json`` holds."""

    __go_name__ = "types.PluginConfig"
    Args: PluginConfigArgs = PluginConfigArgs()
    Description: str = ""
    DockerVersion: str = attrs.field(default="", metadata=_opt("DockerVersion", omitempty=True))
    Documentation: str = ""
    Entrypoint: list[str] | None = None
    Env: list[PluginEnv] | None = None
    Interface: PluginConfigInterface = PluginConfigInterface()
    IpcHost: bool = False
    Linux: PluginConfigLinux = PluginConfigLinux()
    Mounts: list[PluginMount] | None = None
    Network: PluginConfigNetwork = PluginConfigNetwork()
    PidHost: bool = False
    PropagatedMount: str = ""
    User: PluginConfigUser = attrs.field(
        factory=PluginConfigUser, metadata=_opt("User", omitempty=True)
    )
    WorkDir: str = ""
    Rootfs: PluginConfigRootfs | None = attrs.field(
        default=None, metadata=_opt("rootfs", omitempty=True)
    )

    @property
    def types(self) -> list[InterfaceType]:
        """The interface types, parsed."""
        return [parse_interface_type(t) for t in self.Interface.Types or ()]


@attrs.frozen
class PluginSettings:
    """``types.PluginSettings``: what ``docker plugin set`` changes."""

    __go_name__ = "types.PluginSettings"
    Args: list[str] | None = None
    Devices: list[PluginDevice] | None = None
    Env: list[str] | None = None
    Mounts: list[PluginMount] | None = None


@attrs.frozen
class Plugin:
    """``types.Plugin``: a managed plugin as inspect shows it (and as it is persisted)."""

    __go_name__ = "types.Plugin"
    Config: PluginConfig = PluginConfig()
    Enabled: bool = False
    ID: str = attrs.field(default="", metadata=_opt("Id", omitempty=True))
    Name: str = ""
    PluginReference: str = attrs.field(default="", metadata=_opt("PluginReference", omitempty=True))
    Settings: PluginSettings = PluginSettings()


@attrs.frozen
class PluginPrivilege:
    """``types.PluginPrivilege``: one entry of ``GET /plugins/privileges``."""

    __go_name__ = "types.PluginPrivilege"
    Name: str = ""
    Description: str = ""
    Value: list[str] | None = None


@attrs.frozen
class InterfaceType:
    """``types.PluginInterfaceType``: ``<prefix>.<capability>/<version>``."""

    Prefix: str
    Capability: str
    Version: str

    def __str__(self) -> str:
        return f"{self.Prefix}.{self.Capability}/{self.Version}"


def parse_interface_type(text: str) -> InterfaceType:
    """``PluginInterfaceType.UnmarshalJSON`` on a JSON string's content.

    The prefix ends at the last ``.`` before the first ``/``; with no ``.`` the
    prefix is empty and Go's slicing drops the first character of the capability
    (``"volumedriver/1.0"`` → capability ``olumedriver``), as dockerd does.
    """
    prefix_index = 0
    version_index = len(text)
    for index, char in enumerate(text):
        if char == ".":
            prefix_index = index
        elif char == "/":
            version_index = index
            break
    version = text[version_index + 1 :] if version_index < len(text) else ""
    return InterfaceType(text[:prefix_index], text[prefix_index + 1 : version_index], version)


class ConfigError(Exception):
    """``config.json`` does not decode into ``types.PluginConfig``; ``str()`` is dockerd's text."""


def decode_config(data: bytes) -> PluginConfig:
    """``json.Unmarshal`` into ``PluginConfig`` with ``Interface.Types`` left as written.

    Raises :class:`ConfigError` with ``failed to parse config: <Go's error>``.
    """
    try:
        return gojson.structure(gojson.unmarshal(data), PluginConfig)
    except gojson.GoJSONError as exc:
        raise ConfigError(f"failed to parse config: {exc}") from None


def parse_config(data: bytes) -> PluginConfig:
    """Read ``config.json`` as dockerd does on ``plugin create``.

    Interface types come back in their ``String()`` form (what dockerd stores).
    Raises :class:`ConfigError` with ``failed to parse config: <Go's error>``.
    """
    config = decode_config(data)
    texts: list[str] = []
    for item in config.Interface.Types or ():
        if not isinstance(item, str):
            literal = gojson.encode(item).decode().rstrip("\n")
            raise ConfigError(
                f"failed to parse config: {go_quote(literal)} is not a plugin interface type"
            )
        texts.append(str(parse_interface_type(item)))
    if config.Interface.Types is None:
        return config
    return attrs.evolve(config, Interface=attrs.evolve(config.Interface, Types=texts))


def initial_settings(config: PluginConfig) -> PluginSettings:
    """``InitEmptySettings``: env with a value, args' value, mounts and devices copied."""
    env = [f"{e.Name}={e.Value}" for e in config.Env or () if e.Value is not None]
    return PluginSettings(
        Args=list(config.Args.Value or []),
        Devices=list(config.Linux.Devices or []),
        Env=env,
        Mounts=list(config.Mounts or []),
    )


def compute_privileges(config: PluginConfig) -> list[PluginPrivilege]:
    """``computePrivileges`` (``plugin/backend_linux.go``), in dockerd's order."""
    out: list[PluginPrivilege] = []
    if config.Network.Type not in ("", "null", "bridge"):
        out.append(
            PluginPrivilege("network", "permissions to access a network", [config.Network.Type])
        )
    if config.IpcHost:
        out.append(
            PluginPrivilege("host ipc namespace", "allow access to host ipc namespace", ["true"])
        )
    if config.PidHost:
        out.append(
            PluginPrivilege("host pid namespace", "allow access to host pid namespace", ["true"])
        )
    for mount in config.Mounts or ():
        if mount.Source is not None:
            out.append(PluginPrivilege("mount", "host path to mount", [mount.Source]))
    for device in config.Linux.Devices or ():
        if device.Path is not None:
            out.append(PluginPrivilege("device", "host device to access", [device.Path]))
    if config.Linux.AllowAllDevices:
        out.append(
            PluginPrivilege("allow-all-devices", "allow 'rwm' access to all devices", ["true"])
        )
    if config.Linux.Capabilities:
        out.append(
            PluginPrivilege(
                "capabilities",
                "list of additional capabilities required",
                list(config.Linux.Capabilities),
            )
        )
    return out


def _sort_privileges(items: list[PluginPrivilege]) -> list[PluginPrivilege]:
    """``sort.Sort(PluginPrivileges)`` as Go runs it on short lists (insertion sort).

    ``PluginPrivileges.Swap`` sorts the ``Value`` of both elements it swaps, so an
    element's values end up sorted only if it moved.
    """
    out = list(items)
    for i in range(1, len(out)):
        j = i
        while j > 0 and out[j].Name < out[j - 1].Name:
            a, b = out[j], out[j - 1]
            out[j - 1] = attrs.evolve(a, Value=sorted(a.Value) if a.Value is not None else None)
            out[j] = attrs.evolve(b, Value=sorted(b.Value) if b.Value is not None else None)
            j -= 1
    return out


def privileges_match(required: Sequence[PluginPrivilege], given: Sequence[PluginPrivilege]) -> bool:
    """``validatePrivileges``/``isEqual``: same length, then names and values compared
    after sorting, **from the second element on** (dockerd never compares the first)."""
    if len(required) != len(given):
        return False
    left, right = _sort_privileges(list(required)), _sort_privileges(list(given))
    return all(
        a.Name == b.Name and a.Value == b.Value and (a.Value is None) == (b.Value is None)
        for a, b in zip(left[1:], right[1:], strict=True)
    )


# -- names -----------------------------------------------------------------------------

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$"
)
_HEX64 = re.compile(r"^[a-f0-9]{64}$")
_DEFAULT_DOMAIN = "docker.io"


class ReferenceError(ValueError):
    """A name ``reference.ParseNormalizedNamed`` refuses; ``str()`` is its text."""


def _split_domain(name: str) -> tuple[str, str]:
    """``splitDockerDomain``."""
    first, sep, rest = name.partition("/")
    if not sep:
        return _DEFAULT_DOMAIN, "library/" + name
    if first == "index.docker.io":
        domain, remote = _DEFAULT_DOMAIN, rest
    elif first == "localhost" or any(c in first for c in ".:") or first.lower() != first:
        domain, remote = first, rest
    else:
        domain, remote = _DEFAULT_DOMAIN, name
    if domain == _DEFAULT_DOMAIN and "/" not in remote:
        remote = "library/" + remote
    return domain, remote


def normalize_name(text: str) -> tuple[str, bool]:
    """The stored name of a plugin reference, and whether it had a digest.

    ``reference.ParseNormalizedNamed`` then ``FamiliarString(TagNameOnly(ref))``:
    ``vieux/sshfs`` → ``vieux/sshfs:latest``; ``docker.io/library/x:1`` → ``x:1``.
    Raises :class:`ReferenceError` with the reference package's text.
    """
    if _HEX64.match(text):
        raise ReferenceError(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_domain(text)
    remote = remainder.split(":", 1)[0] if ":" in remainder else remainder
    remote = remote.split("@", 1)[0]
    if remote.lower() != remote:
        raise ReferenceError(
            f"invalid reference format: repository name ({remote}) must be lowercase"
        )
    match = _REFERENCE.match(f"{domain}/{remainder}")
    if match is None or not text:
        raise ReferenceError("invalid reference format")
    name, tag = match["name"], match["tag"] or "latest"
    if name.startswith(f"{_DEFAULT_DOMAIN}/"):  # FamiliarName
        name = name[len(_DEFAULT_DOMAIN) + 1 :]
        if name.startswith("library/") and name.count("/") == 1:
            name = name[len("library/") :]
    return f"{name}:{tag}", match["digest"] is not None


# -- dockerd's texts -------------------------------------------------------------------


def not_found_text(name: str) -> str:
    """``errNotFound``."""
    return f"plugin {go_quote(name)} not found"


def ambiguous_text(name: str) -> str:
    """``errAmbiguous``."""
    return f"multiple plugins found for {go_quote(name)}"


def disabled_text(name: str) -> str:
    """``errDisabled``."""
    return f"plugin {name} found but disabled"


def in_use_text(name: str) -> str:
    """``inUseError``."""
    return f"plugin {name} is in use"


def enabled_text(name: str) -> str:
    """``enabledError``."""
    return f"plugin {name} is enabled"


def exists_text(name: str) -> str:
    """``alreadyExistsError``."""
    return f"plugin {name} already exists"


SET_WHILE_ENABLED: Final = "cannot set on an active plugin, disable plugin before setting"
MULTIPLE_FIELDS: Final = "multiple fields are settable, one must be specified"
INVALID_SET_FORMAT: Final = "invalid format, must be <name>[.<field>][=<value>]"
NO_MOUNT_SOURCE: Final = "Plugin config has no mount source"
NO_DEVICE_PATH: Final = "Plugin config has no device path"
MOUNT_SOURCE_UNSET: Final = "mount source is not specified"
CANONICAL_REFUSED: Final = "canonical references are not permitted"
