"""The authorization chain: dockerd's ``authorization.Middleware``, without the HTTP server.

moby/moby v28.5.2 ``pkg/authorization``: the configured plugins, duplicates dropped, in
``--authorization-plugin`` order (plugin.go ``newPlugins``); each one looked up at its
first use and never again, its lookup error kept (``initPlugin``, a ``sync.Once``).  For
one API request (:class:`Authorization`, dockerd's ``Ctx``), ``AuthZReq`` goes to each
plugin in order and the first ``Allow: false`` ends it with ``authorization denied by
plugin NAME: MSG`` (403); after the handler, ``AuthZRes`` goes to the plugins the chain
holds *then* (a plugin disabled meanwhile is gone), with the same request object plus
the response's status, headers and body.  A failed call is ``plugin NAME failed with
error: <the plugin client's error>`` (500); ``Err`` in a 200 answer is ignored.  The
plugin client is dockerd's: connection errors retried for ~15 s, then the request fails
(fail closed); no deadline, so a hung plugin hangs the request (the emulator's hang
guard ends the call and says so).

cmd/dockerd/daemon.go: every configured plugin is looked up when the daemon starts
(``validateAuthzPlugins``, after managed plugins are restored) and on a configuration
reload; a failure stops the daemon.  plugin/backend_linux.go ``Disable``: disabling a
managed authz plugin removes it from the chain (``RemovePlugin``); the lookup is
``plugingetter.Lookup``, which takes no reference, so no refcount keeps it enabled.

The HTTP side (which requests, their bodies, the response buffering) is
:mod:`emulator.api.authz`; the wire model and texts are :mod:`emulator.protocol.authz`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import attrs
import trio

from emulator.errors import EngineError
from emulator.protocol.authz import (
    AUTHZ_REQ,
    AUTHZ_RES,
    AuthzRequest,
    AuthzResponse,
    denied_text,
    plugin_failed_text,
    validation_text,
)
from emulator.transport.client import PluginClient

__all__ = [
    "Authorization",
    "AuthorizationChain",
    "AuthorizationDenied",
    "AuthorizationError",
    "AuthorizationPlugin",
    "AuthorizationPluginError",
    "AuthorizationStartError",
    "ResolvedPlugin",
]

log = logging.getLogger("emulator.authz")


@attrs.frozen
class ResolvedPlugin:
    """What a lookup of an authz plugin gives: its name (a managed plugin's full
    ``name:tag``) and its client."""

    name: str
    client: PluginClient


#: ``plugingetter.Get(name, "authz", Lookup)``: the engine's registry lookup (v2, then v1).
Lookup = Callable[[str], Awaitable[ResolvedPlugin]]


class AuthorizationError(EngineError):
    """A request the chain stopped: denied (403) or a plugin failed (500)."""

    default_hint = (
        "an authorization plugin stopped the request: what it was asked and answered is in "
        "engine.journal (AuthZPlugin.AuthZReq / AuthZRes); docs/authz.md"
    )


class AuthorizationDenied(AuthorizationError):
    """``authorization denied by plugin NAME: MSG`` (dockerd's ``authorizationError``)."""

    http_status = 403
    default_hint = "plugin {plugin!r} answered with Allow: false"

    def __init__(self, plugin: str, msg: str, *, response: bool) -> None:
        step = "AuthZRes" if response else "AuthZReq"
        super().__init__(
            denied_text(plugin, msg),
            hint=f"plugin {plugin!r} answered {step} with Allow: false",
        )
        self.plugin = plugin
        self.msg = msg


class AuthorizationPluginError(AuthorizationError):
    """``plugin NAME failed with error: ...``: the call failed (or the lookup did)."""

    http_status = 500
    default_hint = "authorization plugin {plugin!r} could not be asked: {cause}"

    def __init__(self, plugin: str, cause: EngineError) -> None:
        super().__init__(plugin_failed_text(plugin, str(cause)), hint=cause.hint)
        self.plugin = plugin
        self.cause = cause


class AuthorizationStartError(EngineError):
    """A configured authz plugin cannot be found: dockerd refuses to start
    (``failed to validate authorization plugin: ...``, exit status 1)."""

    default_hint = (
        "start the authorization plugin before the engine (its socket under "
        "ROOT/run/docker/plugins, or a spec file), or fix the name given to "
        "--authorization-plugin / authorization_plugins"
    )


class AuthorizationPlugin:
    """dockerd's ``authorizationPlugin``: one configured name, looked up at first use."""

    def __init__(self, name: str, lookup: Lookup) -> None:
        self.name = name
        """The configured name; after the first use, the name the lookup returned."""
        self._lookup = lookup
        self._client: PluginClient | None = None
        self._error: EngineError | None = None
        self._once = trio.Lock()
        self._done = False

    def __repr__(self) -> str:
        return f"<AuthorizationPlugin {self.name!r}>"

    async def _init(self) -> None:
        """``initPlugin``: the lookup happens once; its error is kept for good."""
        async with self._once:
            if self._done:
                return
            self._done = True
            try:
                resolved = await self._lookup(self.name)
            except EngineError as exc:
                self._error = exc
                return
            self.name = resolved.name
            self._client = resolved.client

    async def call(self, method: str, request: AuthzRequest) -> AuthzResponse:
        """``AuthZRequest``/``AuthZResponse``: the plugin's answer, or its error."""
        await self._init()
        if self._error is not None:
            raise AuthorizationPluginError(self.name, self._error)
        assert self._client is not None
        try:
            return await self._client.call(method, request, AuthzResponse)
        except EngineError as exc:
            raise AuthorizationPluginError(self.name, exc) from None


def _unique(names: Sequence[str], lookup: Lookup) -> list[AuthorizationPlugin]:
    """``newPlugins``: one plugin per name, first occurrence kept."""
    seen: set[str] = set()
    plugins = []
    for name in names:
        if name not in seen:
            seen.add(name)
            plugins.append(AuthorizationPlugin(name, lookup))
    return plugins


@attrs.define
class Authorization:
    """One API request's pass through the chain (dockerd's ``authorization.Ctx``)."""

    request: AuthzRequest
    plugins: tuple[AuthorizationPlugin, ...]

    async def check_request(self) -> None:
        """``AuthZRequest``: each plugin in order; the first refusal or failure raises."""
        for plugin in self.plugins:
            log.debug("AuthZ request using plugin %s", plugin.name)
            answer = await plugin.call(AUTHZ_REQ, self.request)
            if not answer.Allow:
                raise AuthorizationDenied(plugin.name, answer.Msg, response=False)

    async def check_response(
        self,
        plugins: tuple[AuthorizationPlugin, ...],
        *,
        status: int,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        """``AuthZResponse`` with the chain's plugins of now; the same request object,
        plus what the response modifier holds (status 0 and no headers once flushed)."""
        self.plugins = plugins
        self.request = attrs.evolve(
            self.request, ResponseStatusCode=status, ResponseHeaders=headers, ResponseBody=body
        )
        for plugin in self.plugins:
            log.debug("AuthZ response using plugin %s", plugin.name)
            answer = await plugin.call(AUTHZ_RES, self.request)
            if not answer.Allow:
                raise AuthorizationDenied(plugin.name, answer.Msg, response=True)


class AuthorizationChain:
    """dockerd's ``authorization.Middleware``: ``engine.authz``.

    ``lookup`` resolves a name as dockerd's plugin store does (managed plugins first,
    then v1 discovery with its lookup retry and activation).
    """

    def __init__(self, lookup: Lookup, names: Sequence[str] = ()) -> None:
        self._lookup = lookup
        self._plugins = _unique(names, lookup)

    def __repr__(self) -> str:
        return f"<AuthorizationChain {list(self.names)}>"

    def lookup_function(self) -> Lookup:
        """How this chain looks its plugins up (for a chain of the same engine)."""
        return self._lookup

    @property
    def names(self) -> tuple[str, ...]:
        """The plugins in the chain, in order (a managed plugin's full name once used)."""
        return tuple(p.name for p in self._plugins)

    def plugins(self) -> tuple[AuthorizationPlugin, ...]:
        """``getAuthzPlugins``: the chain as it is now."""
        return tuple(self._plugins)

    def set_plugins(self, names: Sequence[str]) -> None:
        """``SetPlugins``: a new chain of fresh (not yet looked up) plugins."""
        self._plugins = _unique(names, self._lookup)

    def remove_plugin(self, name: str) -> None:
        """``RemovePlugin``: what disabling a managed authz plugin does to the chain."""
        self._plugins = [p for p in self._plugins if p.name != name]

    async def validate(self, names: Sequence[str]) -> None:
        """``validateAuthzPlugins``: look each name up; the first failure raises
        :class:`AuthorizationStartError` with dockerd's text."""
        for name in names:
            try:
                await self._lookup(name)
            except EngineError as exc:
                raise AuthorizationStartError(
                    validation_text(str(exc)),
                    hint=exc.hint
                    or f"start the plugin {name!r} before the engine, or drop it from the list",
                ) from None

    async def reload(self, names: Sequence[str]) -> None:
        """A configuration reload (``SIGHUP``): validate, then :meth:`set_plugins`.

        As in dockerd, ``docker info`` keeps showing the list the daemon started with.
        """
        await self.validate(names)
        self.set_plugins(names)

    def begin(self, request: AuthzRequest) -> Authorization | None:
        """The pass of one request, or None when the chain is empty (no plugin is asked)."""
        plugins = self.plugins()
        if not plugins:
            return None
        return Authorization(request, plugins)
