"""The registry's side of voicemail through ``Registry.handle`` on SQLite: chunks delivered by the host
box (``deliver`` kind ``voicemail.chunk``), the waiting count pushed to the holder's box, and the mailbox
requests (``voicemail.list|fetch|mark``) only for a card registered at the asking box."""

from __future__ import annotations

from typing import Any

import pytest

from roamline.cloud import voicemail
from roamline.cloud.records import Box
from roamline.wire import profile as wp
from roamline.wire import voicemail as wvm
from roamline.wire.errors import ErrorCode
from roamline.wire.messages import Ack, Deliver, Error, HolderProfile, Ok, Registered, Welcome

from ..conftest import Harness

NUM = "+15551230001"
CALL = "c-00000000000000c1"


@pytest.fixture
def world(harness: Harness) -> Any:
    h: Any = harness
    h.acct = h.account("Ann", NUM)
    h.host = h.enroll_box("host")
    h.box_a = h.enroll_box("a")
    h.card = h.enroll_card(h.acct)
    assert isinstance(h.hello("host", h.host), Welcome)
    assert isinstance(h.hello("a", h.box_a), Welcome)
    h.registry.sweep(h.now)  # the first look at profile versions
    return h


def _deposit(h: Any, audio: bytes) -> str:
    take = voicemail.take(h.store, call_id=CALL, account_id=h.acct, number=NUM, host_box=h.host.box_id,
                          caller="15550300003", caller_name="BOB JONES", now=h.now)
    meta = wvm.Meta(call_id=CALL, number=NUM, caller="15550300003", caller_name="BOB JONES",
                    started_at=h.now, ended_at=h.now + len(audio) / 8000, duration_s=len(audio) / 8000,
                    ended="hangup")
    for c in wvm.split(take.message_id, audio, meta):
        for _ in range(2):  # each sent twice (an ack lost): acknowledged both times, stored once
            ack = h.reply("host", Deliver(key=c.key, kind=wvm.VOICEMAIL_CHUNK_KIND, payload=c.to_json()))
            assert ack == Ack(keys=(c.key,))
    return take.message_id


def test_a_delivered_message_bumps_waiting_and_the_holders_box_is_told(world: Any) -> None:
    h = world
    assert isinstance(h.reply("a", h.register_msg("a", h.box_a, h.card)), Registered)
    audio = bytes(range(256)) * 300
    mid = _deposit(h, audio)
    assert h.store.voicemail_audio(mid) == audio
    (push,) = h.registry.sweep(h.now)
    assert push.conn_id == "a" and isinstance(push.message, HolderProfile)
    assert wp.parse(push.message.profile).waiting == 1
    rows = h.store.conn.execute("SELECT payload FROM deliveries WHERE kind = ?",
                                (wvm.VOICEMAIL_CHUNK_KIND,)).fetchall()
    assert len(rows) == 3 and all(len(r["payload"]) < 500 for r in rows)  # no audio kept twice


def test_a_chunk_from_a_box_that_was_not_asked_is_acked_and_refused(world: Any) -> None:
    h = world
    take = voicemail.take(h.store, call_id=CALL, account_id=h.acct, number=NUM, host_box=h.host.box_id,
                          caller=None, caller_name=None, now=h.now)
    meta = wvm.Meta(call_id=CALL, number=NUM, caller=None, caller_name=None, started_at=1.0, ended_at=2.0,
                    duration_s=1.0, ended="hangup")
    (c,) = wvm.split(take.message_id, b"\x10" * 8000, meta)
    assert h.reply("a", Deliver(key=c.key, kind=wvm.VOICEMAIL_CHUNK_KIND, payload=c.to_json())) == Ack(
        keys=(c.key,))
    assert h.store.voicemails(h.acct) == []
    bad = h.reply("host", Deliver(key="voicemail.chunk:x:0", kind=wvm.VOICEMAIL_CHUNK_KIND,
                                  payload={"seq": "nope"}))
    assert bad == Ack(keys=("voicemail.chunk:x:0",))  # acked: it must not block the outbox


