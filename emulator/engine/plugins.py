"""The v1 plugin registry: lookup with retry, activation and its cache (``pkg/plugins``).

dockerd keeps activated plugins in a map by name for its whole life: a plugin that
activated once is never activated again, whatever happens to its socket; a failed
activation is forgotten, so the next lookup discovers and activates anew.  Lookups
by name retry for ~15 s while the plugin's file does not exist (or is broken);
enumeration (``get_all``) does not retry lookups but does activate every plugin it
finds, whatever it implements.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import attrs
import trio

from emulator.discovery import DiscoveryError, LocalRegistry, PluginNotFound, PluginSpec
from emulator.engine.locks import QuickLock
from emulator.errors import EngineError, PluginLookupError
from emulator.golang.time import duration_string as go_duration
from emulator.protocol.activation import (
    ACTIVATE,
    NO_NAME_TEXT,
    TEST_NONEXISTENT_PLUGIN,
    Manifest,
    legacy_text,
    not_found_text,
    not_implemented_text,
)
from emulator.protocol.http import AddressError, target_for
from emulator.protocol.retry import backoff, should_give_up
from emulator.transport.client import CallSettings, PluginClient
from emulator.transport.tls import TLSConfigError, client_context

log = logging.getLogger("emulator.plugins")

#: A registration handler (dockerd's ``plugins.Handle`` callback): plugin name, client.
ActivationHandler = Callable[[str, PluginClient], Awaitable[None]]


class Plugin:
    """A v1 plugin as the engine holds it: where it is, and what it said at activation."""

    def __init__(self, spec: PluginSpec) -> None:
        self.spec = spec
        self.manifest: Manifest | None = None
        self.client: PluginClient | None = None
        self.activation_error: Exception | None = None
        self.scoped_path: Callable[[str], str] | None = None
        """For a managed (v2) plugin, ``ScopedPath``: a reported path as the host sees it."""
        self.runtime_dir: Callable[[str], tuple[Path, str]] | None = None
        """For a managed (v2) plugin: a directory under ``/run`` in its view, as
        ``(host path, path to give the plugin)`` (where log FIFOs go)."""
        self.handlers_run = False
        """True once the registration handlers ran for this activation (``handlersRun``)."""
        self._lock = QuickLock()

    @property
    def activation_lock(self) -> QuickLock:
        """Held for the whole of an activation, handlers included (``p.activateWait``)."""
        return self._lock

    @property
    def is_v2(self) -> bool:
        """True for a managed (v2) plugin served by ``engine.managed_plugins``."""
        return self.scoped_path is not None

    @property
    def name(self) -> str:
        """The name the plugin was looked up by (its file name)."""
        return self.spec.name

    @property
    def address(self) -> str:
        """The address discovery found (``unix:///run/docker/plugins/x.sock``, …)."""
        return self.spec.addr

    @property
    def activated(self) -> bool:
        """True once ``/Plugin.Activate`` succeeded."""
        return self.manifest is not None

    @property
    def implements(self) -> tuple[str, ...]:
        """The ``Implements`` list from activation (empty before it)."""
        return tuple(self.manifest.Implements or ()) if self.manifest else ()

    def does_implement(self, iface: str) -> bool:
        """Exact match against ``Implements``, as dockerd checks it."""
        return self.manifest is not None and self.manifest.implements(iface)

    async def wait_active(self) -> Exception | None:
        """``waitActive``: wait for an activation in progress; its error, or None if active.

        The activation lock is held for the whole activation, so taking it waits for
        one that is running; afterwards the plugin is either activated or holds the
        error of its last attempt.
        """
        async with self._lock:
            if self.activated:
                return None
            return self.activation_error or _ActivationSetupError(
                f"plugin {self.name} was never activated"
            )

    def __repr__(self) -> str:
        state = "activated" if self.activated else "not activated"
        return f"<Plugin {self.name} {self.address} {state} implements={list(self.implements)}>"


@attrs.frozen
class PluginReport:
    """One discovered name and what became of it (for listings)."""

    name: str
    spec: PluginSpec | None
    """Where it was found; None when the lookup itself failed."""
    source: Path | None
    """The file that defined it (or that failed to), when known."""
    implements: tuple[str, ...] | None
    """The activation answer; None when discovery or activation failed."""
    error: str | None
    """dockerd's text for the failure, if any."""
    hint: str


class V2Lookup(Protocol):
    """Managed (v2) plugins, consulted before v1 discovery (``plugin.Store.Get``)."""

    def lookup_v2(self, name: str, iface: str) -> Plugin | None:
        """The enabled v2 plugin ``name``; None if there is none (fall back to v1).

        Raises :class:`PluginLookupError` for a disabled plugin (``plugin NAME found
        but disabled``, no fallback), an ambiguous ID prefix, or a missing capability.
        """
        ...

    def all_v2(self, iface: str) -> list[Plugin]:
        """Every enabled v2 plugin with capability ``iface``."""
        ...


class PluginRegistry:
    """Finds, activates and calls v1 plugins as dockerd's ``pkg/plugins`` does.

    With ``v2`` (the engine gives ``engine.managed_plugins``), ``get`` resolves a
    name as a managed plugin first, and ``get_all`` lists enabled managed plugins
    first, as dockerd's ``plugin.Store`` does; v2 plugins are never activated.
    """

    def __init__(
        self,
        discovery: LocalRegistry,
        settings: CallSettings,
        *,
        v2: V2Lookup | None = None,
    ) -> None:
        self.discovery = discovery
        self._settings = settings
        self.profile = settings.profile
        self.journal = settings.journal
        self._storage: dict[str, Plugin] = {}
        self._clients: list[PluginClient] = []
        self.v2 = v2
        self._handlers: dict[str, list[ActivationHandler]] = {}

    def on_activate(self, iface: str, handler: ActivationHandler) -> None:
        """dockerd's ``plugins.Handle(iface, fn)``: run ``handler`` once per activated plugin.

        After a plugin's activation (and on any later lookup, if they have not run
        yet), the handlers of every interface in its ``Implements`` run in order,
        under the plugin's activation lock, once per plugin (``runHandlers``).  This
        is how dockerd registers remote ``NetworkDriver`` and ``IpamDriver`` plugins
        (their ``GetCapabilities`` call).  Registering a handler makes it run for
        already-activated plugins too, at their next lookup, as ``Handle`` does.
        Handler exceptions are logged, never raised to the lookup.
        """
        self._handlers.setdefault(iface, []).append(handler)
        for plugin in self._storage.values():
            if plugin.activated and plugin.does_implement(iface):
                plugin.handlers_run = False

    # -- queries ---------------------------------------------------------------------

    def cached(self) -> list[Plugin]:
        """Plugins currently held (activated, or being activated), by name."""
        return list(self._storage.values())

    # -- dockerd's plugins.Get / GetAll ---------------------------------------------

    async def get(self, name: str, iface: str) -> Plugin:
        """The activated plugin ``name`` implementing ``iface``, or :class:`PluginLookupError`.

        Errors carry the text dockerd's API shows: ``plugin "NAME" not found`` after the
        ~15 s lookup retry, ``legacy plugin: <cause>`` for anything else (a broken spec
        file, a failed activation, an interface the plugin does not implement).
        """
        if name == "":
            raise PluginLookupError(
                legacy_text(NO_NAME_TEXT), name=name, http_status=500, cause=None
            )
        if self.v2 is not None:
            managed = self.v2.lookup_v2(name, iface)
            if managed is not None:
                return managed
        try:
            plugin = self._storage.get(name)
            if plugin is not None:
                await self._activate(plugin)
            else:
                plugin = await self._load(name, retry=True)
        except PluginNotFound as exc:
            raise PluginLookupError(
                not_found_text(name), name=name, http_status=404, cause=exc, hint=exc.hint
            ) from None
        except (DiscoveryError, EngineError, _ActivationSetupError) as exc:
            raise PluginLookupError(
                legacy_text(str(exc)),
                name=name,
                http_status=500,
                cause=exc,
                hint=getattr(exc, "hint", ""),
            ) from None
        if not plugin.does_implement(iface):
            hint = (
                f"plugin {name!r} answered Plugin.Activate with Implements="
                f"{list(plugin.implements)}; dockerd caches that answer until it restarts"
            )
            raise PluginLookupError(
                legacy_text(not_implemented_text(name, iface)),
                name=name,
                http_status=500,
                cause=None,
                hint=hint,
            )
        log.debug("%s implements: %s", name, iface)
        return plugin

    async def get_all(self, iface: str) -> list[Plugin]:
        """Every discoverable plugin implementing ``iface`` (``LocalRegistry.GetAll``).

        Activates every plugin found, whatever it implements; failures are logged and
        skipped; no lookup retry.  A name the scan reports twice (a socket and a spec
        file, ``NAME.sock`` and ``NAME/NAME.sock``, a ``.spec`` and a ``.json``) is
        resolved through the lookup's precedence and the shared cache: one activation,
        the same plugin listed twice, as dockerd does; callers de-duplicate by name.
        A plugin another lookup is still activating is waited for (``waitActive``).
        """
        try:
            names = self.discovery.scan()
        except DiscoveryError as exc:
            raise PluginLookupError(
                legacy_text(str(exc)), name="", http_status=500, cause=exc
            ) from None
        found: list[Plugin] = []
        for outcome in await self._enumerate(names):
            if outcome.error is not None:
                log.error("%s", outcome.error)
            elif outcome.plugin is not None and outcome.plugin.does_implement(iface):
                found.append(outcome.plugin)
        return (self.v2.all_v2(iface) if self.v2 is not None else []) + found

    async def call(self, name: str, method: str, args: object | None = None) -> Any:
        """Look up ``name`` for the interface of ``method`` and call it as dockerd would.

        ``method`` is ``Iface.Method``; the per-call deadline comes from the engine
        profile (VolumeDriver Create/Mount 2 min, other volume calls 1 min, else none).
        Returns the first JSON value of the plugin's 200 answer.
        """
        iface = method.split(".", 1)[0].lstrip("/")
        plugin = await self.get(name, iface)
        assert plugin.client is not None
        return await plugin.client.call_raw(method, args, timeout=self.profile.deadline_for(method))

    async def survey(self) -> list[PluginReport]:
        """What dockerd would find and activate: one report per discovered name.

        Plugins are enumerated exactly as ``get_all`` enumerates them (no lookup
        retry; each activation has the usual ~15 s connect retry; the same cache, so
        the same number of ``Plugin.Activate`` calls), but every outcome is kept,
        errors included, for ``plugin-emulator plugins ls``.  A name the scan reports
        more than once gets one report, in the order of its first appearance: it
        succeeded if any of its loads did (they share one cached plugin), else it
        carries the first failure.
        """
        names = self.discovery.scan()
        by_name: dict[str, _Outcome] = {}
        for outcome in await self._enumerate(names):
            first = by_name.setdefault(outcome.name, outcome)
            if first.error is not None and outcome.error is None:
                by_name[outcome.name] = outcome
        return [outcome.report() for outcome in by_name.values()]

    async def aclose(self) -> None:
        """Close every plugin client's connections."""
        for client in self._clients:
            await client.aclose()

    async def forget(self) -> None:
        """Drop the activation cache and close the clients (what a dockerd restart does)."""
        self._storage.clear()
        await self.aclose()
        self._clients.clear()

    # -- internals -------------------------------------------------------------------

    async def _enumerate(self, names: list[str]) -> list[_Outcome]:
        """``GetAll``'s loop: every scanned name, cached or loaded concurrently, then settled.

        A cached plugin is taken as it is (no new activation); the others are looked up
        once (no retry) and installed through the cache, so a name scanned twice shares
        one plugin and one activation.  Each plugin is then waited for (``waitActive``):
        one still being activated by another lookup counts once that activation ends.
        """
        outcomes: list[_Outcome | None] = [None] * len(names)

        async def load(index: int, name: str) -> None:
            spec: PluginSpec | None = None
            try:
                spec = self.discovery.lookup(name)
                outcomes[index] = _Outcome(name, spec, await self._install(name, spec), None)
            except (DiscoveryError, EngineError, _ActivationSetupError) as exc:
                outcomes[index] = _Outcome(name, spec, None, exc)

        async with trio.open_nursery() as nursery:
            for index, name in enumerate(names):
                cached = self._storage.get(name)
                if cached is not None:
                    outcomes[index] = _Outcome(name, cached.spec, cached, None)
                else:
                    nursery.start_soon(load, index, name)
        settled: list[_Outcome] = []
        for outcome in outcomes:
            assert outcome is not None
            if outcome.plugin is not None:
                error = await outcome.plugin.wait_active()
                if error is not None:
                    outcome = attrs.evolve(outcome, plugin=None, error=error)
            settled.append(outcome)
        return settled

    async def _load(self, name: str, *, retry: bool) -> Plugin:
        """``loadWithRetry``: find ``name`` (retrying while absent or broken), then activate."""
        return await self._install(name, await self._find(name, retry=retry))

    async def _find(self, name: str, *, retry: bool) -> PluginSpec:
        """The lookup half of ``loadWithRetry``: retried while absent or broken if ``retry``."""
        start = trio.current_time()
        budget = self.profile.retry_budget
        if name == TEST_NONEXISTENT_PLUGIN and self.profile.test_plugin_name_budget:
            budget = self.profile.test_plugin_name_budget
        retries = 0
        while True:
            try:
                return self.discovery.lookup(name)
            except DiscoveryError:
                if not retry:
                    raise
                delay = backoff(retries, self.profile.retry_budget)
                if should_give_up(trio.current_time() - start, delay, budget):
                    raise
                retries += 1
                log.warning("Unable to locate plugin: %s, retrying in %s", name, go_duration(delay))
                await trio.sleep(delay)

    async def _install(self, name: str, spec: PluginSpec) -> Plugin:
        """The cache half of ``loadWithRetry``: a cached plugin wins over ``spec``.

        A new plugin is cached before it is activated (so concurrent loads of the name
        share its activation) and dropped again if the activation fails.
        """
        existing = self._storage.get(name)
        if existing is not None:
            await self._activate(existing)
            return existing
        plugin = Plugin(spec)
        self._storage[name] = plugin
        try:
            await self._activate(plugin)
        except BaseException:
            if self._storage.get(name) is plugin:
                del self._storage[name]
            raise
        return plugin

    async def _activate(self, plugin: Plugin) -> None:
        """Activate once; later calls return at once (or retry a failed activation)."""
        if plugin.handlers_run and plugin.activated and not plugin.activation_lock.locked():
            return  # active and registered: what the lock would find (no task switch)
        async with plugin.activation_lock:
            if plugin.activated:
                await self._run_handlers(plugin)
                return
            try:
                client = plugin.client or self._new_client(plugin.spec)
                plugin.client = client
                plugin.manifest = await client.call(ACTIVATE, None, Manifest)
                plugin.activation_error = None
            except (EngineError, _ActivationSetupError) as exc:
                plugin.activation_error = exc
                raise
            await self._run_handlers(plugin)

    async def _run_handlers(self, plugin: Plugin) -> None:
        """``runHandlers``: each implemented interface's handlers, once per plugin."""
        if plugin.handlers_run or plugin.client is None:
            return
        for iface in plugin.implements:
            for handler in self._handlers.get(iface, ()):
                try:
                    await handler(plugin.name, plugin.client)
                except Exception:
                    log.exception("registration handler for %s failed on %s", iface, plugin.name)
        plugin.handlers_run = True

    def _new_client(self, spec: PluginSpec) -> PluginClient:
        """``NewClient``: TLS options, then the address; their errors surface at activation.

        As ``newTransport`` does, the TLS options are turned into a configuration before
        the address is even parsed, whatever its scheme: a ``.json`` file whose
        ``TLSConfig`` names a missing file fails for a ``unix://`` address too.
        """
        context: ssl.SSLContext | None = None
        if spec.tls is not None:
            try:
                context = client_context(spec.tls)
            except TLSConfigError as exc:
                raise _ActivationSetupError(
                    str(exc), hint=f"fix TLSConfig of plugin {spec.name!r} in {spec.source}"
                ) from None
        try:
            target = target_for(spec.addr, self.profile)
        except AddressError as exc:
            raise _ActivationSetupError(
                str(exc), hint=f"fix the address of plugin {spec.name!r} in {spec.source}"
            ) from None
        if target.tls and context is None:
            context = client_context(None)
        client = PluginClient(
            spec.name,
            target,
            self._settings,
            ssl_context=context,
        )
        self._clients.append(client)
        return client


@attrs.frozen
class _Outcome:
    """What enumeration made of one scanned name."""

    name: str
    spec: PluginSpec | None
    """Where the lookup found it; None when the lookup itself failed."""
    plugin: Plugin | None
    """The cached, activated plugin; None on failure."""
    error: Exception | None

    def report(self) -> PluginReport:
        """This outcome as a listing row."""
        if self.plugin is not None:
            spec = self.plugin.spec
            return PluginReport(self.name, spec, spec.source, self.plugin.implements, None, "")
        source = self.spec.source if self.spec else getattr(self.error, "path", None)
        hint = getattr(self.error, "hint", "")
        return PluginReport(self.name, self.spec, source, None, str(self.error), hint)


class _ActivationSetupError(Exception):
    """The plugin's address or TLS options are unusable (raised before any request)."""

    def __init__(self, text: str, *, hint: str = "") -> None:
        super().__init__(text)
        self.hint = hint
