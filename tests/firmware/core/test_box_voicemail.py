"""The host line takes a message for the registry (voicemail.take) on a manual clock: answered only while
that call rings here, recorded by the runtime, queued in the outbox as chunks, the line hung up."""

from __future__ import annotations

from typing import Any

from roamline.firmware.core import events as ev
from roamline.firmware.handset.events import Digit
from roamline.firmware.line import events as line_ev
from roamline.wire import messages
from roamline.wire import voicemail as wvm

from .test_box_core import BOX, Rig, cid, kinds

NUMBER = "+12175551000"


def ringing(r: Rig) -> str:
    r.do(ev.LinkUp(BOX))
    r.do(cid("2175550199", "JANE DOE"))
    (ring,) = kinds(r.do(line_ev.Ring(1)), ev.CallSignal)
    return str(ring.call_id)


def take(call_id: str, message_id: str = "vm-000000000000000a1") -> ev.TakeVoicemail:
    return ev.TakeVoicemail(key="k9", call_id=call_id, message_id=message_id, number=NUMBER, max_s=60,
                            silence_s=5)


def replies(out: list[ev.Action]) -> list[tuple[str, Any]]:
    return [(a.kind, a.fields.get("detail")) for a in kinds(out, ev.CallSignal) if a.key == "k9"]


def chunks(out: list[ev.Action]) -> list[wvm.Chunk]:
    return [wvm.parse_chunk(a.payload) for a in kinds(out, ev.Enqueue) if a.kind == wvm.VOICEMAIL_CHUNK_KIND]


def test_a_take_answers_the_ringing_call_records_and_queues_the_message_in_chunks() -> None:
    r = Rig()
    call_id = ringing(r)
    out = r.do(take(call_id))
    assert replies(out) == [("ack", None)] and [a.op for a in kinds(out, ev.LineDo)] == ["answer"]
    out = r.do(ev.LineOpDone("answer", True))
    (rec,) = kinds(out, ev.RecordLine)
    assert (rec.message_id, rec.number, rec.greeting, rec.max_s, rec.silence_s) == (
        "vm-000000000000000a1", NUMBER, "default", 60, 5)
    audio = bytes(range(256)) * 300  # 76 800 bytes: 9.6 s, three chunks
    out = r.do(line_ev.CallEnded("far-end-hangup"))  # the caller hangs up
    assert [s.reason for s in kinds(out, ev.StopRecording)] == ["hangup"]
    (host,) = [a for a in kinds(out, ev.Enqueue) if a.kind == "call-record"]
    assert host.payload["outcome"] == "missed" and host.payload["voicemail"] == "vm-000000000000000a1"
    out = r.do(ev.LineRecorded("vm-000000000000000a1", audio, "hangup", 1_800_000_000.0, 1_800_000_009.6))
    got = chunks(out)
    assert [c.seq for c in got] == [0, 1, 2] and wvm.assemble(got) == audio
    meta = got[-1].meta
    assert meta is not None
    assert (meta.call_id, meta.caller, meta.caller_name, meta.duration_s, meta.ended) == (
        call_id, "2175550199", "JANE DOE", 9.6, "hangup")
    assert {a.key for a in kinds(out, ev.Enqueue)} == {c.key for c in got}  # idempotency keys
    assert chunks(r.do(ev.LineRecorded("vm-000000000000000a1", audio, "hangup", 0.0, 1.0))) == []  # once


def test_silence_or_the_longest_message_hangs_the_line_up() -> None:
    r = Rig()
    call_id = ringing(r)
    r.do(take(call_id))
    r.do(ev.LineOpDone("answer", True))
    out = r.do(ev.LineRecorded("vm-000000000000000a1", b"\xff" * 8000, "silence", 10.0, 11.0))
    assert [a.op for a in kinds(out, ev.LineDo)] == ["hangup"]
    (only,) = chunks(out)
    assert only.last and only.meta is not None and only.meta.ended == "silence"
    out = r.do(ev.LineOpDone("hangup", True))
    assert not kinds(out, ev.StopRecording)  # already over


