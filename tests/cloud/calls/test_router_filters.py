"""Holders' filters applied by the router before any box rings: each kind, the record each leaves, receive
rights, emergency call-backs, profile cadences, box-to-box calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roamline.cloud.records import LineRight
from roamline.wire import profile as wp
from roamline.wire.calls import (
    CallerId,
    CallOffer,
    CallPlace,
    CallRefused,
    LineChoice,
    LineRing,
    LineRouted,
    RefuseReason,
)
from roamline.wire.emergency import EMERGENCY_CALL_KIND

from .routing_kit import Kit, make_kit, requests, sends

HOST_LINE = "+15551230000"
CID = "c-00000000000000f1"
BOB = CallerId(number="+15550300003", name="BOB JONES")
SPAM = CallerId(number="+19005550123", name="ACME SALES")


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[Kit]:
    k = make_kit(tmp_path)
    yield k
    k.store.close()


def ring(kit: Kit, caller: CallerId, call_id: str = CID) -> list[Any]:
    return kit.send("box-host", LineRing(call_id=call_id, line=HOST_LINE, caller=caller, rings=1))


def profile(kit: Kit, account: str, **fields: Any) -> None:
    kit.store.put_profile(account, wp.parse(fields).to_json(), kit.now)


def offers(out: list[Any]) -> dict[str, CallOffer]:
    return {r.conn_id: r.message for r in requests(out) if isinstance(r.message, CallOffer)}


def test_a_blocked_caller_rings_no_box_and_is_recorded_as_filtered(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    a = kit.box("a")
    kit.holder("ada", HOST_LINE, at=a)
    profile(kit, "acct-ada", filters=[{"name": "spam", "action": "block", "names": ["*sales*"]}])
    out = ring(kit, SPAM)
    assert offers(out) == {}
    assert sends(out, "conn-host") == [LineRouted(call_id=CID, offered=0, filtered="block")]
    rec = kit.store.get_call(CID)
    assert rec is not None and rec.outcome == "filtered" and rec.end_reason == "filtered-block"
    (event,) = [e for e in kit.store.events() if e.kind == "call-filtered"]
    assert event.fields["rule"] == "spam" and event.fields["action"] == "block"
    # another caller rings through
    out = ring(kit, BOB, call_id="c-00000000000000f2")
    assert set(offers(out)) == {"conn-a"}


def test_silent_reject_and_straight_to_voicemail(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    kit.holder("ada", HOST_LINE, at=kit.box("a"))
    profile(kit, "acct-ada", filters=[
        {"name": "premium", "action": "block", "prefixes": ["+1900"], "refusal": "silent"},
        {"name": "anon", "action": "voicemail", "withheld": True}])
    out = ring(kit, SPAM)
    assert sends(out, "conn-host") == [LineRouted(call_id=CID, offered=0, filtered="reject")]
    assert kit.store.get_call(CID).outcome == "filtered"  # type: ignore[union-attr]
    second = "c-00000000000000f3"
    out = ring(kit, CallerId(absent="private"), call_id=second)  # type: ignore[arg-type]
    assert sends(out, "conn-host") == [LineRouted(call_id=second, offered=0, filtered="voicemail")]
    rec = kit.store.get_call(second)  # until voicemail exists: a missed call, and it says why
    assert rec is not None and rec.outcome == "missed" and rec.end_reason == "filtered-voicemail"


def test_forward_rings_the_forward_numbers_holders_instead(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    a, b = kit.box("a"), kit.box("b")
    kit.holder("ada", HOST_LINE, at=a)
    bea = kit.holder("bea", "+15550200002", at=b)
    profile(kit, "acct-ada", filters=[{"name": "all", "action": "forward", "forward_to": "+15550200002"}])
    profile(kit, "acct-bea", filters=[{"name": "all", "action": "block"}])  # not applied again: no loops
    out = ring(kit, BOB)
    found = offers(out)
    assert set(found) == {"conn-b"} and found["conn-b"].card_id == bea
    assert found["conn-b"].number == "+15550200002" and found["conn-b"].caller == BOB
    assert sends(out, "conn-host") == [LineRouted(call_id=CID, offered=1)]


def test_a_forward_to_a_plain_pstn_number_rings_nobody_and_is_a_missed_call(kit: Kit) -> None:
    """No holder has the forward number and ada may call out through no line: the forward cannot be
    placed (test_router_forward.py has those that can), so the call is her voicemail / a missed call."""
    kit.box("host", line=HOST_LINE)
    kit.holder("ada", HOST_LINE, at=kit.box("a"))
    profile(kit, "acct-ada", filters=[{"name": "all", "action": "forward", "forward_to": "+15559990000"}])
    out = ring(kit, BOB)
    assert offers(out) == {}
    assert sends(out, "conn-host") == [LineRouted(call_id=CID, offered=0, filtered="voicemail")]
    rec = kit.store.get_call(CID)
    assert rec is not None and rec.outcome == "missed"


def test_a_schedule_decides_by_the_time_in_the_boxs_zone(kit: Kit) -> None:
    """The terminal box's line (+1 217: Chicago) gives its zone: 09:00–17:00 there is "at work"."""
    import datetime as dt
    import zoneinfo

    kit.box("host", line=HOST_LINE)
    a = kit.box("a", line="+12175551000")
    kit.holder("ada", HOST_LINE, at=a)
    profile(kit, "acct-ada", schedules=[{"name": "work", "windows": [
        {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}]}],
        filters=[{"name": "busy", "action": "voicemail", "schedule": "work"}])
    chicago = zoneinfo.ZoneInfo("America/Chicago")
    kit.now = dt.datetime(2026, 12, 2, 9, 30, tzinfo=chicago).timestamp()  # Wednesday 09:30 there
    assert offers(ring(kit, BOB)) == {}
    kit.now = dt.datetime(2026, 12, 2, 17, 0, tzinfo=chicago).timestamp()
    assert set(offers(ring(kit, BOB, call_id="c-00000000000000f4"))) == {"conn-a"}


