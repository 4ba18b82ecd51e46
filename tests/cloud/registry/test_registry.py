from __future__ import annotations

from typing import Any

import pytest

from roamline.cloud.registry import Outgoing
from roamline.wire import identity, signing
from roamline.wire.errors import ErrorCode
from roamline.wire.messages import (
    Ack,
    CardSlot,
    Deliver,
    Deregister,
    Enroll,
    Enrolled,
    EnrollKind,
    Envelope,
    Error,
    Hello,
    Message,
    NoncePurpose,
    NonceRequest,
    Ok,
    Ping,
    Pong,
    Refresh,
    Refreshed,
    Register,
    Registered,
    Revoked,
    RevokedKind,
    Superseded,
    Welcome,
)

NUM = "+15551230001"


def code_of(msg: Message) -> ErrorCode:
    assert isinstance(msg, Error), msg
    return msg.code


@pytest.fixture
def world(harness: Any) -> Any:
    """An account with a number, one enrolled box (A) and one card."""
    h = harness
    h.acct = h.account("Ann", NUM)
    h.box_a = h.enroll_box("a")
    h.card = h.enroll_card(h.acct)
    return h


def test_happy_path_hello_register_where(world: Any) -> None:
    h = world
    w = h.hello("c1", h.box_a)
    assert isinstance(w, Welcome) and w.box_id == h.box_a.box_id and w.lease_s == 60.0
    r = h.reply("c1", h.register_msg("c1", h.box_a, h.card))
    assert isinstance(r, Registered)
    assert (r.card_id, r.account, r.holder, r.numbers, r.seq) == (h.card.card_id, h.acct, "Ann", (NUM,), 1)
    [entry] = h.registry.where(NUM, h.now)
    assert (entry.box_id, entry.card_id, entry.holder) == (h.box_a.box_id, h.card.card_id, "Ann")
    assert entry.location is not None and entry.location["civic"]["RD"] == f"Road {h.box_a.box_id}"
    assert entry.location["geo"]["lat"] == 39.78 and entry.location["network"]["public"] == "192.0.2.7"
    assert h.registry.where("+15559999999", h.now) == []


@pytest.mark.parametrize("msg", [Refresh(card_ids=("x",)), Deregister(card_id="x"),
                                 Deliver(key="k", kind="cdr", payload={})])
def test_nothing_but_nonce_hello_before_hello(world: Any, msg: Message) -> None:
    assert code_of(world.reply("c1", msg)) == ErrorCode.NOT_AUTHENTICATED


def test_register_before_hello_refused_even_with_a_nonce(world: Any) -> None:
    h = world
    assert code_of(h.reply("c1", NonceRequest(purpose=NoncePurpose.REGISTER))) == ErrorCode.NOT_AUTHENTICATED
    hello_nonce = h.nonce("c1", NoncePurpose.HELLO)
    msg = h.register_msg("c1", h.box_a, h.card, nonce=hello_nonce)
    assert code_of(h.reply("c1", msg)) == ErrorCode.NOT_AUTHENTICATED


def test_ping_any_time(world: Any) -> None:
    assert isinstance(world.reply("c1", Ping()), Pong)


def test_hello_wrong_signature(world: Any) -> None:
    h = world
    msg = h.hello_msg("c1", h.box_a, key=identity.generate_key())  # a cert it cannot sign for
    assert code_of(h.reply("c1", msg)) == ErrorCode.BAD_SIGNATURE
    # and the connection is still unauthenticated
    assert code_of(h.reply("c1", Refresh(card_ids=()))) == ErrorCode.NOT_AUTHENTICATED


def test_hello_signature_over_other_box_id(world: Any) -> None:
    h = world
    nonce = h.nonce("c1", NoncePurpose.HELLO)
    sig = identity.sign_digest(h.box_a.key, signing.hello_digest(nonce, "box-0000000000000000"))
    assert code_of(h.reply("c1", Hello(cert_pem=h.box_a.cert_pem, nonce=nonce, signature=sig))) == \
        ErrorCode.BAD_SIGNATURE


