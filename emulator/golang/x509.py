"""The parts of Go's ``crypto/x509`` and ``crypto/tls`` dockerd's TLS options go through.

go-connections ``tlsconfig.Client`` (moby/moby vendor/github.com/docker/go-connections
v0.5.0, tlsconfig/config.go) loads a plugin's ``CAFile`` with ``AppendCertsFromPEM`` and
its ``CertFile``/``KeyFile`` with ``DecryptPEMBlock`` (for a ``Passphrase``) and
``tls.X509KeyPair``.  These functions take the same bytes and fail with Go's texts
(Go 1.24.9, the Go of moby v28.5.2; the same texts in Go 1.19).  Parsing DER is left to
the ``cryptography`` package: where Go's parser and OpenSSL's disagree on an odd
certificate, the text is Go's generic ``x509: malformed certificate``.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Final

import attrs
from cryptography import x509 as cx509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import load_der_private_key

from emulator.golang import pem

__all__ = [
    "INCORRECT_PASSWORD",
    "GoCryptoError",
    "KeyPair",
    "append_certs_from_pem",
    "decrypt_pem_block",
    "is_encrypted_pem_block",
    "x509_key_pair",
]

#: ``x509.IncorrectPasswordError``.
INCORRECT_PASSWORD: Final = "x509: decryption password incorrect"
#: The curves Go's ``crypto/ecdsa`` keys can be on (``x509.ParseECPrivateKey``).
_GO_CURVES: Final = frozenset({"secp224r1", "secp256r1", "secp384r1", "secp521r1"})


class GoCryptoError(ValueError):
    """A Go ``crypto`` error; ``str()`` is Go's text."""


@attrs.frozen
class KeyPair:
    """What ``tls.X509KeyPair`` accepted: the certificate chain (DER) and the key block."""

    certificates: tuple[bytes, ...]
    key: pem.Block


# ---------------------------------------------------------------------------
# x509.DecryptPEMBlock (RFC 1423 legacy PEM encryption)


@attrs.frozen
class _RFC1423Algo:
    name: str
    key_size: int
    block_size: int


_RFC1423: Final = (
    _RFC1423Algo("DES-CBC", 8, 8),
    _RFC1423Algo("DES-EDE3-CBC", 24, 8),
    _RFC1423Algo("AES-128-CBC", 16, 16),
    _RFC1423Algo("AES-192-CBC", 24, 16),
    _RFC1423Algo("AES-256-CBC", 32, 16),
)


def is_encrypted_pem_block(block: pem.Block) -> bool:
    """``x509.IsEncryptedPEMBlock``: the block has a ``DEK-Info`` header."""
    return "DEK-Info" in block.headers


def _derive_key(password: bytes, salt: bytes, size: int) -> bytes:
    """OpenSSL's ``EVP_BytesToKey`` with MD5 and one round, as Go's ``deriveKey``."""
    out = b""
    digest = b""
    while len(out) < size:
        digest = hashlib.md5(digest + password + salt, usedforsecurity=False).digest()
        out += digest
    return out[:size]


def _hex_decode(text: str) -> bytes:
    """``hex.DecodeString`` with Go's errors (an invalid byte is named before a bad length)."""
    raw = text.encode("utf-8", "surrogateescape")
    for byte in raw:
        if chr(byte) not in "0123456789abcdefABCDEF":
            char = chr(byte)
            shown = f"U+{byte:04X} '{char}'" if char.isprintable() else f"U+{byte:04X}"
            raise GoCryptoError(f"encoding/hex: invalid byte: {shown}")
    if len(raw) % 2:
        raise GoCryptoError("encoding/hex: odd length hex string")
    return bytes.fromhex(raw.decode())


def decrypt_pem_block(block: pem.Block, password: bytes) -> bytes:
    """``x509.DecryptPEMBlock``: the decrypted DER, or Go's error (a bad padding is taken
    for a wrong password, as Go does)."""
    dek = block.headers.get("DEK-Info")
    if dek is None:
        raise GoCryptoError("x509: no DEK-Info header in block")
    mode, comma, hex_iv = dek.partition(",")
    if not comma:
        raise GoCryptoError("x509: malformed DEK-Info header")
    algo = next((a for a in _RFC1423 if a.name == mode), None)
    if algo is None:
        raise GoCryptoError("x509: unknown encryption mode")
    iv = _hex_decode(hex_iv)
    if len(iv) != algo.block_size:
        raise GoCryptoError("x509: incorrect IV size")
    key = _derive_key(password, iv[:8], algo.key_size)
    if len(block.bytes) % algo.block_size:
        raise GoCryptoError("x509: encrypted PEM data is not a multiple of the block size")
    if algo.block_size == 8:
        cipher = Cipher(TripleDES(key if len(key) == 24 else key * 3), modes.CBC(iv))
    else:
        cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    decryptor = cipher.decryptor()
    data = decryptor.update(block.bytes) + decryptor.finalize()
    if not data:
        raise GoCryptoError("x509: invalid padding")
    last = data[-1]
    if last == 0 or last > algo.block_size or last > len(data):
        raise GoCryptoError(INCORRECT_PASSWORD)
    if any(value != last for value in data[-last:]):
        raise GoCryptoError(INCORRECT_PASSWORD)
    return data[:-last]


