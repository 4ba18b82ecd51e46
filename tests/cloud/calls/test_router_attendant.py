"""The attendant on a shared host line (docs/protocol.md §10.6), in the router on a registry on SQLite:
when the menu is used, what the caller's choice rings, and every way the chosen holder's call falls to
that holder's voicemail outcome."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roamline.cloud.records import LineRight
from roamline.wire import profile as wp
from roamline.wire.calls import (
    AttendantChoice,
    CallAnswer,
    CallCancel,
    CallerId,
    CallOffer,
    CallReject,
    DeclineReason,
    Fallback,
    LineAnswer,
    LineChoice,
    LineFallback,
    LineHangup,
    LineResult,
    LineResultReply,
    LineRing,
    LineRouted,
    LineState,
    LineStateReport,
)
from roamline.wire.voicemail import VoicemailTake

from .routing_kit import Kit, make_kit, requests, sends

HOST_LINE = "+15551230000"
CID = "c-00000000000000a1"
BOB = CallerId(number="+15550300003", name="BOB JONES")


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[Kit]:
    k = make_kit(tmp_path)
    yield k
    k.store.close()


def shared(kit: Kit) -> tuple[str, str, str]:
    """box-host's line number has two holders: carol (at box-c) and ada (at box-a). Returns their cards."""
    kit.box("host", line=HOST_LINE)
    a, c = kit.box("a"), kit.box("c")
    carol = kit.holder("carol", HOST_LINE, at=c)
    ada = kit.holder("ada", HOST_LINE, at=a)
    return kit.holder("ada", HOST_LINE, at=kit.box("a2")), ada, carol


def ring(kit: Kit, caller: CallerId = BOB, call_id: str = CID) -> list[Any]:
    return kit.send("box-host", LineRing(call_id=call_id, line=HOST_LINE, caller=caller, rings=1))


def offers(out: list[Any]) -> dict[str, CallOffer]:
    return {r.conn_id: r.message for r in requests(out) if isinstance(r.message, CallOffer)}


def choose(kit: Kit, key: str, call_id: str = CID) -> list[Any]:
    return kit.send("box-host", LineChoice(call_id=call_id, key=key))


def fallbacks(out: list[Any]) -> list[LineFallback]:
    return [m for m in sends(out, "conn-host") if isinstance(m, LineFallback)]


def takes(out: list[Any]) -> list[VoicemailTake]:
    return [r.message for r in requests(out, "conn-host") if isinstance(r.message, VoicemailTake)]


def voicemail_for(kit: Kit, out: list[Any], account: str) -> None:
    """The host is asked to take a message on the answered line (voicemail.take), stored as the chosen
    holder's (``recording`` until its chunks come), and told no LineFallback."""
    (take,) = takes(out)
    assert take.call_id == CID and take.number == HOST_LINE
    rec = kit.store.get_voicemail(take.message_id)
    assert rec is not None and rec.account_id == account and rec.state == "recording"
    assert fallbacks(out) == []


