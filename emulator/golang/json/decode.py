"""Go's struct decoding: an already decoded JSON value into the Go type of an annotation.

Go's lenient rules: keys match field names exactly, else case-insensitively; unknown keys
are ignored; ``null`` leaves a field alone; the first value that does not fit is reported
with Go's text (``json: cannot unmarshal string into Go struct field Volume.Name of type
...``) after the rest is decoded, while a ``time.Time`` that does not parse ends the decoding
at once.  ``Any`` fields receive what Go stores in an ``interface{}``: numbers become
``float``.  A number out of float64 range decodes (as ``inf``) and is reported only when a
field has to hold it.
"""

from __future__ import annotations

import datetime as dt
import math
import typing
from collections.abc import Callable
from typing import Any, Final, TypeVar

import attrs

from emulator.golang.json.encode import format_float
from emulator.golang.json.fields import FieldSpec, fold, struct_fields
from emulator.golang.json.scanner import decode
from emulator.golang.json.types import (
    INT_RANGES,
    go_name,
    go_type_name,
    int_marker,
    is_any,
    is_struct,
    optional_inner,
    origin,
)
from emulator.golang.json.values import GoFloat, GoJSONError, GoType, NegZero, RawStr, pairs
from emulator.golang.time import ZERO_TIME, TimeParseError, parse_rfc3339

__all__ = ["loads_into", "structure", "unmarshal_into"]

T = TypeVar("T")


class _Fatal(Exception):
    """An error that ends Go's decoding at once (returned, not saved), e.g. from time.Time."""


_KEEP: Final = object()  # "leave the destination as it is" (null, or a type error)
_UNSET: Final = object()


@attrs.define
class _Session:
    """Go's ``decodeState`` error bookkeeping for one :func:`structure` call."""

    fields: list[str] = attrs.Factory(list)  # errorContext.FieldStack
    struct: str = ""  # errorContext.Struct.Name()
    error: GoJSONError | None = None  # savedError

    def mismatch(self, what: str, go_type: str) -> object:
        """Save Go's ``UnmarshalTypeError`` (the first one wins); leave the destination alone."""
        if self.error is None:
            if self.fields:
                where = f"Go struct field {self.struct}.{'.'.join(self.fields)}"
            else:
                where = "Go value"
            self.error = GoJSONError(
                f"json: cannot unmarshal {what} into {where} of type {go_type}"
            )
        return _KEEP


Hook = Callable[[Any, _Session], Any]
"""Decodes one JSON value into one Go type: the result, or ``_KEEP`` (leave it alone)."""


def _kind(value: object) -> str:
    """The JSON kind Go names in ``cannot unmarshal <kind>``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"gojson: not a decoded JSON value: {type(value).__name__}")


def _literal(value: int | float) -> str:
    """The JSON text of a decoded number, as Go quotes it in type errors."""
    if isinstance(value, GoFloat):
        return value.literal
    if isinstance(value, NegZero):
        return "-0"
    if isinstance(value, int):
        return int.__repr__(value)
    return format_float(value) if math.isfinite(value) else repr(value)


def _zero(tp: Any) -> object:
    """Go's zero value for the Go type of annotation ``tp``, in its Python form."""
    if tp is str:
        return ""
    if tp is bool:
        return False
    if tp is int or int_marker(tp) is not None:
        return 0
    if tp is float:
        return 0.0
    if tp is dt.datetime:
        return ZERO_TIME
    if is_any(tp) or optional_inner(tp) is not None:
        return None
    kind = origin(tp)
    if kind is list:
        return []
    if kind is dict:
        return {}
    if is_struct(tp):
        return _plan(tp).build({}, None)
    raise TypeError(f"gojson: no Go zero value for {tp!r}")


def _or_zero(result: object, tp: Any) -> object:
    """``result``, or the zero value of ``tp`` when the destination was left alone."""
    return _zero(tp) if result is _KEEP else result


# ---------------------------------------------------------------------------
# Hooks for Go's basic types


def _structure_str(value: Any, session: _Session) -> Any:
    """JSON into a Go ``string``."""
    if isinstance(value, str):
        return str(value)
    return _KEEP if value is None else session.mismatch(_kind(value), "string")


def _structure_bool(value: Any, session: _Session) -> Any:
    """JSON into a Go ``bool``."""
    if isinstance(value, bool):
        return value
    return _KEEP if value is None else session.mismatch(_kind(value), "bool")


