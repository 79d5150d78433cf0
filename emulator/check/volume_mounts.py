"""Volume-driver checks on mount IDs: dockerd's ``docker cp`` pattern, several containers,
and calls made at once.

dockerd counts nothing: each mount-point activation is one Mount and one Unmount with a
64-hex ID, and the same ID comes back for ``docker cp`` on a running container (moby's
``TestExternalVolumeDriverUnmountOnCp``).  The plugin must count Mounts per ID.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Awaitable
from pathlib import Path

import attrs
import trio

from emulator.check.answers import describe
from emulator.check.catalogue import check
from emulator.check.context import CheckContext
from emulator.check.model import Problem, Skipped, Verdict
from emulator.engine.containers import Container
from emulator.errors import EngineError
from emulator.journal import JournalEntry

_MARKER = ".plugin-emulator-check-marker"


@attrs.frozen
class _Seen:
    """What shows a volume is still mounted, as seen from the daemon's side."""

    get_ok: bool
    mountpoint: str
    is_mount: bool | None
    marker: bool | None


async def _observe(ctx: CheckContext, volume: str, path: Path | None) -> _Seen:
    got = await ctx.raw("Get", {"Name": volume})
    reported = ((got.value or {}).get("Volume") or {}).get("Mountpoint") if got.ok else ""
    if path is None:
        return _Seen(got.ok, str(reported or ""), None, None)
    return _Seen(got.ok, str(reported or ""), os.path.ismount(path), (path / _MARKER).is_file())


def _mount_path(ctx: CheckContext, container: Container) -> Path | None:
    """The container's mount as the host sees it, with a marker file written into it."""
    if not ctx.settings.paths_visible:
        return None
    path = Path(container.mounts[0].path)
    try:
        (path / _MARKER).write_text("the volume is still mounted\n")
    except OSError:
        return None
    return path


def _losses(before: _Seen, after: _Seen) -> list[str]:
    """Why ``after`` shows the volume unmounted although ``before`` showed it mounted."""
    lost = []
    if not after.get_ok:
        lost.append("Get of the volume failed")
    elif before.mountpoint and not after.mountpoint:
        lost.append("Get no longer reports a Mountpoint")
    if before.is_mount and after.is_mount is False:
        lost.append("the Mountpoint is no longer a mount")
    if before.marker and after.marker is False:
        lost.append("a file written through the Mountpoint is gone")
    return lost


def _mount_id(entry: JournalEntry | None) -> str:
    request = entry.request if entry is not None else None
    return str(request.get("ID", "")) if isinstance(request, dict) else ""


@attrs.frozen
class _CopyRun:
    volume: str
    container: Container
    mount_id: str
    resent: JournalEntry | None
    before: _Seen
    after: _Seen | None
    path: Path | None


async def _docker_cp(ctx: CheckContext) -> _CopyRun:
    """``docker run -d -v V:/data``, then ``docker cp`` out of the running container."""
    volume = await ctx.new_volume("cp")
    container = await ctx.run_container(volumes=[f"{volume}:/data"])
    mount_id = _mount_id(ctx.last("Mount"))
    path = _mount_path(ctx, container)
    before = await _observe(ctx, volume, path)
    mounts = len(ctx.calls("Mount"))
    target = Path(tempfile.mkdtemp(prefix="cp-", dir=ctx.workdir)) / "copied"
    source = f"/data/{_MARKER}" if path is not None else "/data"
    with contextlib.suppress(EngineError):
        await ctx.engine.containers.copy(container.id, source, target)
    resent = next(iter(ctx.calls("Mount")[mounts:]), None)
    after = await _observe(ctx, volume, path) if resent is not None and resent.ok else None
    return _CopyRun(volume, container, mount_id, resent, before, after, path)


@check(
    "volume.mount-id-resent",
    title="A second Mount with the same ID (docker cp)",
    severity=Verdict.FAIL,
    rule="Mount with an ID that is already mounted succeeds (and needs its own Unmount).",
    source="moby volume/mounts/mounts.go (MountPoint.Setup reuses m.ID), daemon/archive.go; "
    "integration-cli/docker_cli_external_volume_driver_test.go "
    "(TestExternalVolumeDriverUnmountOnCp)",
    dockerd="docker cp on a running container mounts its volumes again with the container's "
    "own mount ID, then unmounts that ID when the copy ends.",
    hint="count Mounts per ID: a repeated ID adds one, each Unmount takes one away.",
)
async def mount_id_resent(ctx: CheckContext) -> str:
    run = await _docker_cp(ctx)
    if run.resent is None:
        raise Skipped("docker cp sent no second Mount")
    if not run.resent.ok:
        raise Problem(
            f"refused the second Mount with the running container's ID {run.mount_id[:12]}…: "
            f"{describe(run.resent)}"
        )
    return f"accepted mount ID {run.mount_id[:12]}… twice (container start, then docker cp)"


