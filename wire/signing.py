"""The exact bytes a card signs at registration and a box signs in hello.

digest = SHA-256( b"roamline-sig-v1" || field(purpose) || field(nonce) || field(box_id) || field(card_id) )
where field(x) = 4-byte big-endian length of x || x; strings are UTF-8; for hello the card id is empty.
The 32-byte digest is what a PIV card's GENERAL AUTHENTICATE (tag 81, key 9E) signs. The test vector is
in docs/protocol.md and tests/wire/test_signing.py.
"""

from __future__ import annotations

import hashlib
import struct

from roamline.wire.errors import BadSignature, UsageError
from roamline.wire.identity import PublicKey, verify_digest

SIG_TAG = b"roamline-sig-v1"
PURPOSE_HELLO = "hello"
PURPOSE_REGISTER = "register"
NONCE_MIN, NONCE_MAX = 16, 64


def _field(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def signing_input(purpose: str, nonce: bytes, box_id: str, card_id: str) -> bytes:
    """The pre-image whose SHA-256 is signed (exposed for documentation and tests)."""
    if not NONCE_MIN <= len(nonce) <= NONCE_MAX:
        raise UsageError(f"nonce must be {NONCE_MIN}..{NONCE_MAX} bytes, got {len(nonce)}")
    if not purpose or not box_id:
        raise UsageError("purpose and box id must not be empty")
    return SIG_TAG + b"".join(
        _field(v) for v in (purpose.encode("utf-8"), nonce, box_id.encode("utf-8"), card_id.encode("utf-8"))
    )


def registration_digest(nonce: bytes, box_id: str, card_id: str) -> bytes:
    """What the card signs to register at ``box_id`` with the registry's ``nonce``."""
    if not card_id:
        raise UsageError("card id must not be empty")
    return hashlib.sha256(signing_input(PURPOSE_REGISTER, nonce, box_id, card_id)).digest()


def hello_digest(nonce: bytes, box_id: str) -> bytes:
    """What the box signs in hello with the registry's ``nonce``."""
    return hashlib.sha256(signing_input(PURPOSE_HELLO, nonce, box_id, "")).digest()


def verify_registration(
    public_key: PublicKey, signature: bytes, *, nonce: bytes, box_id: str, card_id: str
) -> None:
    """Raise BadSignature unless the card key signed this registration (peer-supplied fields are checked)."""
    try:
        digest = registration_digest(nonce, box_id, card_id)
    except UsageError as exc:
        raise BadSignature(f"cannot form the signed bytes: {exc}") from None
    verify_digest(public_key, signature, digest)


def verify_hello(public_key: PublicKey, signature: bytes, *, nonce: bytes, box_id: str) -> None:
    """Raise BadSignature unless the box key signed this hello (peer-supplied fields are checked)."""
    try:
        digest = hello_digest(nonce, box_id)
    except UsageError as exc:
        raise BadSignature(f"cannot form the signed bytes: {exc}") from None
    verify_digest(public_key, signature, digest)
