"""Voicemail in the registry (cloud.voicemail) on SQLite: when the router asks a host line to take a
message, how delivered chunks become one message (also re-sent, out of order, from the wrong box), and the
holder's waiting count that turns message waiting on where the card is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roamline.cloud import voicemail
from roamline.wire import profile as wp
from roamline.wire import voicemail as wvm
from roamline.wire.calls import CallerId, CallOffer, LineRing, LineRouted
from roamline.wire.messages import Error

from .routing_kit import Kit, make_kit, requests, sends

HOST_LINE = "+15551230000"
CID = "c-00000000000000f1"
BOB = CallerId(number="+15550300003", name="BOB JONES")


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[Kit]:
    k = make_kit(tmp_path)
    yield k
    k.store.close()


def ring(kit: Kit, caller: CallerId = BOB) -> list[Any]:
    return kit.send("box-host", LineRing(call_id=CID, line=HOST_LINE, caller=caller, rings=1))


def takes(out: list[Any]) -> list[wvm.VoicemailTake]:
    return [r.message for r in requests(out, "conn-host") if isinstance(r.message, wvm.VoicemailTake)]


def profile(kit: Kit, account: str, **fields: Any) -> None:
    kit.store.put_profile(account, wp.parse(fields).to_json(), kit.now)


def test_nobody_answering_within_the_holders_timeout_asks_the_host_to_take_a_message(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    a = kit.box("a")
    kit.holder("ada", HOST_LINE, at=a)
    profile(kit, "acct-ada", voicemail={"timeout_s": 12, "greeting": "default"})
    out = ring(kit)
    assert [type(r.message) for r in requests(out)] == [CallOffer] and takes(out) == []
    assert kit.router.next_deadline() == pytest.approx(kit.now + 12)
    assert takes(kit.router.poll(kit.now + 11.9)) == []
    out = kit.router.poll(kit.now + 12)
    (take,) = takes(out)
    assert (take.call_id, take.number, take.greeting) == (CID, HOST_LINE, "default")
    rec = kit.store.get_voicemail(take.message_id)
    assert rec is not None and (rec.state, rec.account_id, rec.call_id, rec.host_box, rec.caller) == (
        "recording", "acct-ada", CID, "box-host", BOB.number)
    call = kit.store.get_call(CID)
    assert call is not None and call.outcome == "missed"  # the missed-call record the message belongs to


def test_a_holder_who_declines_or_is_busy_goes_to_voicemail(kit: Kit) -> None:
    from roamline.wire.calls import CallDeclined, DeclineReason

    kit.box("host", line=HOST_LINE)
    a = kit.box("a")
    kit.holder("ada", HOST_LINE, at=a)
    (offer,) = [r for r in requests(ring(kit)) if isinstance(r.message, CallOffer)]
    out = kit.router.reply_received(offer.ref, CallDeclined(call_id=CID, reason=DeclineReason.BUSY), kit.now)
    (take,) = takes(out)
    assert take.call_id == CID


def test_a_holder_whose_card_is_in_no_box_gets_a_message_at_once(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    kit.holder("ada", HOST_LINE)  # enrolled, card in no box
    out = ring(kit)
    assert sends(out, "conn-host") == [LineRouted(call_id=CID, offered=0)]
    (take,) = takes(out)
    assert kit.store.get_voicemail(take.message_id) is not None


def test_a_voicemail_filter_takes_a_message_and_a_block_does_not(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    a = kit.box("a")
    kit.holder("ada", HOST_LINE, at=a)
    profile(kit, "acct-ada", filters=[{"name": "bob", "action": "voicemail", "prefixes": [BOB.number]}])
    out = ring(kit)
    assert sends(out, "conn-host") == [LineRouted(call_id=CID, offered=0, filtered="voicemail")]
    assert len(takes(out)) == 1
    profile(kit, "acct-ada", filters=[{"name": "bob", "action": "block", "prefixes": [BOB.number]}])
    out = kit.send("box-host", LineRing(call_id="c-00000000000000f2", line=HOST_LINE, caller=BOB))
    assert takes(out) == []


def test_a_number_nobody_holds_takes_no_message(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    assert takes(ring(kit)) == []


def test_a_host_that_cannot_take_it_leaves_only_the_missed_call(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    kit.holder("ada", HOST_LINE)
    (req,) = [r for r in requests(ring(kit), "conn-host") if isinstance(r.message, wvm.VoicemailTake)]
    refusal = Error(code=wvm.VoicemailError.default_code, message="line busy")
    kit.router.reply_received(req.ref, refusal, kit.now)
    assert kit.store.get_voicemail(req.message.message_id) is None  # type: ignore[attr-defined]


# --- chunks ----------------------------------------------------------------------------------------


def _taken(kit: Kit) -> wvm.VoicemailTake:
    kit.box("host", line=HOST_LINE)
    kit.holder("ada", HOST_LINE)
    (take,) = takes(ring(kit))
    return take


def _meta(duration: float = 9.0) -> wvm.Meta:
    return wvm.Meta(call_id=CID, number=HOST_LINE, caller=BOB.number, caller_name=BOB.name,
                    started_at=1_800_000_010.0, ended_at=1_800_000_010.0 + duration, duration_s=duration,
                    ended="hangup")


def test_chunks_out_of_order_and_re_sent_make_one_message_and_bump_waiting(kit: Kit) -> None:
    take = _taken(kit)
    audio = bytes(range(256)) * 400  # 102 400 bytes: 4 chunks
    chunks = wvm.split(take.message_id, audio, _meta(12.8))
    assert len(chunks) == 4
    outcomes = [voicemail.receive_chunk(kit.store, "box-host", c.to_json(), kit.now)
                for c in (chunks[2], chunks[0], chunks[2], chunks[3])]
    assert outcomes == ["stored", "stored", "duplicate", "stored"]
    assert kit.store.voicemails("acct-ada") == []  # chunk 1 is still missing
    assert voicemail.receive_chunk(kit.store, "box-host", chunks[1].to_json(), kit.now) == "complete"
    for c in chunks:  # the whole message again (acks lost): nothing changes
        assert voicemail.receive_chunk(kit.store, "box-host", c.to_json(), kit.now) == "duplicate"
    (rec,) = kit.store.voicemails("acct-ada")
    assert (rec.state, rec.duration_s, rec.audio_bytes) == ("new", 12.8, len(audio))
    assert rec.caller_name == BOB.name
    assert kit.store.voicemail_audio(take.message_id) == audio
    stored = kit.store.get_profile("acct-ada")
    assert stored is not None and wp.parse(stored[0]).waiting == 1


def test_chunks_from_another_box_or_for_no_message_are_refused(kit: Kit) -> None:
    take = _taken(kit)
    (chunk,) = wvm.split(take.message_id, b"\x7f" * 100, _meta())
    assert voicemail.receive_chunk(kit.store, "box-other", chunk.to_json(), kit.now).startswith("refused")
    (stray,) = wvm.split("vm-00000000000000zz", b"\x7f" * 100, _meta())
    assert voicemail.receive_chunk(kit.store, "box-host", stray.to_json(), kit.now).startswith("refused")
    assert voicemail.receive_chunk(kit.store, "box-host", {"seq": "x"}, kit.now).startswith("refused")
    assert kit.store.voicemails("acct-ada") == []


def test_an_empty_recording_is_no_message(kit: Kit) -> None:
    take = _taken(kit)
    (chunk,) = wvm.split(take.message_id, b"", _meta(0.0))
    assert voicemail.receive_chunk(kit.store, "box-host", chunk.to_json(), kit.now) == "complete"
    assert kit.store.get_voicemail(take.message_id) is None


def test_saving_and_deleting_recount_waiting(kit: Kit) -> None:
    take = _taken(kit)
    for c in wvm.split(take.message_id, b"\x7f" * 1000, _meta()):
        voicemail.receive_chunk(kit.store, "box-host", c.to_json(), kit.now)

    def waiting() -> int:
        stored = kit.store.get_profile("acct-ada")
        assert stored is not None
        return wp.parse(stored[0]).waiting

    assert waiting() == 1
    saved = voicemail.set_state(kit.store, take.message_id, "saved", kit.now)
    assert saved is not None and saved.state == "saved" and waiting() == 0
    assert voicemail.set_state(kit.store, take.message_id, "new", kit.now) is not None and waiting() == 1
    assert voicemail.delete(kit.store, take.message_id, kit.now) is not None and waiting() == 0
    assert voicemail.delete(kit.store, take.message_id, kit.now) is None
    assert kit.store.voicemails("acct-ada") == []
