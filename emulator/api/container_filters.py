"""``GET /containers/json``: which containers ``docker ps`` shows (``all``, ``limit``, filters).

As dockerd decides it (moby/moby ``daemon/list.go``, v28.5.2: ``foldFilter``,
``includeContainerInList``): containers newest first; stopped ones only with ``all``,
a ``status`` filter or a ``limit``; ``before``/``since`` cut the list at a container.
The filters that need what emulated containers never have (images with parents, ports,
an isolation) are refused (501) rather than answered with a list that looks filtered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final

from emulator.api.http import ApiError
from emulator.engine.containers import Container
from emulator.protocol.filter_args import exact_match, match, match_kv_list

__all__ = ["ACCEPTED", "NOT_EMULATED", "shown_containers"]

#: ``acceptedPsFilterTags``.
ACCEPTED: Final = (
    "ancestor",
    "before",
    "exited",
    "id",
    "isolation",
    "label",
    "name",
    "status",
    "health",
    "since",
    "volume",
    "network",
    "is-task",
    "publish",
    "expose",
)

#: Accepted filters the emulator cannot answer truly, and why.
NOT_EMULATED: Final = {
    "ancestor": "containers have no image (no layers, no parent images)",
    "publish": "no ports are published",
    "expose": "images expose no ports",
    "isolation": "there is no isolation setting",
}

#: ``validStates`` and ``validHealths``, in dockerd's order (its error texts list them).
STATES: Final = ("created", "running", "paused", "restarting", "removing", "exited", "dead")
HEALTHS: Final = ("none", "starting", "healthy", "unhealthy")

Filters = Mapping[str, Sequence[str]]
NetworkId = Callable[[str], str]


def _check(wanted: Filters) -> None:
    """``Validate`` and ``foldFilter``'s value checks, in dockerd's order."""
    for key in wanted:
        if key not in ACCEPTED:
            raise ApiError(f"invalid filter '{key}'")
    for value in wanted.get("exited", ()):
        try:
            int(value, 10)
        except ValueError:
            raise ApiError(
                f"invalid filter 'exited={value}': strconv.Atoi: parsing \"{value}\": "
                "invalid syntax"
            ) from None
    for value in wanted.get("status", ()):
        if value not in STATES:
            raise ApiError(
                f"invalid filter 'status={value}': invalid value for state ({value}): "
                f"must be one of {', '.join(STATES)}"
            )
    for value in wanted.get("health", ()):
        if value not in HEALTHS:
            raise ApiError(
                f"invalid filter 'health={value}': invalid value for health ({value}): "
                f"must be one of {', '.join(HEALTHS)}"
            )
    for key, why in NOT_EMULATED.items():
        if wanted.get(key):
            raise ApiError(
                f"plugin-emulator does not emulate the ps filter '{key}': {why}; "
                "filter the list without it",
                501,
            )


def _is_task(wanted: Filters) -> bool:
    """``GetBoolOrDefault("is-task", false)``: one of ``1``/``true`` or ``0``/``false``."""
    values = wanted.get("is-task")
    if values is None:
        return False
    is_false = "0" in values or "false" in values
    is_true = "1" in values or "true" in values
    if is_false == is_true:
        shown = "" if not values else f"=[{' '.join(values)}]"
        raise ApiError(f"invalid filter 'is-task{shown}'")
    return is_true


def _cut(containers: list[Container], wanted: Filters) -> list[Container]:
    """``before`` (only older ones) and ``since`` (only newer ones): by ID, then name."""
    for key in ("before", "since"):
        for value in wanted.get(key, ()):
            index = _find(containers, value)
            containers = containers[index + 1 :] if key == "before" else containers[:index]
    return containers


def _find(containers: list[Container], ref: str) -> int:
    """``idOrNameFilter``: full ID, name or unique ID prefix; 404 otherwise."""
    name = ref.removeprefix("/")
    for index, c in enumerate(containers):
        if ref == c.id or name == c.name:
            return index
    found = [i for i, c in enumerate(containers) if c.id.startswith(ref)] if ref else []
    if len(found) == 1:
        return found[0]
    raise ApiError(f"No such container: {ref}", 404)


def _volume_match(c: Container, values: Sequence[str]) -> bool:
    names = {mp.name or mp.source for mp in c.mounts}
    destinations = {mp.destination for mp in c.mounts if mp.destination}
    return any(v in destinations or v in names for v in values)


def _network_match(c: Container, values: Sequence[str], network_id: NetworkId) -> bool:
    ids = [network_id(name) for name in c.networks]
    return any(v in c.networks or any(i.startswith(v) for i in ids) for v in values)


def _included(c: Container, wanted: Filters, network_id: NetworkId) -> bool:
    """``includeContainerInList`` for one container (``all`` and ``limit`` aside)."""
    if not match(wanted, "name", "/" + c.name) and not match(wanted, "name", c.name):
        return False
    if not match(wanted, "id", c.id) or not match_kv_list(wanted, "label", c.labels):
        return False
    if _is_task(wanted):  # emulated containers are never swarm tasks
        return False
    exited = [int(v, 10) for v in wanted.get("exited", ())]
    if exited and (c.running or c.started_at is None or c.exit_code not in exited):
        return False
    if not match(wanted, "status", c.state) or not exact_match(wanted, "health", "none"):
        return False
    if "volume" in wanted and not _volume_match(c, wanted["volume"]):
        return False
    return "network" not in wanted or _network_match(c, wanted["network"], network_id)


def shown_containers(
    containers: list[Container],
    wanted: Filters,
    *,
    all: bool,
    limit: int,
    network_id: NetworkId,
) -> list[Container]:
    """The containers ``docker ps`` lists: ``containers`` is every one, newest first."""
    _check(wanted)
    _is_task(wanted)
    shown_all = all or bool(wanted.get("status")) or limit > 0
    shown: list[Container] = []
    for c in _cut(containers, wanted):
        if not c.running and not shown_all:
            continue
        if limit > 0 and len(shown) == limit:
            break
        if _included(c, wanted, network_id):
            shown.append(c)
    return shown
