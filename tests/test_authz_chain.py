"""The authorization chain as an engine object (no HTTP server): lookups, verdicts, texts.

moby/moby v28.5.2 pkg/authorization/plugin.go (``newPlugins``, ``initPlugin``), authz.go
(``AuthZRequest``, ``AuthZResponse``), middleware.go (``SetPlugins``, ``RemovePlugin``),
cmd/dockerd/daemon.go (``validateAuthzPlugins``), plugin/store.go (``Get``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from emulator.engine.authz import (
    AuthorizationDenied,
    AuthorizationPluginError,
    AuthorizationStartError,
)
from emulator.engine.core import Engine, open_engine
from emulator.mocks.authz import AuthzRule, MockAuthzPlugin
from emulator.mocks.host import MockPlugin
from emulator.protocol.authz import AuthzRequest

REQUEST = AuthzRequest(RequestMethod="GET", RequestURI="/v1.51/volumes")


@asynccontextmanager
async def engine_with(tmp: Path, plugins: dict[str, Any], **options: Any) -> AsyncIterator[Engine]:
    async with trio.open_nursery() as nursery:
        for name, plugin in plugins.items():
            await nursery.start(plugin.serve, f"unix:{tmp}/run/docker/plugins/{name}.sock")
        async with open_engine(root=tmp, **options) as engine:
            yield engine
        nursery.cancel_scope.cancel()


async def test_verdicts_in_order(short_tmp: Path) -> None:
    a = MockAuthzPlugin([AuthzRule(allow=False, path="^/volumes$", msg="not a")], name="a")
    b = MockAuthzPlugin(name="b")
    async with engine_with(
        short_tmp, {"a": a, "b": b}, authorization_plugins=["b", "a", "b"]
    ) as engine:
        assert engine.authz.names == ("b", "a")  # duplicates dropped, order kept
        passing = engine.authz.begin(REQUEST)
        assert passing is not None
        with pytest.raises(AuthorizationDenied) as denied:
            await passing.check_request()
        assert str(denied.value) == "authorization denied by plugin a: not a"
        assert denied.value.http_status == 403
        assert [x.phase for x in b.asked] == ["request"]
        # AuthZRes goes to the plugins of now (one was removed meanwhile).
        ok = engine.authz.begin(AuthzRequest(RequestMethod="GET", RequestURI="/_ping"))
        assert ok is not None
        await ok.check_request()
        engine.authz.remove_plugin("a")
        await ok.check_response(engine.authz.plugins(), status=200, headers={}, body=b"OK")
        assert [x.phase for x in a.asked] == ["request", "request"]
        assert [(x.phase, x.status, x.response_body) for x in b.asked[-1:]] == [
            ("response", 200, b"OK")
        ]
    assert engine.authz.names == ("b",)


async def test_an_empty_chain_asks_nobody(short_tmp: Path) -> None:
    async with open_engine(root=short_tmp) as engine:
        assert engine.authz.begin(REQUEST) is None


async def test_start_refused_when_a_plugin_cannot_be_found(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    start = trio.current_time()
    with pytest.raises(AuthorizationStartError) as refused:
        async with open_engine(root=short_tmp, authorization_plugins=["ghost"]):
            pass
    # plugins.Get's lookup retry: ~15 s before "not found" (pkg/plugins/plugins.go).
    assert 15 <= trio.current_time() - start < 16
    assert str(refused.value) == 'failed to validate authorization plugin: plugin "ghost" not found'


async def test_start_refused_when_a_plugin_is_no_authz_plugin(short_tmp: Path) -> None:
    vol = MockPlugin(("VolumeDriver",), name="vol")
    with pytest.RaisesGroup(AuthorizationStartError) as refused:  # the mock's nursery
        async with engine_with(short_tmp, {"vol": vol}, authorization_plugins=["vol"]):
            pass
    assert str(refused.value.exceptions[0]) == (
        "failed to validate authorization plugin: legacy plugin: Plugin does not implement "
        'the requested driver: plugin="vol", requested implementation="authz"'
    )


async def test_reload_validates_then_replaces_the_chain(short_tmp: Path) -> None:
    a = MockAuthzPlugin(name="a")
    async with engine_with(short_tmp, {"a": a}) as engine:
        with pytest.raises(AuthorizationStartError):
            await engine.authz.reload(["a", "this-plugin-does-not-exist"])
        assert engine.authz.names == ()
        await engine.authz.reload(["a"])
        assert engine.authz.names == ("a",)
        # docker info keeps the start-up list (daemon/reload.go copies no authz setting).
        assert engine.authorization_plugins == ()


async def test_a_failed_lookup_is_kept_for_good(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """initPlugin runs once (sync.Once): its error is every later call's error too."""
    async with open_engine(root=short_tmp) as engine:
        engine.authz.set_plugins(["late"])  # not validated: as after a reload race
        passing = engine.authz.begin(REQUEST)
        assert passing is not None
        with pytest.raises(AuthorizationPluginError) as failed:
            await passing.check_request()
        assert str(failed.value) == 'plugin late failed with error: plugin "late" not found'
        async with trio.open_nursery() as nursery:
            late = MockAuthzPlugin(name="late")
            await nursery.start(late.serve, f"unix:{short_tmp}/run/docker/plugins/late.sock")
            start = trio.current_time()
            with pytest.raises(AuthorizationPluginError):
                await passing.check_request()
            assert trio.current_time() == start  # no second lookup
            assert late.asked == []
            nursery.cancel_scope.cancel()


