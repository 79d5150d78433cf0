"""containerd's ``dockerAuthorizer`` for one registry operation: challenges in, headers out.

Mirrors ``c8d:remotes/docker/authorizer.go`` (``c8d:`` =
``vendor/github.com/containerd/containerd/v2/core`` in moby v28.5.2): nothing
is sent until a ``401`` with ``WWW-Authenticate`` arrives; then a handler is
made for that host (Bearer preferred over Basic) and the request is sent again.
Bearer tokens are fetched once per set of scopes (``GET realm?scope=…&service=…``
anonymously or with Basic credentials; with a secret, an OAuth form ``POST``
first); Basic needs both a user name and a secret from ``X-Registry-Auth``.
The texts are containerd's (``authorization failed: no basic auth credentials``,
``failed to fetch anonymous token: …``).
"""

from __future__ import annotations

import attrs
import trio

from emulator.protocol import distribution as dist
from emulator.protocol import registry_auth as ra
from emulator.transport.registry_http import RegistryHTTP, RequestFailed, Response

__all__ = ["AuthFailed", "Authorizer", "NotImplementedScheme"]


class AuthFailed(Exception):
    """An authorization error; ``invalid`` marks containerd's ``ErrInvalidAuthorization``."""

    def __init__(self, text: str, *, invalid: bool = False) -> None:
        super().__init__(text)
        self.invalid = invalid


class NotImplementedScheme(Exception):
    """No challenge this client can answer: the 401 is returned as it is."""


@attrs.define
class _Token:
    """``authResult``: a token fetch, finished (``done``) with a token or an error."""

    done: trio.Event = attrs.field(factory=trio.Event)
    token: str = ""
    error: str | None = None
    expires: float | None = None


@attrs.define
class _Handler:
    scheme: ra.Scheme
    username: str
    secret: str
    realm: str = ""
    service: str = ""
    scopes: tuple[str, ...] = ()
    tokens: dict[str, _Token] = attrs.field(factory=dict)