def test_the_mailbox_lists_fetches_saves_and_deletes_for_the_card_here_only(world: Any) -> None:
    h = world
    first = _deposit(h, b"\x21" * 70_000)
    second = _deposit_second(h)
    assert isinstance(h.reply("a", h.register_msg("a", h.box_a, h.card)), Registered)
    listed = h.reply("a", wvm.VoicemailList(card_id=h.card.card_id))
    assert isinstance(listed, wvm.VoicemailListed)
    assert [m.message_id for m in listed.messages] == [first, second]
    assert listed.messages[0].audio_bytes == 70_000 and listed.messages[0].caller_name == "BOB JONES"
    got = b""
    seq = 0
    while True:
        piece = h.reply("a", wvm.VoicemailFetch(card_id=h.card.card_id, message_id=first, seq=seq))
        assert isinstance(piece, wvm.VoicemailAudio)
        got += piece.audio
        if piece.last:
            break
        seq += 1
    assert got == b"\x21" * 70_000 and seq == 2
    ok = h.reply("a", wvm.VoicemailMark(card_id=h.card.card_id, message_id=first,
                                        action=wvm.MarkAction.SAVE))
    assert isinstance(ok, Ok) and h.store.get_voicemail(first).state == "saved"  # type: ignore[union-attr]
    assert isinstance(h.reply("a", wvm.VoicemailMark(card_id=h.card.card_id, message_id=second,
                                                     action=wvm.MarkAction.DELETE)), Ok)
    assert h.store.get_voicemail(second) is None
    stored = h.store.get_profile(h.acct)
    assert stored is not None and wp.parse(stored[0]).waiting == 0
    # the same requests from a box the card is not at, or for another account's message
    other = h.reply("host", wvm.VoicemailList(card_id=h.card.card_id))
    assert isinstance(other, Error) and other.code is ErrorCode.UNKNOWN_CARD
    h.store.put_box(Box("box-z", "pem", "z", "sim", None, None, None, False, h.now))
    other_acct = h.account("Zed", "+15551230009")
    h.store.add_voicemail(voicemail.VoicemailRecord(
        message_id="vm-0000000000000zed", account_id=other_acct, number="+15551230009", call_id=CALL,
        host_box="box-z", created=h.now, state="recording"))
    refused = h.reply("a", wvm.VoicemailFetch(card_id=h.card.card_id, message_id="vm-0000000000000zed"))
    assert isinstance(refused, Error) and refused.code is ErrorCode.FORBIDDEN


def _deposit_second(h: Any) -> str:
    take = voicemail.take(h.store, call_id="c-00000000000000c2", account_id=h.acct, number=NUM,
                          host_box=h.host.box_id, caller=None, caller_name=None, now=h.now + 1)
    meta = wvm.Meta(call_id="c-00000000000000c2", number=NUM, caller=None, caller_name=None,
                    started_at=h.now + 10, ended_at=h.now + 11, duration_s=1.0, ended="silence")
    for c in wvm.split(take.message_id, b"\x31" * 8000, meta):
        h.reply("host", Deliver(key=c.key, kind=wvm.VOICEMAIL_CHUNK_KIND, payload=c.to_json()))
    return take.message_id


def test_a_card_moved_while_the_message_is_recorded_gets_message_waiting_where_it_is_now(world: Any) -> None:
    h = world
    assert isinstance(h.reply("a", h.register_msg("a", h.box_a, h.card)), Registered)
    take = voicemail.take(h.store, call_id=CALL, account_id=h.acct, number=NUM, host_box=h.host.box_id,
                          caller=None, caller_name=None, now=h.now)
    box_b = h.enroll_box("b")
    assert isinstance(h.hello("b", box_b), Welcome)
    _, out = h.send("b", h.register_msg("b", box_b, h.card))  # the card moves mid-message
    assert [o.conn_id for o in out] == ["a"]  # box-a is told (superseded)
    h.registry.sweep(h.now)
    meta = wvm.Meta(call_id=CALL, number=NUM, caller=None, caller_name=None, started_at=1.0, ended_at=5.0,
                    duration_s=4.0, ended="hangup")
    for c in wvm.split(take.message_id, b"\x40" * 32_000, meta):
        h.reply("host", Deliver(key=c.key, kind=wvm.VOICEMAIL_CHUNK_KIND, payload=c.to_json()))
    pushes = h.registry.sweep(h.now)
    assert [(p.conn_id, type(p.message)) for p in pushes] == [("b", HolderProfile)]
    assert wp.parse(pushes[0].message.profile).waiting == 1  # type: ignore[attr-defined]


