"""``serve`` killed (SIGKILL) at random points of an Engine API workload loses nothing.

A seeded workload of volume, container, network and managed-plugin operations runs
against ``plugin-emulator serve`` while the test SIGKILLs it after a seeded random
delay, many times over the same data-root.  Before each restart the state database
must pass ``PRAGMA integrity_check``; after it, ``serve`` must listen within seconds and
every operation the client saw acknowledged must be there (or gone, for removals),
once, with what it was given; operations cut short by the kill may have happened or
not, but never half.  Runs: ``EMULATOR_CRASH_RUNS`` (default 8), seed:
``EMULATOR_CRASH_SEED`` (default 12); the whole test stays well under a minute.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import json
import os
import random
import socket
import sqlite3
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import attrs

from tests.serve_process import ServeProcess
from tests.test_managed import plugin_dir

RUNS = int(os.environ.get("EMULATOR_CRASH_RUNS", "8"))
SEED = int(os.environ.get("EMULATOR_CRASH_SEED", "12"))
API = "/v1.51"


class Killed(Exception):
    """The connection broke: ``serve`` was killed while this operation was under way."""


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def call(sock: Path, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Any:
    """One Engine API request on a new connection: (status, decoded JSON or None)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    connection = UnixHTTPConnection(sock, timeout=20)
    try:
        headers = {"Content-Type": "application/x-tar" if raw is not None else "application/json"}
        connection.request(method, API + path, body=data, headers=headers)
        response = connection.getresponse()
        payload = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise Killed(f"{method} {path}: {exc}") from None
    finally:
        connection.close()
    try:
        return response.status, json.loads(payload) if payload.strip() else None
    except ValueError:
        return response.status, payload.decode(errors="replace")


@attrs.define
class Thing:
    """What the client knows of one object: ``present`` True/False, or None (unknown)."""

    kind: str
    name: str
    present: bool | None
    facts: dict[str, Any] = attrs.Factory(dict)


@attrs.define
class Model:
    """Every object the workload made, and what was acknowledged about it."""

    things: dict[str, Thing] = attrs.Factory(dict)
    log: list[str] = attrs.Factory(list)
    counter: int = 0

    def new_name(self, kind: str) -> str:
        self.counter += 1
        return f"{kind}{self.counter}"

    def of(self, kind: str, present: bool | None = True) -> list[Thing]:
        return [t for t in self.things.values() if t.kind == kind and t.present is present]


