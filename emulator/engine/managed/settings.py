"""``docker plugin set``: dockerd's settable rules (``plugin/v2/settable.go``, ``Plugin.Set``).

:func:`apply_setting` applies one ``name[.field][=value]`` argument to a
``types.Plugin`` and returns the changed copy, or raises :class:`SettingError`
with dockerd's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from emulator.golang.strconv import quote as go_quote
from emulator.protocol import plugin_config as pc

__all__ = ["SettingError", "apply_setting"]


class SettingError(Exception):
    """A ``Plugin.Set`` error; ``str()`` is dockerd's text."""


@attrs.define
class _Settable:
    name: str
    field: str
    value: str

    def pretty(self) -> str:
        return f"{self.name}.{self.field}" if self.field else self.name

    def is_settable(self, allowed: Sequence[str], settable: Sequence[str]) -> bool:
        if not self.field:
            if len(settable) == 1:
                self.field = settable[0]
            elif len(settable) > 1:
                raise SettingError(pc.MULTIPLE_FIELDS)
        return self.field in allowed and self.field in settable


def _parse_setting(arg: str) -> _Settable:
    """``newSettable``: ``name[.field][=value]``, the field after the last ``.``."""
    index = arg.find("=")
    if index == 0:
        raise SettingError(pc.INVALID_SET_FORMAT)
    name, value = (arg, "") if index < 0 else (arg[:index], arg[index + 1 :])
    field = ""
    dot = name.rfind(".")
    if dot > 0:
        field = name[dot + 1 :]
        name = arg[:dot]
    return _Settable(name, field, value)


def apply_setting(obj: pc.Plugin, arg: str) -> pc.Plugin:
    """One ``Plugin.Set`` argument applied: the changed plugin, or :class:`SettingError`."""
    s = _parse_setting(arg)
    config, settings = obj.Config, obj.Settings

    def refuse() -> SettingError:
        return SettingError(f"{go_quote(s.pretty())} is not settable")

    for env in config.Env or ():
        if env.Name == s.name:
            if not s.is_settable(("value",), env.Settable or ()):
                raise refuse()
            current = list(settings.Env or [])
            for i, item in enumerate(current):
                if item.partition("=")[0] == s.name:
                    current[i] = f"{s.name}={s.value}"
                    break
            else:
                current.append(f"{s.name}={s.value}")
            return attrs.evolve(obj, Settings=attrs.evolve(settings, Env=current))
    for index, mount in enumerate(config.Mounts or ()):
        if mount.Name == s.name:
            if not s.is_settable(("source",), mount.Settable or ()):
                raise refuse()
            if mount.Source is None:
                raise SettingError(pc.NO_MOUNT_SOURCE)
            mounts = _replace_at(config.Mounts, index, Source=s.value)
            smounts = _replace_at(settings.Mounts, index, Source=s.value)
            return attrs.evolve(
                obj,
                Config=attrs.evolve(config, Mounts=mounts),
                Settings=attrs.evolve(settings, Mounts=smounts),
            )
    for index, device in enumerate(config.Linux.Devices or ()):
        if device.Name == s.name:
            if not s.is_settable(("path",), device.Settable or ()):
                raise refuse()
            if device.Path is None:
                raise SettingError(pc.NO_DEVICE_PATH)
            devices = _replace_at(config.Linux.Devices, index, Path=s.value)
            sdevices = _replace_at(settings.Devices, index, Path=s.value)
            return attrs.evolve(
                obj,
                Config=attrs.evolve(config, Linux=attrs.evolve(config.Linux, Devices=devices)),
                Settings=attrs.evolve(settings, Devices=sdevices),
            )
    if config.Args.Name == s.name:
        if not s.is_settable(("value",), config.Args.Settable or ()):
            raise refuse()
        return attrs.evolve(obj, Settings=attrs.evolve(settings, Args=s.value.split(" ")))
    raise SettingError(f"setting {go_quote(s.name)} not found in the plugin configuration")


def _replace_at(items: Sequence[Any] | None, index: int, **changes: Any) -> list[Any]:
    """A copy of ``items`` with ``items[index]`` evolved (the pointer dockerd shares)."""
    out = list(items or [])
    if index < len(out):
        out[index] = attrs.evolve(out[index], **changes)
    return out
