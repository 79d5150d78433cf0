"""TLS settings for plugins, as go-connections' ``tlsconfig.Client`` builds them.

dockerd's plugin client (moby/moby pkg/plugins/client.go ``newTransport``, v28.5.2) calls
``tlsconfig.Client`` (go-connections v0.5.0, tlsconfig/config.go) for every plugin that
has TLS options (all but a ``.json`` file without ``TLSConfig``), before it even parses
the address, so a broken ``TLSConfig`` fails activation whatever the scheme.  The steps
and their error texts, in Go's order:

1. TLS 1.2 at least, go-connections' four ECDHE-GCM suites for TLS 1.2;
2. without ``InsecureSkipVerify``, ``CAFile`` is read (``could not read CA certificate
   "F": open F: no such file or directory``) and its certificates added to the system
   pool, or to an empty one with ``ExclusiveRootPools`` (``failed to append certificates
   from PEM file: "F"`` when none is usable);
3. ``CertFile`` and ``KeyFile``, unless both are empty: read, the key decrypted with
   ``Passphrase`` when it is legacy-encrypted, checked by ``tls.X509KeyPair`` (``could
   not load X509 key pair: …``);
4. ``MinVersion``: ``invalid minimum TLS version: 300``, or ``requested minimum TLS
   version is too low. Should be at-least: 303`` (hexadecimal, as Go prints them).

Files are read without blocking and at most :data:`FILE_LIMIT` bytes (a FIFO or a
device in a plugin's ``TLSConfig`` is refused rather than waited on, as Go would).
"""

from __future__ import annotations

import errno
import functools
import os
import ssl
from typing import TYPE_CHECKING, Final

from emulator.discovery import TLSOptions
from emulator.golang import pem
from emulator.golang.errors import PathError
from emulator.golang.strconv import quote as go_quote

if TYPE_CHECKING:
    from emulator.golang import x509 as gox509

__all__ = [
    "FILE_LIMIT",
    "GO_CLIENT_CIPHERS",
    "TLSConfigError",
    "client_context",
    "handshake_error_text",
    "load_key_pair",
    "read_file",
]

#: go-connections' ``clientCipherSuites`` (TLS 1.2; TLS 1.3 suites are not configurable).
GO_CLIENT_CIPHERS: Final = ":".join(
    [
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ]
)
#: The most the emulator reads of a certificate, key or CA file.
FILE_LIMIT: Final = 16 << 20
#: go-connections' ``allTLSVersions``, as Python's versions.
_TLS_VERSIONS: Final = {
    0x0301: ssl.TLSVersion.TLSv1,
    0x0302: ssl.TLSVersion.TLSv1_1,
    0x0303: ssl.TLSVersion.TLSv1_2,
    0x0304: ssl.TLSVersion.TLSv1_3,
}
#: ``ClientDefault``'s ``MinVersion`` (``tls.VersionTLS12``).
_CLIENT_MIN_VERSION: Final = 0x0303


class TLSConfigError(Exception):
    """The TLS options cannot be used; ``str()`` is dockerd's text."""


def client_context(options: TLSOptions | None) -> ssl.SSLContext:
    """An SSL context for ``options`` built as ``tlsconfig.Client`` builds its config.

    ``None`` (a ``.json`` file without ``TLSConfig``) is Go's default client: TLS 1.2 or
    later, verified against the system roots.  Raises :class:`TLSConfigError`.
    """
    if options is None or not (options.ca_file or options.cert_file or options.key_file):
        return _context_without_files(options)
    return _build_context(options)


@functools.lru_cache(maxsize=16)
def _context_without_files(options: TLSOptions | None) -> ssl.SSLContext:
    """The shared context of options that name no file: such a context depends on the
    options alone, and every ``.sock`` and ``.spec`` plugin has the same options
    (making an OpenSSL context costs a few hundred microseconds, loading the system
    roots tens of milliseconds: once per process, as Go loads its system pool once).
    Contexts are never changed after they are made."""
    if options is None:
        context = ssl.create_default_context()
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context
    return _build_context(options)


def _build_context(options: TLSOptions) -> ssl.SSLContext:
    """``tlsconfig.Client``'s steps, in Go's order."""
    exclusive = options.exclusive_root_pools and bool(options.ca_file)
    verify = not options.insecure_skip_verify
    # A context that verifies nothing never reads a trust store: loading the system
    # roots (tens of milliseconds) is skipped for it, as for an exclusive pool.
    roots = verify and not exclusive
    context = ssl.create_default_context() if roots else _empty_pool_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(GO_CLIENT_CIPHERS)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif options.ca_file:
        context.load_verify_locations(cadata=b"".join(_ca_certificates(options.ca_file)))
    _load_key_pair(context, options)
    _adjust_min_version(context, options.min_version)
    return context


