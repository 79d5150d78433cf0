"""dockerd's ``container.Store``: the daemon's containers by ID, kept in the state database.

The container service (:mod:`emulator.engine.containers`) and the network controller
(``docker network connect`` takes a container reference) both look containers up
here; neither holds the other for it.  Every change a caller makes to a container is
written with :meth:`ContainerStore.save` (one transaction, as dockerd's
``CheckpointTo`` writes ``config.v2.json``).
"""

from __future__ import annotations

import builtins

import trio

from emulator.engine.container_model import Container, ContainerError
from emulator.engine.database import StateDB

__all__ = ["ContainerStore"]


class ContainerStore:
    """The containers of one daemon, in creation order, persisted in ``db``."""

    def __init__(self, db: StateDB) -> None:
        self.db = db
        self._by_id: dict[str, Container] = {}

    def get(self, ref: str) -> Container:
        """A container by name, full ID or unique ID prefix; ``No such container: REF``."""
        ref_name = ref.removeprefix("/")
        for c in self._by_id.values():
            if c.name == ref_name or c.id == ref:
                return c
        matches = [c for c in self._by_id.values() if ref and c.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        raise ContainerError(f"No such container: {ref}", http_status=404)

    def named(self, name: str) -> Container | None:
        """The container called ``name`` (a leading ``/`` ignored), if there is one."""
        name = name.removeprefix("/")
        return next((c for c in self._by_id.values() if c.name == name), None)

    def list(self, *, all: bool = False) -> builtins.list[Container]:
        """Containers, newest first (running ones only unless ``all``)."""
        return [c for c in reversed(self._by_id.values()) if all or c.running]

    def snapshot(self) -> builtins.list[Container]:
        """Every container, oldest first (a copy: the caller may add or remove meanwhile)."""
        return builtins.list(self._by_id.values())

    def add(self, container: Container) -> None:
        """Keep ``container`` and save it."""
        self._by_id[container.id] = container
        self.save(container)

    def save(self, container: Container) -> None:
        """Persist ``container``'s configuration and state (a removed one is not written)."""
        if container.id in self._by_id:
            self.db.put_container(container.id, container.name, container.to_json())

    def remove(self, container: Container) -> None:
        """Forget ``container`` and delete its record."""
        self._by_id.pop(container.id, None)
        self.db.delete_container(container.id)

    async def load(self) -> builtins.list[Container]:
        """Replace what is kept with the stored containers; returns them, oldest first.

        A record that cannot be decoded is skipped (the database reports it).
        """
        self._by_id.clear()
        for data in self.db.containers():
            try:
                container = Container.from_json(data)
            except (KeyError, TypeError, ValueError) as exc:
                self.db.report_bad_row(f"container {data.get('id')!r}", f"bad record ({exc!r})")
                continue
            self._by_id[container.id] = container
            await trio.lowlevel.checkpoint()
        return self.snapshot()
