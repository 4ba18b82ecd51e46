"""Installer credentials: an installer-role certificate proven by hello, allowed to list boxes only."""

from __future__ import annotations

from typing import Any

from roamline.wire import identity, signing
from roamline.wire.errors import ErrorCode
from roamline.wire.messages import (
    BoxList,
    BoxListed,
    Deliver,
    Error,
    Hello,
    Message,
    NoncePurpose,
    Refresh,
    Welcome,
)


def code_of(msg: Message) -> ErrorCode:
    assert isinstance(msg, Error), msg
    return msg.code


def installer(h: Any, ca: identity.CertificateAuthority | None = None,
              name: str = "ann.installer") -> tuple[identity.PrivateKey, str]:
    key = identity.generate_key()
    cert = (ca or h.ca).issue(role=identity.Role.INSTALLER, subject_id=name, public_key=key.public_key(),
                              now=h.now)
    return key, identity.certificate_pem(cert).decode()


def installer_hello(h: Any, conn: str, key: identity.PrivateKey, cert_pem: str, name: str = "ann.installer",
                    signer: identity.PrivateKey | None = None) -> Message:
    nonce = h.nonce(conn, NoncePurpose.HELLO)
    sig = identity.sign_digest(signer or key, signing.hello_digest(nonce, name))
    return h.reply(conn, Hello(cert_pem=cert_pem, nonce=nonce, signature=sig))


def test_an_installer_lists_the_enrolled_boxes(harness: Any) -> None:
    h = harness
    a = h.enroll_box("a")
    h.clock.advance(5)
    b = h.enroll_box("b")
    h.store.revoke_box(a.box_id, h.now)
    key, cert = installer(h)
    welcome = installer_hello(h, "i1", key, cert)
    assert isinstance(welcome, Welcome) and welcome.box_id == "ann.installer"
    listed = h.reply("i1", BoxList())
    assert isinstance(listed, BoxListed)
    assert [(x["id"], x["name"], x["board"], x["revoked"]) for x in listed.boxes] == [
        (b.box_id, "b", "sim", False), (a.box_id, "a", "sim", True)]  # newest first
    one = h.reply("i1", BoxList(limit=1))
    assert isinstance(one, BoxListed) and [x["id"] for x in one.boxes] == [b.box_id]
    assert code_of(h.reply("i1", BoxList(limit=0))) == ErrorCode.BAD_BODY
    assert [e.kind for e in h.store.events(10)].count("installer-hello") == 1


def test_an_installer_connection_is_no_box(harness: Any) -> None:
    h = harness
    key, cert = installer(h)
    assert isinstance(installer_hello(h, "i1", key, cert), Welcome)
    for msg in (Refresh(card_ids=("a",)), Deliver(key="k", kind="call-record", payload={})):
        assert code_of(h.reply("i1", msg)) == ErrorCode.FORBIDDEN
    assert code_of(h.reply("i1", h.register_msg("i1", h.enroll_box("x"), h.enroll_card(h.account("Z"))))) \
        == ErrorCode.FORBIDDEN


def test_box_list_needs_an_installer(harness: Any) -> None:
    h = harness
    assert code_of(h.reply("c0", BoxList())) == ErrorCode.NOT_AUTHENTICATED  # before any hello
    box = h.enroll_box("a")
    assert isinstance(h.hello("c1", box), Welcome)
    assert code_of(h.reply("c1", BoxList())) == ErrorCode.FORBIDDEN  # a box may not list boxes


def test_installer_hello_is_checked(harness: Any) -> None:
    h = harness
    rogue = identity.CertificateAuthority.create(now=h.now)
    key, cert = installer(h, ca=rogue)
    assert code_of(installer_hello(h, "i1", key, cert)) == ErrorCode.BAD_CERTIFICATE  # not our CA
    key, cert = installer(h)
    assert code_of(installer_hello(h, "i2", key, cert, signer=identity.generate_key())) \
        == ErrorCode.BAD_SIGNATURE
    assert code_of(installer_hello(h, "i3", key, cert, name="someone.else")) == ErrorCode.BAD_SIGNATURE
    assert code_of(h.reply("i2", BoxList())) == ErrorCode.NOT_AUTHENTICATED  # the failed hello left it open


def test_emergency_contacts_are_checked_stored_and_listed(harness: Any) -> None:
    from roamline.wire.messages import Enroll, Enrolled, EnrollKind

    h = harness

    def enroll(box: dict[str, Any]) -> Message:
        key = identity.generate_key()
        return h.reply("e", Enroll(token=h.token("box"), csr_pem=identity.make_csr(key, "x").decode(),
                                   kind=EnrollKind.BOX, box={"name": "b", "board": "sim", **box}))

    for bad in (["not-an-address"], "ops@example.com", ["http://hooks.example.com/x"], ["a@b.example"] * 2):
        assert code_of(enroll({"emergency_contacts": bad})) == ErrorCode.BAD_BODY
    ok = enroll({"emergency_contacts": ["Ops@Example.com", "https://hooks.example.com/911"]})
    assert isinstance(ok, Enrolled)
    stored = h.store.get_box(ok.id)
    assert stored is not None
    assert stored.emergency_contacts == ("mailto:Ops@example.com", "https://hooks.example.com/911")
    h.reopen()  # from the database, not a cache
    again = h.store.get_box(ok.id)
    assert again is not None and again.emergency_contacts == stored.emergency_contacts
    key, cert = installer(h)
    assert isinstance(installer_hello(h, "i1", key, cert), Welcome)
    listed = h.reply("i1", BoxList())
    assert isinstance(listed, BoxListed)
    assert listed.boxes[0]["emergency_contacts"] == ["mailto:Ops@example.com", "https://hooks.example.com/911"]


def test_a_store_from_before_contacts_gains_the_column(tmp_path: Any) -> None:
    import sqlite3

    from roamline.cloud.store import SqliteStore

    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE boxes (box_id TEXT PRIMARY KEY, cert_pem TEXT, name TEXT, board TEXT, "
                 "location TEXT, line_number TEXT, owner TEXT, revoked INTEGER, revoked_at FLOAT, "
                 "created FLOAT)")
    conn.execute("INSERT INTO boxes VALUES ('box-0123456789abcdef', 'pem', 'old', 'sim', NULL, NULL, NULL, "
                 "0, NULL, 1.0)")
    conn.commit()
    conn.close()
    store = SqliteStore(db)
    store.open()
    try:
        box = store.get_box("box-0123456789abcdef")
        assert box is not None and box.name == "old" and box.emergency_contacts == ()
    finally:
        store.close()