def test_hello_replayed_nonce(world: Any) -> None:
    h = world
    msg = h.hello_msg("c1", h.box_a)
    assert isinstance(h.reply("c1", msg), Welcome)
    h.connect("c2")
    assert code_of(h.reply("c2", msg)) == ErrorCode.STALE_NONCE  # issued to c1, and used


def test_hello_nonce_from_another_connection(world: Any) -> None:
    h = world
    msg = h.hello_msg("c1", h.box_a)
    assert code_of(h.reply("c2", msg)) == ErrorCode.STALE_NONCE
    # burnt: not usable on its own connection either
    assert code_of(h.reply("c1", msg)) == ErrorCode.STALE_NONCE


def test_hello_stale_nonce(world: Any) -> None:
    h = world
    msg = h.hello_msg("c1", h.box_a)
    h.clock.advance(31.0)
    assert code_of(h.reply("c1", msg)) == ErrorCode.STALE_NONCE


def test_hello_unknown_nonce_and_second_hello(world: Any) -> None:
    h = world
    msg = h.hello_msg("c1", h.box_a)
    fake = b"\x01" * 32
    sig = identity.sign_digest(h.box_a.key, signing.hello_digest(fake, h.box_a.box_id))
    forged = Hello(cert_pem=msg.cert_pem, nonce=fake, signature=sig)
    assert code_of(h.reply("c1", forged)) == ErrorCode.STALE_NONCE
    assert isinstance(h.reply("c1", msg), Welcome)
    reg_nonce = h.nonce("c1", NoncePurpose.REGISTER)
    sig = identity.sign_digest(h.box_a.key, signing.hello_digest(reg_nonce, h.box_a.box_id))
    assert code_of(h.reply("c1", Hello(cert_pem=msg.cert_pem, nonce=reg_nonce, signature=sig))) == \
        ErrorCode.FORBIDDEN  # one hello per connection


def test_hello_with_register_purpose_nonce(world: Any) -> None:
    h = world
    assert isinstance(h.hello("c1", h.box_a), Welcome)
    reg_nonce = h.nonce("c1", NoncePurpose.REGISTER)
    msg = h.register_msg("c1", h.box_a, h.card, nonce=h.nonce("c1", NoncePurpose.HELLO))
    assert code_of(h.reply("c1", msg)) == ErrorCode.STALE_NONCE  # hello nonce used for register
    assert isinstance(h.reply("c1", h.register_msg("c1", h.box_a, h.card, nonce=reg_nonce)), Registered)


def test_hello_cert_from_another_ca(world: Any) -> None:
    h = world
    rogue = identity.CertificateAuthority.create(now=h.now)
    key = identity.generate_key()
    box_id = identity.box_id_for_key(key.public_key())
    cert = identity.certificate_pem(rogue.issue(role=identity.Role.BOX, subject_id=box_id,
                                                public_key=key.public_key(), now=h.now)).decode()
    nonce = h.nonce("c1", NoncePurpose.HELLO)
    sig = identity.sign_digest(key, signing.hello_digest(nonce, box_id))
    reply = h.reply("c1", Hello(cert_pem=cert, nonce=nonce, signature=sig))
    assert code_of(reply) == ErrorCode.BAD_CERTIFICATE


