"""The router's emergency route (call.emergency from a box with no line): the answering point chosen from
the directory, the SIP leg bridged to the box's flow, progress from the SIP leg, and — property — that no
card, rights, filters, account or location state refuses it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamline.cloud.errors import UsageError
from roamline.cloud.psap import choose, parse_csv
from roamline.cloud.records import AnsweringPoint, Box
from roamline.cloud.router import Bind, Bridge, SosDial, SosHangup, Unbridge, sos_conn
from roamline.wire import pidf
from roamline.wire.calls import (
    CallEmergency,
    CallHangup,
    CallPlaced,
    CallProgress,
    CallRefused,
    EndReason,
    ProgressState,
    RefuseReason,
    Route,
)
from roamline.wire.messages import Ok

from .routing_kit import Kit, make_kit, requests, sends

CIVIC = {"country": "US", "A1": "IL", "A3": "Shelbyville", "HNO": "12", "RD": "Mill Lane"}
LOC = {"civic": CIVIC, "method": "installer", "state": "confirmed",
       "geo": {"lat": 39.40, "lon": -88.79, "error_m": 4.0, "mode": 3, "satellites": 8, "at": 1.8e9},
       "network": None}
POINTS = [
    AnsweringPoint("gps", "sip:psap@10.0.0.1:5060", "circle", 39.41, -88.80, 5000.0),
    AnsweringPoint("big-gps", "sip:psap@10.0.0.9:5060", "circle", 39.41, -88.80, 50000.0),
    AnsweringPoint("city", "sip:psap@10.0.0.2:5060", "admin", country="US", a1="IL", a3="Shelbyville"),
    AnsweringPoint("state", "sip:psap@10.0.0.3:5060", "admin", country="US", a1="IL"),
    AnsweringPoint("country", "sip:psap@10.0.0.4:5060", "admin", country="US"),
    AnsweringPoint("fallback", "sip:psap@10.0.0.5:5060", "default"),
]
CID = "e-00000000000000a1"


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[Kit]:
    k = make_kit(tmp_path)
    k.store.replace_answering_points(POINTS)
    yield k
    k.store.close()


def no_line_box(kit: Kit, name: str = "c", location: dict | None = None) -> str:  # type: ignore[type-arg]
    box_id = f"box-{name}"
    kit.store.put_box(Box(box_id, "pem", name, "sim", location, None, None, False, kit.now))
    kit.router.box_connected(box_id, "conn-" + name, kit.now)
    return box_id


def test_an_emergency_goes_to_the_answering_point_of_the_gps_position_with_the_pidf_lo(kit: Kit) -> None:
    box = no_line_box(kit)
    card = kit.holder("dana", "+15550400004", at=box)
    out = kit.send(box, CallEmergency(call_id=CID, number="911", card_id=card, location=LOC))
    (placed,) = sends(out, "conn-c")
    assert isinstance(placed, CallPlaced) and placed.route is Route.SOS and placed.flow_id is not None
    (bridge,) = [a for a in out if isinstance(a, Bridge)]
    (dial,) = [a for a in out if isinstance(a, SosDial)]
    assert bridge.a == placed.flow_id and bridge.conn_a == "conn-c"
    assert bridge.b == dial.flow_id and bridge.conn_b == sos_conn(CID)
    assert dial.psap_uri == "sip:psap@10.0.0.1:5060"  # the smallest circle holding the fix
    assert dial.call_back == "+15550400004" and dial.pidf is not None
    pidf.validate(dial.pidf)
    assert b"Mill Lane" in dial.pidf and b"gs:Circle" in dial.pidf
    rec = kit.store.get_call(CID)
    assert rec is not None and rec.route == "sos" and rec.called == "911" and rec.line == dial.psap_uri


def test_progress_from_the_sip_leg_reaches_the_box_and_either_end_hangs_up(kit: Kit) -> None:
    box = no_line_box(kit, location=LOC)
    kit.send(box, CallEmergency(call_id=CID, number="911"))
    out = kit.router.sos_event(CID, "ringing", 180, kit.now + 1)
    assert sends(out, "conn-c") == [CallProgress(call_id=CID, state=ProgressState.RINGING)]
    out = kit.router.sos_event(CID, "answered", 200, kit.now + 2)
    assert sends(out, "conn-c") == [CallProgress(call_id=CID, state=ProgressState.ANSWERED)]
    sip_flow = kit.router.calls()[CID].host_flow or 0
    assert Bind(sip_flow, sos_conn(CID)) in out  # the SIP leg gets a full silence period
    # the answering point's leg may stay silent (TTY, a caller who cannot speak): not ended for it
    assert kit.router.media_silent([kit.router.calls()[CID].host_flow or 0], kit.now + 30) == []
    out = kit.send(box, CallHangup(call_id=CID, reason=EndReason.HANGUP))
    assert SosHangup(CID) in out and any(isinstance(a, Unbridge) for a in out) and Ok() in sends(out)
    rec = kit.store.get_call(CID)
    assert rec is not None and rec.state == "closed" and rec.outcome == "answered"


def test_the_answering_point_hanging_up_ends_the_call_at_the_box(kit: Kit) -> None:
    box = no_line_box(kit, location=LOC)
    kit.send(box, CallEmergency(call_id=CID, number="911"))
    kit.router.sos_event(CID, "answered", 200, kit.now + 2)
    out = kit.router.sos_event(CID, "ended", 0, kit.now + 9)
    (hangup,) = [r.message for r in requests(out, "conn-c")]
    assert isinstance(hangup, CallHangup) and hangup.reason is EndReason.FAR_END
    assert not [a for a in out if isinstance(a, SosHangup)]


def test_a_failed_answering_point_passes_the_call_to_the_next_and_only_the_last_failure_tells_the_box(
    kit: Kit
) -> None:
    box = no_line_box(kit, location=LOC)
    out = kit.send(box, CallEmergency(call_id=CID, number="911"))
    tried = [a.psap_uri for a in out if isinstance(a, SosDial)]
    for _ in range(len(POINTS) - 1):
        out = kit.router.sos_event(CID, "failed", 503, kit.now + 1)
        assert not sends(out, "conn-c")  # the box hears ringback on; nothing is ended
        (dial,) = [a for a in out if isinstance(a, SosDial)]
        tried.append(dial.psap_uri)
    assert tried == [p.uri for p in POINTS]  # gps small, gps big, city, state, country, default
    out = kit.router.sos_event(CID, "failed", 486, kit.now + 1)
    (progress,) = sends(out, "conn-c")
    assert isinstance(progress, CallProgress) and progress.state is ProgressState.ENDED
    assert progress.reason is EndReason.BUSY
    rec = kit.store.get_call(CID)
    assert rec is not None and rec.outcome == "failed" and rec.end_reason == "sip-486"


def test_with_no_answering_point_at_all_the_call_is_refused_no_route(kit: Kit) -> None:
    kit.store.replace_answering_points([])
    box = no_line_box(kit)
    out = kit.send(box, CallEmergency(call_id=CID, number="911", location=LOC))
    (refused,) = sends(out, "conn-c")
    assert isinstance(refused, CallRefused) and refused.reason is RefuseReason.NO_ROUTE


def test_a_duplicate_call_id_is_refused(kit: Kit) -> None:
    box = no_line_box(kit)
    kit.send(box, CallEmergency(call_id=CID, number="911"))
    (refused,) = sends(kit.send(box, CallEmergency(call_id=CID, number="911")), "conn-c")
    assert isinstance(refused, CallRefused) and refused.reason is RefuseReason.DUPLICATE_CALL


def test_choose_prefers_gps_then_the_most_specific_admin_area_then_the_default() -> None:
    assert choose(POINTS, LOC) == (POINTS[0], "gps")
    elsewhere = {**LOC, "geo": {**LOC["geo"], "lat": 10.0, "lon": 10.0}}  # type: ignore[dict-item]
    assert choose(POINTS, elsewhere) == (POINTS[2], "civic")
    other_city = {**LOC, "geo": None, "civic": {**CIVIC, "A3": "Springfield"}}
    assert choose(POINTS, other_city) == (POINTS[3], "civic")
    assert choose(POINTS, {**LOC, "geo": None, "civic": {**CIVIC, "A1": "IN"}}) == (POINTS[4], "civic")
    assert choose(POINTS, {**LOC, "geo": None, "civic": {**CIVIC, "country": "CA"}}) == (POINTS[5], "default")
    assert choose(POINTS, None) == (POINTS[5], "default")
    lower = {**LOC, "geo": None, "civic": {**CIVIC, "A3": "  shelbyville "}}
    assert choose(POINTS, lower) == (POINTS[2], "civic")  # case and spacing do not matter
    assert choose([], LOC) is None


def test_the_directory_csv_is_checked_row_by_row() -> None:
    head = "name,uri,lat,lon,radius_m,country,A1,A3\n"
    rows = parse_csv(head + "a,sip:p@10.0.0.1:5060,39.4,-88.8,5000,,,\n"
                     "b,sip:p@h,,,,us,IL,X\nc,sip:p@h,,,,,,\n")
    assert [p.kind for p in rows] == ["circle", "admin", "default"] and rows[1].country == "US"
    for bad, why in [("a,http://x,,,,,,", "sip: URI"), ("a,sip:p@h,39,,,,,", "circle needs"),
                     ("a,sip:p@h,39,-88,5,US,,", "not both"), ("a,sip:p@h,,,,USA,,", "two-letter"),
                     ("a,sip:p@h,,,,US,,X", "needs its state"), ("a,sip:p@h,,,,,IL,", "needs its country"),
                     ("a,sip:p@h,99,0,5,,,", "outside"), ("a,sip:p@h", "columns"),
                     ("!,sip:p@h,,,,,,", "name")]:
        with pytest.raises(UsageError, match=f"line 2: .*{why}"):
            parse_csv(head + bad + "\n")
    with pytest.raises(UsageError, match="line 1"):
        parse_csv("name,uri\n")


# --- property: nothing refuses an emergency call -----------------------------------------------------

locations = st.one_of(
    st.none(),
    st.just(LOC),
    st.just({**LOC, "state": "unconfirmed"}),
    st.just({**LOC, "geo": None}),
    st.just({"civic": {"country": "US"}, "method": "installer"}),  # not dispatchable: refused by check
    st.just({"bogus": 1}),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(card=st.sampled_from(["none", "registered", "elsewhere", "unknown"]), loc=locations,
       recorded=locations, box_line=st.sampled_from([None, "+15550200002"]),
       msg_line=st.sampled_from(["", "+15550300003"]), number=st.sampled_from(["911", "112", "999", "000"]))
def test_no_card_rights_account_or_location_state_refuses_an_emergency_call(
    kit: Kit, card: str, loc: dict | None, recorded: dict | None, box_line: str | None,  # type: ignore[type-arg]
    msg_line: str, number: str,
) -> None:
    name = secrets.token_hex(3)
    box_id = f"box-{name}"
    kit.store.put_box(Box(box_id, "pem", name, "sim", recorded, box_line, None, False, kit.now))
    kit.router.box_connected(box_id, "conn-" + name, kit.now)
    card_id = ""
    if card == "registered":
        card_id = kit.holder("h" + name, "+1555077" + str(int(name, 16) % 10000).zfill(4), at=box_id)
    elif card == "elsewhere":
        other = kit.box("o" + name)
        card_id = kit.holder("h" + name, "+15550880000", at=other)
    elif card == "unknown":
        card_id = secrets.token_hex(16)
    call_id = "e-" + secrets.token_hex(8)
    out = kit.send(box_id, CallEmergency(call_id=call_id, number=number, card_id=card_id, line=msg_line,
                                         location=loc))
    (placed,) = sends(out, "conn-" + name)
    assert isinstance(placed, CallPlaced) and placed.route is Route.SOS
    (dial,) = [a for a in out if isinstance(a, SosDial)]
    assert dial.psap_uri.startswith("sip:psap@10.0.0.")
    if msg_line:
        assert dial.call_back == msg_line
    elif box_line:
        assert dial.call_back == box_line
    if dial.pidf is not None:
        pidf.validate(dial.pidf)
    kit.send(box_id, CallHangup(call_id=call_id, reason=EndReason.HANGUP))