def test_a_greeting_recorded_at_the_handset_becomes_the_holders_and_the_host_fetches_it(world: Any) -> None:
    h = world
    assert isinstance(h.reply("a", h.register_msg("a", h.box_a, h.card)), Registered)
    gid = "g-00000000000000aa"
    said = bytes(range(256)) * 200  # 51 200 bytes: two pieces
    pieces = [said[:32_000], said[32_000:]]
    for seq in (1, 0):  # any order
        ok = h.reply("a", wvm.VoicemailGreeting(card_id=h.card.card_id, greeting_id=gid, seq=seq,
                                                last=seq == 1, audio=pieces[seq]))
        assert isinstance(ok, Ok)
    stored = h.store.get_profile(h.acct)
    assert stored is not None and wp.parse(stored[0]).voicemail.greeting == gid
    take = voicemail.take(h.store, call_id=CALL, account_id=h.acct, number=NUM, host_box=h.host.box_id,
                          caller=None, caller_name=None, now=h.now)
    assert take.greeting == gid
    got, seq = b"", 0
    while True:
        piece = h.reply("host", wvm.VoicemailGreetingFetch(message_id=take.message_id, seq=seq))
        assert isinstance(piece, wvm.VoicemailAudio)
        got += piece.audio
        if piece.last:
            break
        seq += 1
    assert got == said
    refused = h.reply("a", wvm.VoicemailGreetingFetch(message_id=take.message_id))  # not asked of box a
    assert isinstance(refused, Error) and refused.code is ErrorCode.FORBIDDEN
    other = h.reply("host", wvm.VoicemailGreeting(card_id=h.card.card_id, greeting_id=gid, seq=0, last=True,
                                                  audio=b"\x01"))  # the card is not at the host
    assert isinstance(other, Error) and other.code is ErrorCode.UNKNOWN_CARD


def _offline(h: Any, audio: bytes, message_id: str = "vo-host-00000000000001") -> list[wvm.Chunk]:
    meta = wvm.Meta(call_id="host-0000-00000000000000c2", number=NUM, caller="15550300003",
                    caller_name="BOB JONES", started_at=h.now, ended_at=h.now + len(audio) / 8000,
                    duration_s=len(audio) / 8000, ended="hangup")
    return wvm.split(message_id, audio, meta)


def test_an_offline_message_from_the_lines_host_is_filed_for_its_owner_once_in_any_order(world: Any) -> None:
    import dataclasses

    h = world
    box = h.store.get_box(h.host.box_id)
    h.store.put_box(dataclasses.replace(box, line_number=NUM))  # the host box's own line is Ann's number
    assert isinstance(h.reply("a", h.register_msg("a", h.box_a, h.card)), Registered)
    audio = bytes(range(256)) * 300
    parts = _offline(h, audio)
    assert len(parts) == 3
    for c in [parts[1], parts[0], parts[2], parts[0], parts[2]]:  # the meta last, and re-sent pieces
        ack = h.reply("host", Deliver(key=c.key, kind=wvm.VOICEMAIL_CHUNK_KIND, payload=c.to_json()))
        assert ack == Ack(keys=(c.key,))
    (msg,) = h.store.voicemails(h.acct)
    assert (msg.message_id, msg.state, msg.call_id, msg.caller) == (
        parts[0].message_id, "new", "host-0000-00000000000000c2", "15550300003")
    assert h.store.voicemail_audio(msg.message_id) == audio
    (push,) = h.registry.sweep(h.now)
    assert push.conn_id == "a" and wp.parse(push.message.profile).waiting == 1


def test_an_offline_message_is_refused_from_a_box_whose_line_is_another_number(world: Any) -> None:
    h = world
    (c,) = _offline(h, b"\x10" * 8000, "vo-a-0000000000000002")  # box a has no line at all
    assert h.reply("a", Deliver(key=c.key, kind=wvm.VOICEMAIL_CHUNK_KIND, payload=c.to_json())) == Ack(
        keys=(c.key,))
    import dataclasses

    h.store.put_box(dataclasses.replace(h.store.get_box(h.host.box_id), line_number="+15559990000"))
    (c,) = _offline(h, b"\x10" * 8000, "vo-host-0000000000000003")
    assert h.reply("host", Deliver(key=c.key, kind=wvm.VOICEMAIL_CHUNK_KIND, payload=c.to_json())) == Ack(
        keys=(c.key,))
    assert h.store.voicemails(h.acct) == []