def test_hello_unknown_box_cert(world: Any) -> None:
    """A CA-valid box certificate the registry never enrolled (or replaced by a re-enrollment)."""
    h = world
    key = identity.generate_key()
    box_id = identity.box_id_for_key(key.public_key())
    cert = identity.certificate_pem(h.ca.issue(role=identity.Role.BOX, subject_id=box_id,
                                               public_key=key.public_key(), now=h.now)).decode()
    nonce = h.nonce("c1", NoncePurpose.HELLO)
    sig = identity.sign_digest(key, signing.hello_digest(nonce, box_id))
    assert code_of(h.reply("c1", Hello(cert_pem=cert, nonce=nonce, signature=sig))) == ErrorCode.UNKNOWN_BOX
    # same key, known box id, but not the certificate on record
    other = identity.certificate_pem(h.ca.issue(role=identity.Role.BOX, subject_id=h.box_a.box_id,
                                                public_key=h.box_a.key.public_key(), now=h.now)).decode()
    nonce = h.nonce("c1", NoncePurpose.HELLO)
    sig = identity.sign_digest(h.box_a.key, signing.hello_digest(nonce, h.box_a.box_id))
    assert code_of(h.reply("c1", Hello(cert_pem=other, nonce=nonce, signature=sig))) == ErrorCode.UNKNOWN_BOX


def test_hello_card_cert_is_not_a_box_cert(world: Any) -> None:
    h = world
    nonce = h.nonce("c1", NoncePurpose.HELLO)
    sig = identity.sign_digest(h.card.key, signing.hello_digest(nonce, h.card.card_id))
    assert code_of(h.reply("c1", Hello(cert_pem=h.card.cert_pem, nonce=nonce, signature=sig))) == \
        ErrorCode.BAD_CERTIFICATE


def test_revoked_box_hello_refused_and_closed(world: Any) -> None:
    h = world
    h.store.revoke_box(h.box_a.box_id, h.now)
    msg = h.hello_msg("c1", h.box_a)
    out = h.registry.handle("c1", Envelope(message=msg, id="x"), h.now)
    assert code_of(out[-1].message) == ErrorCode.REVOKED and out[-1].close


def authed(h: Any, conn: str = "c1", box: Any = None) -> None:
    assert isinstance(h.hello(conn, box or h.box_a), Welcome)


def test_register_wrong_signature(world: Any) -> None:
    h = world
    authed(h)
    msg = h.register_msg("c1", h.box_a, h.card, key=identity.generate_key())
    assert code_of(h.reply("c1", msg)) == ErrorCode.BAD_SIGNATURE
    assert h.registry.where(NUM, h.now) == []


def test_register_signature_for_another_box(world: Any) -> None:
    """A registration signed at box B cannot be replayed by box A, even on A's own nonce."""
    h = world
    box_b = h.enroll_box("b")
    authed(h)
    nonce = h.nonce("c1", NoncePurpose.REGISTER)
    msg = h.register_msg("c1", box_b, h.card, nonce=nonce)
    assert code_of(h.reply("c1", msg)) == ErrorCode.BAD_SIGNATURE


def test_register_replayed_stale_and_foreign_nonce(world: Any) -> None:
    h = world
    authed(h)
    msg = h.register_msg("c1", h.box_a, h.card)
    assert isinstance(h.reply("c1", msg), Registered)
    assert code_of(h.reply("c1", msg)) == ErrorCode.STALE_NONCE  # replay
    stale = h.register_msg("c1", h.box_a, h.card)
    h.clock.advance(30.0)
    assert code_of(h.reply("c1", stale)) == ErrorCode.STALE_NONCE
    # the same box on a second connection cannot use the first connection's nonce
    foreign = h.register_msg("c1", h.box_a, h.card)
    authed(h, "c2")
    assert code_of(h.reply("c2", foreign)) == ErrorCode.STALE_NONCE


def test_register_card_from_another_ca(world: Any) -> None:
    h = world
    authed(h)
    rogue = identity.CertificateAuthority.create(now=h.now)
    cert = identity.certificate_pem(rogue.issue(role=identity.Role.CARD, subject_id=h.card.card_id,
                                                public_key=h.card.key.public_key(), now=h.now)).decode()
    msg = h.register_msg("c1", h.box_a, h.card)
    bad = type(msg)(card_cert_pem=cert, card_id=msg.card_id, nonce=msg.nonce, signature=msg.signature)
    assert code_of(h.reply("c1", bad)) == ErrorCode.BAD_CERTIFICATE