def test_a_take_for_a_call_that_no_longer_rings_here_is_refused() -> None:
    r = Rig()
    call_id = ringing(r)
    assert replies(r.do(take("c-0000000000other"))) == [("refuse", "the call no longer rings here")]
    r.do(line_ev.CallEnded("caller-gone"))
    assert replies(r.do(take(call_id))) == [("refuse", "the call no longer rings here")]


def test_a_half_duplex_line_takes_a_message_though_it_cannot_bridge_a_conversation() -> None:
    half = Rig(bridge=False)
    out = half.do(take(ringing(half)))
    assert replies(out) == [("ack", None)] and [a.op for a in kinds(out, ev.LineDo)] == ["answer"]
    (rec,) = kinds(half.do(ev.LineOpDone("answer", True)), ev.RecordLine)
    assert rec.message_id == "vm-000000000000000a1"


def test_a_caller_gone_before_the_answer_leaves_an_empty_message() -> None:
    r = Rig()
    call_id = ringing(r)
    r.do(take(call_id))
    out = r.do(line_ev.CallEnded("caller-gone"))
    (stop,) = kinds(out, ev.StopRecording)
    out = r.do(ev.LineRecorded(stop.message_id, b"", stop.reason, 5.0, 5.0))
    (only,) = chunks(out)
    assert only.audio == b"" and only.last


def test_911_during_a_message_takes_the_line_and_the_message_is_kept() -> None:
    from roamline.firmware.handset.events import OffHook

    r = Rig()
    call_id = ringing(r)
    r.do(take(call_id))
    r.do(ev.LineOpDone("answer", True))
    r.do(OffHook(r.now))
    out = r.digits("911")
    assert "hangup" in [a.op for a in kinds(out, ev.LineDo)] or any(
        a.op == "dial" for a in kinds(out, ev.LineDo))
    out = r.do(line_ev.CallEnded("local-hangup"))
    (stop,) = kinds(r.actions, ev.StopRecording)
    out = r.do(ev.LineRecorded(stop.message_id, b"\x10" * 800, "hangup", 1.0, 1.1))
    assert len(chunks(out)) == 1
    assert [a.number for a in kinds(r.actions, ev.LineDo) if a.op == "dial"] == ["911"]


# --- the link down when the own line rings: the box takes the message itself -------------------------


def ringing_offline(r: Rig) -> str:
    r.do(cid("2175550199", "JANE DOE"))
    r.do(line_ev.Ring(1))
    (line,) = [a for a in r.actions if isinstance(a, ev.Emit) and a.event == "line.ring"]
    return str(line.fields["call_id"])


def test_with_the_link_down_the_box_answers_its_own_line_after_the_timeout_and_queues_the_message() -> None:
    r = Rig()
    call_id = ringing_offline(r)
    assert not kinds(r.actions, ev.CallSignal)  # nobody to tell: the link is down
    assert not kinds(r.tick(24.9), ev.LineDo)  # the profile's default timeout: 25 s
    out = r.tick(0.1)
    assert [a.op for a in kinds(out, ev.LineDo)] == ["answer"]
    (rec,) = kinds(r.do(ev.LineOpDone("answer", True)), ev.RecordLine)
    assert rec.message_id.startswith(wvm.OFFLINE_PREFIX) and rec.number == "+12175551000"
    assert rec.greeting == "default"
    out = r.do(line_ev.CallEnded("far-end-hangup"))
    (host,) = [a for a in kinds(out, ev.Enqueue) if a.kind == "call-record"]
    assert (host.payload["outcome"], host.payload["voicemail"], host.payload["route"]) == (
        "missed", rec.message_id, "offline-voicemail")
    assert (host.payload["number"], host.payload["caller"]) == ("+12175551000", "2175550199")
    audio = b"\x55" * 40_000
    got = chunks(r.do(ev.LineRecorded(rec.message_id, audio, "hangup", 1_800_000_000.0, 1_800_000_005.0)))
    assert wvm.assemble(got) == audio
    meta = got[-1].meta
    assert meta is not None and (meta.call_id, meta.number, meta.caller) == (call_id, "+12175551000",
                                                                             "2175550199")
    assert not kinds(r.tick(60.0), ev.LineDo)  # once: nothing more to take