def _structure_float(value: Any, session: _Session) -> Any:
    """JSON into a Go ``float64`` (a literal beyond its range is a type error)."""
    if value is None:
        return _KEEP
    if isinstance(value, bool) or not isinstance(value, int | float):
        return session.mismatch(_kind(value), "float64")
    if isinstance(value, NegZero):
        return -0.0
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        return session.mismatch("number " + _literal(value), "float64")
    return number


def _int_hook(name: str, kind: str) -> Hook:
    """A hook for a Go integer type ``name`` whose kind (range) is ``kind``."""
    if kind not in INT_RANGES:
        raise TypeError(f"gojson: {name!r} needs an integer kind, e.g. GoType(name, 'int')")
    low, high = INT_RANGES[kind]

    def structure_int(value: Any, session: _Session) -> Any:
        """JSON into a Go integer: only an integer literal within range fits."""
        if value is None:
            return _KEEP
        if isinstance(value, bool) or not isinstance(value, int | float):
            return session.mismatch(_kind(value), name)
        if isinstance(value, int) and low <= value <= high:
            return int(value)
        return session.mismatch("number " + _literal(value), name)

    return structure_int


def _structure_time(value: Any, _session: _Session) -> Any:
    """JSON into a Go ``time.Time`` (its ``UnmarshalJSON``: errors end the decoding)."""
    if value is None:
        return _KEEP
    if not isinstance(value, str):
        raise _Fatal("Time.UnmarshalJSON: input is not a JSON string")
    raw = value.raw if isinstance(value, RawStr) else value.encode("utf-8", "surrogatepass")
    try:
        return parse_rfc3339(raw)
    except TimeParseError as error:
        raise _Fatal(str(error)) from None


def _interface_scalar(value: Any, session: _Session) -> Any:
    """One JSON scalar as Go stores it in an ``interface{}`` (numbers are float64)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    number = _structure_float(value, session)
    return None if number is _KEEP else number


def _structure_any(value: Any, session: _Session) -> Any:
    """JSON into a Go ``interface{}``: maps, slices, strings, float64s, bools, nil."""
    if not isinstance(value, dict | list):
        if not isinstance(value, str | int | float) and value is not None:
            _kind(value)  # raises TypeError for non-JSON data
        return _interface_scalar(value, session)
    root: dict[str, Any] | list[Any] = {} if isinstance(value, dict) else []
    stack: list[tuple[typing.Iterator[Any], dict[str, Any] | list[Any]]] = []
    stack.append((iter(pairs(value) if isinstance(value, dict) else value), root))
    while stack:
        items, out = stack[-1]
        item: Any = next(items, _UNSET)
        if item is _UNSET:
            stack.pop()
            continue
        child = item[1] if isinstance(out, dict) else item
        if isinstance(child, dict | list):
            converted: Any = {} if isinstance(child, dict) else []
            stack.append((iter(pairs(child) if isinstance(child, dict) else child), converted))
        else:
            converted = _interface_scalar(child, session)
        if isinstance(out, dict):
            out[str(item[0])] = converted
        else:
            out.append(converted)
    return root


# ---------------------------------------------------------------------------
# Structs


def _merge_kind(tp: Any) -> str | None:
    """How Go decodes a second object into a field of type ``tp``: into a struct or a map."""
    target = optional_inner(tp) or tp
    if is_struct(target):
        return "struct"
    return "map" if origin(target) is dict else None


class _StructPlan:
    """How Go decodes a JSON object into one wire model."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.go_name = go_name(cls)
        self.short_name = self.go_name.rsplit(".", 1)[-1]
        self.fields = struct_fields(cls)
        self.exact: dict[str, FieldSpec] = {spec.key: spec for spec in self.fields}
        self.folded: dict[str, FieldSpec] = {}
        for spec in self.fields:
            self.folded.setdefault(fold(spec.key), spec)  # the first one wins, as in Go
        self.merges = {spec.attr: _merge_kind(spec.type) for spec in self.fields}
        self.inits = [f for f in attrs.fields(cls) if f.init]
        self._hooks: dict[str, Hook] | None = None  # looked up on first use: models may recurse

    def lookup(self, key: str) -> FieldSpec | None:
        """The field a JSON key decodes into: exact name first, then case-insensitively."""
        spec = self.exact.get(key)
        return spec if spec is not None else self.folded.get(fold(key))

    def hook(self, spec: FieldSpec) -> Hook:
        """The hook for one field's type."""
        if self._hooks is None:
            self._hooks = {field.attr: hook_for(field.type) for field in self.fields}
        return self._hooks[spec.attr]

    def decode(self, value: dict[str, Any], session: _Session, base: object = None) -> object:
        """Decode a JSON object; with ``base``, into a copy of that instance (Go reuses it)."""
        values: dict[str, Any] = {}
        if base is not None:
            values = {spec.attr: getattr(base, spec.attr) for spec in self.fields}
        for key, item in pairs(value):
            spec = self.lookup(key)
            if spec is None:
                continue
            depth, outer = len(session.fields), session.struct
            session.fields.append(spec.key)
            session.struct = self.short_name
            try:
                result = self.decode_field(spec, item, values.get(spec.attr, _UNSET), session)
            finally:
                del session.fields[depth:]
                session.struct = outer
            if result is not _KEEP:
                values[spec.attr] = result
        return self.build(values, session)

    def decode_field(self, spec: FieldSpec, item: Any, current: Any, session: _Session) -> Any:
        """Decode one member; a repeated key decodes into what the earlier one left.

        Go decodes into the destination in place: a second object for a struct
        (or pointer to struct) field fills in the struct the first one made, a
        second object for a map field adds to the map.
        """
        hook = self.hook(spec)
        if not isinstance(item, dict) or current is _UNSET or current is None:
            return hook(item, session)
        merge = self.merges[spec.attr]
        if merge == "struct":
            return _plan(type(current)).decode(item, session, current)
        if merge == "map":
            fresh = hook(item, session)
            return _KEEP if fresh is _KEEP else {**current, **fresh}
        return hook(item, session)

    def build(self, values: dict[str, Any], session: _Session | None) -> object:
        """The instance: decoded values, else attrs defaults, else Go zero values."""
        kwargs: dict[str, Any] = {}
        for field in self.inits:
            if field.name in values:
                kwargs[field.alias] = values[field.name]
            elif field.default is attrs.NOTHING:
                kwargs[field.alias] = _zero(field.type)
        try:
            return self.cls(**kwargs)
        except (TypeError, ValueError):
            if session is None or session.error is None:  # not caused by a value Go rejected
                raise
            return None