def _card_cert(h: Any, card_id: str, key: identity.PrivateKey) -> str:
    cert = h.ca.issue(role=identity.Role.CARD, subject_id=card_id, public_key=key.public_key(), now=h.now)
    return identity.certificate_pem(cert).decode()


def test_register_unknown_card(world: Any) -> None:
    h = world
    authed(h)
    key = identity.generate_key()
    kit = type(h.card)  # the conftest's CardKit
    stranger = kit(key, "ab" * 16, _card_cert(h, "ab" * 16, key))  # CA-valid, never issued here
    assert code_of(h.reply("c1", h.register_msg("c1", h.box_a, stranger))) == ErrorCode.UNKNOWN_CARD
    # a second certificate for a known card id is not the one on record
    twin = kit(key, h.card.card_id, _card_cert(h, h.card.card_id, key))
    assert code_of(h.reply("c1", h.register_msg("c1", h.box_a, twin))) == ErrorCode.UNKNOWN_CARD


def test_register_card_id_must_match_cert(world: Any) -> None:
    h = world
    authed(h)
    msg = h.register_msg("c1", h.box_a, h.card)
    lie = Register(card_cert_pem=msg.card_cert_pem, card_id="cd" * 16, nonce=msg.nonce,
                   signature=msg.signature)
    assert code_of(h.reply("c1", lie)) == ErrorCode.BAD_CERTIFICATE


def test_register_box_cert_as_card(world: Any) -> None:
    h = world
    authed(h)
    msg = h.register_msg("c1", h.box_a, h.card)
    bad = Register(card_cert_pem=h.box_a.cert_pem, card_id=h.card.card_id, nonce=msg.nonce,
                   signature=msg.signature)
    assert code_of(h.reply("c1", bad)) == ErrorCode.BAD_CERTIFICATE


def test_revoked_card_refused_and_pushed(world: Any) -> None:
    h = world
    authed(h)
    assert isinstance(h.reply("c1", h.register_msg("c1", h.box_a, h.card)), Registered)
    h.store.revoke_card(h.card.card_id, h.now)
    assert h.registry.where(NUM, h.now) == []  # gone for routing at once
    reply, pushes = h.send("c1", Refresh(card_ids=(h.card.card_id,)))
    assert isinstance(reply, Refreshed) and reply.missing == (h.card.card_id,)
    assert [p.message for p in pushes] == [Revoked(kind=RevokedKind.CARD, id=h.card.card_id)]
    assert code_of(h.reply("c1", h.register_msg("c1", h.box_a, h.card))) == ErrorCode.REVOKED


def test_revoked_card_sweep_tells_box(world: Any) -> None:
    h = world
    authed(h)
    h.reply("c1", h.register_msg("c1", h.box_a, h.card))
    h.store.revoke_card(h.card.card_id, h.now)
    out = h.registry.sweep(h.now)
    assert out == [Outgoing("c1", Revoked(kind=RevokedKind.CARD, id=h.card.card_id))]
    assert h.store.active_registration(h.card.card_id) is None


def test_revoked_box_takes_effect_on_next_message(world: Any) -> None:
    h = world
    authed(h)
    h.reply("c1", h.register_msg("c1", h.box_a, h.card))
    h.store.revoke_box(h.box_a.box_id, h.now)  # the operator command, from another process
    out = h.registry.handle("c1", Envelope(message=Ping(), id="p"), h.now)
    assert out[0] == Outgoing("c1", Revoked(kind=RevokedKind.BOX, id=h.box_a.box_id))
    assert code_of(out[1].message) == ErrorCode.REVOKED and out[1].close and out[1].re == "p"
    assert h.registry.where(NUM, h.now) == []
    assert h.store.active_registration(h.card.card_id) is None


