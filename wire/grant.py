"""Signed rights for one call out through a host line (docs/protocol.md §13.4).

The registry decides whether an account may call a number through a host line (its rights: call out,
prefixes, blocked numbers, length, budget) and sends the host box ``line.dial`` with a **grant**: the
decision for this one call, signed with the Roamline CA key. The host box checks it again with the CA
certificate it pins before it dials: same call, same line, same number, fresh, signature good, never
seen before. So a forged ``line.dial`` (or one replayed later) does not make a host line dial.

Token: ``base64url(payload) "." base64url(signature)`` (no padding), at most :data:`MAX_TOKEN` characters;
the payload is compact JSON with sorted keys; the signature is ECDSA P-256 (DER) over
SHA-256(``"roamline-grant-v1"`` ‖ payload).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from roamline.wire import identity
from roamline.wire.errors import BadSignature, LinkError

GRANT_TAG = b"roamline-grant-v1"
MAX_TOKEN = 2048
GRANT_TTL_S = 60.0  # a grant is for dialling now
CLOCK_SKEW_S = 60.0  # box and registry clocks may disagree this much


class GrantError(BadSignature):
    """A grant that is missing, malformed, forged, for another call/line/number, or stale."""


@dataclass(frozen=True, slots=True)
class Grant:
    call_id: str
    line: str  # the host line's E.164 number
    number: str  # the destination, E.164
    account: str
    issued_at: float  # Unix seconds
    expires_at: float
    max_call_s: float | None = None  # the call is cut after this long (None: no limit)

    def payload(self) -> bytes:
        body: dict[str, Any] = {"call_id": self.call_id, "line": self.line, "number": self.number,
                                "account": self.account, "issued_at": self.issued_at,
                                "expires_at": self.expires_at, "max_call_s": self.max_call_s}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _digest(payload: bytes) -> bytes:
    return hashlib.sha256(GRANT_TAG + payload).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(grant: Grant, key: identity.PrivateKey) -> str:
    payload = grant.payload()
    return _b64(payload) + "." + _b64(identity.sign_digest(key, _digest(payload)))


def issue(key: identity.PrivateKey, *, call_id: str, line: str, number: str, account: str, now: float,
          max_call_s: float | None) -> str:
    return sign(Grant(call_id, line, number, account, now, now + GRANT_TTL_S, max_call_s), key)


def verify(token: str, public_key: identity.PublicKey, *, call_id: str, line: str, number: str,
           now: float) -> Grant:
    """The grant in ``token`` if it is genuine and is for exactly this call now; GrantError otherwise."""
    if not token:
        raise GrantError("no grant: the registry's rights did not come with the dial")
    if len(token) > MAX_TOKEN or token.count(".") != 1:
        raise GrantError("malformed grant")
    head, _, tail = token.partition(".")
    try:
        payload, signature = _unb64(head), _unb64(tail)
    except ValueError:  # binascii.Error included
        raise GrantError("malformed grant") from None
    try:
        identity.verify_digest(public_key, signature, _digest(payload))
    except LinkError:
        raise GrantError("forged grant: the signature is not the registry's") from None
    try:
        body = json.loads(payload)
        grant = Grant(call_id=_s(body, "call_id"), line=_s(body, "line"), number=_s(body, "number"),
                      account=_s(body, "account"), issued_at=_f(body, "issued_at"),
                      expires_at=_f(body, "expires_at"),
                      max_call_s=None if body.get("max_call_s") is None else _f(body, "max_call_s"))
    except (ValueError, TypeError, AttributeError):
        raise GrantError("malformed grant") from None
    if (grant.call_id, grant.line, grant.number) != (call_id, line, number):
        raise GrantError(f"the grant is for {grant.number} on {grant.line} (call {grant.call_id}), "
                         "not this dial")
    if not grant.issued_at - CLOCK_SKEW_S <= now <= grant.expires_at + CLOCK_SKEW_S:
        raise GrantError("stale grant")
    return grant


def _s(body: dict[str, Any], key: str) -> str:
    value = body.get(key)  # a missing field is malformed like a mistyped one (TypeError below)
    if not isinstance(value, str):
        raise TypeError(key)
    return value


def _f(body: dict[str, Any], key: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(key)
    return float(value)
