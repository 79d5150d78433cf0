"""The catalogue: plugin kinds and the checks registered for them.

A kind is data (its ``Implements`` name, its managed-plugin type, the key its errors use on a
200 answer); a check is registered with :func:`register` (or the :func:`check` decorator).
Adding the checks of a new kind (authz, logging drivers) is registering more checks: the
runner, the reports, the pytest items and docs/check.md pick them up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Final

import attrs

from emulator.check.model import Check, CheckBody, Verdict

__all__ = [
    "CATALOGUE",
    "KINDS",
    "Catalogue",
    "PluginKind",
    "SelectionError",
    "check",
    "kind_for_interface",
    "register",
    "selection",
]


@attrs.frozen
class PluginKind:
    """A plugin type as dockerd knows it."""

    name: str
    """What ``--type`` takes: ``volume``, ``network``, ``ipam``, ``authz``, ``log``."""
    interface: str
    """Its ``Implements`` value (``Plugin.Activate``), matched exactly by dockerd."""
    capability: str
    """Its managed-plugin ``interface.types`` entry."""
    error_key: str
    """Where dockerd reads a driver error on a 200 answer (IPAM: ``Error``; others ``Err``)."""
    prefix: str = ""
    """Its methods' prefix when it is not ``interface`` (authz: ``AuthZPlugin``)."""

    @property
    def methods(self) -> str:
        """The prefix of its methods: ``VolumeDriver`` in ``VolumeDriver.Mount``."""
        return self.prefix or self.interface


KINDS: Final[dict[str, PluginKind]] = {
    k.name: k
    for k in (
        PluginKind("volume", "VolumeDriver", "docker.volumedriver/1.0", "Err"),
        PluginKind("network", "NetworkDriver", "docker.networkdriver/1.0", "Err"),
        PluginKind("ipam", "IpamDriver", "docker.ipamdriver/1.0", "Error"),
        PluginKind("authz", "authz", "docker.authz/1.0", "Err", prefix="AuthZPlugin"),
        PluginKind("log", "LogDriver", "docker.logdriver/1.0", "Err"),
    )
}


def kind_for_interface(interface: str) -> PluginKind | None:
    """The kind whose ``Implements`` value (or managed capability) is ``interface``."""
    for kind in KINDS.values():
        if interface in (kind.interface, kind.capability):
            return kind
    return None


class Catalogue:
    """Registered checks, in registration order (which is the order they run in)."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def register(self, new: Check) -> Check:
        """Add ``new``; its id must be unique and its kind known."""
        if new.kind not in KINDS:
            raise ValueError(f"check {new.id}: unknown kind {new.kind!r}")
        if new.id in self._checks:
            raise ValueError(f"check {new.id} is registered twice")
        self._checks[new.id] = new
        return new

    def checks(self, kinds: Iterable[str] | None = None) -> list[Check]:
        """The checks of ``kinds`` (all when None), by kind, each kind's in registration order."""
        wanted = None if kinds is None else set(kinds)
        order = list(KINDS)
        chosen = [c for c in self._checks.values() if wanted is None or c.kind in wanted]
        return sorted(chosen, key=lambda c: order.index(c.kind))

    def kinds(self) -> list[str]:
        """The kinds that have checks, in :data:`KINDS` order."""
        present = {c.kind for c in self._checks.values()}
        return [k for k in KINDS if k in present]

    def get(self, check_id: str) -> Check:
        """The check called ``check_id`` (KeyError if there is none)."""
        return self._checks[check_id]


CATALOGUE: Final = Catalogue()


def register(new: Check) -> Check:
    """Register ``new`` in :data:`CATALOGUE`."""
    return CATALOGUE.register(new)


def check(
    check_id: str,
    *,
    title: str,
    severity: Verdict,
    rule: str,
    source: str,
    dockerd: str,
    hint: str,
) -> Callable[[CheckBody], CheckBody]:
    """Declare a check whose body is the decorated coroutine function."""

    def decorate(body: CheckBody) -> CheckBody:
        register(
            Check(
                id=check_id,
                kind=check_id.partition(".")[0],
                title=title,
                severity=severity,
                rule=rule,
                source=source,
                dockerd=dockerd,
                hint=hint,
                body=body,
            )
        )
        return body

    return decorate


# -- -k EXPR ---------------------------------------------------------------------------------


class SelectionError(ValueError):
    """A ``-k`` expression that does not parse."""


_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


def selection(expression: str) -> Callable[[Check], bool]:
    """A predicate for ``-k EXPR``, as pytest reads it: words joined by ``and``, ``or``,
    ``not`` and parentheses; a word matches a check whose id or title contains it
    (case-insensitive).  An empty expression selects everything.
    """
    tokens = _TOKEN.findall(expression)
    if not tokens:
        return lambda _check: True
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        token = peek()
        if token is None:
            raise SelectionError(f"-k {expression!r}: unexpected end of expression")
        position += 1
        return token

    def either() -> Callable[[Check], bool]:
        left = both()
        while peek() == "or":
            take()
            left = _any_of(left, both())
        return left

    def both() -> Callable[[Check], bool]:
        left = negated()
        while peek() == "and":
            take()
            left = _all_of(left, negated())
        return left

    def negated() -> Callable[[Check], bool]:
        if peek() == "not":
            take()
            inner = negated()
            return lambda c: not inner(c)
        return atom()

    def atom() -> Callable[[Check], bool]:
        token = take()
        if token == "(":
            inner = either()
            if take() != ")":
                raise SelectionError(f"-k {expression!r}: expected ')'")
            return inner
        if token in (")", "and", "or", "not"):
            raise SelectionError(f"-k {expression!r}: unexpected {token!r}")
        word = token.lower()
        return lambda c: word in c.id.lower() or word in c.title.lower()

    predicate = either()
    if peek() is not None:
        raise SelectionError(f"-k {expression!r}: unexpected {peek()!r}")
    return predicate


def _any_of(
    first: Callable[[Check], bool], second: Callable[[Check], bool]
) -> Callable[[Check], bool]:
    return lambda c: first(c) or second(c)


def _all_of(
    first: Callable[[Check], bool], second: Callable[[Check], bool]
) -> Callable[[Check], bool]:
    return lambda c: first(c) and second(c)
