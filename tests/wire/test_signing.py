from __future__ import annotations

import hashlib

import pytest

from roamline.wire.errors import BadSignature, UsageError
from roamline.wire.identity import generate_key, sign_digest
from roamline.wire.signing import (
    hello_digest,
    registration_digest,
    signing_input,
    verify_hello,
    verify_registration,
)

NONCE = bytes(range(32))
BOX = "box-0123456789abcdef"
CARD = "00112233445566778899aabbccddeeff"


def test_registration_vector_matches_docs() -> None:
    # Spelled out byte by byte, independent of the implementation (docs/protocol.md §Signing).
    expected_input = (
        b"roamline-sig-v1"
        + b"\x00\x00\x00\x08register"
        + b"\x00\x00\x00\x20"
        + NONCE
        + b"\x00\x00\x00\x14box-0123456789abcdef"
        + b"\x00\x00\x00\x2000112233445566778899aabbccddeeff"
    )
    assert signing_input("register", NONCE, BOX, CARD) == expected_input
    digest = registration_digest(NONCE, BOX, CARD)
    assert digest == hashlib.sha256(expected_input).digest()
    assert digest.hex() == "13d8376d9ebe486c8ff98089e06e267325959da84392fa80899bd29367e01af9"


def test_hello_vector_matches_docs() -> None:
    expected_input = (
        b"roamline-sig-v1"
        + b"\x00\x00\x00\x05hello"
        + b"\x00\x00\x00\x20"
        + NONCE
        + b"\x00\x00\x00\x14box-0123456789abcdef"
        + b"\x00\x00\x00\x00"
    )
    assert hello_digest(NONCE, BOX) == hashlib.sha256(expected_input).digest()
    expected = "b7b16dfae118dcc4a4b22dd6b47185dea00fda43e5929db56b8dc01b74c820c1"
    assert hello_digest(NONCE, BOX).hex() == expected


def test_fields_are_unambiguous() -> None:
    # Moving a character between adjacent fields must change the digest.
    assert registration_digest(NONCE, "box-a", "bc") != registration_digest(NONCE, "box-ab", "c")
    assert hello_digest(NONCE, BOX) != registration_digest(NONCE, BOX, "x")
    assert registration_digest(NONCE, BOX, CARD) != registration_digest(bytes(32), BOX, CARD)


@pytest.mark.parametrize("nonce", [b"", bytes(15), bytes(65)])
def test_nonce_length_is_checked(nonce: bytes) -> None:
    with pytest.raises(UsageError):
        hello_digest(nonce, BOX)


def test_empty_ids_are_refused() -> None:
    with pytest.raises(UsageError):
        registration_digest(NONCE, BOX, "")
    with pytest.raises(UsageError):
        hello_digest(NONCE, "")


def test_verify_helpers() -> None:
    key = generate_key()
    sig = sign_digest(key, registration_digest(NONCE, BOX, CARD))
    verify_registration(key.public_key(), sig, nonce=NONCE, box_id=BOX, card_id=CARD)
    with pytest.raises(BadSignature):
        verify_registration(key.public_key(), sig, nonce=NONCE, box_id="box-ffffffffffffffff", card_id=CARD)
    with pytest.raises(BadSignature):
        verify_hello(key.public_key(), sig, nonce=NONCE, box_id=BOX)
    hsig = sign_digest(key, hello_digest(NONCE, BOX))
    verify_hello(key.public_key(), hsig, nonce=NONCE, box_id=BOX)
    with pytest.raises(BadSignature):
        verify_hello(generate_key().public_key(), hsig, nonce=NONCE, box_id=BOX)


def test_verify_helpers_treat_bad_peer_fields_as_bad_signatures() -> None:
    key = generate_key()
    sig = sign_digest(key, hello_digest(NONCE, BOX))
    with pytest.raises(BadSignature):
        verify_hello(key.public_key(), sig, nonce=b"xx", box_id=BOX)
    with pytest.raises(BadSignature):
        verify_registration(key.public_key(), sig, nonce=NONCE, box_id=BOX, card_id="")