class Workload:
    """Seeded random operations; each acknowledged one is written into the model."""

    def __init__(self, sock: Path, model: Model, rng: random.Random, plugin_tar: bytes) -> None:
        self.sock, self.model, self.rng, self.plugin_tar = sock, model, rng, plugin_tar

    def run(self) -> None:
        try:
            while True:
                self.step()
        except Killed as exc:
            self.model.log.append(f"cut short: {exc}")

    def step(self) -> None:
        ops = [
            self.volume_create,
            self.volume_rm,
            self.container_create,
            self.container_start,
            self.container_stop,
            self.container_rm,
            self.network_create,
            self.network_rm,
            self.plugin_create,
            self.plugin_set,
            self.plugin_rm,
        ]
        self.rng.choice(ops)()

    def pick(self, kind: str) -> Thing | None:
        known = self.model.of(kind)
        return self.rng.choice(known) if known else None

    def _begin(self, kind: str, name: str, **facts: Any) -> Thing:
        thing = Thing(kind, name, None, facts)  # unknown until acknowledged
        self.model.things[name] = thing
        self.model.log.append(f"{kind} create {name}")
        return thing

    def volume_create(self) -> None:
        name = self.model.new_name("vol")
        thing = self._begin("volume", name, labels={"n": name})
        body = {"Name": name, "Driver": "mv", "Labels": {"n": name}}
        status, _ = call(self.sock, "POST", "/volumes/create", body)
        thing.present = status == 201

    def volume_rm(self) -> None:
        thing = self.pick("volume")
        if thing is None:
            return
        self.model.log.append(f"volume rm {thing.name}")
        thing.present = None  # until the answer comes
        status, _ = call(self.sock, "DELETE", f"/volumes/{thing.name}")
        thing.present = status != 204

    def container_create(self) -> None:
        name = self.model.new_name("ctr")
        command = self.rng.choice([["top"], ["true"]])
        host: dict[str, Any] = {}
        volume, network = self.pick("volume"), self.pick("network")
        if volume is not None and self.rng.random() < 0.5:
            host["Binds"] = [f"{volume.name}:/data"]
        if network is not None and self.rng.random() < 0.5:
            host["NetworkMode"] = network.name
        thing = self._begin("container", name, command=command, host=host, state="created")
        body = {"Image": "busybox", "Cmd": command, "HostConfig": host}
        status, answer = call(self.sock, "POST", f"/containers/create?name={name}", body)
        thing.present = status == 201
        if status == 201:
            thing.facts["id"] = answer["Id"]

    def container_start(self) -> None:
        thing = self.pick("container")
        if thing is None:
            return
        self.model.log.append(f"container start {thing.name}")
        before, thing.facts["state"] = thing.facts["state"], None
        status, _ = call(self.sock, "POST", f"/containers/{thing.name}/start")
        if status == 204:
            thing.facts["state"] = "running" if thing.facts["command"] == ["top"] else "exited"
        else:
            thing.facts["state"] = before

    def container_stop(self) -> None:
        thing = self.pick("container")
        if thing is None:
            return
        self.model.log.append(f"container stop {thing.name}")
        before, thing.facts["state"] = thing.facts["state"], None
        status, _ = call(self.sock, "POST", f"/containers/{thing.name}/stop")
        thing.facts["state"] = "stopped" if status == 204 else before

    def container_rm(self) -> None:
        thing = self.pick("container")
        if thing is None:
            return
        self.model.log.append(f"container rm {thing.name}")
        thing.present = None
        status, _ = call(self.sock, "DELETE", f"/containers/{thing.name}?force=1")
        thing.present = status != 204

    def network_create(self) -> None:
        name = self.model.new_name("net")
        thing = self._begin("network", name)
        status, answer = call(self.sock, "POST", "/networks/create", {"Name": name})
        thing.present = status == 201
        if status == 201:
            thing.facts["id"] = answer["Id"]

    def network_rm(self) -> None:
        thing = self.pick("network")
        if thing is None:
            return
        self.model.log.append(f"network rm {thing.name}")
        thing.present = None
        status, _ = call(self.sock, "DELETE", f"/networks/{thing.name}")
        thing.present = status != 204

    def plugin_create(self) -> None:
        name = self.model.new_name("plg")
        thing = self._begin("plugin", name, env="DEBUG=0")
        status, _ = call(self.sock, "POST", f"/plugins/create?name={name}", raw=self.plugin_tar)
        thing.present = status == 204

    def plugin_set(self) -> None:
        thing = self.pick("plugin")
        if thing is None:
            return
        value = f"DEBUG={self.rng.randint(1, 9)}"
        self.model.log.append(f"plugin set {thing.name} {value}")
        thing.facts["env"] = None  # either value until the answer comes
        status, _ = call(self.sock, "POST", f"/plugins/{thing.name}/set", [value])
        thing.facts["env"] = value if status == 204 else None

    def plugin_rm(self) -> None:
        thing = self.pick("plugin")
        if thing is None:
            return
        self.model.log.append(f"plugin rm {thing.name}")
        thing.present = None
        status, _ = call(self.sock, "DELETE", f"/plugins/{thing.name}:latest")
        thing.present = status != 200


def _plugin_tar(base: Path) -> bytes:
    source = plugin_dir(base)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(source / "config.json", arcname="config.json")
        tar.add(source / "rootfs", arcname="rootfs")
    return buffer.getvalue()


def check_database(path: Path) -> None:
    """The database a SIGKILL left: intact, and no object twice."""
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        for table, column in (("volumes", "name"), ("containers", "name"), ("networks", "id")):
            twice = db.execute(
                f"SELECT {column} FROM {table} GROUP BY {column} HAVING COUNT(*) > 1"
            ).fetchall()
            assert twice == [], f"{table}: {twice}"


def observe(sock: Path) -> dict[str, dict[str, Any]]:
    """What the restarted ``serve`` says exists, by kind then name (no name twice)."""
    seen: dict[str, dict[str, Any]] = {}
    _, volumes = call(sock, "GET", "/volumes")
    _, containers = call(sock, "GET", "/containers/json?all=1")
    _, networks = call(sock, "GET", "/networks")
    _, plugins = call(sock, "GET", "/plugins")
    listed = {
        "volume": [(v["Name"], v) for v in volumes["Volumes"] or []],
        "container": [(c["Names"][0].lstrip("/"), c) for c in containers],
        "network": [(n["Name"], n) for n in networks],
        "plugin": [(p["Name"].removesuffix(":latest"), p) for p in plugins],
    }
    for kind, pairs in listed.items():
        names = [n for n, _ in pairs]
        assert len(names) == len(set(names)), f"{kind} listed twice: {names}"
        seen[kind] = dict(pairs)
    return seen


