"""Issue 8, defects 1 and 3 (registry side): a card id that exists is never re-bound; enrollment is
idempotent for the same token, card id, account and key (a retried request gets the same certificate)."""

from __future__ import annotations

from typing import Any

import pytest

from roamline.wire import identity
from roamline.wire.errors import ErrorCode
from roamline.wire.messages import CardSlot, Enroll, Enrolled, EnrollKind, Error, Message

NUM = "+15551230001"


@pytest.fixture
def world(harness: Any) -> Any:
    h = harness
    h.ann = h.account("Ann", NUM)
    h.bob = h.account("Bob", "+15551230002")
    return h


def _card(h: Any, token: str, account: str, card_id: str, key: identity.PrivateKey,
          slot: str = "9e") -> Message:
    return h.reply("e", Enroll(token=token, csr_pem=identity.make_csr(key, card_id).decode(),
                               kind=EnrollKind.CARD, account=account, card_id=card_id, slot=CardSlot(slot)))


def _code(msg: Message) -> ErrorCode:
    assert isinstance(msg, Error), msg
    return msg.code


def test_a_live_card_id_is_never_rebound(world: Any) -> None:
    h = world
    guid = "ab" * 16
    assert isinstance(_card(h, h.token("card"), h.ann, guid, identity.generate_key()), Enrolled)
    bob_token = h.token("card")
    # another account's token, a fresh key: refused, and the card still belongs to Ann
    taken = _card(h, bob_token, h.bob, guid, identity.generate_key())
    assert _code(taken) == ErrorCode.FORBIDDEN and "already issued" in taken.message  # type: ignore[attr-defined]
    card = h.store.get_card(guid)
    assert card is not None and card.account_id == h.ann
    # the same account with another token cannot re-key it either
    assert _code(_card(h, h.token("card"), h.ann, guid, identity.generate_key())) == ErrorCode.FORBIDDEN
    # the refusal did not burn Bob's token: it still issues a new card id
    assert isinstance(_card(h, bob_token, h.bob, "cd" * 16, identity.generate_key()), Enrolled)


def test_reissue_is_revoke_then_a_new_id(world: Any) -> None:
    h = world
    guid = "ab" * 16
    assert isinstance(_card(h, h.token("card"), h.ann, guid, identity.generate_key()), Enrolled)
    h.store.revoke_card(guid, h.now)  # `roamline cloud card revoke`
    assert _code(_card(h, h.token("card"), h.ann, guid, identity.generate_key())) == ErrorCode.REVOKED
    assert isinstance(_card(h, h.token("card"), h.ann, "ef" * 16, identity.generate_key()), Enrolled)


def test_retry_with_the_same_key_gets_the_same_certificate(world: Any) -> None:
    h = world
    guid, tok = "ab" * 16, h.token("card")
    k9e, k9a = identity.generate_key(), identity.generate_key()
    first = _card(h, tok, h.ann, guid, k9e)
    assert isinstance(first, Enrolled)
    again = _card(h, tok, h.ann, guid, k9e)  # the reply was lost; the tool retries the same request
    assert isinstance(again, Enrolled) and again.cert_pem == first.cert_pem and again.id == guid
    a1 = _card(h, tok, h.ann, guid, k9a, "9a")
    a2 = _card(h, tok, h.ann, guid, k9a, "9a")
    assert isinstance(a1, Enrolled) and isinstance(a2, Enrolled) and a1.cert_pem == a2.cert_pem
    # but a different key, or another account, with that token is not a retry
    assert _code(_card(h, tok, h.ann, guid, identity.generate_key())) == ErrorCode.FORBIDDEN
    assert _code(_card(h, tok, h.ann, guid, identity.generate_key(), "9a")) == ErrorCode.FORBIDDEN
    assert _code(_card(h, tok, h.bob, guid, k9e)) == ErrorCode.FORBIDDEN
    # a used token does not issue a second card
    assert _code(_card(h, tok, h.ann, "cd" * 16, k9e)) == ErrorCode.FORBIDDEN
    card = h.store.get_card(guid)
    assert card is not None and card.cert_pem == first.cert_pem and card.cert_9a_pem == a1.cert_pem


def test_a_revoked_card_is_not_reissued_by_a_retry(world: Any) -> None:
    h = world
    guid, tok, key = "ab" * 16, h.token("card"), identity.generate_key()
    assert isinstance(_card(h, tok, h.ann, guid, key), Enrolled)
    h.store.revoke_card(guid, h.now)
    assert _code(_card(h, tok, h.ann, guid, key)) == ErrorCode.REVOKED