@check(
    "volume.unmount-refcount",
    title="docker cp's Unmount keeps the container's mount",
    severity=Verdict.FAIL,
    rule="After Mount(ID), Mount(ID), Unmount(ID) the volume is still mounted; the second "
    "Unmount(ID) releases it.",
    source="moby volume/mounts/mounts.go (Cleanup), daemon/archive.go; docs: docker/cli "
    "docs/extend/plugins_volume.md (/VolumeDriver.Mount)",
    dockerd="the Unmount that ends a docker cp carries the running container's mount ID; "
    "the container's own Unmount follows when it stops.",
    hint="keep a count per mount ID, not a set: unmount only when the count reaches zero.",
)
async def unmount_refcount(ctx: CheckContext) -> str:
    run = await _docker_cp(ctx)
    if run.resent is None or not run.resent.ok or run.after is None:
        raise Skipped("the plugin refused the re-sent mount ID (see volume.mount-id-resent)")
    lost = _losses(run.before, run.after)
    await ctx.engine.containers.stop(run.container.id)
    final = ctx.last("Unmount")
    if final is None or not final.ok:
        lost.append(f"the container's own Unmount failed ({describe(final) if final else 'none'})")
    if lost:
        raise Problem("after docker cp's Unmount: " + "; ".join(lost))
    return "still mounted after docker cp's Unmount; the container's Unmount released it"


@check(
    "volume.multiple-ids",
    title="Two containers, two mount IDs",
    severity=Verdict.FAIL,
    rule="Each mount ID is its own mount: Unmount of one keeps the volume mounted for the other.",
    source="moby volume/mounts/mounts.go (MountPoint.Setup: a new random ID per mount "
    "point); docs: docker/cli docs/extend/plugins_volume.md (/VolumeDriver.Mount)",
    dockerd="two containers using one volume mount it with two IDs; stopping the first "
    "unmounts only its ID.",
    hint="track outstanding mounts per ID; unmount for real when the last one goes.",
)
async def multiple_ids(ctx: CheckContext) -> str:
    volume = await ctx.new_volume("two")
    first = await ctx.run_container(volumes=[f"{volume}:/data"])
    first_id = _mount_id(ctx.last("Mount"))
    second = await ctx.run_container(volumes=[f"{volume}:/data"])
    second_id = _mount_id(ctx.last("Mount"))
    if not first_id or first_id == second_id:
        raise Skipped("the two containers did not mount with two IDs")
    path = _mount_path(ctx, second)
    before = await _observe(ctx, volume, path)
    await ctx.engine.containers.stop(first.id)
    lost = _losses(before, await _observe(ctx, volume, path))
    await ctx.engine.containers.stop(second.id)
    for entry in ctx.calls("Unmount"):
        if not entry.ok:
            lost.append(f"an Unmount failed ({describe(entry)})")
    if lost:
        raise Problem("after the first container's Unmount: " + "; ".join(lost))
    return "the second container's mount outlived the first one's Unmount"


@check(
    "volume.concurrency",
    title="Calls at once",
    severity=Verdict.FAIL,
    rule="Calls for different volumes may arrive at the same time; each gets its answer.",
    source="moby volume/service/restore.go (Get per volume in parallel), "
    "volume/service/store.go (List per driver concurrently; per-name locks only)",
    dockerd="dockerd serialises calls per volume name only: containers starting together, "
    "restore at startup and docker volume ls send calls for several volumes at once.",
    hint="guard shared state (volume tables, state files) with a lock held across the "
    "whole read-modify-write.",
)
async def concurrency(ctx: CheckContext) -> str:
    count = ctx.settings.parallel
    names = [ctx.unique("par") for _ in range(count)]
    failures: list[str] = []

    async def each(action: str, work: Awaitable[object]) -> None:
        try:
            await work
        except EngineError as exc:
            failures.append(f"{action}: {exc}")

    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(each, "create", ctx.new_volume("par", name=name))
    listed = await ctx.raw("List", {})
    shown = {
        str(v.get("Name"))
        for v in ((listed.value or {}).get("Volumes") or ())
        if isinstance(v, dict)
    }
    missing = [n for n in names if n not in shown]
    if missing or failures:
        raise Problem(
            f"after {count} Creates at once, List lacks {len(missing)} of them"
            + (f"; {failures[0]}" if failures else "")
        )
    containers: list[Container] = []

    async def start(name: str) -> None:
        try:
            containers.append(await ctx.run_container(volumes=[f"{name}:/data"]))
        except EngineError as exc:
            failures.append(f"run: {exc}")

    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(start, name)
    async with trio.open_nursery() as nursery:
        for container in containers:
            nursery.start_soon(each, "stop", ctx.engine.containers.stop(container.id))
    bad = [
        describe(e)
        for e in ctx.calls()
        if e.method.endswith((".Create", ".Mount", ".Unmount")) and not e.ok
    ]
    if failures or bad:
        raise Problem(f"with {count} containers at once: " + "; ".join((failures + bad)[:3]))
    return f"{count} Creates, Mounts and Unmounts at once, all answered"
