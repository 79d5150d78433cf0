"""Go's ``encoding/pem.Decode`` and ``x509.DecryptPEMBlock`` (Go 1.24.9, moby v28.5.2's Go)."""

from __future__ import annotations

import base64

import pytest

from emulator.golang import pem
from emulator.golang import x509 as gox509


def block(kind: str, body: bytes, headers: str = "") -> bytes:
    encoded = base64.b64encode(body).decode()
    return f"-----BEGIN {kind}-----\n{headers}{encoded}\n-----END {kind}-----\n".encode()


def test_text_around_blocks_is_skipped_and_rest_returned() -> None:
    data = b"preamble\n" + block("A", b"one") + b"between\n" + block("B", b"two") + b"tail"
    first, rest = pem.decode(data)
    assert first == pem.Block("A", {}, b"one")
    second, rest = pem.decode(rest)
    assert second == pem.Block("B", {}, b"two")
    assert pem.decode(rest) == (None, rest)


def test_headers_are_key_value_lines() -> None:
    data = block("RSA PRIVATE KEY", b"k", "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n")
    found, _ = pem.decode(data)
    assert found is not None
    assert found.headers == {"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}


@pytest.mark.parametrize(
    "broken",
    [
        b"-----BEGIN A-----\n!!!!\n-----END A-----\n",  # not base64
        b"-----BEGIN A-----\nAAAA\n-----END B-----\n",  # END names another type
        b"-----BEGIN A-----\nAAAA\n-----END A----- x\n",  # junk after END
    ],
)
def test_a_broken_block_is_skipped(broken: bytes) -> None:
    found, _ = pem.decode(broken + block("GOOD", b"ok"))
    assert found == pem.Block("GOOD", {}, b"ok")


def test_repeated_begin_lines_take_the_last_before_end() -> None:
    """Go 1.24.8 and later: the last BEGIN before the first END (no quadratic rescans)."""
    data = b"-----BEGIN A-----\n-----BEGIN A-----\nb25l\n-----END A-----\n"
    assert pem.decode(data)[0] == pem.Block("A", {}, b"one")


def test_nothing_found_returns_all_input() -> None:
    assert pem.decode(b"no pem here") == (None, b"no pem here")
    assert pem.decode(b"") == (None, b"")


def test_encode_round_trips() -> None:
    original = pem.Block("X", {"DEK-Info": "a", "Proc-Type": "4,ENCRYPTED"}, bytes(range(100)))
    encoded = pem.encode_to_memory(original)
    assert encoded.splitlines()[1] == b"Proc-Type: 4,ENCRYPTED"  # Proc-Type first
    assert pem.decode(encoded)[0] == original


@pytest.mark.parametrize(
    ("dek", "text"),
    [
        (None, "x509: no DEK-Info header in block"),
        ("AES-128-CBC", "x509: malformed DEK-Info header"),
        ("ROT13,00", "x509: unknown encryption mode"),
        ("AES-128-CBC,0g", "encoding/hex: invalid byte: U+0067 'g'"),
        ("AES-128-CBC,000", "encoding/hex: odd length hex string"),
        ("AES-128-CBC,00", "x509: incorrect IV size"),
    ],
)
def test_decrypt_errors_are_gos(dek: str | None, text: str) -> None:
    headers = {} if dek is None else {"DEK-Info": dek}
    with pytest.raises(gox509.GoCryptoError) as info:
        gox509.decrypt_pem_block(pem.Block("RSA PRIVATE KEY", headers, b"x" * 16), b"pw")
    assert str(info.value) == text


def test_decrypt_rejects_a_partial_block() -> None:
    headers = {"DEK-Info": "AES-128-CBC," + "00" * 16}
    with pytest.raises(gox509.GoCryptoError) as info:
        gox509.decrypt_pem_block(pem.Block("K", headers, b"x" * 15), b"pw")
    assert str(info.value) == "x509: encrypted PEM data is not a multiple of the block size"
