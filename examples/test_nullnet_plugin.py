"""Testing a network plugin with the emulator: examples/plugins/nullnet.py.

Run: ``pytest examples/test_nullnet_plugin.py``.  The emulated dockerd's built-in IPAM
hands out the addresses; the plugin sees libnetwork's calls in libnetwork's order.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from emulator import ContainerSpec, EngineError, NetworkSpec, ProcessSpec

NULLNET = Path(__file__).parent / "plugins" / "nullnet.py"


#: A command that runs until stopped and ends at the stop signal.
RUNS = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]


@pytest.fixture
def nullnet(plugin_process):
    return plugin_process(
        ProcessSpec("nullnet", [sys.executable, str(NULLNET), "--socket", "{socket}"])
    )


def test_a_container_joins_the_network(plugin_engine, nullnet):
    plugin_engine.networks.create(NetworkSpec("backend", driver="nullnet"))
    plugin_engine.containers.run(
        ContainerSpec(command=RUNS, networks=["backend"], name="app", detach=True)
    )
    plugin_engine.containers.stop("app")
    plugin_engine.networks.remove("backend")
    plugin_engine.assert_calls(
        [
            "NetworkDriver.GetCapabilities",
            "NetworkDriver.CreateNetwork",
            "NetworkDriver.CreateEndpoint",
            "NetworkDriver.Join",
            "NetworkDriver.EndpointOperInfo",
            "NetworkDriver.Leave",
            "NetworkDriver.DeleteEndpoint",
            "NetworkDriver.DeleteNetwork",
        ]
    )
    endpoint = plugin_engine.assert_called("NetworkDriver.CreateEndpoint")
    assert endpoint.request["Interface"]["Address"].startswith("172.")  # from dockerd's IPAM


@pytest.mark.faults(call="NetworkDriver.Join", respond={"status": 500, "err": "no carrier"})
def test_a_failed_join_fails_the_start_and_cleans_up(plugin_engine, nullnet):
    plugin_engine.networks.create(NetworkSpec("backend", driver="nullnet"))
    with pytest.raises(EngineError, match="no carrier"):
        plugin_engine.containers.run(
            ContainerSpec(command=RUNS, networks=["backend"], name="app", detach=True)
        )
    plugin_engine.assert_called("NetworkDriver.DeleteEndpoint")  # dockerd undoes CreateEndpoint