def test_with_the_link_up_the_box_waits_for_the_registry_to_ask() -> None:
    r = Rig()
    ringing(r)
    assert not kinds(r.tick(60.0), ev.LineDo)


def test_the_link_back_while_it_rings_leaves_the_call_to_the_registry() -> None:
    r = Rig()
    ringing_offline(r)
    r.tick(10.0)
    r.do(ev.LinkUp(BOX))
    out = r.do(line_ev.Ring(2))
    assert [a.kind for a in kinds(out, ev.CallSignal)] == ["line.ring"]
    assert not kinds(r.tick(30.0), ev.LineDo)


def test_911_during_an_offline_message_takes_the_line_and_the_message_is_kept() -> None:
    from roamline.firmware.handset.events import OffHook

    r = Rig()
    ringing_offline(r)
    r.tick(25.0)
    r.do(ev.LineOpDone("answer", True))
    r.do(OffHook(r.now))
    r.digits("911")
    r.do(line_ev.CallEnded("local-hangup"))
    (stop,) = kinds(r.actions, ev.StopRecording)
    assert stop.message_id.startswith(wvm.OFFLINE_PREFIX)
    assert len(chunks(r.do(ev.LineRecorded(stop.message_id, b"\x10" * 800, "hangup", 1.0, 1.1)))) == 1
    assert [a.number for a in kinds(r.actions, ev.LineDo) if a.op == "dial"] == ["911"]


# --- the holder's mailbox (*98) -----------------------------------------------------------------------


def _requests(out: list[ev.Action], cls: type) -> list[ev.Request]:
    return [a for a in kinds(out, ev.Request) if isinstance(a.message, cls)]


def _listed(*ids: str) -> wvm.VoicemailListed:
    return wvm.VoicemailListed(card_id=CARD, messages=tuple(
        wvm.ListedMessage(message_id=i, state="new", audio_bytes=40_000) for i in ids))


CARD = "c" * 32
M1, M2 = "vm-00000000000000001", "vm-00000000000000002"


def dial_mailbox(r: Rig) -> list[ev.Action]:
    from roamline.firmware.handset.events import OffHook

    r.do(ev.LinkUp(BOX))
    r.register("r0", CARD)
    r.do(OffHook(r.now))
    out = r.digits("*98")
    out += r.tick(5.0)  # the interdigit timeout decides a code that could go on
    return out


