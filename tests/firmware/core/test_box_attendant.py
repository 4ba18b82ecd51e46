"""The host box's side of a shared line's attendant (docs/protocol.md §10.6), on a manual clock: the
menu said on the answered line, the caller's key read from the line's DTMF, said once more for no key or
a wrong one, then the default; ringback while the chosen holder's boxes ring; the holder's answer
bridged; and the fallback the cloud tells when nobody takes the call."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from roamline.firmware.callerid.codec import CallerId
from roamline.firmware.core import events as ev
from roamline.firmware.core.box import ATTENDANT_PROMPT, BoxCore, CoreConfig, attendant_text
from roamline.firmware.core.linkcalls import incoming, outgoing
from roamline.firmware.dialplan import Classifier, load_plan
from roamline.firmware.line import events as line_ev
from roamline.wire import calls as wc
from roamline.wire.clock import ManualClock
from roamline.wire.messages import Envelope

BOX = "b" * 32
MENU = (wc.AttendantChoice(key="1", label="alice"), wc.AttendantChoice(key="2", label="carol"))


class Rig:
    def __init__(self, *, bridge: bool = True) -> None:
        self.clock = ManualClock()
        ids = (f"call-{i:04d}" for i in itertools.count())
        self.core = BoxCore(
            CoreConfig(box_id=BOX, has_line=True, line_can_bridge=bridge, line_number="+12175551000"),
            Classifier(load_plan("US"), line_number="+12175551000"), self.clock.monotonic(),
            new_id=lambda: next(ids))
        self.core.handle(ev.LinkUp(BOX), self.now)

    @property
    def now(self) -> float:
        return self.clock.monotonic()

    def do(self, event: Any) -> list[ev.Action]:
        return self.core.handle(event, self.now)

    def tick(self, s: float) -> list[ev.Action]:
        self.clock.advance(s)
        return self.core.poll(self.now)

    def ring_with_menu(self) -> str:
        """BOB calls the line; the cloud answers the ring with the attendant's menu."""
        self.do(line_ev.CallerIdReceived(CallerId(number="5550300003", name="BOB JONES")))
        (ring,) = kinds(self.do(line_ev.Ring(1)), ev.CallSignal)
        out = self.do(ev.Reply(ring.key, wc.LineRouted(call_id=ring.call_id, offered=0, attendant=MENU)))
        assert [a.op for a in kinds(out, ev.LineDo)] == ["answer"]
        assert kinds(out, ev.MakePrompt) == [ev.MakePrompt(ATTENDANT_PROMPT,
                                                           "Press 1 for alice. Press 2 for carol.")]
        return ring.call_id

    def answered_menu(self) -> str:
        call_id = self.ring_with_menu()
        out = self.do(ev.LineOpDone("answer", True))
        assert line_connects(out) == [f"prompt:{ATTENDANT_PROMPT}"]
        return call_id


def kinds(actions: list[ev.Action], t: type) -> list[Any]:
    return [a for a in actions if isinstance(a, t)]


def line_connects(actions: list[ev.Action]) -> list[str | None]:
    return [a.b for a in kinds(actions, ev.Connect) if a.a == "line"]


def choices(actions: list[ev.Action]) -> list[str]:
    return [a.fields["key"] for a in kinds(actions, ev.CallSignal) if a.kind == "line.choice"]


def test_the_menu_is_said_on_the_answered_line_and_key_2_is_told_with_ringback_to_the_caller() -> None:
    r = Rig()
    call_id = r.answered_menu()
    out = r.do(line_ev.DtmfDigit("2"))
    assert choices(out) == ["2"]
    assert line_connects(out) == ["tone:ringback"]
    # the wire form of the choice
    (sig,) = [a for a in kinds(out, ev.CallSignal) if a.kind == "line.choice"]
    assert outgoing(sig) == ("push", wc.LineChoice(call_id=call_id, key="2"))
    # later keys are the caller's business, not a second choice
    assert choices(r.do(line_ev.DtmfDigit("1"))) == []


def test_the_chosen_holders_answer_bridges_the_line_that_is_already_off_hook() -> None:
    r = Rig()
    call_id = r.answered_menu()
    r.do(line_ev.DtmfDigit("1"))
    out = r.do(ev.LineCommand("k9", "answer", call_id, flow_id=7))
    assert kinds(out, ev.LineDo) == []  # no second off-hook
    (res,) = [a for a in kinds(out, ev.CallSignal) if a.kind == "line.result"]
    assert res.key == "k9" and res.fields["result"] == "answered"
    assert line_connects(out) == ["flow:7"]
    assert r.core.line is not None and r.core.line.state == "connected"


@pytest.mark.parametrize("first", ["silence", "9"])
def test_no_key_or_a_wrong_key_says_the_menu_once_more_then_rings_everyone(first: str) -> None:
    r = Rig()
    r.answered_menu()
    wait = r.core.cfg.attendant_wait_s + 2.0 * len(MENU)
    if first == "silence":
        assert r.tick(wait - 0.1) == []
        out = r.tick(0.2)
    else:
        r.tick(1.0)
        out = r.do(line_ev.DtmfDigit("9"))
    assert line_connects(out) == [f"prompt:{ATTENDANT_PROMPT}"] and choices(out) == []
    assert r.tick(wait - 0.1) == []
    out = r.tick(0.2)
    assert choices(out) == [""]  # the default: every holder rings
    assert line_connects(out) == ["tone:ringback"]