def verify(sock: Path, model: Model) -> None:
    """Every acknowledged fact holds; unknown outcomes are settled from what is there."""
    seen = observe(sock)
    for thing in model.things.values():
        there = seen[thing.kind].get(thing.name)
        if thing.present is None:  # cut short by the kill: whatever is there now
            thing.present = there is not None
            if there is not None:
                _settle(thing, there)
            continue
        assert (there is not None) == thing.present, f"{thing}: listed {there}"
        if not thing.present:
            continue
        check = getattr(_Checks, thing.kind)
        check(sock, thing, there)
    _check_subnets(seen["network"])


def _settle(thing: Thing, there: dict[str, Any]) -> None:
    """Take the facts of an object whose creation was cut short from what is there.

    A volume the plugin created but whose metadata the kill prevented is still listed
    (``List`` asks the driver, as dockerd's does), without labels.
    """
    if thing.kind == "volume":
        thing.facts["labels"] = there["Labels"]
    elif thing.kind in ("container", "network"):
        thing.facts["id"] = there["Id"]


class _Checks:
    @staticmethod
    def volume(sock: Path, thing: Thing, there: dict[str, Any]) -> None:
        assert there["Labels"] == thing.facts["labels"]

    @staticmethod
    def container(sock: Path, thing: Thing, there: dict[str, Any]) -> None:
        assert there["Id"] == thing.facts["id"]
        _, inspect = call(sock, "GET", f"/containers/{thing.name}/json")
        state = inspect["State"]
        assert not state["Running"]  # nothing runs after a restart (no live-restore)
        assert inspect["Created"] > "2000"
        expected = thing.facts["state"]
        if expected == "running":  # it died with the daemon
            assert (state["Status"], state["ExitCode"]) == ("exited", 255), inspect
        elif expected == "stopped":
            assert state["Status"] == "exited", inspect
        elif expected is not None:
            assert state["Status"] == expected, inspect
        thing.facts["state"] = state["Status"]
        binds = thing.facts["host"].get("Binds")
        if binds:  # its volume reference came back: the volume cannot be removed
            volume = binds[0].split(":")[0]
            status, _ = call(sock, "DELETE", f"/volumes/{volume}")
            assert status == 409, f"{volume} of {thing.name} removable after restart"

    @staticmethod
    def network(sock: Path, thing: Thing, there: dict[str, Any]) -> None:
        assert there["Id"] == thing.facts["id"]
        _, inspect = call(sock, "GET", f"/networks/{thing.name}")
        assert inspect["Containers"] == {}, inspect  # stale endpoints were cleaned up

    @staticmethod
    def plugin(sock: Path, thing: Thing, there: dict[str, Any]) -> None:
        env = there["Settings"]["Env"]
        if thing.facts["env"] is not None:
            assert thing.facts["env"] in env, env
        thing.facts["env"] = next(e for e in env if e.startswith("DEBUG="))


def _check_subnets(networks: dict[str, dict[str, Any]]) -> None:
    subnets = [
        ipaddress.ip_network(c["Subnet"])
        for n in networks.values()
        for c in n["IPAM"]["Config"] or []
        if c.get("Subnet")
    ]
    for i, a in enumerate(subnets):
        for b in subnets[i + 1 :]:
            assert not a.overlaps(b), f"{a} and {b} overlap after a restart"


def test_sigkill_at_random_points_loses_nothing_acknowledged(short_tmp: Path) -> None:
    rng = random.Random(SEED)
    serve = ServeProcess(short_tmp, ("--mock", "mv=volume"))
    model = Model()
    plugin_tar = _plugin_tar(short_tmp / "src")
    started = time.monotonic()
    try:
        for run in range(RUNS):
            try:
                serve.start(ready_within=10)
                verify(serve.socket, model)
                workload = Workload(serve.socket, model, random.Random(rng.random()), plugin_tar)
                worker = threading.Thread(target=workload.run, daemon=True)
                worker.start()
                time.sleep(rng.uniform(0.05, 0.8))
                serve.kill()
                worker.join(timeout=30)
                assert not worker.is_alive()
                check_database(serve.data_root / "emulator.db")
            except AssertionError as exc:
                tail = "\n".join(model.log[-15:])
                raise AssertionError(
                    f"run {run} (seed {SEED}): {exc}\nlast operations:\n{tail}\n"
                    f"serve stderr tail:\n{serve.stderr()[-2000:]}"
                ) from None
        serve.start(ready_within=10)
        verify(serve.socket, model)
        assert serve.stop() == 0
    finally:
        serve.kill()
    acknowledged = [t for t in model.things.values() if t.present is not None]
    assert len(acknowledged) > 20 * RUNS // 4, "the workload did too little to mean anything"
    assert time.monotonic() - started < 55