# --- the voicemail PIN (checked here; boxes never get its hash) -----------------------------------------


def _set_pin(h: Any, pin: str) -> None:
    pin_hash = wp.hash_pin(pin, iterations=1000)
    h.store.put_profile(h.acct, wp.parse({"voicemail": {"pin_hash": pin_hash}}).to_json(), h.now)


def test_with_a_pin_the_mailbox_opens_only_after_it_and_boxes_never_get_its_hash(world: Any) -> None:
    h = world
    mid = _deposit(h, b"\x21" * 9000)
    _set_pin(h, "2468")
    reg = h.reply("a", h.register_msg("a", h.box_a, h.card))
    assert isinstance(reg, Registered) and reg.profile["voicemail"]["pin_hash"] == ""
    h.store.put_profile(h.acct, {**h.store.get_profile(h.acct)[0], "waiting": 3}, h.now)
    (push,) = h.registry.sweep(h.now)
    assert isinstance(push.message, HolderProfile) and push.message.profile["voicemail"]["pin_hash"] == ""
    card = h.card.card_id
    asked = h.reply("a", wvm.VoicemailList(card_id=card))
    assert asked == wvm.VoicemailListed(card_id=card, pin_required=True)
    for msg in (wvm.VoicemailFetch(card_id=card, message_id=mid),
                wvm.VoicemailMark(card_id=card, message_id=mid, action=wvm.MarkAction.DELETE),
                wvm.VoicemailGreeting(card_id=card, greeting_id="g-0123456789abcdef", seq=0, last=True,
                                      audio=b"\x7f")):
        refused = h.reply("a", msg)
        assert isinstance(refused, Error) and refused.code is ErrorCode.FORBIDDEN, msg.TYPE
    assert h.store.get_voicemail(mid) is not None  # nothing deleted without the PIN
    wrong = h.reply("a", wvm.VoicemailPin(card_id=card, pin="1357"))
    assert wrong == wvm.VoicemailPinChecked(card_id=card, result=wvm.PinResult.WRONG)
    assert h.reply("a", wvm.VoicemailList(card_id=card)).pin_required
    ok = h.reply("a", wvm.VoicemailPin(card_id=card, pin="2468"))
    assert ok == wvm.VoicemailPinChecked(card_id=card, result=wvm.PinResult.OK)
    listed = h.reply("a", wvm.VoicemailList(card_id=card))
    assert not listed.pin_required and [m.message_id for m in listed.messages] == [mid]
    assert isinstance(h.reply("a", wvm.VoicemailFetch(card_id=card, message_id=mid)), wvm.VoicemailAudio)
    # the next *98 session (its list) asks again, the card still in: the box may be anyone's
    assert h.reply("a", wvm.VoicemailList(card_id=card)).pin_required
    refused = h.reply("a", wvm.VoicemailFetch(card_id=card, message_id=mid))
    assert isinstance(refused, Error) and refused.code is ErrorCode.FORBIDDEN
    assert h.reply("a", wvm.VoicemailPin(card_id=card, pin="2468")).result is wvm.PinResult.OK
    assert not h.reply("a", wvm.VoicemailList(card_id=card)).pin_required
    # a new registration of the card (taken out and put back) asks again
    assert isinstance(h.reply("a", h.register_msg("a", h.box_a, h.card)), Registered)
    assert h.reply("a", wvm.VoicemailList(card_id=card)).pin_required
    # the PIN is only ever checked for a card registered at the asking box
    other = h.reply("host", wvm.VoicemailPin(card_id=card, pin="2468"))
    assert isinstance(other, Error) and other.code is ErrorCode.UNKNOWN_CARD


def test_without_a_pin_the_card_alone_opens_the_mailbox(world: Any) -> None:
    h = world
    mid = _deposit(h, b"\x21" * 9000)
    assert isinstance(h.reply("a", h.register_msg("a", h.box_a, h.card)), Registered)
    listed = h.reply("a", wvm.VoicemailList(card_id=h.card.card_id))
    assert not listed.pin_required and [m.message_id for m in listed.messages] == [mid]


