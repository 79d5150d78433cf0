"""Volume-driver checks: the semantics dockerd's volume service relies on.

Each check drives ``VolumeDriver`` calls the way dockerd v28 makes them (``engine.volumes``,
``engine.containers`` for ``run``/``stop``/``docker cp``), or, where no dockerd operation
produces the situation, raw calls with dockerd's bodies.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from emulator.check.answers import crash_problem, describe, snippet
from emulator.check.catalogue import check
from emulator.check.context import CheckContext, random_mount_id
from emulator.check.model import Problem, Skipped, Verdict
from emulator.engine.container_model import ContainerSpec
from emulator.errors import EngineError

_PROBE_FILE = ".plugin-emulator-check"


def _names(listing: Any) -> list[str]:
    """The ``Name`` of each entry of a ``List`` answer (``""`` for a missing one)."""
    volumes = listing.get("Volumes") if isinstance(listing, dict) else None
    return [str(v.get("Name") or "") if isinstance(v, dict) else "" for v in volumes or ()]


async def _listed(ctx: CheckContext) -> list[str]:
    listing = await ctx.raw("List", {})
    if not listing.ok:
        raise Problem(f"List failed: {listing.error}")
    return _names(listing.value)


@check(
    "volume.lifecycle",
    title="Create, Get, List and Remove agree",
    severity=Verdict.FAIL,
    rule="A created volume is returned by Get and List; after Remove, Get fails and List omits it.",
    source="moby volume/service/store.go (create: Get then Create; Remove), "
    "volume/drivers/adapter.go",
    dockerd="docker volume create asks Get then Create; inspect asks Get; docker volume ls "
    "asks List; docker volume rm asks Get, Get, Remove.",
    hint="keep one record per volume name; answer Get and List from it; forget it in Remove.",
)
async def lifecycle(ctx: CheckContext) -> str:
    volume = await ctx.new_volume("life")
    got = await ctx.raw("Get", {"Name": volume})
    if not got.ok:
        raise Problem(f"Get of the volume just created failed: {got.error}")
    name = (got.value or {}).get("Volume", {}) or {}
    if name.get("Name") != volume:
        raise Problem(f"Get answered Volume.Name {name.get('Name')!r}, not {volume!r}")
    if volume not in await _listed(ctx):
        raise Problem("List does not include the volume just created")
    await ctx.engine.volumes.remove(volume)
    after = await ctx.raw("Get", {"Name": volume})
    if after.ok and (after.value or {}).get("Volume"):
        raise Problem("Get still returns the volume after Remove succeeded")
    if volume in await _listed(ctx):
        raise Problem("List still includes the volume after Remove succeeded")
    return "created, found by Get and List, removed, then gone from Get and List"


@check(
    "volume.list-names",
    title="List entries have names",
    severity=Verdict.FAIL,
    rule="Every List entry names a volume.",
    source="moby volume/drivers/adapter.go (volumeDriverAdapter.List), volume/service/store.go "
    "(list)",
    dockerd="docker volume ls shows every List entry as a volume of this driver; an entry "
    "without a name is a volume no command can inspect, mount or remove.",
    hint="fill Name in every List entry (the exact name given to Create).",
)
async def list_names(ctx: CheckContext) -> str:
    volume = await ctx.new_volume("list")
    names = await _listed(ctx)
    empty = sum(1 for n in names if not n)
    if empty:
        raise Problem(f"List answered {len(names)} entries, {empty} of them without a Name")
    if volume not in names:
        raise Problem(f"List does not include the volume just created ({volume})")
    return f"List answered {len(names)} named entries"


async def _refusal_or_success(ctx: CheckContext, opts: str) -> str:
    created = ctx.last("Create")
    if created is None:
        raise Problem(f"no Create with Opts {opts} reached the plugin")
    crashed = crash_problem(created)
    if crashed:
        raise Problem(f"Create with Opts {opts} {crashed}")
    if created.ok:
        return f"accepted Create with Opts {opts}"
    return f"refused Create with Opts {opts} cleanly: {snippet(created.response_body)}"


@check(
    "volume.opts-null",
    title='Create with "Opts": null',
    severity=Verdict.FAIL,
    rule='Create may carry "Opts": null.',
    source="moby volume/drivers/proxy.go (volumeDriverProxyCreateRequest.Opts), "
    "daemon/create.go via volume/service/service.go (implicit create)",
    dockerd='docker run -v NAME:/path --volume-driver PLUGIN creates NAME with "Opts": null.',
    hint='treat null Opts as no options; refuse with a JSON {"Err"} if options are required.',
)
async def opts_null(ctx: CheckContext) -> str:
    volume = ctx.unique("null")
    ctx.defer(lambda: ctx.engine.volumes.remove(volume, force=True))
    name = ctx.unique("ctr")
    try:
        await ctx.engine.containers.create(
            ContainerSpec(
                "busybox",
                ["true"],
                name=name,
                volumes=[f"{volume}:/data"],
                volume_driver=ctx.plugin,
            )
        )
    except EngineError:
        pass
    else:
        ctx.defer(lambda: ctx.engine.containers.remove(name, force=True))
    return await _refusal_or_success(ctx, "null")


@check(
    "volume.opts-empty",
    title="Create with empty Opts",
    severity=Verdict.FAIL,
    rule='Create may carry "Opts": {}.',
    source="docker/cli cli/command/volume/create.go (always sends a map), "
    "moby volume/drivers/proxy.go",
    dockerd='docker volume create -d PLUGIN NAME (no -o) sends "Opts": {}.',
    hint='accept an empty map; refuse with a JSON {"Err"} if options are required.',
)
async def opts_empty(ctx: CheckContext) -> str:
    volume = ctx.unique("empty")
    ctx.defer(lambda: ctx.engine.volumes.remove(volume, force=True))
    with contextlib.suppress(EngineError):
        await ctx.engine.volumes.create(volume, driver=ctx.plugin, opts={})
    return await _refusal_or_success(ctx, "{}")


@check(
    "volume.capabilities",
    title="Capabilities answers a scope",
    severity=Verdict.WARN,
    rule='Capabilities answers {"Capabilities": {"Scope": "local" | "global"}}.',
    source="moby volume/drivers/adapter.go (getCapabilities, Scope)",
    dockerd="dockerd asks Capabilities once per plugin and caches the answer; an error (404 "
    "included) means local and is not cached, so it asks again for every volume listed; "
    "another scope is logged as invalid and taken as local.",
    hint='answer {"Capabilities": {"Scope": "local"}} (or "global").',
)
async def capabilities(ctx: CheckContext) -> str:
    answer = await ctx.raw("Capabilities", {})
    if not answer.ok:
        raise Problem(f"Capabilities failed ({answer.error}): dockerd asks again every time")
    scope = ((answer.value or {}).get("Capabilities") or {}).get("Scope")
    if not isinstance(scope, str) or scope.lower() not in ("", "local", "global"):
        raise Problem(f"Capabilities answered Scope {scope!r}: dockerd logs it and uses local")
    return f"Scope {scope!r}"


@check(
    "volume.get-unmounted",
    title="Get of a volume that is not mounted",
    severity=Verdict.FAIL,
    rule="Get succeeds for every volume that exists, mounted or not.",
    source="moby volume/service/store.go (lookupVolume, getVolume: purge on any Get error)",
    dockerd="dockerd asks Get before every Mount, Unmount, inspect and Remove and at restart; "
    "any answer but a volume (an Err, a non-200) makes it forget the volume: 'no such volume'.",
    hint="answer Get from your volume records, not from the mount table.",
)
async def get_unmounted(ctx: CheckContext) -> str:
    volume = await ctx.new_volume("get")
    first = await ctx.raw("Get", {"Name": volume})
    if not first.ok:
        raise Problem(f"Get of a created, never mounted volume failed: {first.error}")
    container = await ctx.run_container(volumes=[f"{volume}:/data"])
    await ctx.engine.containers.stop(container.id)
    again = await ctx.raw("Get", {"Name": volume})
    if not again.ok:
        raise Problem(f"Get of a volume after its Unmount failed: {again.error}")
    return "Get answered before any Mount and after the Unmount"


@check(
    "volume.mountpoint",
    title="Mountpoint is absolute, exists and is writable",
    severity=Verdict.FAIL,
    rule="Mount answers an absolute path that exists on the host, a directory a container "
    "can write to.",
    source="moby volume/mounts/mounts.go (MountPoint.Setup), daemon/volumes_unix.go "
    "(setupMounts), container/container_unix.go (copyExistingContents)",
    dockerd="dockerd bind-mounts the Mountpoint into the container: a relative or missing "
    "path fails the container's start.",
    hint="answer the absolute host path of the mounted volume, and create it before answering.",
)
async def mountpoint(ctx: CheckContext) -> str:
    volume = await ctx.new_volume("mp")
    failure: EngineError | None = None
    try:
        container = await ctx.run_container(volumes=[f"{volume}:/data"])
    except EngineError as exc:
        failure = exc
    mounted = ctx.last("Mount")
    answer = (mounted.response if mounted is not None else None) or {}
    reported = answer.get("Mountpoint") if isinstance(answer, dict) else None
    if not isinstance(reported, str) or not reported:
        raise Problem(
            f"Mount answered no Mountpoint: {snippet(mounted.response_body if mounted else None)}"
        )
    if not os.path.isabs(reported):
        raise Problem(f"Mount answered the relative path {reported!r}")
    if failure is not None and ctx.settings.paths_visible and not os.path.isdir(reported):
        raise Problem(f"Mount answered {reported!r}, which does not exist on the host")
    if failure is not None:
        raise Problem(f"the container did not start: {failure}")
    if not ctx.settings.paths_visible:
        return f"Mountpoint {reported!r} is absolute (not visible from here)"
    path = Path(container.mounts[0].path)
    if not path.is_dir():
        raise Problem(f"Mount answered {reported!r}, which does not exist on the host")
    probe = path / _PROBE_FILE
    try:
        probe.write_text("written through the mountpoint\n")
        text = probe.read_text()
        probe.unlink()
    except OSError as exc:
        raise Problem(f"cannot write into the Mountpoint {reported!r}: {exc}") from None
    if text != "written through the mountpoint\n":
        raise Problem(f"a file written into {reported!r} read back differently")
    return f"Mountpoint {reported!r}: a directory, written and read back"


@check(
    "volume.remove-mounted",
    title="Remove of a mounted volume is refused",
    severity=Verdict.WARN,
    rule="Remove while a mount ID is outstanding is refused.",
    source="docs: docker/cli docs/extend/plugins_volume.md (/VolumeDriver.Remove); moby "
    "volume/service/store.go (Remove checks references)",
    dockerd="dockerd itself refuses docker volume rm while a container uses the volume, but "
    "another daemon sharing a global volume, or a forced purge, can still ask.",
    hint="refuse Remove while any mount ID is outstanding (keep the data a container uses).",
)
async def remove_mounted(ctx: CheckContext) -> str:
    volume = await ctx.new_volume("rm")
    mount_id = random_mount_id()
    mounted = await ctx.raw("Mount", {"Name": volume, "ID": mount_id})
    if not mounted.ok:
        raise Skipped(f"the plugin refused to Mount the volume: {mounted.error}")
    removed = await ctx.raw("Remove", {"Name": volume})
    await ctx.raw("Unmount", {"Name": volume, "ID": mount_id})
    if removed.ok:
        raise Problem("Remove of a volume with an outstanding Mount succeeded")
    return f"refused: {snippet(removed.entry.response_body if removed.entry else None)}"


# Names dockerd sends for plugin volumes: only the local driver validates names
# (moby volume/local/local.go); anonymous volumes are 64 hex digits.
_ODD_NAMES = (
    ("anonymous", None),
    ("spaces", "odd name with spaces"),
    ("html", "x<y>&z"),
    ("unicode", "ünïcødé-名前"),
    ("dots", "-dash.dot_under"),
)


@check(
    "volume.odd-names",
    title="Names with odd characters round-trip",
    severity=Verdict.FAIL,
    rule="A name the plugin accepts is returned unchanged by Get and List; the 64-hex names "
    "of anonymous volumes are accepted.",
    source="moby volume/service/service.go (Create: anonymous names are "
    "stringid.GenerateRandomID), volume/local/local.go (the only name validation), "
    "pkg/plugins/client.go (json.Encoder escapes <, >, & as \\u003c…)",
    dockerd="dockerd passes names through unvalidated for plugins, JSON-encoded by Go "
    "(HTML characters escaped), and names anonymous volumes with 64 hex digits.",
    hint="decode names as JSON (not by hand), store them verbatim, and return them verbatim.",
)
async def odd_names(ctx: CheckContext) -> str:
    refused: list[str] = []
    for label, wanted in _ODD_NAMES:
        name = wanted if wanted is not None else random_mount_id()
        try:
            await ctx.new_volume(label, name=name)
        except EngineError as exc:
            if wanted is None:
                raise Problem(f"refused the anonymous-volume name {name}: {exc}") from None
            refused.append(repr(name))
            continue
        got = await ctx.raw("Get", {"Name": name})
        returned = ((got.value or {}).get("Volume") or {}).get("Name") if got.ok else None
        if returned != name:
            raise Problem(f"Create accepted {name!r} but Get answered {returned!r}")
        if name not in await _listed(ctx):
            raise Problem(f"Create accepted {name!r} but List does not show it verbatim")
    if refused:
        return f"round-tripped the others; refused cleanly: {', '.join(refused)}"
    return f"round-tripped all {len(_ODD_NAMES)} names"


@check(
    "volume.restart",
    title="Volumes survive a dockerd restart",
    severity=Verdict.FAIL,
    rule="After dockerd restarts, the plugin is activated again and answers Get for every "
    "volume it had; a container can mount them again.",
    source="moby volume/service/restore.go (restore: Get per stored volume, no List), "
    "daemon/daemon.go (restore)",
    dockerd="dockerd stops the containers (Unmount), restarts, activates the plugin anew, and "
    "asks Get for each volume in its database; a volume whose Get fails is forgotten.",
    hint="keep volumes across dockerd restarts; answer Plugin.Activate and Get at any time.",
)
async def restart(ctx: CheckContext) -> str:
    volume = await ctx.new_volume("restart")
    await ctx.run_container(volumes=[f"{volume}:/data"])
    await ctx.engine.restart()
    restored = [e for e in ctx.calls("Get") if (e.request or {}).get("Name") == volume]
    try:
        await ctx.engine.volumes.inspect(volume)
    except EngineError as exc:
        last = describe(restored[-1]) if restored else "no Get"
        raise Problem(f"dockerd forgot the volume at restart ({last}): {exc}") from None
    container = await ctx.run_container(volumes=[f"{volume}:/data"])
    await ctx.engine.containers.stop(container.id)
    unmounted = ctx.last("Unmount")
    if unmounted is None or not unmounted.ok:
        raise Problem("the Unmount after the restart failed")
    return "activated again, answered Get at restart, mounted and unmounted again"


@check(
    "volume.deadline",
    title="Answers within dockerd's deadlines",
    severity=Verdict.FAIL,
    rule="Create and Mount answer within 2 minutes, the other volume calls within 1 minute.",
    source="moby volume/drivers/proxy.go (longTimeout, shortTimeout)",
    dockerd="dockerd gives up on a call at its deadline: the container's start or the "
    "volume command fails with 'context deadline exceeded', and no Unmount follows a Mount "
    "it gave up on.",
    hint="answer within the deadline; do slow work (first syncs, big mounts) in the "
    "background or in Create.",
)
async def deadline(ctx: CheckContext) -> str:
    volume = await ctx.new_volume("slow")
    try:
        container = await ctx.run_container(volumes=[f"{volume}:/data"])
        await ctx.engine.containers.stop(container.id)
        await ctx.engine.volumes.remove(volume)
    except EngineError:
        pass
    limits = ctx.engine.profile
    slowest = ""
    worst = -1.0
    for entry in ctx.calls():
        limit = limits.deadline_for(entry.method)
        if limit is None:
            continue
        if entry.error and "deadline" in entry.error:
            raise Problem(f"{entry.method} did not answer within dockerd's {limit:g} s deadline")
        share = entry.duration / limit
        if share > worst:
            worst, slowest = share, f"{entry.method} took {entry.duration:.3g} s of {limit:g} s"
    return f"slowest: {slowest}" if slowest else "no call has a deadline"


def _volume_dir(ctx: CheckContext) -> Path:
    return Path(tempfile.mkdtemp(prefix="cp-", dir=ctx.workdir))