def test_revocation_by_another_connection_takes_effect_on_next_message(world: Any) -> None:
    """The operator commands are other processes writing the file: the registry's row cache must see them."""
    from roamline.cloud.store import SqliteStore

    h = world
    authed(h)
    assert isinstance(h.reply("c1", h.register_msg("c1", h.box_a, h.card)), Registered)
    with SqliteStore(h.root / "registry.db") as operator:
        operator.revoke_card(h.card.card_id, h.now)
    assert code_of(h.reply("c1", h.register_msg("c1", h.box_a, h.card))) == ErrorCode.REVOKED
    with SqliteStore(h.root / "registry.db") as operator:
        operator.revoke_box(h.box_a.box_id, h.now)
    out = h.registry.handle("c1", Envelope(message=Ping(), id="p"), h.now)
    assert out[0] == Outgoing("c1", Revoked(kind=RevokedKind.BOX, id=h.box_a.box_id))
    assert code_of(out[1].message) == ErrorCode.REVOKED and out[1].close


def test_revoked_box_sweep_closes_link(world: Any) -> None:
    h = world
    authed(h)
    h.store.revoke_box(h.box_a.box_id, h.now)
    out = h.registry.sweep(h.now)
    assert Outgoing("c1", Revoked(kind=RevokedKind.BOX, id=h.box_a.box_id), close=True) in out


def test_supersede_second_box_wins_and_first_is_told(world: Any) -> None:
    h = world
    box_b = h.enroll_box("b")
    authed(h, "ca", h.box_a)
    authed(h, "cb", box_b)
    r1 = h.reply("ca", h.register_msg("ca", h.box_a, h.card))
    assert isinstance(r1, Registered)
    r2, pushes = h.send("cb", h.register_msg("cb", box_b, h.card))
    assert isinstance(r2, Registered) and r2.seq == r1.seq + 1
    assert pushes == [Outgoing("ca", Superseded(card_id=h.card.card_id, registration_id=r1.registration_id,
                                                 at=h.now))]
    assert [e.box_id for e in h.registry.where(NUM, h.now)] == [box_b.box_id]
    # the old box can no longer refresh it, nor deregister the new one
    reply = h.reply("ca", Refresh(card_ids=(h.card.card_id,)))
    assert isinstance(reply, Refreshed) and reply.missing == (h.card.card_id,)
    assert isinstance(h.reply("ca", Deregister(card_id=h.card.card_id)), Ok)
    assert [e.box_id for e in h.registry.where(NUM, h.now)] == [box_b.box_id]


def test_supersede_race_newest_proof_wins(world: Any) -> None:
    """Box A got its nonce first, B later; B's registration arrives first. A's late one must not win."""
    h = world
    box_b = h.enroll_box("b")
    authed(h, "ca", h.box_a)
    authed(h, "cb", box_b)
    slow_a = h.register_msg("ca", h.box_a, h.card)
    h.clock.advance(1.0)
    fast_b = h.register_msg("cb", box_b, h.card)
    assert isinstance(h.reply("cb", fast_b), Registered)
    h.clock.advance(1.0)
    assert code_of(h.reply("ca", slow_a)) == ErrorCode.STALE_NONCE
    assert [e.box_id for e in h.registry.where(NUM, h.now)] == [box_b.box_id]


def test_re_register_same_box_is_no_supersede(world: Any) -> None:
    h = world
    authed(h)
    h.reply("c1", h.register_msg("c1", h.box_a, h.card))
    r, pushes = h.send("c1", h.register_msg("c1", h.box_a, h.card))
    assert isinstance(r, Registered) and r.seq == 2 and pushes == []
    assert len(h.registry.where(NUM, h.now)) == 1


def test_deregister(world: Any) -> None:
    h = world
    authed(h)
    h.reply("c1", h.register_msg("c1", h.box_a, h.card))
    assert isinstance(h.reply("c1", Deregister(card_id=h.card.card_id)), Ok)
    assert h.registry.where(NUM, h.now) == []
    assert isinstance(h.reply("c1", Deregister(card_id=h.card.card_id)), Ok)  # idempotent


