"""The real docker CLI (v28) driving networks on the mock network and IPAM plugins.

Expected output and exit codes are dockerd's: the texts come from moby v28.5.2
(``libnetwork/error.go``, ``daemon/network.go``, ``api/server/router/network``) and
the CLI's formats (``cli/command/network`` in docker/cli v28).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest

from emulator.mocks.network import MockIpamPlugin, MockNetworkPlugin
from tests.engine_api import DOCKER, Served, served

pytestmark = pytest.mark.skipif(DOCKER is None, reason="the docker CLI (v28) is not installed")

CREATE = ["network", "create", "-d", "mocknet", "--ipam-driver", "mockipam"]


@attrs.define
class Env:
    """The served engine and the two strict mocks."""

    s: Served
    net: MockNetworkPlugin
    ipam: MockIpamPlugin

    def calls(self) -> list[str]:
        """The driver's methods called, then IPAM's (not ``Plugin.Activate``), each in order."""
        return [
            r.method
            for r in [*self.net.plugin.requests, *self.ipam.plugin.requests]
            if r.method != "Plugin.Activate"
        ]

    def clear(self) -> None:
        self.net.plugin.reset()
        self.ipam.plugin.reset()


@asynccontextmanager
async def env(tmp: Path) -> AsyncIterator[Env]:
    net, ipam = MockNetworkPlugin("mocknet"), MockIpamPlugin("mockipam")
    async with served(tmp, plugins={"mocknet": net, "mockipam": ipam}) as s:
        yield Env(s, net, ipam)
    assert net.violations == []
    assert ipam.violations == []


async def test_create_ls_inspect(short_tmp: Path) -> None:
    async with env(short_tmp) as e:
        r = await e.s.docker(*CREATE, "--subnet", "10.9.0.0/24", "--label", "k=v", "n1")
        assert r.rc == 0
        assert r.err == ""
        net_id = r.out.strip()
        assert len(net_id) == 64
        assert [m for m in e.calls() if m.startswith("NetworkDriver.")] == [
            "NetworkDriver.GetCapabilities",
            "NetworkDriver.CreateNetwork",
        ]
        assert [m for m in e.calls() if m.startswith("IpamDriver.")] == [
            "IpamDriver.GetCapabilities",
            "IpamDriver.GetDefaultAddressSpaces",
            "IpamDriver.GetDefaultAddressSpaces",
            "IpamDriver.RequestPool",
            "IpamDriver.RequestAddress",  # the gateway
        ]
        r = await e.s.docker("network", "ls")
        assert r.rc == 0
        lines = r.out.splitlines()
        assert lines[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
        rows = sorted(line.split()[1:] for line in lines[1:])
        assert rows == [
            ["bridge", "bridge", "local"],
            ["host", "host", "local"],
            ["n1", "mocknet", "local"],
            ["none", "null", "local"],
        ]
        r = await e.s.docker("network", "ls", "-q", "-f", "type=custom")
        assert (r.rc, r.out) == (0, net_id[:12] + "\n")
        r = await e.s.docker("network", "ls", "-q", "-f", "label=k=v", "--no-trunc")
        assert (r.rc, r.out) == (0, net_id + "\n")
        r = await e.s.docker("network", "ls", "-q", "-f", "dangling=true")
        assert (r.rc, r.out) == (0, net_id[:12] + "\n")
        r = await e.s.docker("network", "ls", "-f", "bogus=1")
        assert (r.rc, r.err) == (1, "Error response from daemon: invalid filter 'bogus'\n")
        r = await e.s.docker("network", "inspect", "n1")
        assert r.rc == 0
        [info] = json.loads(r.out)
        assert info["Name"] == "n1"
        assert info["Id"] == net_id
        assert info["Driver"] == "mocknet"
        assert info["Scope"] == "local"
        assert info["IPAM"] == {
            "Driver": "mockipam",
            "Options": {},
            "Config": [{"Subnet": "10.9.0.0/24"}],
        }
        assert info["Labels"] == {"k": "v"}
        assert info["Containers"] == {}
        r = await e.s.docker("network", "inspect", "n2")
        assert (r.rc, r.out, r.err) == (
            1,
            "[]\n",
            "Error response from daemon: network n2 not found\n",
        )
        r = await e.s.docker(*CREATE, "n1")
        assert (r.rc, r.err) == (
            1,
            "Error response from daemon: network with name n1 already exists\n",
        )
        r = await e.s.docker("network", "create", "bridge")
        assert (r.rc, r.err) == (
            1,
            # dockerd's text ends in a space; the CLI trims the message.
            "Error response from daemon: operation is not permitted on predefined bridge network\n",
        )


async def test_run_connect_rm_prune(short_tmp: Path) -> None:
    async with env(short_tmp) as e:
        r = await e.s.docker(*CREATE, "--subnet", "10.9.0.0/24", "n1")
        assert r.rc == 0
        e.clear()
        r = await e.s.docker("run", "-d", "--network", "n1", "--name", "c", "busybox", "top")
        assert r.rc == 0, r.err
        cid = r.out.strip()
        assert e.calls()[:4] == [
            "NetworkDriver.CreateEndpoint",
            "NetworkDriver.Join",
            "NetworkDriver.ProgramExternalConnectivity",
            "NetworkDriver.EndpointOperInfo",
        ]
        assert "IpamDriver.RequestAddress" in e.calls()
        r = await e.s.docker("network", "inspect", "-f", "{{json .Containers}}", "n1")
        containers = json.loads(r.out)
        assert list(containers) == [cid]
        assert containers[cid]["Name"] == "c"
        assert containers[cid]["IPv4Address"] == "10.9.0.2/24"
        endpoint = containers[cid]["EndpointID"]

        r = await e.s.docker("network", "rm", "n1")
        assert (r.rc, r.out, r.err) == (
            1,
            "",
            "Error response from daemon: error while removing network: network n1 has "
            f'active endpoints (name:"c" id:"{endpoint[:12]}")\nexit status 1\n',
        )

        r = await e.s.docker("network", "create", "n3")
        assert r.rc == 0
        r = await e.s.docker("network", "connect", "n3", "c")
        assert (r.rc, r.out, r.err) == (0, "", "")
        r = await e.s.docker("network", "connect", "n3", "c")
        assert (r.rc, r.err) == (
            1,
            "Error response from daemon: endpoint with name c already exists in network n3\n",
        )
        r = await e.s.docker("network", "disconnect", "n3", "c")
        assert (r.rc, r.out, r.err) == (0, "", "")
        r = await e.s.docker("network", "connect", "n2", "c")
        assert (r.rc, r.err) == (1, "Error response from daemon: network n2 not found\n")

        e.clear()
        assert (await e.s.docker("stop", "c")).rc == 0
        assert e.calls() == [
            "NetworkDriver.RevokeExternalConnectivity",
            "NetworkDriver.Leave",
            "NetworkDriver.DeleteEndpoint",
            "IpamDriver.ReleaseAddress",
        ]
        assert (await e.s.docker("rm", "c")).rc == 0

        e.clear()
        r = await e.s.docker("network", "rm", "n1", "n2")
        assert (r.rc, r.out, r.err) == (
            1,
            "n1\n",
            "Error response from daemon: network n2 not found\nexit status 1\n",
        )
        # IPAM is released before DeleteNetwork (calls() lists the driver's first).
        assert e.calls() == [
            "NetworkDriver.DeleteNetwork",
            "IpamDriver.ReleaseAddress",
            "IpamDriver.ReleasePool",
        ]
        r = await e.s.docker("network", "prune", "-f")
        assert (r.rc, r.out) == (0, "Deleted Networks:\nn3\n\n")
        r = await e.s.docker("network", "ls", "-q", "-f", "type=custom")
        assert (r.rc, r.out) == (0, "")
        assert e.net.networks == {}
        assert e.net.endpoints == {}
        assert e.ipam.pools == {}
        # daemon/events.go LogNetworkEventWithAttributes: create (daemon/network.go),
        # connect at start and on connect (connectToNetwork), disconnect on disconnect
        # and after the sandbox is deleted at stop (tryDetachContainerFromClusterNetwork),
        # destroy on rm and prune; the actor is the network's ID.
        c = cid
        shown = "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}} "
        assert await e.s.events(
            "type=network", format=shown + "{{.Actor.Attributes.container}}"
        ) == [
            "create n1 mocknet <no value>",
            f"connect n1 mocknet {c}",
            "create n3 bridge <no value>",
            f"connect n3 bridge {c}",
            f"disconnect n3 bridge {c}",
            f"disconnect n1 mocknet {c}",
            "destroy n1 mocknet <no value>",
            "destroy n3 bridge <no value>",
            "prune <no value> <no value> <no value>",
        ]
        ids = await e.s.events("event=destroy", "type=network", format="{{.Actor.ID}}")
        assert len(ids) == 2
        assert all(len(i) == 64 for i in ids)


async def test_created_container_and_filters(short_tmp: Path) -> None:
    async with env(short_tmp) as e:
        assert (await e.s.docker(*CREATE, "n1")).rc == 0
        e.clear()
        r = await e.s.docker("create", "--network", "n1", "--name", "c2", "busybox", "top")
        assert r.rc == 0
        # Not started: no endpoint yet, so no driver or IPAM call.
        assert e.calls() == []
        r = await e.s.docker("network", "ls", "-f", "driver=mocknet", "--format", "{{.Name}}")
        assert (r.rc, r.out) == (0, "n1\n")
        r = await e.s.docker("network", "ls", "-f", "dangling=false", "--format", "{{.Name}}")
        assert (r.rc, r.out) == (0, "bridge\nhost\nnone\n")
        r = await e.s.docker("network", "disconnect", "n1", "c2")
        assert (r.rc, r.out, r.err) == (0, "", "")
        r = await e.s.docker("network", "disconnect", "n1", "c2")
        assert r.rc == 1
        assert r.err.endswith(" is not connected to the network n1\n")
        r = await e.s.docker("network", "inspect", "-f", "{{.Name}} {{.Driver}}", "n1", "bridge")
        assert (r.rc, r.out) == (0, "n1 mocknet\nbridge bridge\n")
        assert e.calls() == []


async def test_run_on_a_missing_network_fails_at_start(short_tmp: Path) -> None:
    """dockerd accepts the create and fails the start (moby v28 ``validateNetworkingConfig``
    ignores networks that do not exist yet)."""
    async with env(short_tmp) as e:
        r = await e.s.docker("run", "--name", "lost", "--network", "nosuch", "busybox", "true")
        assert r.rc == 125
        assert r.err.startswith(
            "docker: Error response from daemon: failed to set up container networking: "
            "network nosuch not found"
        )
        r = await e.s.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}")
        assert r.out.startswith("lost Created")
