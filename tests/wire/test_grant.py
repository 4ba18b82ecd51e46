"""Signed rights on a dial: genuine, forged, for another call/line/number, stale, malformed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.wire import grant as wg
from roamline.wire import identity
from roamline.wire.errors import BadSignature

NOW = 1_800_000_000.0
CA = identity.CertificateAuthority.create(now=NOW)
OTHER = identity.CertificateAuthority.create(now=NOW)
PUB = CA.certificate.public_key()
CALL, LINE, DEST = "c-00000000000000a1", "+15551230000", "+15559990000"


def token(**changes: object) -> str:
    args: dict[str, object] = {"call_id": CALL, "line": LINE, "number": DEST, "account": "acct-ada",
                               "now": NOW, "max_call_s": 120.0}
    args.update(changes)
    return wg.issue(CA.key, **args)  # type: ignore[arg-type]


def check(tok: str, *, now: float = NOW, **changes: str) -> wg.Grant:
    where = {"call_id": CALL, "line": LINE, "number": DEST, **changes}
    return wg.verify(tok, PUB, now=now, **where)  # type: ignore[arg-type]


def test_a_genuine_grant_verifies_and_carries_the_limit() -> None:
    g = check(token())
    assert (g.account, g.max_call_s, g.expires_at - g.issued_at) == ("acct-ada", 120.0, wg.GRANT_TTL_S)
    assert check(token(max_call_s=None)).max_call_s is None


@pytest.mark.parametrize(("tok", "where", "message"), [
    ("", {}, "no grant"),
    (wg.issue(OTHER.key, call_id=CALL, line=LINE, number=DEST, account="a", now=NOW, max_call_s=None), {},
     "forged"),
    (None, {"number": "+15559990001"}, "not this dial"),
    (None, {"call_id": "c-00000000000000a2"}, "not this dial"),
    (None, {"line": "+15551230001"}, "not this dial"),
    ("abc", {}, "malformed"),
    ("a.b.c", {}, "malformed"),
    ("x" * 3000, {}, "malformed"),
])
def test_refused_grants(tok: str | None, where: dict[str, str], message: str) -> None:
    with pytest.raises(wg.GrantError, match=message) as exc:
        check(token() if tok is None else tok, **where)
    assert isinstance(exc.value, BadSignature)


def test_stale_and_early_grants_are_refused() -> None:
    tok = token()
    check(tok, now=NOW + wg.GRANT_TTL_S + wg.CLOCK_SKEW_S)
    with pytest.raises(wg.GrantError, match="stale"):
        check(tok, now=NOW + wg.GRANT_TTL_S + wg.CLOCK_SKEW_S + 1)
    with pytest.raises(wg.GrantError, match="stale"):
        check(tok, now=NOW - wg.CLOCK_SKEW_S - 1)


def test_a_tampered_payload_is_forged() -> None:
    import base64
    import json

    head, _, sig = token().partition(".")
    body = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    body["max_call_s"] = 99999.0
    forged = base64.urlsafe_b64encode(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    with pytest.raises(wg.GrantError, match="forged"):
        check(forged.decode().rstrip("=") + "." + sig)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_tokens_are_refused_cleanly(tok: str) -> None:
    with pytest.raises(wg.GrantError):
        check(tok)