def test_one_holder_is_offered_at_once_and_two_get_the_menu_in_name_order(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    kit.holder("carol", HOST_LINE, at=kit.box("c"))
    assert set(offers(ring(kit))) == {"conn-c"}  # one holder: no attendant
    kit.holder("ada", HOST_LINE, at=kit.box("a"))
    out = ring(kit, call_id="c-00000000000000a2")
    assert offers(out) == {}  # nobody rings before the caller chose
    assert sends(out, "conn-host") == [LineRouted(
        call_id="c-00000000000000a2", offered=0,
        attendant=(AttendantChoice(key="1", label="ada"), AttendantChoice(key="2", label="carol")))]
    rec = kit.store.get_call("c-00000000000000a2")
    assert rec is not None and rec.state == "open"
    # later rings of the same call: nobody rings still, no second menu
    again = kit.send("box-host", LineRing(call_id="c-00000000000000a2", line=HOST_LINE, caller=BOB, rings=2))
    assert sends(again, "conn-host") == [LineRouted(call_id="c-00000000000000a2", offered=0)]


def test_a_holder_without_the_receive_right_is_not_in_the_menu(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    kit.holder("carol", HOST_LINE, at=kit.box("c"))
    kit.holder("ada", HOST_LINE, at=kit.box("a"))
    kit.store.put_line_right(LineRight(HOST_LINE, "acct-ada", receive=False, call_out=False))
    out = ring(kit)
    assert set(offers(out)) == {"conn-c"}  # one holder left who may receive: offered directly


def test_key_2_rings_only_the_second_holders_boxes_and_the_answer_bridges_the_answered_line(kit: Kit) -> None:
    _, _, carol = shared(kit)
    ring(kit)
    out = choose(kit, "2")
    found = offers(out)
    assert set(found) == {"conn-c"} and found["conn-c"].card_id == carol
    assert found["conn-c"].caller == BOB and found["conn-c"].number == HOST_LINE
    out = kit.send("box-c", CallAnswer(call_id=CID, card_id=carol))
    (answer,) = [r for r in requests(out, "conn-host") if isinstance(r.message, LineAnswer)]
    out = kit.router.reply_received(answer.ref, LineResultReply(call_id=CID, result=LineResult.ANSWERED),
                                    kit.now)
    assert kit.router.calls()[CID].state == "connected"
    kit.now += 20
    kit.send("box-host", LineStateReport(call_id=CID, state=LineState.FAR_END_HANGUP))
    rec = kit.store.get_call(CID)
    assert rec is not None and rec.outcome == "answered" and rec.account_id == "acct-carol"
    assert rec.card_id == carol and rec.offered == ("box-c",)
    events = [e.fields for e in kit.store.events() if e.kind == "attendant-choice"]
    assert events == [{"call": CID, "key": "2", "accounts": ["acct-carol"]}]


def test_key_1_rings_every_box_of_the_first_holder(kit: Kit) -> None:
    ada2, ada, _ = shared(kit)
    ring(kit)
    found = offers(choose(kit, "1"))
    assert set(found) == {"conn-a", "conn-a2"}
    assert {o.card_id for o in found.values()} == {ada, ada2}


def test_no_answer_within_the_holders_timeout_falls_to_that_holders_voicemail(kit: Kit) -> None:
    shared(kit)
    kit.store.put_profile("acct-carol", wp.parse({"voicemail": {"timeout_s": 12}}).to_json(), kit.now)
    ring(kit)
    choose(kit, "2")
    kit.now += 11.9
    assert kit.router.poll(kit.now) == []
    kit.now += 0.2
    out = kit.router.poll(kit.now)
    assert [r.message for r in requests(out, "conn-c")] == [CallCancel(call_id=CID, reason="timeout")]  # type: ignore[arg-type]
    voicemail_for(kit, out, "acct-carol")
    # the host takes the message and hangs up itself
    assert not [r for r in requests(out, "conn-host") if isinstance(r.message, LineHangup)]
    rec = kit.store.get_call(CID)
    assert rec is not None and rec.outcome == "missed" and rec.end_reason == "no-answer"
    assert rec.account_id == "acct-carol"
    assert CID not in kit.router.calls()


def test_declined_everywhere_falls_to_voicemail_too(kit: Kit) -> None:
    shared(kit)
    ring(kit)
    choose(kit, "2")
    out = kit.send("box-c", CallReject(call_id=CID, reason=DeclineReason.DECLINED))
    voicemail_for(kit, out, "acct-carol")


def test_a_chosen_holder_with_no_card_anywhere_goes_straight_to_voicemail(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    kit.holder("carol", HOST_LINE, at=kit.box("c"))
    kit.holder("ada", HOST_LINE)  # no card in any box
    ring(kit)
    out = choose(kit, "1")
    assert offers(out) == {}
    voicemail_for(kit, out, "acct-ada")
    rec = kit.store.get_call(CID)
    assert rec is not None and rec.outcome == "missed" and rec.end_reason == "not-reachable"


@pytest.mark.parametrize(("action", "refusal", "outcome", "record"), [
    ("block", "spoken", Fallback.BLOCK, "filtered"),
    ("block", "silent", Fallback.REJECT, "filtered"),
    ("voicemail", "spoken", Fallback.VOICEMAIL, "missed"),
])
def test_the_chosen_holders_filters_decide_after_the_choice(kit: Kit, action: str, refusal: str,
                                                            outcome: Fallback, record: str) -> None:
    shared(kit)
    rule: dict[str, Any] = {"name": "bob", "action": action, "prefixes": ["+1555030"]}
    if action == "block":
        rule["refusal"] = refusal
    kit.store.put_profile("acct-carol", wp.parse({"filters": [rule]}).to_json(), kit.now)
    ring(kit)  # carol's filter does not keep her out of the menu
    out = choose(kit, "2")
    assert offers(out) == {}
    if outcome is Fallback.VOICEMAIL:
        voicemail_for(kit, out, "acct-carol")
    else:
        assert fallbacks(out) == [LineFallback(call_id=CID, outcome=outcome, account="acct-carol")]
        assert takes(out) == []
    rec = kit.store.get_call(CID)
    assert rec is not None and rec.outcome == record


def test_no_valid_choice_rings_every_holder_and_no_answer_is_the_first_holders_voicemail(
        kit: Kit) -> None:
    shared(kit)
    ring(kit)
    out = choose(kit, "")
    assert set(offers(out)) == {"conn-a", "conn-a2", "conn-c"}
    kit.now += 31
    out = kit.router.poll(kit.now)
    # nobody chosen and the host box has no owner among the holders: the menu's key 1 (ada, by name)
    voicemail_for(kit, out, "acct-ada")


def test_no_choice_is_the_line_owners_voicemail_when_the_owner_is_a_holder(kit: Kit) -> None:
    """The host box enrolled with owner ``carol`` (an account's name): her mailbox takes the shared line's
    message when the caller chose nobody, though ada is first in the menu; a choice still decides."""
    shared(kit)
    host = kit.store.get_box("box-host")
    assert host is not None
    kit.store.put_box(dataclasses.replace(host, owner="carol"))
    ring(kit)
    choose(kit, "")
    kit.now += 31
    voicemail_for(kit, kit.router.poll(kit.now), "acct-carol")
    kit.store.put_box(dataclasses.replace(host, owner="acct-ada"))  # an account id names the owner too
    second = "c-00000000000000a9"
    ring(kit, call_id=second)
    choose(kit, "", call_id=second)
    kit.now += 31
    (take,) = takes(kit.router.poll(kit.now))
    assert kit.store.get_voicemail(take.message_id).account_id == "acct-ada"  # type: ignore[union-attr]


def test_a_key_not_in_the_menu_from_a_buggy_host_is_the_default(kit: Kit) -> None:
    shared(kit)
    ring(kit)
    assert set(offers(choose(kit, "7"))) == {"conn-a", "conn-a2", "conn-c"}
    assert offers(choose(kit, "1")) == {}  # the first choice stands


def test_the_caller_hanging_up_during_the_menu_or_the_ringing_ends_the_call(kit: Kit) -> None:
    shared(kit)
    ring(kit)
    kit.send("box-host", LineStateReport(call_id=CID, state=LineState.FAR_END_HANGUP))
    assert CID not in kit.router.calls()
    assert kit.store.get_call(CID).outcome == "missed"  # type: ignore[union-attr]
    second = "c-00000000000000a3"
    ring(kit, call_id=second)
    choose(kit, "2", call_id=second)
    out = kit.send("box-host", LineStateReport(call_id=second, state=LineState.FAR_END_HANGUP))
    assert [r.message for r in requests(out, "conn-c")] == [CallCancel(call_id=second, reason="caller-gone")]  # type: ignore[arg-type]
    assert fallbacks(out) == []


def test_a_host_that_never_tells_the_choice_is_hung_up(kit: Kit) -> None:
    shared(kit)
    ring(kit)
    kit.now += kit.router.config.choose_s + 0.1
    out = kit.router.poll(kit.now)
    assert [r.message for r in requests(out, "conn-host")] == [LineHangup(call_id=CID, reason="no-answer")]  # type: ignore[arg-type]
    assert CID not in kit.router.calls()


def test_another_box_going_away_does_not_end_a_call_still_in_the_menu(kit: Kit) -> None:
    shared(kit)
    ring(kit)
    kit.router.box_disconnected("box-c", "conn-c", kit.now)
    assert CID in kit.router.calls()
    assert set(offers(choose(kit, "1"))) == {"conn-a", "conn-a2"}


def test_only_the_host_may_tell_the_choice(kit: Kit) -> None:
    shared(kit)
    ring(kit)
    assert kit.send("box-c", LineChoice(call_id=CID, key="2")) == []  # refused (a push: logged, dropped)
    assert kit.router.calls()[CID].choosing