def test_ten_wrong_pins_in_a_row_lock_the_mailbox_for_a_while_even_for_the_right_pin(world: Any) -> None:
    from roamline.cloud.registry import PIN_LOCK_AFTER, PIN_LOCK_S

    h = world
    _set_pin(h, "2468")
    assert isinstance(h.reply("a", h.register_msg("a", h.box_a, h.card)), Registered)
    card = h.card.card_id

    def key(pin: str) -> wvm.PinResult:
        got = h.reply("a", wvm.VoicemailPin(card_id=card, pin=pin))
        assert isinstance(got, wvm.VoicemailPinChecked)
        return got.result

    for _ in range(PIN_LOCK_AFTER - 1):
        assert key("0001") is wvm.PinResult.WRONG
    assert key("2468") is wvm.PinResult.OK  # the right one resets the count
    for _ in range(PIN_LOCK_AFTER - 1):
        assert key("0001") is wvm.PinResult.WRONG
    assert key("0001") is wvm.PinResult.LOCKED
    assert key("2468") is wvm.PinResult.LOCKED  # locked: right or wrong
    assert isinstance(h.reply("a", h.register_msg("a", h.box_a, h.card)), Registered)
    assert h.reply("a", wvm.VoicemailList(card_id=card)).pin_required
    h.clock.advance(PIN_LOCK_S - 1)
    assert key("2468") is wvm.PinResult.LOCKED
    h.clock.advance(2)
    assert key("2468") is wvm.PinResult.OK
def test_an_offline_message_for_a_shared_number_is_filed_for_the_line_owner_else_the_first_by_name(
        world: Any) -> None:
    """Zed, Ann and Mia hold the host line's number. With the box enrolled for ``Mia`` (owner), her
    mailbox takes the message; with no owner among the holders, the first by name (Ann: the attendant's
    key 1), not the first account id (Zed's)."""
    import dataclasses

    h = world
    zed, mia = "acct-000", "acct-zzz"  # Zed's id sorts first, Ann's name does; Mia is neither
    h.store.create_account(zed, "Zed", h.now)
    h.store.create_account(mia, "Mia", h.now)
    h.store.add_number(zed, NUM)
    h.store.add_number(mia, NUM)
    box = h.store.get_box(h.host.box_id)
    h.store.put_box(dataclasses.replace(box, line_number=NUM, owner="Mia"))
    for c in _offline(h, b"\x10" * 8000, "vo-host-0000000000000011"):
        h.reply("host", Deliver(key=c.key, kind=wvm.VOICEMAIL_CHUNK_KIND, payload=c.to_json()))
    assert [m.message_id for m in h.store.voicemails(mia)] == ["vo-host-0000000000000011"]
    assert h.store.voicemails(h.acct) == h.store.voicemails(zed) == []
    h.store.put_box(dataclasses.replace(box, line_number=NUM, owner="someone else"))
    for c in _offline(h, b"\x10" * 8000, "vo-host-0000000000000012"):
        h.reply("host", Deliver(key=c.key, kind=wvm.VOICEMAIL_CHUNK_KIND, payload=c.to_json()))
    assert [m.message_id for m in h.store.voicemails(h.acct)] == ["vo-host-0000000000000012"]
    assert voicemail.shared_mailbox(h.store, None, []) is None


def test_the_box_owner_given_at_enrollment_is_kept_for_the_shared_line_rule(harness: Harness) -> None:
    """`provision box enroll --owner` sends ``owner`` in the box details; the registry stores it."""
    from roamline.wire import identity
    from roamline.wire.messages import Enroll, Enrolled, EnrollKind

    h: Any = harness
    key = identity.generate_key()
    r = h.reply("enroll-o", Enroll(token=h.token("box"), csr_pem=identity.make_csr(key, "o").decode(),
                                   kind=EnrollKind.BOX, box={"name": "o", "board": "sim", "owner": "carol",
                                                             "line_number": NUM}))
    assert isinstance(r, Enrolled), r
    box = h.store.get_box(r.id)
    assert box is not None and (box.owner, box.line_number) == ("carol", NUM)