def test_star_98_plays_each_message_then_the_menu_and_7_9_hash_act() -> None:
    from roamline.firmware.handset.events import Digit

    r = Rig()
    out = dial_mailbox(r)
    (listing,) = _requests(out, wvm.VoicemailList)
    assert listing.message.card_id == CARD  # type: ignore[attr-defined]
    out = r.do(ev.Reply(listing.key, _listed(M1, M2)))
    (fetch,) = _requests(out, wvm.VoicemailFetch)
    assert (fetch.message.message_id, fetch.message.seq) == (M1, 0)  # type: ignore[attr-defined]
    out = r.do(ev.Reply(fetch.key, wvm.VoicemailAudio(message_id=M1, seq=0, last=False,
                                                      audio=b"\x01" * 32000)))
    (fetch,) = _requests(out, wvm.VoicemailFetch)
    assert fetch.message.seq == 1  # type: ignore[attr-defined]
    out = r.do(ev.Reply(fetch.key, wvm.VoicemailAudio(message_id=M1, seq=1, last=True,
                                                      audio=b"\x02" * 8000)))
    (play,) = kinds(out, ev.PlayMessage)
    assert (play.audio, play.then, play.before) == (b"\x01" * 32000 + b"\x02" * 8000, "vm-menu", "")
    out = r.do(Digit(r.now, "7", "dtmf"))  # delete
    (mark,) = _requests(out, wvm.VoicemailMark)
    assert isinstance(mark.message, wvm.VoicemailMark)
    assert (mark.message.message_id, mark.message.action) == (M1, wvm.MarkAction.DELETE)
    out = r.do(ev.Reply(mark.key, messages.Ok()))
    (fetch,) = _requests(out, wvm.VoicemailFetch)
    assert fetch.message.message_id == M2  # type: ignore[attr-defined]
    out = r.do(ev.Reply(fetch.key, wvm.VoicemailAudio(message_id=M2, seq=0, last=True,
                                                      audio=b"\x03" * 100)))
    (play,) = kinds(out, ev.PlayMessage)
    assert play.before == "vm-deleted"  # what the key did, said before the next message
    out = r.do(Digit(r.now, "#", "dtmf"))  # skip: kept new, no request
    assert not _requests(out, wvm.VoicemailMark)
    (end,) = kinds(out, ev.PlayMessage)
    assert (end.audio, end.then) == (b"", "vm-end")


def test_star_98_with_no_messages_says_so_and_without_a_card_asks_for_one() -> None:
    from roamline.firmware.handset.events import OffHook

    r = Rig()
    (listing,) = _requests(dial_mailbox(r), wvm.VoicemailList)
    out = r.do(ev.Reply(listing.key, _listed()))
    assert [p.name for p in kinds(out, ev.PlayPrompt)] == ["vm-none"]
    bare = Rig()
    bare.do(ev.LinkUp(BOX))
    bare.do(OffHook(bare.now))
    out = bare.digits("*98") + bare.tick(5.0)
    assert [p.name for p in kinds(out, ev.PlayPrompt)] == ["insert-card"]
    assert not _requests(out, wvm.VoicemailList)


def test_the_card_leaving_stops_the_mailbox_and_a_refusal_is_said() -> None:
    from roamline.firmware.card.events import CardRemoved

    r = Rig()
    (listing,) = _requests(dial_mailbox(r), wvm.VoicemailList)
    out = r.do(ev.Reply(listing.key, _listed(M1)))
    (fetch,) = _requests(out, wvm.VoicemailFetch)
    r.do(CardRemoved(at=r.now, reader="r0"))
    assert r.core.mailbox is None
    out = r.do(ev.Reply(fetch.key, wvm.VoicemailAudio(message_id=M1, seq=0, last=True,
                                                      audio=b"\x01" * 10)))
    assert not kinds(out, ev.PlayMessage)  # nothing of theirs plays once the card is out
    r2 = Rig()
    (listing,) = _requests(dial_mailbox(r2), wvm.VoicemailList)
    out = r2.do(ev.RequestFailed(listing.key, "card not registered", unreachable=False))
    assert [p.name for p in kinds(out, ev.PlayPrompt)] == ["refused"] and r2.core.mailbox is None


def test_star_records_a_greeting_ended_by_hash_and_sends_it_in_pieces() -> None:
    from roamline.firmware.handset.events import Digit

    r = Rig()
    (listing,) = _requests(dial_mailbox(r), wvm.VoicemailList)
    out = r.do(ev.Reply(listing.key, _listed()))
    assert [p.name for p in kinds(out, ev.PlayPrompt)] == ["vm-none"] and r.core.mailbox is not None
    out = r.do(Digit(r.now, "*", "dtmf"))
    (rec,) = kinds(out, ev.RecordGreeting)
    assert rec.greeting_id.startswith("g-") and len(rec.greeting_id) == 18
    assert not kinds(r.do(Digit(r.now, "7", "dtmf")), ev.Request)  # keys other than # while recording
    (stop,) = kinds(r.do(Digit(r.now, "#", "dtmf")), ev.StopGreeting)
    assert stop.greeting_id == rec.greeting_id
    said = bytes(range(256)) * 200  # 51 200 bytes: two pieces
    out = r.do(ev.GreetingRecorded(rec.greeting_id, said))
    sent = _requests(out, wvm.VoicemailGreeting)
    pieces = [s.message for s in sent]
    assert [(p.seq, p.last) for p in pieces] == [(0, False), (1, True)]  # type: ignore[attr-defined]
    assert b"".join(p.audio for p in pieces) == said  # type: ignore[attr-defined]
    assert not kinds(r.do(ev.Reply(sent[1].key, messages.Ok())), ev.PlayMessage)
    (done,) = kinds(r.do(ev.Reply(sent[0].key, messages.Ok())), ev.PlayMessage)
    assert (done.before, done.then) == ("vm-greeting-saved", "vm-end")


