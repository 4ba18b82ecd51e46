"""The router's side of the answering point's call-back to a box with no line (DESIGN §6.4): within the
hour of the emergency call that presented the number, the originating box rings with no card (past
filters, rights, voicemail); answering bridges it to the SIP leg; either end hangs up; outside the
window, for an unknown number or a box not linked, the INVITE is refused. Property: no holder, profile
or card state at the box keeps the call-back from ringing it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamline.cloud.records import AnsweringPoint, Box, EmergencyRecord
from roamline.cloud.router import (
    NO_CARD,
    Bridge,
    SosCallbackAnswer,
    SosCallbackHangup,
    SosCallbackRefuse,
    SosCallbackRing,
    sos_conn,
)
from roamline.cloud.sos_uas import CallbackSource
from roamline.wire.calls import (
    AnswerResult,
    CallAnswer,
    CallAnswered,
    CallEmergency,
    CallHangup,
    CallOffer,
    EndReason,
)

from .routing_kit import Kit, make_kit, requests, sends

CIVIC = {"country": "US", "A1": "IL", "A3": "Shelbyville", "HNO": "12", "RD": "Mill Lane"}
NUMBER = "+15550400004"
SIP_ID = "cb-1@psap.example"
SRC = CallbackSource("10.0.0.5", 5060)  # the directory's answering point (its URI's host)


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[Kit]:
    k = make_kit(tmp_path)
    k.store.replace_answering_points([AnsweringPoint("any", "sip:psap@10.0.0.5:5060", "default")])
    yield k
    k.store.close()


def emergency_from(kit: Kit, name: str = "c") -> str:
    """A box with no line whose holder (dana, +15550400004) called 911 by the SIP route, which ended."""
    box_id = f"box-{name}"
    kit.store.put_box(Box(box_id, "pem", name, "sim", {"civic": CIVIC, "method": "installer"}, None, None,
                          False, kit.now))
    kit.router.box_connected(box_id, "conn-" + name, kit.now)
    card = kit.holder("dana", NUMBER, at=box_id)
    cid = "e-" + secrets.token_hex(8)
    kit.send(box_id, CallEmergency(call_id=cid, number="911", card_id=card))
    kit.send(box_id, CallHangup(call_id=cid, reason=EndReason.HANGUP))
    (reg,) = kit.store.active_registrations_at(box_id)
    kit.store.end_registration(reg.registration_id, kit.now, "removed")
    return box_id


def test_a_call_back_rings_the_box_with_no_card_is_bridged_and_either_end_hangs_up(kit: Kit) -> None:
    box = emergency_from(kit)
    assert kit.store.active_registrations_at(box) == []  # dana's card is gone
    out = kit.router.sos_callback(SIP_ID, NUMBER, "+15550911000", kit.now + 600, source=SRC)
    (ring,) = [a for a in out if isinstance(a, SosCallbackRing)]
    assert ring.sip_id == SIP_ID and ring.box_id == box
    (offer_req,) = requests(out, "conn-c")
    offer = offer_req.message
    assert isinstance(offer, CallOffer) and offer.emergency_callback and offer.card_id == NO_CARD
    assert offer.caller.number == "+15550911000"
    kit.now += 601
    out = kit.send(box, CallAnswer(call_id=ring.call_id, card_id=NO_CARD))
    (answered,) = sends(out, "conn-c")
    assert isinstance(answered, CallAnswered) and answered.result is AnswerResult.CONNECTED
    (bridge,) = [a for a in out if isinstance(a, Bridge)]
    assert (bridge.a, bridge.conn_a) == (ring.flow_id, sos_conn(ring.call_id))
    assert (bridge.b, bridge.conn_b) == (offer.flow_id, "conn-c")
    assert SosCallbackAnswer(ring.call_id) in out
    # the answering point's side may be silent (it listens): not ended for it
    assert kit.router.media_silent([ring.flow_id], kit.now + 30) == []
    out = kit.send(box, CallHangup(call_id=ring.call_id, reason=EndReason.HANGUP))
    assert SosCallbackHangup(ring.call_id) in out
    rec = kit.store.get_call(ring.call_id)
    assert rec is not None and rec.route == "sos-callback" and rec.outcome == "answered"
    assert rec.terminal_box == box

    # again; this time the PSAP ends it
    out = kit.router.sos_callback("cb-2@psap", NUMBER, "", kit.now + 5, source=SRC)
    (ring2,) = [a for a in out if isinstance(a, SosCallbackRing)]
    kit.send(box, CallAnswer(call_id=ring2.call_id, card_id=NO_CARD))
    out = kit.router.sos_callback_event(ring2.call_id, "ended", kit.now + 9)
    (hangup,) = [r.message for r in requests(out, "conn-c")]
    assert isinstance(hangup, CallHangup) and hangup.reason is EndReason.FAR_END


def test_unanswered_or_cancelled_call_backs_end_and_tell_the_sip_side(kit: Kit) -> None:
    emergency_from(kit)
    out = kit.router.sos_callback(SIP_ID, NUMBER, "", kit.now + 1, source=SRC)
    (ring,) = [a for a in out if isinstance(a, SosCallbackRing)]
    out = kit.router.poll(kit.now + 1 + 31)  # nobody lifted within the no-answer time
    assert SosCallbackHangup(ring.call_id) in out
    out = kit.router.sos_callback("cb-3@psap", NUMBER, "", kit.now + 40, source=SRC)
    (ring,) = [a for a in out if isinstance(a, SosCallbackRing)]
    out = kit.router.sos_callback_event(ring.call_id, "cancelled", kit.now + 41)
    assert any(isinstance(r.message, type(r.message)) and r.message.TYPE == "call.cancel"
               for r in requests(out, "conn-c"))


def test_outside_the_window_unknown_numbers_and_unlinked_boxes_are_refused(kit: Kit) -> None:
    box = emergency_from(kit)
    (refused,) = kit.router.sos_callback(SIP_ID, NUMBER, "", kit.now + 3601, source=SRC)
    assert refused == SosCallbackRefuse(SIP_ID, 480, "Temporarily Unavailable")
    (refused,) = kit.router.sos_callback(SIP_ID, "+15550499999", "", kit.now + 1, source=SRC)
    assert isinstance(refused, SosCallbackRefuse) and refused.status == 404
    kit.router.box_disconnected(box, "conn-c", kit.now + 2)
    (refused,) = kit.router.sos_callback(SIP_ID, NUMBER, "", kit.now + 3, source=SRC)
    assert isinstance(refused, SosCallbackRefuse) and refused.status == 480


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cards=st.lists(st.sampled_from(["registered", "other-holder"]), max_size=3),
       profile=st.sampled_from([None, "block-all", "voicemail-all"]),
       age=st.floats(min_value=0.0, max_value=3599.0))
def test_no_holder_profile_or_card_state_keeps_the_call_back_from_ringing(
    kit: Kit, cards: list[str], profile: str | None, age: float
) -> None:
    name = secrets.token_hex(3)
    box = emergency_from(kit, name)
    for i, kind in enumerate(cards):
        acct = "dana" if kind == "registered" else f"other{i}"
        card = kit.holder(acct, NUMBER if acct == "dana" else f"+1555060{i:04d}", at=box)
        assert card
    if profile is not None:
        action = "block" if profile == "block-all" else "voicemail"
        kit.store.put_profile("acct-dana", {"version": 1, "filters": [{"action": action}]}, kit.now)
    out = kit.router.sos_callback(f"cb-{name}@psap", NUMBER, "", kit.now + age, source=SRC)
    (ring,) = [a for a in out if isinstance(a, SosCallbackRing)]
    assert ring.box_id == box
    assert [r.message.TYPE for r in requests(out, "conn-" + name)] == ["call.offer"]


def recorded(kit: Kit, box: str) -> None:
    """The registry's record of the box's emergency call (made from the box's report, not by the router)."""
    last = kit.store.last_sos_call(NUMBER)
    assert last is not None and last[1] == box
    assert kit.store.add_emergency(EmergencyRecord(call_id=last[0], box_id=box, at=last[2], received=last[2],
                                                   number="911", route="sos"))


@pytest.mark.parametrize("source", [
    CallbackSource("10.0.0.6", 5060),  # another host
    CallbackSource("10.0.0.5", 5060, "tls", b"0"),  # the right host, but the entry says UDP
    CallbackSource("::ffff:10.0.0.4", 5060),
    CallbackSource("not-an-address", 5060),
])
def test_a_call_back_from_outside_the_directory_is_forbidden_before_any_box_rings(
    kit: Kit, source: CallbackSource
) -> None:
    box = emergency_from(kit)
    recorded(kit, box)
    out = kit.router.sos_callback(SIP_ID, NUMBER, "", kit.now + 1, source=source)
    assert out == [SosCallbackRefuse(SIP_ID, 403, "Forbidden")]  # nothing else: no offer to the box
    assert requests(out, "conn-c") == []
    (rec,) = [e for e in kit.store.emergencies() if e.box_id == box]
    assert rec.callbacks == ()  # only a known answering point's call-back is named in the record


def test_the_emergency_record_names_the_answering_point_that_called_back(kit: Kit) -> None:
    kit.store.replace_answering_points([
        AnsweringPoint("county", "sip:psap@10.0.0.5:5060", "default", callback_from=("192.0.2.0/28",)),
        AnsweringPoint("state", "sip:psap@10.0.0.9:5060", "default", callback_from=("198.51.100.7/32",)),
    ])
    box = emergency_from(kit)
    recorded(kit, box)
    out = kit.router.sos_callback(SIP_ID, NUMBER, "", kit.now + 1, source=CallbackSource("10.0.0.5", 5060))
    assert out == [SosCallbackRefuse(SIP_ID, 403, "Forbidden")]  # callback_from replaces the URI's host
    src = CallbackSource("198.51.100.7", 5070)
    out = kit.router.sos_callback(SIP_ID, NUMBER, "", kit.now + 2, source=src)
    assert any(isinstance(a, SosCallbackRing) for a in out)
    (rec,) = [e for e in kit.store.emergencies() if e.box_id == box]
    (entry,) = rec.callbacks
    assert entry["psap"] == "state" and entry["from"] == "198.51.100.7:5070" and entry["transport"] == "udp"