def _empty_pool_context() -> ssl.SSLContext:
    """A verifying client context that trusts nothing yet (``x509.NewCertPool``)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _ca_certificates(ca_file: str) -> list[bytes]:
    """``certPool``: the usable certificates of ``ca_file`` (DER)."""
    try:
        data = read_file(ca_file)
    except PathError as exc:
        raise TLSConfigError(f"could not read CA certificate {go_quote(ca_file)}: {exc}") from None
    from emulator.golang import x509 as gox509  # here: cryptography loads in 30 ms

    found = gox509.append_certs_from_pem(data)
    if not found:
        raise TLSConfigError(f"failed to append certificates from PEM file: {go_quote(ca_file)}")
    return found


def _load_key_pair(context: ssl.SSLContext, options: TLSOptions) -> None:
    """``getCert``: nothing when both names are empty, else both files, checked as Go does."""
    if not options.cert_file and not options.key_file:
        return
    from emulator.golang import x509 as gox509  # here: cryptography loads in 30 ms

    try:
        cert_pem = read_file(options.cert_file)
        key_pem = _private_key(read_file(options.key_file), options.passphrase)
        load_key_pair(context, gox509.x509_key_pair(cert_pem, key_pem))
    except (PathError, gox509.GoCryptoError, TLSConfigError) as exc:
        raise TLSConfigError(f"could not load X509 key pair: {exc}") from None


def _private_key(key_pem: bytes, passphrase: str) -> bytes:
    """``getPrivateKey``: the first PEM block must exist; a legacy-encrypted one is
    decrypted with ``passphrase`` and re-encoded alone; other input passes unchanged."""
    from emulator.golang import x509 as gox509

    block, _ = pem.decode(key_pem)
    if block is None:
        raise gox509.GoCryptoError("no valid private key found")
    if not gox509.is_encrypted_pem_block(block):
        return key_pem
    try:
        der = gox509.decrypt_pem_block(block, passphrase.encode("utf-8", "surrogateescape"))
    except gox509.GoCryptoError as exc:
        raise gox509.GoCryptoError(
            f"private key is encrypted, but could not decrypt it: {exc}"
        ) from None
    return pem.encode_to_memory(pem.Block(block.type, {}, der))


def load_key_pair(context: ssl.SSLContext, pair: gox509.KeyPair) -> None:
    """Give OpenSSL exactly the chain and key Go accepted, through an anonymous memory
    file (a decrypted key never touches the disk, OpenSSL never prompts for a password).
    Raises :class:`TLSConfigError` (OpenSSL's words) if OpenSSL still refuses them."""
    chain = b"".join(
        pem.encode_to_memory(pem.Block("CERTIFICATE", {}, c)) for c in pair.certificates
    )
    fd = os.memfd_create("emulator-tls", os.MFD_CLOEXEC)
    try:
        os.write(fd, chain + pem.encode_to_memory(pair.key))
        context.load_cert_chain(f"/proc/self/fd/{fd}")
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(str(exc)) from None
    finally:
        os.close(fd)


def _adjust_min_version(context: ssl.SSLContext, version: int) -> None:
    """``adjustMinVersion``: a known version at least TLS 1.2 raises the minimum."""
    if version <= 0:
        return
    wanted = _TLS_VERSIONS.get(version)
    if wanted is None:
        raise TLSConfigError(f"invalid minimum TLS version: {version:x}")
    if version < _CLIENT_MIN_VERSION:
        raise TLSConfigError(
            f"requested minimum TLS version is too low. Should be at-least: {_CLIENT_MIN_VERSION:x}"
        )
    context.minimum_version = wanted


def read_file(path: str) -> bytes:
    """Go's ``os.ReadFile`` with its ``open``/``read`` errors (:class:`PathError`), except
    that nothing blocks: a FIFO without data fails with ``resource temporarily
    unavailable``, and more than :data:`FILE_LIMIT` bytes with ``file too large``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise PathError("open", path, exc.errno or errno.EIO) from None
    except ValueError:  # a NUL byte in the path
        raise PathError("open", path, errno.EINVAL) from None
    try:
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError as exc:
                raise PathError("read", path, exc.errno or errno.EIO) from None
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > FILE_LIMIT:
                raise PathError("read", path, errno.EFBIG)
            chunks.append(chunk)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------
# handshake failures, as Go's TLS client and HTTP client word them

#: Go's ``alertText`` (crypto/tls/alert.go), by the name OpenSSL gives the alert.
_ALERT_TEXT: Final = {
    "UNEXPECTED_MESSAGE": "unexpected message",
    "BAD_RECORD_MAC": "bad record MAC",
    "DECRYPTION_FAILED": "decryption failed",
    "RECORD_OVERFLOW": "record overflow",
    "DECOMPRESSION_FAILURE": "decompression failure",
    "HANDSHAKE_FAILURE": "handshake failure",
    "BAD_CERTIFICATE": "bad certificate",
    "UNSUPPORTED_CERTIFICATE": "unsupported certificate",
    "CERTIFICATE_REVOKED": "revoked certificate",
    "CERTIFICATE_EXPIRED": "expired certificate",
    "CERTIFICATE_UNKNOWN": "unknown certificate",
    "ILLEGAL_PARAMETER": "illegal parameter",
    "UNKNOWN_CA": "unknown certificate authority",
    "ACCESS_DENIED": "access denied",
    "DECODE_ERROR": "error decoding message",
    "DECRYPT_ERROR": "error decrypting message",
    "EXPORT_RESTRICTION": "export restriction",
    "PROTOCOL_VERSION": "protocol version not supported",
    "INSUFFICIENT_SECURITY": "insufficient security level",
    "INTERNAL_ERROR": "internal error",
    "INAPPROPRIATE_FALLBACK": "inappropriate fallback",
    "USER_CANCELLED": "user canceled",
    "NO_RENEGOTIATION": "no renegotiation",
    "MISSING_EXTENSION": "missing extension",
    "UNSUPPORTED_EXTENSION": "unsupported extension",
    "CERTIFICATE_UNOBTAINABLE": "certificate unobtainable",
    "UNRECOGNIZED_NAME": "unrecognized name",
    "BAD_CERTIFICATE_STATUS_RESPONSE": "bad certificate status response",
    "BAD_CERTIFICATE_HASH_VALUE": "bad certificate hash value",
    "UNKNOWN_PSK_IDENTITY": "unknown PSK identity",
    "CERTIFICATE_REQUIRED": "certificate required",
    "NO_APPLICATION_PROTOCOL": "no application protocol",
}
#: OpenSSL verification codes Go reports as ``x509.UnknownAuthorityError``.
_UNKNOWN_AUTHORITY_CODES: Final = frozenset({2, 18, 19, 20, 21})
_TLS_RECORD_HEADER: Final = 5
_RECORD_ALERT: Final = 21
_RECORD_HANDSHAKE: Final = 22


def handshake_error_text(head: bytes, closed: bool, cause: BaseException | None) -> str:
    """Go's text for a failed client handshake, from the server's first bytes and the error.

    Go's ``readRecordOrCCS`` looks at the first five bytes: a close before any is ``EOF``,
    within them ``unexpected EOF``; a first record that is neither an alert nor a
    handshake is ``tls: first record does not look like a TLS handshake``, and
    ``http.Client`` turns it into ``http: server gave HTTP response to HTTPS client`` when
    those bytes are ``HTTP/`` (net/http/client.go ``send``).  Past that the error is
    OpenSSL's, said Go's way where Go's words are known: an alert from the server is
    ``remote error: tls: …``, an unknown issuer ``tls: failed to verify certificate:
    x509: certificate signed by unknown authority`` (Go 1.20 and later).
    """
    if len(head) < _TLS_RECORD_HEADER:
        if closed or not isinstance(cause, ssl.SSLError):
            return "EOF" if not head else "unexpected EOF"
    else:
        record_type, version = head[0], head[1] << 8 | head[2]
        if record_type == 0x80:
            return "tls: unsupported SSLv2 handshake received"
        if record_type not in (_RECORD_ALERT, _RECORD_HANDSHAKE) or version >= 0x1000:
            if head == b"HTTP/":
                return "http: server gave HTTP response to HTTPS client"
            return "tls: first record does not look like a TLS handshake"
    return _openssl_text(cause)


def _openssl_text(cause: BaseException | None) -> str:
    if isinstance(cause, ssl.SSLCertVerificationError):
        if cause.verify_code in _UNKNOWN_AUTHORITY_CODES:
            detail = "x509: certificate signed by unknown authority"
        else:
            detail = f"x509: {cause.verify_message}"
        return f"tls: failed to verify certificate: {detail}"
    if isinstance(cause, ssl.SSLEOFError):
        return "EOF"
    reason = getattr(cause, "reason", None) or str(cause)
    for prefix in ("SSLV3_ALERT_", "TLSV1_ALERT_", "TLSV13_ALERT_"):
        if reason.startswith(prefix):
            text = _ALERT_TEXT.get(reason.removeprefix(prefix))
            if text is not None:
                return f"remote error: tls: {text}"
    if reason == "UNEXPECTED_EOF_WHILE_READING":
        return "EOF"
    return f"tls: {reason}"