def test_hanging_up_mid_greeting_keeps_nothing() -> None:
    from roamline.firmware.handset.events import Digit, OnHook

    r = Rig()
    (listing,) = _requests(dial_mailbox(r), wvm.VoicemailList)
    r.do(ev.Reply(listing.key, _listed()))
    (rec,) = kinds(r.do(Digit(r.now, "*", "dtmf")), ev.RecordGreeting)
    out = r.do(OnHook(r.now))
    assert [s.greeting_id for s in kinds(out, ev.StopGreeting)] == [rec.greeting_id]
    assert not kinds(r.do(ev.GreetingRecorded(rec.greeting_id, b"\x01" * 8000)), ev.Request)


# --- *98 with a voicemail PIN (the registry checks it; the box never holds its hash) -----------------------


def _pin_asked(r: Rig) -> ev.Request:
    (listing,) = _requests(dial_mailbox(r), wvm.VoicemailList)
    out = r.do(ev.Reply(listing.key, wvm.VoicemailListed(card_id=CARD, pin_required=True)))
    assert [p.name for p in kinds(out, ev.PlayPrompt)] == ["vm-pin"]
    assert not _requests(out, wvm.VoicemailFetch) and r.core.phone.state.value == "connected"
    return listing


def _checked(r: Rig, req: ev.Request, result: wvm.PinResult) -> list[ev.Action]:
    return r.do(ev.Reply(req.key, wvm.VoicemailPinChecked(card_id=CARD, result=result)))


def test_the_right_pin_opens_the_mailbox_and_lists_again() -> None:
    r = Rig()
    _pin_asked(r)
    out = r.digits("2468#")
    (pin,) = _requests(out, wvm.VoicemailPin)
    assert pin.message.pin == "2468" and pin.message.card_id == CARD  # type: ignore[attr-defined]
    out = _checked(r, pin, wvm.PinResult.OK)
    (again,) = _requests(out, wvm.VoicemailList)
    out = r.do(ev.Reply(again.key, _listed(M1)))
    (fetch,) = _requests(out, wvm.VoicemailFetch)
    assert fetch.message.message_id == M1  # type: ignore[attr-defined]
    out = r.do(Digit(r.now, "7", "dtmf"))  # the menu's keys work as without a PIN
    assert _requests(out, wvm.VoicemailMark)


def test_a_pin_without_pound_is_taken_after_the_interdigit_timeout_and_eight_keys_end_it() -> None:
    r = Rig()
    _pin_asked(r)
    assert not _requests(r.digits("2468"), wvm.VoicemailPin)
    assert not _requests(r.tick(3.9), wvm.VoicemailPin)  # 4 s after the last key, not before
    (pin,) = _requests(r.tick(0.2), wvm.VoicemailPin)
    assert pin.message.pin == "2468"  # type: ignore[attr-defined]
    r3 = Rig()
    _pin_asked(r3)
    (pin,) = _requests(r3.digits("24681357"), wvm.VoicemailPin)  # the eighth key sends it at once
    assert pin.message.pin == "24681357"  # type: ignore[attr-defined]