_PLANS: dict[type, _StructPlan] = {}


def _plan(cls: type) -> _StructPlan:
    """The decoding plan of a wire model (cached)."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _StructPlan(cls)
    return plan


def _struct_hook(cls: type) -> Hook:
    """The hook decoding JSON into wire model ``cls``."""
    plan = _plan(cls)

    def structure_struct(value: Any, session: _Session) -> Any:
        """JSON into a Go struct: only an object fits; null leaves it alone."""
        if value is None:
            return _KEEP
        if not isinstance(value, dict):
            return session.mismatch(_kind(value), plan.go_name)
        return plan.decode(value, session)

    return structure_struct


# ---------------------------------------------------------------------------
# Pointers, slices and maps


def _optional_hook(inner: Any) -> Hook:
    """Hook for ``X | None`` (a Go pointer, or a nil-able slice/map/interface)."""
    hook = hook_for(inner)

    def structure_optional(value: Any, session: _Session) -> Any:
        """null makes it nil (None); anything else decodes into ``X``."""
        return None if value is None else hook(value, session)

    return structure_optional


def _list_hook(tp: Any) -> Hook:
    """Hook for ``list[X]`` (a Go slice)."""
    (elem,) = typing.get_args(tp) or (Any,)
    hook = hook_for(elem)
    name = go_type_name(tp)

    def structure_list(value: Any, session: _Session) -> Any:
        """An array fits; null gives a nil slice (empty); elements start from zero."""
        if value is None:
            return []
        if not isinstance(value, list):
            return session.mismatch(_kind(value), name)
        return [_or_zero(hook(item, session), elem) for item in value]

    return structure_list


def _dict_hook(tp: Any) -> Hook:
    """Hook for ``dict[str, X]`` (a Go ``map[string]X``)."""
    key_type, elem = typing.get_args(tp) or (str, Any)
    if key_type is not str:
        raise TypeError(f"gojson: only str map keys are supported, not {key_type!r}")
    hook = hook_for(elem)
    name = go_type_name(tp)

    def structure_dict(value: Any, session: _Session) -> Any:
        """An object fits; null gives a nil map (empty); each value starts from zero."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            return session.mismatch(_kind(value), name)
        return {str(key): _or_zero(hook(item, session), elem) for key, item in pairs(value)}

    return structure_dict


