"""``docker run``/``create`` endpoint settings, ``NetworkMode`` and ``docker_gwbridge`` with the
real docker CLI (v28) and docker-py, against moby/moby v28.5.2:

* the settings the CLI sends in ``NetworkingConfig.EndpointsConfig`` (``--ip``, ``--ip6``,
  ``--mac-address``, ``--network-alias``, ``--network name=n,ip=…,driver-opt=k=v``) reach
  IPAM (``RequestAddress`` with the address; one in use is an error, not the next address)
  and ``CreateEndpoint`` (``Interface.MacAddress``, ``Options``) — the path ``docker network
  connect --ip`` takes (daemon/container_operations.go ``connectToNetwork``);
* create checks them (daemon/create.go ``validateNetworkingConfig``,
  ``validateEndpointSettings``) with dockerd's texts;
* inspect shows the real ``NetworkMode`` and ``NetworkSettings.Networks``
  (daemon/inspect.go), and the default network is ``bridge``, joined at start;
* ``docker_gwbridge`` is an ordinary bridge network created with libnetwork's options
  (libnetwork/default_gateway_linux.go ``createGWNetwork``), listed and inspected.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from emulator.mocks.network import MockIpamPlugin, MockNetworkPlugin
from tests.engine_api import (
    DOCKER,
    RawResponse,
    Served,
    raw_request_trio,
    request_bytes,
    served,
)

pytestmark = pytest.mark.skipif(DOCKER is None, reason="the docker CLI (v28) is not installed")

NET = ["network", "create", "-d", "mocknet"]


@attrs.define
class Env:
    s: Served
    net: MockNetworkPlugin
    ipam: MockIpamPlugin

    def bodies(self, method: str) -> list[Any]:
        return [r.json() for r in [*self.net.plugin.calls(method), *self.ipam.plugin.calls(method)]]

    async def inspect(self, ref: str, template: str = "{{json .}}") -> Any:
        r = await self.s.docker("inspect", "-f", template, ref)
        assert r.rc == 0, r.err
        return json.loads(r.out)


async def api(s: Served, path: str, body: Any) -> RawResponse:
    data = request_bytes(
        "POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    return await raw_request_trio(s.host.removeprefix("unix://"), data)


@asynccontextmanager
async def env(tmp: Path, *, gateway: bool = True) -> AsyncIterator[Env]:
    net = MockNetworkPlugin("mocknet", gateway=gateway)
    ipam = MockIpamPlugin("mockipam")
    async with served(tmp, plugins={"mocknet": net, "mockipam": ipam}) as s:
        yield Env(s, net, ipam)
    assert net.violations == []


async def test_run_endpoint_settings_reach_ipam_and_create_endpoint(short_tmp: Path) -> None:
    async with env(short_tmp) as e:
        r = await e.s.docker(*NET, "--ipam-driver", "mockipam", "--subnet", "10.77.0.0/24", "n")
        assert r.rc == 0, r.err
        r = await e.s.docker(
            "run", "-d", "--name", "c", "--network", "n", "--ip", "10.77.0.5",
            "--mac-address", "02:42:AC:4D:00:05", "--network-alias", "web",
            "busybox", "top",
        )  # fmt: skip
        assert r.rc == 0, r.err
        requested = [b for b in e.bodies("IpamDriver.RequestAddress") if b["Options"] is None]
        assert requested[-1]["Address"] == "10.77.0.5"
        created = e.bodies("NetworkDriver.CreateEndpoint")[-1]
        assert created["Interface"]["Address"] == "10.77.0.5/24"
        assert created["Interface"]["MacAddress"] == "02:42:ac:4d:00:05"
        cid = (await e.s.docker("inspect", "-f", "{{.Id}}", "c")).out.strip()
        assert await e.inspect("c", "{{json .HostConfig.NetworkMode}}") == "n"
        settings = await e.inspect("c", "{{json .NetworkSettings.Networks}}")
        assert list(settings) == ["n"]
        n = settings["n"]
        assert n["IPAMConfig"] == {"IPv4Address": "10.77.0.5"}
        assert n["Aliases"] == ["web"]
        assert n["IPAddress"] == "10.77.0.5"
        assert n["IPPrefixLen"] == 24
        assert n["MacAddress"] == "02:42:ac:4d:00:05"
        assert n["DNSNames"] == ["c", "web", cid[:12]]
        assert (
            n["NetworkID"]
            == (await e.s.docker("network", "inspect", "-f", "{{.Id}}", "n")).out.strip()
        )
        assert len(n["EndpointID"]) == 64

        # The same address again: IPAM refuses it; no container on the next address.
        r = await e.s.docker(
            "run", "-d", "--name", "c2", "--network", "n", "--ip", "10.77.0.5", "busybox", "top"
        )
        assert r.rc == 125
        assert r.err.startswith(
            "docker: Error response from daemon: failed to set up container networking: "
        )
        assert "IpamDriver.RequestAddress" in r.err
        state = await e.inspect("c2", "{{json .State}}")
        assert state["Running"] is False
        assert len(e.net.endpoints) == 1


async def test_network_option_with_driver_opts(short_tmp: Path) -> None:
    async with env(short_tmp) as e:
        assert (await e.s.docker(*NET, "--subnet", "10.78.0.0/24", "n")).rc == 0
        r = await e.s.docker(
            "run", "-d", "--name", "c", "--network",
            "name=n,ip=10.78.0.9,driver-opt=k=v,driver-opt=x=y,alias=a1",
            "busybox", "top",
        )  # fmt: skip
        assert r.rc == 0, r.err
        created = e.bodies("NetworkDriver.CreateEndpoint")[-1]
        assert created["Interface"]["Address"] == "10.78.0.9/24"
        assert created["Options"]["k"] == "v"
        assert created["Options"]["x"] == "y"
        n = (await e.inspect("c", "{{json .NetworkSettings.Networks}}"))["n"]
        assert n["DriverOpts"] == {"k": "v", "x": "y"}
        assert n["Aliases"] == ["a1"]


async def test_create_refuses_bad_endpoint_settings(short_tmp: Path) -> None:
    async with env(short_tmp) as e:
        assert (await e.s.docker(*NET, "dyn")).rc == 0  # no --subnet
        r = await e.s.docker("create", "--network", "dyn", "--ip", "10.79.0.5", "busybox")
        assert (r.rc, r.err) == (
            1,
            "Error response from daemon: invalid config for network dyn: invalid endpoint "
            "settings:\nuser specified IP address is supported only when connecting to "
            "networks with user configured subnets\n",
        )
        assert (await e.s.docker(*NET, "--subnet", "10.80.0.0/24", "fixed")).rc == 0
        r = await e.s.docker("create", "--network", "fixed", "--ip", "10.81.0.5", "busybox")
        assert r.err == (
            "Error response from daemon: invalid config for network fixed: invalid endpoint "
            "settings:\nno configured subnet or ip-range contain the IP address 10.81.0.5\n"
        )
        # The CLI refuses an alias without a network itself; the daemon's check, raw:
        r = await e.s.docker(
            "create", "--network", "name=bridge,alias=x", "--mac-address", "zz", "busybox"
        )
        assert r.rc != 0
        body = {
            "Image": "busybox",
            "HostConfig": {"NetworkMode": "default"},
            "NetworkingConfig": {
                "EndpointsConfig": {
                    "default": {"Aliases": ["x"], "IPAMConfig": {"IPv4Address": "1.2.3"}}
                }
            },
        }
        answer = await api(e.s, "/containers/create", body)
        assert answer.status == 400
        assert answer.json() == {
            "message": "invalid config for network bridge: invalid endpoint settings:\n"
            "* user specified IP address is supported on user defined networks only\n"
            "* network-scoped alias is supported only for containers in user defined "
            "networks\n* invalid IPv4 address: 1.2.3\n"
            # The default bridge of a daemon that found no docker0 has no static subnet.
            "* user specified IP address is supported only when connecting to networks with "
            "user configured subnets"
        }
        body["NetworkingConfig"] = {"EndpointsConfig": {"bridge": {"MacAddress": "zz"}}}
        answer = await api(e.s, "/containers/create", body)
        assert answer.json() == {
            "message": "invalid config for network bridge: invalid MAC address zz"
        }
        r = await e.s.docker("ps", "-aq")
        assert r.out == ""  # nothing was created
        assert e.bodies("NetworkDriver.CreateEndpoint") == []


async def test_default_network_mode_is_bridge_and_joined_at_start(short_tmp: Path) -> None:
    async with env(short_tmp) as e:
        r = await e.s.docker("create", "--name", "c", "busybox", "top")
        assert r.rc == 0, r.err
        assert await e.inspect("c", "{{json .HostConfig.NetworkMode}}") == "bridge"
        before = await e.inspect("c", "{{json .NetworkSettings.Networks}}")
        assert list(before) == ["bridge"]
        assert before["bridge"]["IPAddress"] == ""
        assert (await e.s.docker("start", "c")).rc == 0
        running = await e.inspect("c", "{{json .NetworkSettings}}")
        bridge = running["Networks"]["bridge"]
        assert bridge["IPAddress"].startswith("172.17.")
        assert bridge["Gateway"] == "172.17.0.1"
        assert bridge["DNSNames"] is None  # no service discovery on the default bridge
        assert running["IPAddress"] == bridge["IPAddress"]  # the deprecated top-level copy
        assert len(running["SandboxID"]) == 64
        r = await e.s.docker("network", "inspect", "-f", "{{json .Containers}}", "bridge")
        assert [v["Name"] for v in json.loads(r.out).values()] == ["c"]
        assert (await e.s.docker("stop", "c")).rc == 0
        after = (await e.inspect("c", "{{json .NetworkSettings.Networks}}"))["bridge"]
        assert (after["IPAddress"], after["EndpointID"]) == ("", "")
        assert after["NetworkID"] == bridge["NetworkID"]  # kept, as cleanOperationalData does


async def test_none_and_container_modes(short_tmp: Path) -> None:
    async with env(short_tmp) as e:
        assert (await e.s.docker(*NET, "n")).rc == 0
        assert (
            await e.s.docker("run", "-d", "--name", "lone", "--network", "none", "busybox", "top")
        ).rc == 0
        assert list(await e.inspect("lone", "{{json .NetworkSettings.Networks}}")) == ["none"]
        r = await e.s.docker("network", "connect", "n", "lone")
        assert r.err == (
            "Error response from daemon: container cannot be connected to multiple networks "
            "with one of the networks in private (none) mode\n"
        )
        r = await e.s.docker(
            "run", "-d", "--name", "side", "--network", "container:lone", "busybox", "top"
        )
        assert r.rc == 0, r.err
        assert await e.inspect("side", "{{json .HostConfig.NetworkMode}}") == "container:lone"
        assert await e.inspect("side", "{{json .NetworkSettings.Networks}}") == {}
        r = await e.s.docker("network", "connect", "n", "side")
        assert r.err == (
            "Error response from daemon: container sharing network namespace with another "
            "container or host cannot be connected to any other network\n"
        )
        assert e.bodies("NetworkDriver.CreateEndpoint") == []


async def test_docker_gwbridge_is_listed_and_inspected(short_tmp: Path) -> None:
    async with env(short_tmp, gateway=False) as e:
        assert (await e.s.docker(*NET, "nogw")).rc == 0
        r = await e.s.docker("run", "-d", "--name", "c", "--network", "nogw", "busybox", "top")
        assert r.rc == 0, r.err
        cid = (await e.s.docker("inspect", "-f", "{{.Id}}", "c")).out.strip()
        r = await e.s.docker("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
        assert "docker_gwbridge bridge local" in r.out.splitlines()
        gw = json.loads((await e.s.docker("network", "inspect", "docker_gwbridge")).out)[0]
        assert gw["Options"] == {
            "com.docker.network.bridge.enable_icc": "false",
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.name": "docker_gwbridge",
        }
        assert gw["EnableIPv4"] is True
        assert list(gw["Containers"]) == [cid]
        assert gw["Containers"][cid]["Name"] == f"gateway_{cid[:12]}"
        assert gw["Containers"][cid]["IPv4Address"].endswith(".2/16")
        r = await e.s.docker("network", "rm", "docker_gwbridge")
        assert r.rc == 1
        assert "has active endpoints" in r.err
        assert (await e.s.docker("stop", "c")).rc == 0
        gw = json.loads((await e.s.docker("network", "inspect", "docker_gwbridge")).out)[0]
        assert gw["Containers"] == {}
        r = await e.s.docker("network", "rm", "docker_gwbridge")
        assert (r.rc, r.out) == (0, "docker_gwbridge\n")


async def test_docker_py_endpoint_config_and_container_wide_mac(short_tmp: Path) -> None:
    docker = pytest.importorskip("docker")
    async with env(short_tmp) as e:
        assert (await e.s.docker(*NET, "--subnet", "10.82.0.0/24", "n")).rc == 0

        def create() -> dict[str, Any]:
            client = docker.APIClient(base_url=e.s.host, version="1.51")
            try:
                config = client.create_networking_config(
                    {"n": client.create_endpoint_config(ipv4_address="10.82.0.7", aliases=["db"])}
                )
                made: dict[str, Any] = client.create_container(
                    "busybox", "top", name="py", networking_config=config,
                    host_config=client.create_host_config(network_mode="n"),
                    mac_address="02:42:ac:52:00:07",
                )  # fmt: skip
                client.start(made["Id"])
                made["inspect"] = client.inspect_container(made["Id"])
                return made
            finally:
                client.close()

        made = await trio.to_thread.run_sync(create)
        assert made["Warnings"] == [
            "The container-wide MacAddress field is now deprecated. It should be specified in "
            "EndpointsConfig instead."
        ]
        n = made["inspect"]["NetworkSettings"]["Networks"]["n"]
        assert (n["IPAddress"], n["MacAddress"], n["Aliases"]) == (
            "10.82.0.7",
            "02:42:ac:52:00:07",
            ["db"],
        )
        created = e.bodies("NetworkDriver.CreateEndpoint")[-1]
        assert created["Interface"]["MacAddress"] == "02:42:ac:52:00:07"