def test_three_wrong_pins_say_so_and_end_with_reorder_and_911_still_dials_at_once() -> None:
    r = Rig()
    _pin_asked(r)
    prompts: list[str] = []
    for i in range(3):
        (pin,) = _requests(r.digits("1357#"), wvm.VoicemailPin)
        out = _checked(r, pin, wvm.PinResult.WRONG)
        prompts += [p.name for p in kinds(out, ev.PlayPrompt)]
        assert (r.core.mailbox is None) == (i == 2)
    assert prompts == ["vm-pin-wrong", "vm-pin-wrong", "vm-pin-failed"]
    assert [t.tone for t in kinds(out, ev.PlayTone)][-1] == "reorder"
    assert r.core.phone.state.value == "failed"
    assert not _requests(r.digits("2468#"), wvm.VoicemailPin)  # no fourth try in this session
    r.tick(10.0)
    r.digits("91")
    out = r.do(Digit(r.now, "1", "dtmf"))
    assert isinstance(out[0], ev.LineDo) and (out[0].op, out[0].number) == ("dial", "911")


def test_a_too_short_pin_is_a_wrong_try_without_asking_the_registry() -> None:
    r = Rig()
    _pin_asked(r)
    out = r.digits("12#")
    assert not _requests(out, wvm.VoicemailPin)
    assert [p.name for p in kinds(out, ev.PlayPrompt)] == ["vm-pin-wrong"]
    assert r.core.mailbox is not None and r.core.mailbox.pin_tries == 1


def test_no_key_at_all_ends_the_mailbox_after_the_first_digit_time() -> None:
    r = Rig()
    _pin_asked(r)
    assert not kinds(r.tick(14.0), ev.PlayPrompt) and r.core.mailbox is not None
    out = r.tick(1.1)
    assert [p.name for p in kinds(out, ev.PlayPrompt)] == ["vm-pin-none"]
    assert [t.tone for t in kinds(out, ev.PlayTone)] == ["reorder"] and r.core.mailbox is None


def test_the_registrys_lock_ends_the_session_at_once() -> None:
    r = Rig()
    _pin_asked(r)
    (pin,) = _requests(r.digits("2468#"), wvm.VoicemailPin)
    out = _checked(r, pin, wvm.PinResult.LOCKED)
    assert [p.name for p in kinds(out, ev.PlayPrompt)] == ["vm-pin-locked"] and r.core.mailbox is None


def test_911_keyed_at_the_pin_prompt_dials_at_once() -> None:
    r = Rig()
    _pin_asked(r)
    r.digits("91")
    out = r.do(Digit(r.now, "1", "dtmf"))
    assert isinstance(out[0], ev.LineDo) and (out[0].op, out[0].number) == ("dial", "911")  # first
    assert not _requests(out, wvm.VoicemailPin) and r.core.mailbox is None
    assert any(isinstance(a, ev.Emit) and a.event == "emergency.dialled" for a in out)
    assert r.core.active is not None and r.core.active.route == "emergency"
    r.tick(20.0)
    assert not _requests(r.actions, wvm.VoicemailPin)  # the PIN's timeout died with the mailbox


def test_911_keyed_after_a_wrong_pin_and_while_one_is_checked_dials_at_once() -> None:
    r = Rig()
    _pin_asked(r)
    (pin,) = _requests(r.digits("1357#"), wvm.VoicemailPin)
    _checked(r, pin, wvm.PinResult.WRONG)
    out = r.digits("911")
    assert [a.number for a in kinds(out, ev.LineDo) if a.op == "dial"] == ["911"]
    r2 = Rig()
    _pin_asked(r2)
    (pin,) = _requests(r2.digits("2468#"), wvm.VoicemailPin)
    out = r2.digits("911")  # the registry has not answered yet
    assert [a.number for a in kinds(out, ev.LineDo) if a.op == "dial"] == ["911"]
    assert not _checked(r2, pin, wvm.PinResult.OK)  # its late answer opens nothing