# ---------------------------------------------------------------------------
# Dispatch: annotation -> hook, made once per annotation


#: Go's basic types, by the Python class that stands for them (a subclass dispatches as its
#: nearest listed base; ``bool`` comes before ``int``, its base).
_BASIC: Final[tuple[tuple[type, Hook], ...]] = (
    (bool, _structure_bool),
    (str, _structure_str),
    (dt.datetime, _structure_time),
    (float, _structure_float),
    (int, _int_hook("int", "int")),
)

_HOOKS: dict[Any, Hook] = {}


def hook_for(tp: Any) -> Hook:
    """The hook that decodes JSON into the Go type of annotation ``tp`` (cached)."""
    hook = _HOOKS.get(tp)
    if hook is None:
        hook = _HOOKS[tp] = _make_hook(tp)
    return hook


def _make_hook(tp: Any) -> Hook:
    """Choose the hook for ``tp``; an annotation with no Go counterpart is a TypeError."""
    if isinstance(tp, type):
        for cls, basic in _BASIC:
            if issubclass(tp, cls):
                return basic
    marker = int_marker(tp)
    if marker is not None:
        return _int_hook(marker.name, marker.kind or marker.name)
    inner = optional_inner(tp)
    if inner is not None:
        return _optional_hook(inner)
    if origin(tp) is list:
        return _list_hook(tp)
    if origin(tp) is dict:
        return _dict_hook(tp)
    if is_struct(tp):
        return _struct_hook(tp)
    if is_any(tp):
        return _structure_any
    raise TypeError(f"gojson: cannot decode JSON into {tp!r}")


# ---------------------------------------------------------------------------
# Entry points


def structure(value: object, cls: type[T]) -> T:
    """Decode an already decoded JSON value into ``cls`` the way Go decodes into its type.

    ``cls`` is usually an attrs wire model; ``str``, ``bool``, ``int``,
    ``float``, ``list[X]``, ``dict[str, X]``, ``X | None``, ``Any``/``object``
    and ``datetime`` work too, at the top and inside models.  Raises
    :class:`GoJSONError` with Go's text for the first value that does not fit,
    or for a ``time.Time`` that does not parse (that one wins, as in Go).
    """
    session = _Session()
    hook = hook_for(cls)
    try:
        result = hook(value, session)
    except _Fatal as fatal:
        raise GoJSONError(str(fatal)) from None
    if session.error is not None:
        raise session.error
    return typing.cast(T, _or_zero(result, cls))


_HAS_TIME: dict[Any, bool] = {}


def _has_time(tp: Any) -> bool:
    """Whether decoding into ``tp`` can reach a ``time.Time`` (which reads raw string bytes)."""
    cached = _HAS_TIME.get(tp)
    if cached is None:
        cached = _HAS_TIME[tp] = _reaches_time(tp, set())
    return cached


def _reaches_time(tp: Any, seen: set[Any]) -> bool:
    """Walk the annotations reachable from ``tp`` looking for ``datetime``."""
    if tp is dt.datetime:
        return True
    if tp in seen:
        return False
    seen.add(tp)
    if is_struct(tp):
        return any(_reaches_time(spec.type, seen) for spec in struct_fields(tp))
    return any(
        _reaches_time(arg, seen) for arg in typing.get_args(tp) if not isinstance(arg, GoType)
    )


def loads_into(data: bytes, cls: type[T]) -> T:
    """How dockerd reads a 200 answer: ``json.NewDecoder(body).Decode(&ret)``.

    :func:`decode_stream` then :func:`structure`.
    """
    return structure(decode(bytes(data), stream=True, keep_raw=_has_time(cls)), cls)


def unmarshal_into(data: bytes, cls: type[T]) -> T:
    """``json.Unmarshal(data, &ret)``: :func:`unmarshal` then :func:`structure`."""
    return structure(decode(bytes(data), stream=False, keep_raw=_has_time(cls)), cls)