def test_a_wrong_key_after_the_repeat_is_the_default_at_once() -> None:
    r = Rig()
    r.answered_menu()
    r.do(line_ev.DtmfDigit("#"))
    assert choices(r.do(line_ev.DtmfDigit("0"))) == [""]


def test_a_key_while_the_line_is_still_being_answered_is_not_taken() -> None:
    r = Rig()
    r.ring_with_menu()
    assert choices(r.do(line_ev.DtmfDigit("2"))) == []
    r.do(ev.LineOpDone("answer", True))
    assert choices(r.do(line_ev.DtmfDigit("2"))) == ["2"]


@pytest.mark.parametrize(("outcome", "prompt"), [("voicemail", "voicemail-unavailable"),
                                                 ("block", "refused-filtered")])
def test_the_clouds_fallback_is_said_on_the_line_then_the_box_hangs_up(outcome: str, prompt: str) -> None:
    r = Rig()
    call_id = r.answered_menu()
    r.do(line_ev.DtmfDigit("2"))
    r.tick(25.0)
    event = incoming(Envelope(message=wc.LineFallback(call_id=call_id, outcome=wc.Fallback(outcome),
                                                      account="acct-carol")))
    assert event == ev.AttendantFallback(call_id, outcome, "acct-carol")
    out = r.do(event)
    assert line_connects(out) == [f"prompt:{prompt}"]
    assert kinds(out, ev.LineDo) == []  # the line is off hook already
    assert not kinds(r.tick(r.core.cfg.announce_s - 0.1), ev.LineDo)
    assert [a.op for a in kinds(r.tick(0.2), ev.LineDo)] == ["hangup"]


def test_a_silent_refusal_hangs_up_without_a_word() -> None:
    r = Rig()
    call_id = r.answered_menu()
    r.do(line_ev.DtmfDigit("1"))
    out = r.do(ev.AttendantFallback(call_id, "reject"))
    assert [a.op for a in kinds(out, ev.LineDo)] == ["hangup"]
    assert not [b for b in line_connects(out) if b and b.startswith("prompt:")]


def test_a_fallback_while_the_line_is_still_answering_is_said_once_it_is_up() -> None:
    r = Rig()
    call_id = r.ring_with_menu()
    assert kinds(r.do(ev.AttendantFallback(call_id, "voicemail")), ev.LineDo) == []  # answering already
    out = r.do(ev.LineOpDone("answer", True))
    assert line_connects(out) == ["prompt:voicemail-unavailable"]


def test_the_caller_hanging_up_in_the_menu_is_told_to_the_cloud_and_stops_the_menu() -> None:
    r = Rig()
    call_id = r.answered_menu()
    out = r.do(line_ev.CallEnded("loop-current-loss"))
    states = [a.fields["state"] for a in kinds(out, ev.CallSignal) if a.kind == "line.state"]
    assert states == ["far-end-hangup"]
    assert None in line_connects(out)
    assert r.core.line is None
    assert not choices(r.tick(60.0))  # no menu timer left behind
    records = [a.payload for a in kinds(out, ev.Enqueue)]
    assert records and records[0]["call_id"] == call_id and records[0]["side"] == "host"


def test_a_half_duplex_line_takes_the_default_without_answering() -> None:
    r = Rig(bridge=False)
    r.do(line_ev.CallerIdReceived(CallerId(number="5550300003", name="BOB JONES")))
    (ring,) = kinds(r.do(line_ev.Ring(1)), ev.CallSignal)
    out = r.do(ev.Reply(ring.key, wc.LineRouted(call_id=ring.call_id, offered=0, attendant=MENU)))
    assert kinds(out, ev.LineDo) == [] and choices(out) == [""]


def test_the_words_are_the_menus() -> None:
    assert attendant_text((("1", "alice"),)) == "Press 1 for alice."


@pytest.mark.parametrize("when", ["ringing-for-holder", "in-the-menu"])
def test_the_holders_voicemail_is_recorded_on_the_line_the_attendant_answered(when: str) -> None:
    """``voicemail.take`` for an attendant's call: the line is off hook already, so the box records at
    once (greeting, beep, message) — no second answer."""
    r = Rig()
    call_id = r.answered_menu()
    if when == "ringing-for-holder":
        r.do(line_ev.DtmfDigit("2"))
    out = r.do(ev.TakeVoicemail(key="k7", call_id=call_id, message_id="vm-0000000000000001",
                                number="+15550100001"))
    assert kinds(out, ev.LineDo) == []
    (ack,) = [a for a in kinds(out, ev.CallSignal) if a.key == "k7"]
    assert ack.kind == "ack"
    (rec,) = kinds(out, ev.RecordLine)
    assert rec.message_id == "vm-0000000000000001" and rec.number == "+15550100001"
    assert r.core.line is not None and r.core.line.state == "voicemail"
    assert choices(r.tick(60.0)) == []  # the menu's timer is gone


def test_a_take_while_the_attendant_still_answers_records_once_the_line_is_up() -> None:
    r = Rig()
    call_id = r.ring_with_menu()
    out = r.do(ev.TakeVoicemail(key="k8", call_id=call_id, message_id="vm-0000000000000002",
                                number="+15550100001"))
    assert kinds(out, ev.LineDo) == [] and kinds(out, ev.RecordLine) == []
    out = r.do(ev.LineOpDone("answer", True))
    assert [x.message_id for x in kinds(out, ev.RecordLine)] == ["vm-0000000000000002"]
    assert line_connects(out) == []  # no menu