def test_lease_refresh_and_lapse(world: Any) -> None:
    h = world
    authed(h)
    h.reply("c1", h.register_msg("c1", h.box_a, h.card))
    h.clock.advance(50.0)
    r = h.reply("c1", Refresh(card_ids=(h.card.card_id,)))
    assert isinstance(r, Refreshed) and r.missing == ()
    h.clock.advance(50.0)  # 100 s after registering, 50 after the refresh: alive
    assert len(h.registry.where(NUM, h.now)) == 1
    assert h.registry.next_deadline(h.now) == h.now + h.config.sweep_s
    h.clock.advance(10.0)  # the box died: lease lapses
    assert h.registry.where(NUM, h.now) == []  # even before the sweep
    h.registry.sweep(h.now)
    reg = h.store.active_registration(h.card.card_id)
    assert reg is None
    r = h.reply("c1", Refresh(card_ids=(h.card.card_id,)))
    assert isinstance(r, Refreshed) and r.missing == (h.card.card_id,)


def test_disconnect_keeps_registration_until_lease(world: Any) -> None:
    h = world
    authed(h)
    h.reply("c1", h.register_msg("c1", h.box_a, h.card))
    h.registry.connection_closed("c1", h.now)
    assert h.registry.connection_of(h.box_a.box_id) is None
    assert len(h.registry.where(NUM, h.now)) == 1
    h.clock.advance(61.0)
    assert h.registry.where(NUM, h.now) == []


def test_restart_keeps_registrations(world: Any) -> None:
    h = world
    authed(h)
    r = h.reply("c1", h.register_msg("c1", h.box_a, h.card))
    assert isinstance(r, Registered)
    h.reopen()
    [entry] = h.registry.where(NUM, h.now)
    assert entry.registration_id == r.registration_id
    # the box reconnects, proves itself again and refreshes: its registration carries on
    authed(h, "c9")
    rr = h.reply("c9", Refresh(card_ids=(h.card.card_id,)))
    assert isinstance(rr, Refreshed) and rr.missing == ()


def test_newer_connection_replaces_older(world: Any) -> None:
    h = world
    authed(h, "c1")
    nonce_msg = h.hello_msg("c2", h.box_a)
    reply, others = h.send("c2", nonce_msg)
    assert isinstance(reply, Welcome)
    assert len(others) == 1 and others[0].conn_id == "c1" and others[0].close
    assert h.registry.connection_of(h.box_a.box_id) == "c2"


def test_too_many_nonces(world: Any) -> None:
    h = world
    for _ in range(h.config.max_live_nonces):
        h.nonce("c1", NoncePurpose.HELLO)
    assert code_of(h.reply("c1", NonceRequest(purpose=NoncePurpose.HELLO))) == ErrorCode.FORBIDDEN
    h.clock.advance(31.0)
    h.nonce("c1", NoncePurpose.HELLO)


def test_deliver_is_idempotent(world: Any) -> None:
    h = world
    authed(h)
    for _ in range(2):
        r = h.reply("c1", Deliver(key="k1", kind="cdr", payload={"s": 1}))
        assert r == Ack(keys=("k1",))
    n = h.store.db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
    assert n == 1


def test_an_error_from_a_box_is_noted_not_answered(world: Any, caplog: pytest.LogCaptureFixture) -> None:
    h = world
    h.hello("c1", h.box_a)
    failed = Error(code=ErrorCode.INTERNAL, message="box could not handle revoked: TypeError")
    with caplog.at_level("WARNING"):
        assert h.registry.handle("c1", Envelope(message=failed), h.now) == []  # no error about an error
    assert [r.message for r in caplog.records] == ["box-push-failed"]


def test_pushes_from_box_side_are_refused(world: Any) -> None:
    h = world
    h.connect("c1")
    push = Superseded(card_id="x", registration_id="r", at=1.0)
    out2 = h.registry.handle("c1", Envelope(message=push), h.now)
    assert code_of(out2[0].message) == ErrorCode.FORBIDDEN


# --- enrollment --------------------------------------------------------------------------------------


