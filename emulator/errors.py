"""The emulator's exception family.

Every error the engine raises on dockerd's behalf is an :class:`EngineError` whose
``str()`` is the text dockerd itself would produce (what a ``docker`` user would
read after ``Error response from daemon:``), so tests can compare it with real
dockerd output.  ``hint`` says what to check; ``http_status`` is the status dockerd's
API would answer with.

Where the hint comes from, first found wins: the one given where the error is raised;
the hint of the error it wraps (dockerd's errors wrap each other's texts: a container
start that failed on a plugin's ``Mount`` carries the plugin error's hint, which names
the plugin); a hint chosen by the error's text (:mod:`emulator.hints`, a table); the
class's ``default_hint``.  Every :class:`EngineError` class has a ``default_hint`` of its
own, so no error a user meets has an empty hint (``tests/test_hints.py`` checks it).
"""

from __future__ import annotations

from typing import ClassVar

from emulator.hints import hint_for_text


class EmulatorError(Exception):
    """Base of every error the emulator raises on purpose."""

    default_hint: ClassVar[str] = ""
    """What to check when nothing more specific is known (may use ``{attribute}`` fields)."""

    def __init__(self, text: str, *, hint: str = "") -> None:
        super().__init__(text)
        self.text = text
        self._hint = hint

    def __str__(self) -> str:
        return self.text

    @property
    def hint(self) -> str:
        """What to check or do about it (never empty on an :class:`EngineError`)."""
        return self._hint or self._default()

    def _default(self) -> str:
        try:
            return self.default_hint.format_map(vars(self))
        except (KeyError, IndexError, ValueError):
            return self.default_hint


class EngineError(EmulatorError):
    """An error dockerd would report; ``str()`` is dockerd's text."""

    http_status: int = 500
    """The status dockerd's Engine API answers with (its errdefs class)."""

    default_hint = (
        "the text is dockerd's own; engine.journal (GET /emulator/journal under serve) "
        "shows the plugin calls that led to it"
    )

    @property
    def hint(self) -> str:
        """What to check: given, else the wrapped error's, else by the text, else the class's."""
        return self._hint or _wrapped_hint(self) or hint_for_text(self.text) or self._default()


def _wrapped_hint(error: BaseException) -> str:
    """The hint of the nearest error ``error`` wraps (``raise ... from`` it, or raised while
    handling it): an emulator error's whole hint, or another exception's ``hint``."""
    seen = {id(error)}
    inner = error.__cause__ or error.__context__
    while inner is not None and id(inner) not in seen:
        seen.add(id(inner))
        given = getattr(inner, "hint", "")
        if isinstance(given, str) and given:
            return given
        inner = inner.__cause__ or inner.__context__
    return ""


class PluginCallError(EngineError):
    """A call to a plugin failed, as dockerd's plugin client reports it.

    ``plugin`` and ``method`` name the call; ``attempts`` is how many HTTP attempts
    were made (more than one only after connection errors).
    """

    default_hint = (
        "plugin {plugin!r} failed {method}: engine.journal has the call and the plugin's "
        "answer; the plugin's own output (plugin_process, serve) says why"
    )

    def __init__(
        self, text: str, *, plugin: str, method: str, attempts: int = 1, hint: str = ""
    ) -> None:
        super().__init__(text, hint=hint)
        self.plugin = plugin
        self.method = method
        self.attempts = attempts

    @property
    def hint(self) -> str:
        """Given, else the class's (which names the plugin and the call)."""
        return self._hint or self._default()


