"""Which URLs dockerd tries for a registry host name, and how (TLS or plain HTTP).

Sources (moby v28.5.2): ``registry/config.go`` (``ValidateMirror``,
``loadInsecureRegistries``: ``127.0.0.0/8`` and ``::1/128`` are always insecure;
``isSecureIndex``), ``registry/service_v2.go`` (``lookupV2Endpoints``: mirrors
first for Docker Hub; a secure host gets ``https`` only, an insecure one
``https`` without verification then ``http``), ``plugin/registry.go``
(``registryHostsFn``: push capability only for non-mirrors; the push retries
with ``http`` hosts only), ``c8d:remotes/docker/registry.go`` (``DefaultHost``,
``isProxy``: requests to a mirror carry ``?ns=docker.io``).

:class:`RegistryConfig` is what ``serve --insecure-registry/--registry-mirror``
and ``open_engine(registries=...)`` give; :func:`endpoints` is pure: a host that
is neither an IP address nor configured is resolved by the caller first.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Final, Literal

import attrs

from emulator.golang import url as gourl
from emulator.protocol.reference import DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN

__all__ = [
    "DEFAULT_CERTS_DIR",
    "Endpoint",
    "RegistryConfig",
    "RegistryConfigError",
    "endpoints",
    "needs_lookup",
]

#: ``defaultCertsDir`` (relocated under the engine's root).
DEFAULT_CERTS_DIR: Final = "etc/docker/certs.d"
#: ``DefaultV2Registry`` host, as ``docker.DefaultHost`` maps ``docker.io``.
DOCKER_HUB_HOST: Final = "registry-1.docker.io"
ALWAYS_INSECURE: Final = ("::1/128", "127.0.0.0/8")

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST_PORT = re.compile(
    rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[(?:[a-fA-F0-9:]+)\])(?::[0-9]+)?$"
)


class RegistryConfigError(ValueError):
    """A registry option dockerd refuses at start; ``str()`` is its text."""


@attrs.frozen
class Endpoint:
    """One URL base to try: ``scheme://host/v2``.

    ``verify`` is False for insecure registries (``InsecureSkipVerify``);
    ``certs_host`` names the ``certs.d`` directory whose CA and client keys apply
    (secure hosts only); ``proxy_ns`` is the ``ns`` query a mirror gets.
    """

    scheme: Literal["https", "http"]
    host: str
    mirror: bool = False
    verify: bool = True
    certs_host: str = ""
    proxy_ns: str = ""

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}"


def _split_host_port(text: str) -> tuple[str, str]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, rest.removeprefix(":")
    host, sep, port = text.rpartition(":")
    if not sep or ":" in host:
        return text, ""
    return host, port


def _validate_host_port(text: str) -> None:
    """``validateHostPort``."""
    host, port = _split_host_port(text)
    if not _HOST_PORT.match(text) and not _is_ip(host):
        raise RegistryConfigError(f'invalid host "{host}"')
    if port:
        if not port.isdigit():
            raise RegistryConfigError(f'strconv.Atoi: parsing "{port}": invalid syntax')
        if int(port) > 65535:
            raise RegistryConfigError(f'invalid port "{port}"')


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def validate_mirror(value: str) -> str:
    """``ValidateMirror``: an ``http(s)`` URL without query, fragment or user; ends in ``/``."""
    scheme, sep, _ = value.partition("://")
    if not sep or not scheme:
        raise RegistryConfigError(
            f'invalid mirror: no scheme specified for "{value}": '
            "must use either 'https://' or 'http://'"
        )
    try:
        url = gourl.parse(value)
    except gourl.URLError as exc:
        raise RegistryConfigError(f'invalid mirror: "{value}" is not a valid URI: {exc}') from None
    if url.scheme not in ("http", "https"):
        raise RegistryConfigError(
            f'invalid mirror: unsupported scheme "{url.scheme}" in "{value}": '
            "must use either 'https://' or 'http://'"
        )
    if url.raw_query or url.fragment:
        raise RegistryConfigError(f'invalid mirror: query or fragment at end of the URI "{value}"')
    if url.user is not None:
        raise RegistryConfigError(f'invalid mirror: username/password not allowed in URI "{value}"')
    return value.rstrip("/") + "/"


@attrs.frozen
class RegistryConfig:
    """dockerd's registry service options: ``--insecure-registry`` and ``--registry-mirror``.

    Build it with :meth:`load`, which validates as dockerd does at start.
    """

    insecure_cidrs: tuple[str, ...] = ALWAYS_INSECURE
    insecure_names: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()

    @classmethod
    def load(
        cls, insecure_registries: Sequence[str] = (), mirrors: Sequence[str] = ()
    ) -> RegistryConfig:
        """``newServiceConfig``: mirrors validated and de-duplicated, insecure entries parsed."""
        unique: list[str] = []
        for mirror in mirrors:
            checked = validate_mirror(mirror)
            if checked not in unique:
                unique.append(checked)
        cidrs: list[str] = []
        names: list[str] = []
        for entry in [*insecure_registries, *ALWAYS_INSECURE]:
            value = DEFAULT_DOMAIN if entry == LEGACY_DEFAULT_DOMAIN else entry
            if value.startswith("-") or value.endswith("-"):
                raise RegistryConfigError(
                    f"invalid index name ({value}). Cannot begin or end with a hyphen"
                )
            lowered = value.lower()
            if lowered.startswith(("http://", "https://")):
                value = value.split("://", 1)[1]
            elif "://" in value:
                raise RegistryConfigError(f"insecure registry {value} should not contain '://'")
            try:
                network = ipaddress.ip_network(value, strict=False)
            except ValueError:
                network = None
            if network is not None and "/" in value:
                if str(network) not in cidrs:
                    cidrs.append(str(network))
                continue
            try:
                _validate_host_port(value)
            except RegistryConfigError as exc:
                raise RegistryConfigError(
                    f"insecure registry {value} is not valid: {exc}"
                ) from None
            names.append(value)
        return cls(tuple(cidrs), tuple(names), tuple(unique))

    def is_secure(self, host: str, addresses: Sequence[str] = ()) -> bool:
        """``isSecureIndex``: configured names first, then the insecure CIDRs.

        ``addresses`` are what ``host`` resolves to, when it is not an IP address.
        """
        if host in self.insecure_names:
            return False
        if host == DEFAULT_DOMAIN:
            return True
        name, _ = _split_host_port(host)
        candidates = [name] if _is_ip(name) else list(addresses)
        networks = [ipaddress.ip_network(c) for c in self.insecure_cidrs]
        for address in candidates:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                continue
            if any(ip in net for net in networks):
                return False
        return True


def needs_lookup(config: RegistryConfig, hostname: str) -> str | None:
    """The name to resolve before :func:`endpoints` (None when it is not needed)."""
    if hostname in config.insecure_names or hostname in (DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN):
        return None
    name, _ = _split_host_port(hostname)
    return None if _is_ip(name) else name


def _mirror_endpoint(config: RegistryConfig, mirror: str, addresses: Sequence[str]) -> Endpoint:
    url = gourl.parse(mirror)
    secure = config.is_secure(url.host, addresses)
    scheme: Literal["https", "http"] = "http" if url.scheme == "http" else "https"
    return Endpoint(
        scheme,
        url.host,
        mirror=True,
        verify=secure,
        certs_host=url.host if secure else "",
        proxy_ns=DEFAULT_DOMAIN,
    )


def endpoints(
    config: RegistryConfig,
    hostname: str,
    addresses: Sequence[str] = (),
    mirror_addresses: Sequence[Sequence[str]] = (),
) -> list[Endpoint]:
    """``lookupV2Endpoints`` (mirrors included, as the plugin code asks).

    ``addresses`` resolve ``hostname``; ``mirror_addresses[i]`` the i-th mirror's host.
    """
    if hostname in (DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN):
        out = [
            _mirror_endpoint(config, m, mirror_addresses[i] if i < len(mirror_addresses) else ())
            for i, m in enumerate(config.mirrors)
        ]
        out.append(Endpoint("https", DOCKER_HUB_HOST, certs_host=""))
        return out
    if config.is_secure(hostname, addresses):
        return [Endpoint("https", hostname, certs_host=hostname)]
    return [Endpoint("https", hostname, verify=False), Endpoint("http", hostname, verify=False)]
