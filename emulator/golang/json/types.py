"""The Go type behind a Python annotation, as ``encoding/json`` needs to know it.

Wire models are frozen ``attrs`` classes whose field names are the Go names; a class
attribute ``__go_name__ = "plugins.Manifest"`` gives the Go type name used in error texts.
``X | None`` is a Go pointer (or a nil-able slice, map or interface), ``list[X]`` a slice,
``dict[str, X]`` a ``map[string]X``, ``Any``/``object`` an ``interface{}`` and Go integer
types other than ``int`` are written ``Annotated[int, GoType("uint16")]``.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from typing import Annotated, Any, Final

import attrs

from emulator.golang.json.values import GoType

__all__ = [
    "INT_RANGES",
    "go_name",
    "go_type_name",
    "int_marker",
    "is_any",
    "is_struct",
    "nilable",
    "optional_inner",
    "origin",
]

#: The range of each Go integer kind.
INT_RANGES: Final = {
    "int": (-(2**63), 2**63 - 1),
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint": (0, 2**64 - 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "uintptr": (0, 2**64 - 1),
}


def origin(tp: Any) -> Any:
    """``typing.get_origin`` typed loosely (``list`` for ``list[int]``, ...)."""
    return typing.get_origin(tp)


def optional_inner(tp: Any) -> Any:
    """``X`` for ``X | None`` / ``Optional[X]``, else None."""
    if origin(tp) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
    return None


def int_marker(tp: Any) -> GoType | None:
    """The :class:`GoType` marker of ``Annotated[int, GoType(...)]``, else None."""
    if origin(tp) is Annotated:
        for meta in tp.__metadata__:
            if isinstance(meta, GoType):
                return meta
    return None


def is_any(tp: Any) -> bool:
    """``Any`` or ``object``: Go's ``interface{}``."""
    return tp is Any or tp is object


def is_struct(tp: Any) -> bool:
    """Whether ``tp`` is a wire model (an attrs class: a Go struct)."""
    return isinstance(tp, type) and attrs.has(tp)


def nilable(tp: Any) -> bool:
    """Whether Go's type for ``tp`` has nil without a pointer (slice, map, interface)."""
    return is_any(tp) or origin(tp) in (list, dict)


def go_name(cls: type) -> str:
    """The Go type name of a wire model (``__go_name__`` or the class name)."""
    name = getattr(cls, "__go_name__", None)
    return name if isinstance(name, str) else cls.__name__


_SIMPLE: Final[dict[Any, str]] = {
    str: "string",
    bool: "bool",
    int: "int",
    float: "float64",
    bytes: "[]uint8",
}


def go_type_name(tp: Any) -> str:
    """What Go's ``reflect.Type.String()`` prints for the Go type of annotation ``tp``."""
    if tp in _SIMPLE:
        return _SIMPLE[tp]
    if is_any(tp):
        return "interface {}"
    if tp is dt.datetime:
        return "time.Time"
    marker = int_marker(tp)
    if marker is not None:
        return marker.name
    inner = optional_inner(tp)
    if inner is not None:
        return go_type_name(inner) if nilable(inner) else "*" + go_type_name(inner)
    kind, args = origin(tp), typing.get_args(tp)
    if kind is list:
        return "[]" + go_type_name(args[0])
    if kind is dict:
        return "map[string]" + go_type_name(args[1])
    if is_struct(tp):
        return go_name(tp)
    raise TypeError(f"gojson: no Go type for {tp!r}")