def test_emergency_callbacks_bypass_every_filter(kit: Kit) -> None:
    host = kit.box("host", line=HOST_LINE)
    kit.holder("ada", HOST_LINE, at=kit.box("a"))
    profile(kit, "acct-ada", filters=[{"name": "anon", "action": "block", "withheld": True}])
    withheld = CallerId(absent="unavailable")  # type: ignore[arg-type]
    assert offers(ring(kit, withheld)) == {}
    # the box's outbox report of its 911 call (docs/protocol.md §4.2: one kind name at both ends)
    kit.store.add_delivery("emergency-call:c-1", host, EMERGENCY_CALL_KIND, {"dialled_at": kit.now - 600},
                           kit.now)
    assert set(offers(ring(kit, withheld, call_id="c-00000000000000f5"))) == {"conn-a"}
    kit.now += 3600  # more than an hour after the 911 call: filters apply again
    assert offers(ring(kit, withheld, call_id="c-00000000000000f6")) == {}


def test_the_lines_receive_right_and_the_holders_ring_per_number(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    a = kit.box("a")
    kit.holder("ada", HOST_LINE, at=a)
    kit.holder("cyd", HOST_LINE, at=a)
    profile(kit, "acct-cyd", rings=[{"number": HOST_LINE, "cadence": "us-dr4"}])
    # two holders on the line's number: the attendant asks first; no choice (the default) rings both
    ring(kit, BOB)
    found = offers(kit.send("box-host", LineChoice(call_id=CID, key="")))
    assert found["conn-a"].cadence in ("us-dr1", "us-dr4")
    ring(kit, BOB, "c-00000000000000f7")
    cadences = sorted(r.message.cadence for r in requests(kit.send(
        "box-host", LineChoice(call_id="c-00000000000000f7", key=""))) if isinstance(r.message, CallOffer))
    assert cadences == ["us-dr1", "us-dr4"]  # ada by order at the box, cyd by her profile
    kit.store.put_line_right(LineRight(HOST_LINE, "acct-cyd", receive=False))
    out = ring(kit, BOB, call_id="c-00000000000000f8")
    assert len(offers(out)) == 1 and all(o.card_id != "cyd" for o in offers(out).values())
    assert sends(out, "conn-host") == [LineRouted(call_id="c-00000000000000f8", offered=1)]


def test_a_box_to_box_call_obeys_the_called_holders_filters(kit: Kit) -> None:
    a, b = kit.box("a"), kit.box("b")
    ada = kit.holder("ada", "+15551110000", at=a)
    kit.holder("bea", "+15552220000", at=b)
    profile(kit, "acct-bea", filters=[{"name": "ada", "action": "block", "prefixes": ["+1555111"]}])
    out = kit.send("box-a", CallPlace(call_id=CID, card_id=ada, number="+15552220000"))
    (refused,) = sends(out, "conn-a")
    assert isinstance(refused, CallRefused) and refused.reason is RefuseReason.FILTERED
    assert kit.store.get_call(CID).outcome == "refused"  # type: ignore[union-attr]