class PluginStatusError(PluginCallError):
    """The plugin answered with a status other than 200: ``Iface.Method: <Err or body>``.

    dockerd never retries these.  ``status`` is the HTTP status; ``detail`` the
    ``Err`` value or the raw body.
    """

    default_hint = "plugin {plugin!r} answered HTTP {status} to {method}"

    def __init__(self, *, plugin: str, method: str, status: int, detail: str) -> None:
        super().__init__(
            f"{method}: {detail}",
            plugin=plugin,
            method=method,
            hint=(
                f"plugin {plugin!r} answered HTTP {status} to {method}: what follows "
                f"'{method}: ' is the plugin's own error; its output and engine.journal "
                "show the request it refused"
            ),
        )
        self.status = status
        self.detail = detail

    @property
    def not_found(self) -> bool:
        """dockerd's ``plugins.IsNotFound``: the plugin answered 404."""
        return self.status == 404


class PluginTransportError(PluginCallError):
    """No HTTP answer: dial, write or read failed, or the per-call deadline fired.

    The text is Go's ``*url.Error``: ``Post "http://plugin.moby.localhost/M": <cause>``.
    dockerd retries these (≈15 s) before giving up.
    """

    default_hint = (
        "no answer from plugin {plugin!r} to {method} ({cause}): is it running and "
        "listening on its address, and did it crash or close the connection mid-call "
        "(its output says)? A fault in engine.faults can cause this too"
    )

    def __init__(
        self, text: str, *, plugin: str, method: str, cause: str, attempts: int = 1
    ) -> None:
        super().__init__(text, plugin=plugin, method=method, attempts=attempts)
        self.cause = cause


class PluginDeadlineError(PluginTransportError):
    """dockerd's per-call deadline (2 min for Create/Mount, 1 min for other volume calls) fired."""

    default_hint = (
        "plugin {plugin!r} did not answer {method} within dockerd's deadline for it (2 min "
        "for VolumeDriver.Create and Mount, 1 min for other volume calls): check what the "
        "plugin does in {method} (a slow mount, a backend that does not answer), or the "
        "delay/hang fault that held it back"
    )


class PluginResponseError(PluginCallError):
    """A 200 answer whose body could not be decoded (``EOF`` for an empty body, …)."""

    default_hint = (
        "plugin {plugin!r} answered {method} with a body dockerd cannot decode: check the "
        "JSON it writes (engine.journal has the bytes)"
    )


class PluginHangError(PluginCallError):
    """A call dockerd puts no deadline on got no answer within the emulator's hang guard.

    dockerd would wait forever here; the emulator stops so a test cannot hang.
    """

    http_status = 500
    default_hint = (
        "dockerd sets no deadline on this call and would wait forever; the emulator's "
        "hang guard stopped it (open_engine(hang_guard=...))"
    )


class PluginLookupError(EngineError):
    """A plugin could not be found or activated, as ``plugin.Store.Get`` reports it.

    Texts: ``plugin "NAME" not found`` (404) or ``legacy plugin: <cause>`` (500).
    ``cause`` is the underlying error.
    """

    default_hint = (
        "dockerd could not find or activate plugin {name!r}: is its socket in "
        "ROOT/run/docker/plugins (or a spec file in ROOT/etc/docker/plugins), does it "
        "answer /Plugin.Activate, and does it implement the interface asked for?"
    )

    def __init__(
        self, text: str, *, name: str, http_status: int, cause: BaseException | None, hint: str = ""
    ) -> None:
        super().__init__(text, hint=hint)
        self.name = name
        self.http_status = http_status
        self.cause = cause


class ManagedPluginError(EngineError):
    """A managed-plugin manager refusal or failure; ``str()`` is dockerd's text.

    ``http_status`` is what the Engine API answers (dockerd's errdefs class).
    """

    default_hint = (
        "the managed plugin's name, state or settings: `docker plugin ls` / "
        "engine.managed_plugins.list() shows them (docs/managed-plugins.md)"
    )

    def __init__(self, text: str, *, http_status: int = 500, hint: str = "") -> None:
        super().__init__(text, hint=hint)
        self.http_status = http_status


class ConfigurationError(EmulatorError):
    """The emulator was set up wrongly (bad root, unknown profile, …)."""

    default_hint = "check the emulator's options (root, sockets, profile) named in the message"
