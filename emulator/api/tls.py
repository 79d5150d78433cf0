"""TLS for the Engine API on TCP, as dockerd's ``--tlsverify --tlscacert --tlscert --tlskey``.

dockerd (moby/moby cmd/dockerd daemon.go ``newAPIServerTLSConfig``, options.go, v28.5.2)
builds its server config with go-connections ``tlsconfig.Server``: TLS 1.2 or later,
Go's default cipher suites, the certificate and key from ``--tlscert``/``--tlskey``,
and with ``--tlsverify`` every client must present a certificate signed by
``--tlscacert`` (``RequireAndVerifyClientCert``).  ``--tls`` alone implies
``--tlsverify``.  The files default to ``$DOCKER_CERT_PATH`` (else ``$DOCKER_CONFIG``,
else ``~/.docker``) ``/ca.pem``, ``/cert.pem`` and ``/key.pem``.

The verified client certificate is handed to request handlers in the ASGI scope, as
the ASGI TLS extension describes it (``scope["extensions"]["tls"]``);
:func:`client_identity` reads it back, with the subject's common name that dockerd's
authorization plugins receive as ``User``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from emulator.errors import ConfigurationError
from emulator.golang import x509 as gox509
from emulator.golang.errors import PathError
from emulator.golang.strconv import quote as go_quote
from emulator.transport.tls import TLSConfigError, load_key_pair, read_file

__all__ = ["ClientIdentity", "ServerTLS", "client_identity", "default_cert_dir", "tls_scope"]

#: go-connections' ``DefaultServerAcceptedCiphers`` (TLS 1.2; TLS 1.3 suites are fixed).
GO_CIPHERS: Final = ":".join(
    [
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)


def default_cert_dir() -> Path:
    """``$DOCKER_CERT_PATH``, else ``$DOCKER_CONFIG``, else ``~/.docker`` (dockerd's defaults)."""
    for variable in ("DOCKER_CERT_PATH", "DOCKER_CONFIG"):
        value = os.environ.get(variable)
        if value:
            return Path(value)
    return Path.home() / ".docker"


@attrs.frozen
class ServerTLS:
    """The TLS settings of the TCP listener (``verify``: client certificates required)."""

    cert_file: Path
    key_file: Path
    ca_file: Path | None = None
    verify: bool = True

    def context(self) -> ssl.SSLContext:
        """The server context; :class:`ConfigurationError` with dockerd's texts.

        go-connections ``tlsconfig.Server``: ``tls.LoadX509KeyPair`` (the certificate
        file, the key file, then Go's checks of the pair), then with verification the CA
        file into an exclusive pool (dockerd sets ``ExclusiveRootPools``).
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(GO_CIPHERS)
        pair = f"(cert: {go_quote(str(self.cert_file))}, key: {go_quote(str(self.key_file))})"
        try:
            key_pair = gox509.x509_key_pair(
                read_file(str(self.cert_file)), read_file(str(self.key_file))
            )
        except PathError as exc:
            if exc.not_exist:
                raise ConfigurationError(
                    f"invalid TLS configuration: could not load X509 key pair {pair}: {exc}"
                ) from None
            raise _unreadable_pair(pair, exc) from None
        except gox509.GoCryptoError as exc:
            raise _unreadable_pair(pair, exc) from None
        try:
            load_key_pair(context, key_pair)
        except TLSConfigError as exc:
            raise _unreadable_pair(pair, exc) from None
        if self.verify:
            context.verify_mode = ssl.CERT_REQUIRED
            self._load_ca(context)
        return context

    def _load_ca(self, context: ssl.SSLContext) -> None:
        if self.ca_file is None:
            context.load_default_certs(ssl.Purpose.CLIENT_AUTH)  # Go: the system pool
            return
        try:
            data = read_file(str(self.ca_file))
        except PathError as exc:
            raise ConfigurationError(
                f"invalid TLS configuration: could not read CA certificate "
                f"{go_quote(str(self.ca_file))}: {exc}"
            ) from None
        found = gox509.append_certs_from_pem(data)
        if not found:
            raise ConfigurationError(
                "invalid TLS configuration: failed to append certificates from PEM file: "
                f"{go_quote(str(self.ca_file))}"
            )
        context.load_verify_locations(cadata=b"".join(found))


def _unreadable_pair(pair: str, cause: Exception) -> ConfigurationError:
    return ConfigurationError(
        "invalid TLS configuration: error reading X509 key pair - make sure the key "
        f"is not encrypted {pair}: {cause}"
    )


@attrs.frozen
class ClientIdentity:
    """The verified client certificate of a request (TLS with ``--tlsverify`` only)."""

    common_name: str
    """The subject's CN: what dockerd passes to authorization plugins as ``User``."""
    subject: str
    """The subject as RFC 4514 text (``CN=alice,O=example``)."""
    certificate: bytes
    """The leaf certificate, DER."""


def tls_scope(
    peer: Mapping[str, Any] | None, der: bytes | None, version: str | None, cipher: str | None
) -> dict[str, Any]:
    """The ASGI TLS extension's entry for one connection (from ``SSLObject.getpeercert``)."""
    subject = _rdns((peer or {}).get("subject", ()))
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": ",".join(f"{k}={v}" for k, v in reversed(subject)) or None,
        "client_cert_error": None,
        "tls_version": version,
        "cipher_suite": cipher,
        "emulator.client_cert_der": der,
        "emulator.client_subject": subject,
    }


_RDN_KEYS: Final = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
}


def _rdns(subject: Any) -> list[tuple[str, str]]:
    """``getpeercert()["subject"]`` as (short name, value) pairs, in certificate order."""
    pairs: list[tuple[str, str]] = []
    for rdn in subject:
        for key, value in rdn:
            pairs.append((_RDN_KEYS.get(key, key), value))
    return pairs


def client_identity(scope: Mapping[str, Any]) -> ClientIdentity | None:
    """The verified client certificate of the request whose ASGI scope is ``scope``.

    None on a unix socket, plain TCP, or TLS without ``--tlsverify``.
    """
    tls = scope.get("extensions", {}).get("tls")
    if not tls or not tls.get("emulator.client_cert_der"):
        return None
    subject = tls.get("emulator.client_subject", [])
    common = next((value for key, value in subject if key == "CN"), "")
    return ClientIdentity(
        common, tls.get("client_cert_name") or "", tls["emulator.client_cert_der"]
    )
