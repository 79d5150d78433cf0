"""Registry authentication as dockerd's plugin code does it: challenges, scopes, tokens.

Pure functions over headers and bodies.  Sources (moby v28.5.2; ``c8d:`` =
``vendor/github.com/containerd/containerd/v2/core/remotes/docker``):

* ``c8d:auth/parse.go`` (``ParseAuthHeader``: ``WWW-Authenticate`` challenges,
  Bearer sorted before Basic) -- :func:`parse_challenges`;
* ``c8d:scope.go`` (``RepositoryScope``, ``GetTokenScopes``: sorted, de-duplicated)
  and ``plugin/registry.go`` (``scope``: the extra ``repository(plugin):`` class)
  -- :func:`token_scopes`;
* ``c8d:auth/fetch.go`` (``FetchToken``: ``GET realm?scope=…&service=…``;
  ``FetchTokenWithOAuth``: form ``POST`` with ``client_id=containerd-client``)
  -- :func:`token_url`, :func:`oauth_form`, :func:`parse_token`;
* ``c8d:authorizer.go`` (which scheme is used, Basic needs both user and secret,
  the OAuth POST falls back to GET on 400/401/404 and on 405 with a user name);
* ``api/types/registry/authconfig.go`` (``DecodeAuthConfig``: base64url JSON in
  ``X-Registry-Auth``; anything undecodable means anonymous, as ``parseHeaders``
  ignores the error) -- :func:`decode_auth_header`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from typing import Final, Literal
from urllib.parse import parse_qsl, urlencode

import attrs

__all__ = [
    "AuthConfig",
    "Challenge",
    "TokenError",
    "decode_auth_header",
    "oauth_form",
    "parse_challenges",
    "parse_token",
    "token_scopes",
    "token_url",
]

Scheme = Literal["basic", "digest", "bearer"]
#: ``byScheme`` sorts by descending scheme value: Bearer (4) before Digest (2) and Basic (1).
_SCHEME_ORDER: Final = {"bearer": 0, "digest": 1, "basic": 2}
OAUTH_CLIENT_ID: Final = "containerd-client"
#: Token endpoint statuses after which the OAuth POST is retried as a GET with Basic
#: (405 only when there is a user name).
OAUTH_FALLBACK_STATUSES: Final = (400, 401, 404)
NO_TOKEN: Final = "authorization server did not include a token in the response"
NO_BASIC_CREDENTIALS: Final = "authorization failed: no basic auth credentials"

_SEPARATORS: Final = frozenset(' \t"(),/:;<=>?@[]\\{}')


@attrs.frozen
class AuthConfig:
    """``registry.AuthConfig`` from ``X-Registry-Auth`` (only what dockerd's resolver uses)."""

    username: str = ""
    password: str = ""
    identity_token: str = ""

    def credentials(self) -> tuple[str, str]:
        """``WithAuthCreds``: an identity token is sent as the secret with no user name."""
        if self.identity_token:
            return "", self.identity_token
        return self.username, self.password


@attrs.frozen
class Challenge:
    """One ``WWW-Authenticate`` challenge: scheme and lower-cased parameter names."""

    scheme: Scheme
    params: dict[str, str] = attrs.field(factory=dict)


class TokenError(Exception):
    """A token endpoint answer dockerd cannot use; ``str()`` is containerd's text."""


def decode_auth_header(value: str) -> AuthConfig:
    """``DecodeAuthConfig``: base64url JSON; empty or undecodable means anonymous."""
    if not value:
        return AuthConfig()
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii"))
        data = json.JSONDecoder().raw_decode(raw.decode("utf-8"))[0]
    except (ValueError, binascii.Error, UnicodeError):
        return AuthConfig()
    if not isinstance(data, dict):
        return AuthConfig()

    def text(key: str) -> str:
        for k, v in data.items():  # Go matches keys case-insensitively
            if k.lower() == key and isinstance(v, str):
                return v
        return ""

    return AuthConfig(text("username"), text("password"), text("identitytoken"))


def _is_token_char(char: str) -> bool:
    code = ord(char)
    return 32 < code < 127 and char not in _SEPARATORS


def _expect_token(text: str) -> tuple[str, str]:
    index = 0
    while index < len(text) and _is_token_char(text[index]):
        index += 1
    return text[:index], text[index:]


def _skip_space(text: str) -> str:
    return text.lstrip(" \t\r\n")


def _expect_token_or_quoted(text: str) -> tuple[str, str]:
    if not text.startswith('"'):
        return _expect_token(text)
    out: list[str] = []
    escape = False
    for index, char in enumerate(text[1:], start=1):
        if escape:
            out.append(char)
            escape = False
        elif char == "\\":
            escape = True
        elif char == '"':
            return "".join(out), text[index + 1 :]
        else:
            out.append(char)
    return "", ""


def _parse_one(header: str) -> tuple[str, dict[str, str]]:
    """``parseValueAndParams``: the scheme (lower-cased) and its ``key=value`` pairs."""
    params: dict[str, str] = {}
    value, rest = _expect_token(header)
    if not value:
        return "", params
    while True:
        key, rest = _expect_token(_skip_space(rest))
        if not key or not rest.startswith("="):
            return value.lower(), params
        item, rest = _expect_token_or_quoted(rest[1:])
        params[key.lower()] = item
        rest = _skip_space(rest)
        if not rest.startswith(","):
            return value.lower(), params
        rest = rest[1:]


def parse_challenges(headers: Iterable[str]) -> list[Challenge]:
    """``ParseAuthHeader`` over every ``WWW-Authenticate`` value, Bearer first."""
    out: list[Challenge] = []
    for header in headers:
        scheme, params = _parse_one(header)
        if scheme in _SCHEME_ORDER:
            out.append(Challenge(scheme, params))  # type: ignore[arg-type]
    return sorted(out, key=lambda c: _SCHEME_ORDER[c.scheme])


def token_scopes(repository: str, *, push: bool, extra: Sequence[str] = ()) -> list[str]:
    """``GetTokenScopes`` for a plugin repository: sorted, without duplicates.

    moby adds ``repository(plugin):R:pull[,push]``; containerd adds
    ``repository:R:pull[,push]``; a challenge's own ``scope`` words come in ``extra``.
    """
    actions = "pull,push" if push else "pull"
    scopes = {
        f"repository(plugin):{repository}:{actions}",
        f"repository:{repository}:{actions}",
        *extra,
    }
    return sorted(scopes)


def token_url(realm: str, service: str, scopes: Sequence[str]) -> str:
    """``FetchToken``'s URL: the realm's query plus ``scope``s and ``service``, keys sorted."""
    base, _, query = realm.partition("?")
    pairs: list[tuple[str, str]] = []
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
    if service:
        pairs.append(("service", service))
    pairs.extend(("scope", s) for s in scopes)
    ordered = sorted(pairs, key=lambda kv: kv[0])  # Go's Values.Encode: stable by key
    return f"{base}?{urlencode(ordered)}"


def oauth_form(service: str, scopes: Sequence[str], username: str, secret: str) -> bytes:
    """``FetchTokenWithOAuth``'s form body (Go sorts the keys)."""
    form = {"client_id": OAUTH_CLIENT_ID, "service": service}
    if scopes:
        form["scope"] = " ".join(scopes)
    if username:
        form.update(grant_type="password", username=username, password=secret)
    else:
        form.update(grant_type="refresh_token", refresh_token=secret)
    return urlencode(sorted(form.items())).encode()


def parse_token(body: bytes, *, oauth: bool) -> tuple[str, int]:
    """The token and its lifetime (``expires_in``; 0 = no expiry) from a token answer.

    ``FetchToken`` accepts ``token`` or ``access_token`` (the latter wins);
    ``FetchTokenWithOAuth`` only ``access_token``.
    """
    try:
        value = json.JSONDecoder().raw_decode(body.decode("utf-8").lstrip())[0]
    except (ValueError, UnicodeError) as exc:
        raise TokenError(f"unable to decode token response: {exc}") from None
    if not isinstance(value, dict):
        raise TokenError(
            "unable to decode token response: json: cannot unmarshal "
            "value into Go value of type auth.FetchTokenResponse"
        )
    access = value.get("access_token")
    token = access if isinstance(access, str) and access else None
    if token is None and not oauth:
        plain = value.get("token")
        token = plain if isinstance(plain, str) and plain else None
    if token is None:
        raise TokenError(NO_TOKEN)
    expires = value.get("expires_in")
    return token, expires if isinstance(expires, int) and expires > 0 else 0


def basic_authorization(username: str, secret: str) -> str:
    """``doBasicAuth``'s header value."""
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()
