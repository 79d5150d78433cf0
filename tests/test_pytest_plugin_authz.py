"""The pytest plugin for authz plugin authors: docker CLI and docker-py through the chain.

Inner test files run with ``pytester``, as a plugin author's suite would.
"""

from __future__ import annotations

import shutil

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    return pytester


def test_docker_cli_and_docker_py_through_the_chain(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest
        from emulator.mocks import AuthzRule

        @pytest.fixture
        def policy(plugin_engine):
            return plugin_engine.mock_authz_plugin(
                "policy", [AuthzRule(allow=False, method="DELETE", msg="read-only")]
            )

        @pytest.mark.authorization_plugins("policy")
        def test_cli(plugin_engine, policy):
            assert plugin_engine.docker("volume", "create", "v1").check().stdout == "v1\\n"
            refused = plugin_engine.docker("volume", "rm", "v1")
            assert refused.exit_code == 1
            assert refused.stderr == (
                "Error response from daemon: authorization denied by plugin policy: read-only\\n"
            )
            req = plugin_engine.assert_called("AuthZPlugin.AuthZReq", RequestMethod="DELETE")
            assert req.shown_request["RequestUri"].endswith("/volumes/v1")
            info = plugin_engine.docker("info", "--format", "{{.Plugins.Authorization}}")
            assert info.stdout == "[policy]\\n"

        def test_docker_py_and_a_reload(plugin_engine, policy, mock_authz_plugin):
            client = plugin_engine.docker_client()
            client.volumes.create("v2").remove()  # no chain yet: allowed
            plugin_engine.set_authorization_plugins("mockauthz", "policy")
            volume = client.volumes.create("v3")
            with pytest.raises(Exception) as refused:
                volume.remove()
            assert refused.value.status_code == 403
            assert [a.phase for a in mock_authz_plugin.asked][-1] == "request"
            assert policy.requests()[-1].method == "DELETE"

        def test_the_next_test_has_no_chain(plugin_engine):
            assert plugin_engine.engine.authz.names == ()
            assert plugin_engine.docker("volume", "ls", "-q").stdout == ""
        """
    )
    inner.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_marker_without_the_sync_fixture_fails_clearly(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.authorization_plugins("policy")
        def test_alone():
            pass
        """
    )
    result = inner.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*authorization_plugins needs the plugin_engine fixture*"])