# ---------------------------------------------------------------------------
# certificates and keys


def _parse_certificate(der: bytes) -> cx509.Certificate:
    """``x509.ParseCertificate`` (a failure is Go's generic malformed-certificate text)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cx509.load_der_x509_certificate(der)
    except ValueError:
        raise GoCryptoError("x509: malformed certificate") from None


def append_certs_from_pem(data: bytes) -> list[bytes]:
    """``CertPool.AppendCertsFromPEM``: the DER of every ``CERTIFICATE`` block without
    headers that parses; the others are skipped.  Empty means Go's ``ok`` is false."""
    found: list[bytes] = []
    while data:
        block, data = pem.decode(data)
        if block is None:
            break
        if block.type != "CERTIFICATE" or block.headers:
            continue
        try:
            _parse_certificate(block.bytes)
        except GoCryptoError:
            continue
        found.append(block.bytes)
    return found


_GoKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _parse_private_key(der: bytes) -> _GoKey:
    """``tls.parsePrivateKey``: PKCS #1, PKCS #8 (RSA, ECDSA, Ed25519) or SEC 1."""
    try:
        key = load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        raise GoCryptoError("tls: failed to parse private key") from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name not in _GO_CURVES:
        raise GoCryptoError("tls: failed to parse private key")
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, x25519.X25519PrivateKey):
        raise GoCryptoError("tls: found unknown private key type in PKCS#8 wrapping")
    raise GoCryptoError("tls: failed to parse private key")


def _check_match(certificate: cx509.Certificate, key: _GoKey) -> None:
    """The public key of the certificate must be the key's (``X509KeyPair``'s switch)."""
    public = certificate.public_key()
    mismatch = GoCryptoError("tls: private key does not match public key")
    wrong_type = GoCryptoError("tls: private key type does not match public key type")
    if isinstance(public, rsa.RSAPublicKey):
        if not isinstance(key, rsa.RSAPrivateKey):
            raise wrong_type
        if public.public_numbers().n != key.public_key().public_numbers().n:
            raise mismatch
    elif isinstance(public, ec.EllipticCurvePublicKey):
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise wrong_type
        ours, theirs = key.public_key().public_numbers(), public.public_numbers()
        if (ours.x, ours.y) != (theirs.x, theirs.y):
            raise mismatch
    elif isinstance(public, ed25519.Ed25519PublicKey):
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise wrong_type
        if public != key.public_key():
            raise mismatch
    else:
        raise GoCryptoError("tls: unknown public key algorithm")


def _certificate_blocks(data: bytes) -> list[bytes]:
    certificates: list[bytes] = []
    skipped: list[str] = []
    while True:
        block, data = pem.decode(data)
        if block is None:
            break
        if block.type == "CERTIFICATE":
            certificates.append(block.bytes)
        else:
            skipped.append(block.type)
    if certificates:
        return certificates
    if not skipped:
        raise GoCryptoError("tls: failed to find any PEM data in certificate input")
    if len(skipped) == 1 and skipped[0].endswith("PRIVATE KEY"):
        raise GoCryptoError(
            "tls: failed to find certificate PEM data in certificate input, but did find a "
            "private key; PEM inputs may have been switched"
        )
    raise GoCryptoError(
        'tls: failed to find "CERTIFICATE" PEM block in certificate input after skipping '
        f"PEM blocks of the following types: [{' '.join(skipped)}]"
    )


def _key_block(data: bytes) -> pem.Block:
    skipped: list[str] = []
    while True:
        block, data = pem.decode(data)
        if block is None:
            break
        if block.type == "PRIVATE KEY" or block.type.endswith(" PRIVATE KEY"):
            return block
        skipped.append(block.type)
    if not skipped:
        raise GoCryptoError("tls: failed to find any PEM data in key input")
    if skipped == ["CERTIFICATE"]:
        raise GoCryptoError(
            "tls: found a certificate rather than a key in the PEM for the private key"
        )
    raise GoCryptoError(
        'tls: failed to find PEM block with type ending in "PRIVATE KEY" in key input after '
        f"skipping PEM blocks of the following types: [{' '.join(skipped)}]"
    )


def x509_key_pair(cert_pem: bytes, key_pem: bytes) -> KeyPair:
    """``tls.X509KeyPair``: the chain and the key, checked as Go checks them, in Go's order
    (certificate blocks, key block, parse the leaf, parse the key, compare)."""
    certificates = _certificate_blocks(cert_pem)
    key_block = _key_block(key_pem)
    leaf = _parse_certificate(certificates[0])
    key = _parse_private_key(key_block.bytes)
    _check_match(leaf, key)
    return KeyPair(tuple(certificates), key_block)
