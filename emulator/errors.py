"""The emulator's exception family.

Every error the engine raises on dockerd's behalf is an :class:`EngineError` whose
``str()`` is the text dockerd itself would produce (what a ``docker`` user would
read after ``Error response from daemon:``), so tests can compare it with real
dockerd output.  ``hint`` says what to do about it; ``http_status`` is the status
dockerd's API would answer with.
"""

from __future__ import annotations


class EmulatorError(Exception):
    """Base of every error the emulator raises on purpose."""

    hint: str = ""
    """What to check or do about it (never empty on an error a user can meet)."""

    def __init__(self, text: str, *, hint: str = "") -> None:
        super().__init__(text)
        self.text = text
        if hint:
            self.hint = hint

    def __str__(self) -> str:
        return self.text


class EngineError(EmulatorError):
    """An error dockerd would report; ``str()`` is dockerd's text."""

    http_status: int = 500
    """The status dockerd's Engine API answers with (its errdefs class)."""


class PluginCallError(EngineError):
    """A call to a plugin failed, as dockerd's plugin client reports it.

    ``plugin`` and ``method`` name the call; ``attempts`` is how many HTTP attempts
    were made (more than one only after connection errors).
    """

    def __init__(
        self, text: str, *, plugin: str, method: str, attempts: int = 1, hint: str = ""
    ) -> None:
        super().__init__(text, hint=hint)
        self.plugin = plugin
        self.method = method
        self.attempts = attempts


class PluginStatusError(PluginCallError):
    """The plugin answered with a status other than 200: ``Iface.Method: <Err or body>``.

    dockerd never retries these.  ``status`` is the HTTP status; ``detail`` the
    ``Err`` value or the raw body.
    """

    def __init__(self, *, plugin: str, method: str, status: int, detail: str) -> None:
        super().__init__(
            f"{method}: {detail}",
            plugin=plugin,
            method=method,
            hint=f"plugin {plugin!r} answered HTTP {status} to {method}",
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

    def __init__(
        self, text: str, *, plugin: str, method: str, cause: str, attempts: int = 1
    ) -> None:
        super().__init__(
            text,
            plugin=plugin,
            method=method,
            attempts=attempts,
            hint=f"is plugin {plugin!r} running and listening on its address?",
        )
        self.cause = cause


class PluginDeadlineError(PluginTransportError):
    """dockerd's per-call deadline (2 min for Create/Mount, 1 min for other volume calls) fired."""


class PluginResponseError(PluginCallError):
    """A 200 answer whose body could not be decoded (``EOF`` for an empty body, …)."""


class PluginHangError(PluginCallError):
    """A call dockerd puts no deadline on got no answer within the emulator's hang guard.

    dockerd would wait forever here; the emulator stops so a test cannot hang.
    """

    http_status = 500


class PluginLookupError(EngineError):
    """A plugin could not be found or activated, as ``plugin.Store.Get`` reports it.

    Texts: ``plugin "NAME" not found`` (404) or ``legacy plugin: <cause>`` (500).
    ``cause`` is the underlying error.
    """

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

    def __init__(self, text: str, *, http_status: int = 500, hint: str = "") -> None:
        super().__init__(text, hint=hint)
        self.http_status = http_status


class ConfigurationError(EmulatorError):
    """The emulator was set up wrongly (bad root, unknown profile, …)."""