def _enroll(h: Any, token: str, kind: EnrollKind = EnrollKind.BOX, **kw: Any) -> Message:
    key = identity.generate_key()
    return h.reply("e", Enroll(token=token, csr_pem=identity.make_csr(key, "x").decode(), kind=kind, **kw))


def test_enroll_token_is_one_time(world: Any) -> None:
    h = world
    tok = h.token("box")
    assert isinstance(_enroll(h, tok), Enrolled)
    assert code_of(_enroll(h, tok)) == ErrorCode.FORBIDDEN


def test_enroll_refusals(world: Any) -> None:
    h = world
    assert code_of(_enroll(h, "rlt_nope")) == ErrorCode.FORBIDDEN
    expired = h.token("box", ttl=10.0)
    h.clock.advance(11.0)
    assert code_of(_enroll(h, expired)) == ErrorCode.FORBIDDEN
    card_tok = h.token("card")
    assert code_of(_enroll(h, card_tok)) == ErrorCode.FORBIDDEN  # a card token cannot make a box
    # a refused card enrollment does not burn the token
    assert code_of(_enroll(h, card_tok, EnrollKind.CARD, account=h.acct, card_id="xyz")) == ErrorCode.BAD_BODY
    assert code_of(_enroll(h, card_tok, EnrollKind.CARD, account="acct-none", card_id="ef" * 16)) == \
        ErrorCode.FORBIDDEN
    ok = _enroll(h, card_tok, EnrollKind.CARD, account=h.acct, card_id="ef" * 16)
    assert isinstance(ok, Enrolled) and ok.id == "ef" * 16
    card = h.store.get_card("ef" * 16)
    assert card is not None and card.account_id == h.acct
    bad_csr = h.reply("e", Enroll(token=h.token(), csr_pem="-----BEGIN nonsense", kind=EnrollKind.BOX))
    assert code_of(bad_csr) == ErrorCode.BAD_BODY


def test_enrolled_box_record(world: Any) -> None:
    h = world
    box = h.store.get_box(h.box_a.box_id)
    assert box is not None and box.name == "a" and box.board == "sim" and not box.revoked
    assert h.box_a.box_id == identity.box_id_for_key(h.box_a.key.public_key())


def test_card_9a_key_with_the_same_token_once(world: Any) -> None:
    h = world
    tok = h.token("card")
    guid = "12" * 16
    k9e, k9a = identity.generate_key(), identity.generate_key()

    def enroll(token: str, csr: str, slot: CardSlot | None = CardSlot.PIV_AUTH) -> Message:
        msg = Enroll(token=token, csr_pem=csr, kind=EnrollKind.CARD, account=h.acct, card_id=guid, slot=slot)
        return h.reply("e", msg)

    first = enroll(tok, identity.make_csr(k9e, guid).decode(), slot=None)  # no slot: 9E
    assert isinstance(first, Enrolled)
    csr_9a = identity.make_csr(k9a, guid).decode()
    assert code_of(enroll(h.token("card"), csr_9a)) == ErrorCode.FORBIDDEN  # another token: no
    # the old "/9a" CN convention means nothing now: without the slot it is a 9E request, token spent
    old_style = identity.make_csr(k9a, guid + "/9a").decode()
    assert code_of(enroll(tok, old_style, slot=None)) == ErrorCode.FORBIDDEN
    second = enroll(tok, csr_9a)
    assert isinstance(second, Enrolled)
    card = h.store.get_card(guid)
    assert card is not None and card.cert_9a_pem == second.cert_pem and card.cert_pem == first.cert_pem
    again = enroll(tok, csr_9a)  # the same request again is a retry: the same certificate
    assert isinstance(again, Enrolled) and again.cert_pem == second.cert_pem
    other_9a = identity.make_csr(identity.generate_key(), guid + "/9a").decode()
    assert code_of(enroll(tok, other_9a)) == ErrorCode.FORBIDDEN  # once per card
    # the 9A certificate cannot register (registration is the 9E key's job)
    authed(h)
    kit = type(h.card)
    reply = h.reply("c1", h.register_msg("c1", h.box_a, kit(k9a, guid, second.cert_pem)))
    assert code_of(reply) == ErrorCode.UNKNOWN_CARD
    reply = h.reply("c1", h.register_msg("c1", h.box_a, kit(k9e, guid, first.cert_pem)))
    assert isinstance(reply, Registered)