async def test_restart_keeps_the_configured_chain(short_tmp: Path) -> None:
    a = MockAuthzPlugin(name="a")
    async with engine_with(short_tmp, {"a": a}) as engine:
        await engine.restart(authorization_plugins=["a"])
        assert engine.authorization_plugins == ("a",)
        await engine.restart()
        assert engine.authz.names == ("a",)
        await engine.reset()  # back to how the engine was opened
        assert engine.authz.names == ()
        assert engine.authorization_plugins == ()


# -- the built-in mock authz plugin's rules, through the chain ----------------------------


async def _verdict(engine: Engine, request: AuthzRequest, *, response: bool = False) -> str:
    passing = engine.authz.begin(request)
    assert passing is not None
    try:
        if response:
            await passing.check_response(engine.authz.plugins(), status=200, headers={}, body=b"")
        else:
            await passing.check_request()
    except (AuthorizationDenied, AuthorizationPluginError) as exc:
        return str(exc)
    return "allowed"


async def test_mock_rules(short_tmp: Path) -> None:
    rules = [
        AuthzRule(allow=True, user="root"),
        AuthzRule(allow=False, method="DELETE", msg="no deletes"),
        AuthzRule(
            allow=False,
            path=r"^/containers/create$",
            body={"HostConfig": {"Privileged": True}},
            msg="no privileged",
        ),
        AuthzRule(allow=False, path="^/secrets", phase="both", msg="secret"),
        AuthzRule(error="policy engine down", path="^/swarm"),
        AuthzRule(allow=False, phase="response", path="^/info$", msg="hidden"),
    ]
    mock = MockAuthzPlugin(rules, name="policy")
    async with engine_with(short_tmp, {"policy": mock}, authorization_plugins=["policy"]) as engine:

        def req(method: str, uri: str, body: bytes = b"", user: str = "") -> AuthzRequest:
            return AuthzRequest(User=user, RequestMethod=method, RequestURI=uri, RequestBody=body)

        denied = "authorization denied by plugin policy: "
        assert await _verdict(engine, req("DELETE", "/v1.51/volumes/x")) == denied + "no deletes"
        assert await _verdict(engine, req("DELETE", "/v1.51/volumes/x", user="root")) == "allowed"
        privileged = b'{"Image":"busybox","HostConfig":{"Privileged":true,"Memory":0}}'
        plain = b'{"Image":"busybox","HostConfig":{"Privileged":false}}'
        uri = "/v1.51/containers/create?name=c1"
        assert await _verdict(engine, req("POST", uri, privileged)) == denied + "no privileged"
        assert await _verdict(engine, req("POST", uri, plain)) == "allowed"
        assert await _verdict(engine, req("GET", "/secrets")) == denied + "secret"
        assert await _verdict(engine, req("GET", "/secrets"), response=True) == denied + "secret"
        assert await _verdict(engine, req("GET", "/info")) == "allowed"
        assert await _verdict(engine, req("GET", "/info"), response=True) == denied + "hidden"
        assert await _verdict(engine, req("GET", "/swarm")) == (
            "plugin policy failed with error: AuthZPlugin.AuthZReq: policy engine down"
        )
    first = mock.asked[0]
    assert (first.phase, first.method, first.uri, first.path, first.allowed, first.msg) == (
        "request",
        "DELETE",
        "/v1.51/volumes/x",
        "/volumes/x",
        False,
        "no deletes",
    )
    assert mock.asked[2].body == privileged
    assert mock.asked[-1].allowed is None  # answered with an error
    assert [a.phase for a in mock.responses()] == ["response", "response"]
    with pytest.raises(ValueError, match="phase must be one of"):
        AuthzRule(phase="later")  # type: ignore[arg-type]