class Authorizer:
    """Per-host authorization state of one resolver (``NewDockerAuthorizer``)."""

    def __init__(self, http: RegistryHTTP, auth: ra.AuthConfig, headers: list[tuple[str, str]]):
        self._http = http
        self._auth = auth
        self._headers = headers
        self._handlers: dict[str, _Handler] = {}

    def forget(self, host: str) -> None:
        self._handlers.pop(host, None)

    async def header(self, host: str, scopes: list[str]) -> str | None:
        """``Authorize``: the ``Authorization`` value for a request to ``host``, if any."""
        handler = self._handlers.get(host)
        if handler is None:
            return None
        if handler.scheme == "basic":
            if not handler.username or not handler.secret:
                raise AuthFailed("failed to handle basic auth because missing username or secret")
            return ra.basic_authorization(handler.username, handler.secret)
        wanted = sorted({*scopes, *handler.scopes})
        key = " ".join(wanted)
        cached = handler.tokens.get(key)
        if cached is not None and (cached.expires is None or cached.expires > trio.current_time()):
            await cached.done.wait()  # one fetch per scope set, shared by concurrent requests
            if cached.error is not None:
                raise AuthFailed(cached.error)
            return f"Bearer {cached.token}"
        result = handler.tokens[key] = _Token()
        try:
            token, expires = await self._fetch_token(handler, wanted)
        except AuthFailed as exc:
            result.error = str(exc)  # containerd keeps a failure for the resolver's life
            raise
        finally:
            result.done.set()
        result.token = token
        result.expires = trio.current_time() + expires if expires else None
        return f"Bearer {token}"

    def add_responses(self, host: str, responses: list[Response]) -> None:
        """``AddResponses``: learn from the last 401; raises to stop retrying.

        Raises :class:`NotImplementedScheme` when no challenge can be answered
        (the 401 then stands) and :class:`AuthFailed` for containerd's errors.
        """
        last = responses[-1]
        for challenge in ra.parse_challenges(last.header_values("WWW-Authenticate")):
            if challenge.scheme == "bearer":
                error = challenge.params.get("error", "")
                if error:
                    if len(responses) > 1 and _same_request(responses[-2], last):
                        self._handlers.pop(host, None)
                        raise AuthFailed(
                            f"server message: {error}: authorization failed", invalid=True
                        )
                    self._handlers.pop(host, None)
                if host in self._handlers:
                    return
                realm = challenge.params.get("realm")
                if realm is None:
                    raise AuthFailed("no realm specified for token auth challenge")
                username, secret = self._auth.credentials()
                scope = challenge.params.get("scope")
                self._handlers[host] = _Handler(
                    "bearer",
                    username,
                    secret,
                    realm=realm,
                    service=challenge.params.get("service", ""),
                    scopes=tuple(scope.split(" ")) if scope is not None else (),
                )
                return
            if challenge.scheme == "basic":
                username, secret = self._auth.credentials()
                if not username or not secret:
                    raise AuthFailed(ra.NO_BASIC_CREDENTIALS, invalid=True)
                self._handlers[host] = _Handler("basic", username, secret)
                return
        raise NotImplementedScheme("failed to find supported auth scheme: not implemented")

    async def _fetch_token(self, handler: _Handler, scopes: list[str]) -> tuple[str, int]:
        """``doBearerAuth``: OAuth POST with a secret (GET fallback), else anonymous GET."""
        if handler.secret:
            try:
                return await self._oauth(handler, scopes)
            except _UnexpectedStatus as exc:
                fallback = exc.code in ra.OAUTH_FALLBACK_STATUSES or (
                    exc.code == 405 and handler.username
                )
                if not fallback:
                    raise AuthFailed(f"failed to fetch oauth token: {exc}") from None
            except AuthFailed as exc:
                raise AuthFailed(f"failed to fetch oauth token: {exc}") from None
            try:
                return await self._get_token(handler, scopes)
            except (_UnexpectedStatus, AuthFailed) as exc:
                raise AuthFailed(f"failed to fetch oauth token: {exc}") from None
        try:
            return await self._get_token(handler, scopes)
        except (_UnexpectedStatus, AuthFailed) as exc:
            raise AuthFailed(f"failed to fetch anonymous token: {exc}") from None

    async def _oauth(self, handler: _Handler, scopes: list[str]) -> tuple[str, int]:
        body = ra.oauth_form(handler.service, scopes, handler.username, handler.secret)
        headers = [
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            *self._headers,
        ]
        response = await self._send("POST", handler.realm, headers, body)
        return await self._token_from(response, oauth=True)

    async def _get_token(self, handler: _Handler, scopes: list[str]) -> tuple[str, int]:
        url = ra.token_url(handler.realm, handler.service, scopes)
        headers = list(self._headers)
        if handler.secret:
            headers.append(
                ("Authorization", ra.basic_authorization(handler.username, handler.secret))
            )
        response = await self._send("GET", url, headers, None)
        return await self._token_from(response, oauth=False)

    async def _send(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> Response:
        try:
            return await self._http.send(method, url, headers, body)
        except RequestFailed as exc:
            raise AuthFailed(str(exc)) from None

    async def _token_from(self, response: Response, *, oauth: bool) -> tuple[str, int]:
        try:
            body = await response.read(1 << 20)
        except RequestFailed as exc:
            raise AuthFailed(str(exc)) from None
        if not 200 <= response.code < 400:
            raise _UnexpectedStatus(response, body)
        try:
            return ra.parse_token(body, oauth=oauth)
        except ra.TokenError as exc:
            raise AuthFailed(str(exc)) from None


class _UnexpectedStatus(Exception):
    """``remoteerrors.ErrUnexpectedStatus`` from the token endpoint."""

    def __init__(self, response: Response, body: bytes) -> None:
        super().__init__(
            dist.unexpected_status_text(response.method, response.url, response.status, b"")
        )
        self.code = response.code
        self.body = body


def _same_request(first: Response, second: Response) -> bool:
    return first.method == second.method and first.url == second.url