def test_slot_is_for_cards_only(world: Any) -> None:
    h = world
    key = identity.generate_key()
    box_id = identity.box_id_for_key(key.public_key())
    msg = Enroll(token=h.token("box"), csr_pem=identity.make_csr(key, box_id).decode(), kind=EnrollKind.BOX,
                 box={"name": "b", "board": "sim"}, slot=CardSlot.CARD_AUTH)
    assert code_of(h.reply("e", msg)) == ErrorCode.BAD_BODY


HOME = {"country": "US", "A1": "IL", "A3": "Springfield", "RD": "Elm Street", "HNO": "12", "FLR": "2"}


@pytest.mark.parametrize("box", [
    {"location": {"civic": {**HOME, "POBOX": "77"}, "method": "installer"}},  # a P.O. box
    {"location": {"civic": {k: v for k, v in HOME.items() if k != "HNO"}}},  # no house number
    {"location": {"civic": "12 Elm Street"}},  # not RFC 5139 elements
    {"location": "Springfield"},
    {"location": {"civic": {**HOME, "NOPE": "1"}}},
    {"line_number": "555-0100"},
    {"name": "kiosk\x1b[2J"},
])
def test_the_registry_refuses_an_undispatchable_address(world: Any, box: dict[str, Any]) -> None:
    """The registry checks the address itself (not only the installer's tool), before the token."""
    h = world
    tok = h.token("box")
    assert code_of(_enroll(h, tok, box={"name": "b", "board": "sim"} | box)) == ErrorCode.BAD_BODY
    good = {"name": "b", "board": "sim", "location": {"civic": HOME, "method": "installer"}}
    ok = _enroll(h, tok, box=good)
    assert isinstance(ok, Enrolled)  # the refusal did not spend the token
    stored = h.store.get_box(ok.id)
    assert stored is not None and stored.location == {"civic": HOME, "method": "installer"}  # floor kept


# --- the holder's profile ------------------------------------------------------------------------------


def test_registered_carries_the_profile_and_changes_are_pushed_while_the_card_is_in(world: Any) -> None:
    from roamline.wire import profile as wp
    from roamline.wire.messages import HolderProfile

    h = world
    stored = wp.parse({"speed_dials": [{"key": "2", "number": "+15550400004"}], "waiting": 1}).to_json()
    h.store.put_profile(h.acct, stored, h.now)
    assert h.registry.sweep(h.now) == []  # the first look only takes the version
    authed(h, "c1", h.box_a)
    r = h.reply("c1", h.register_msg("c1", h.box_a, h.card))
    assert isinstance(r, Registered) and wp.parse(r.profile) == wp.parse(stored)
    changed = wp.parse({**stored, "waiting": 4}).to_json()
    version = h.store.put_profile(h.acct, changed, h.now)  # e.g. `roamline cloud speed-dials`
    pushes = h.registry.sweep(h.now)
    assert pushes == [Outgoing("c1", HolderProfile(card_id=h.card.card_id, profile=changed, seq=version))]
    assert h.registry.sweep(h.now) == []  # pushed once
    assert isinstance(h.reply("c1", Deregister(card_id=h.card.card_id)), Ok)
    h.store.put_profile(h.acct, stored, h.now)
    assert h.registry.sweep(h.now) == []  # the card left: nothing to push to


def test_an_account_without_a_profile_registers_with_an_empty_one(world: Any) -> None:
    h = world
    authed(h, "c1", h.box_a)
    r = h.reply("c1", h.register_msg("c1", h.box_a, h.card))
    assert isinstance(r, Registered) and r.profile == {}
