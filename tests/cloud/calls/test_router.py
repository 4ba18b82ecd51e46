"""The router on a manual clock: incoming calls, first answer wins, placed calls, timers, records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from roamline.cloud.router import Bind, Bridge, Request, Unbridge
from roamline.wire.calls import (
    AnswerResult,
    CallAnswer,
    CallAnswered,
    CallCancel,
    CallDeclined,
    CallDtmf,
    CallerId,
    CallHangup,
    CallOffer,
    CallPlace,
    CallPlaced,
    CallProgress,
    CallRefused,
    CallRinging,
    CancelReason,
    DeclineReason,
    EndReason,
    LineAnswer,
    LineDial,
    LineHangup,
    LineResult,
    LineResultReply,
    LineRing,
    LineRouted,
    LineState,
    LineStateReport,
    MediaBind,
    ProgressState,
    RefuseReason,
    Route,
)
from roamline.wire.messages import Error, Ok

from .routing_kit import Kit, make_kit, requests, sends

HOST_LINE = "+15551230000"
CID = "c-00000000000000a1"


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[Kit]:
    k = make_kit(tmp_path)
    yield k
    k.store.close()


def _ring(kit: Kit, call_id: str = CID, rings: int = 1) -> list:  # type: ignore[type-arg]
    return kit.send(
        "box-host",
        LineRing(
            call_id=call_id, line=HOST_LINE, caller=CallerId(number="+15559870000", name="PSTN"), rings=rings
        ),
    )


def test_incoming_call_first_answer_wins_and_everything_is_torn_down(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    a, b = kit.box("a"), kit.box("b")
    ada = kit.holder("ada", HOST_LINE, at=a)
    kit.holder("bob", "+15550001111", at=b)
    kit.register(kit.holder("ada", HOST_LINE), "acct-ada", b)  # ada's second card at b
    # (a second holder subscribed to the line's number would bring the attendant's menu first:
    # tests/cloud/calls/test_router_attendant.py)
    out = _ring(kit)
    assert sends(out, "conn-host") == [LineRouted(call_id=CID, offered=2)]
    offers = {r.conn_id: r.message for r in requests(out)}
    assert set(offers) == {"conn-a", "conn-b"}
    oa, ob = offers["conn-a"], offers["conn-b"]
    assert isinstance(oa, CallOffer) and isinstance(ob, CallOffer)
    assert oa.caller == CallerId(number="+15559870000", name="PSTN") and oa.number == HOST_LINE
    assert oa.cadence == "us-dr1" and ob.cadence == "us-dr2"  # bob registered first at b
    assert oa.card_id == ada and oa.flow_id != ob.flow_id
    # repeated rings: same call
    assert sends(_ring(kit, rings=2), "conn-host") == [LineRouted(call_id=CID, offered=2)]
    for r in requests(out):
        assert kit.router.reply_received(r.ref, CallRinging(call_id=CID), kit.now) == []
    kit.now += 3
    won = kit.send("box-a", CallAnswer(call_id=CID, card_id=ada))
    assert sends(won, "conn-a") == [
        CallAnswered(call_id=CID, result=AnswerResult.CONNECTED, flow_id=oa.flow_id)
    ]
    assert [r.message for r in requests(won, "conn-b")] == [
        CallCancel(call_id=CID, reason=CancelReason.ANSWERED_ELSEWHERE)
    ]
    (line_answer,) = requests(won, "conn-host")
    assert isinstance(line_answer.message, LineAnswer)
    host_flow = line_answer.message.flow_id
    assert [x for x in won if isinstance(x, Bridge)] == [
        Bridge(CID, host_flow, "conn-host", oa.flow_id, "conn-a")
    ]
    late = kit.send("box-b", CallAnswer(call_id=CID, card_id=ob.card_id))
    assert sends(late) == [CallAnswered(call_id=CID, result=AnswerResult.ANSWERED_ELSEWHERE)]
    # connected: the two bridged legs get a full silence period from now (re-armed), nothing else
    assert kit.router.reply_received(
        line_answer.ref, LineResultReply(call_id=CID, result=LineResult.ANSWERED), kit.now
    ) == [Bind(host_flow, "conn-host"), Bind(oa.flow_id, "conn-a")]
    assert kit.router.calls()[CID].state == "connected"
    kit.send("box-host", CallDtmf(call_id=CID, digits="1"))  # the host is a party: forwarded to a
    assert sends(kit.send("box-host", CallDtmf(call_id=CID, digits="1")), "conn-a") == [
        CallDtmf(call_id=CID, digits="1")
    ]
    kit.now += 60
    bye = kit.send("box-a", CallHangup(call_id=CID))
    assert sends(bye, "conn-a") == [Ok()]
    assert [r.message for r in requests(bye)] == [LineHangup(call_id=CID, reason=EndReason.FAR_END)]
    assert any(isinstance(x, Unbridge) for x in bye)
    rec = kit.store.get_call(CID)
    assert rec is not None and rec.state == "closed" and rec.outcome == "answered"
    assert rec.route == "incoming" and rec.caller == "+15559870000" and rec.line == HOST_LINE
    assert rec.terminal_box == "box-a" and rec.host_box == "box-host" and rec.card_id == ada
    assert rec.offered == ("box-a", "box-b") and rec.duration_s == pytest.approx(60.0)
    assert rec.account_id == "acct-ada" and rec.end_reason == "hangup"
    assert len(kit.store.calls()) == 1
    # the host keeps ringing late: nothing new
    assert sends(_ring(kit, rings=5), "conn-host") == [LineRouted(call_id=CID, offered=0)]
    assert len(kit.store.calls()) == 1


def test_no_answer_timeout_on_the_manual_clock(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    a = kit.box("a")
    kit.holder("ada", HOST_LINE, at=a)
    _ring(kit)
    deadline = kit.router.next_deadline()
    assert deadline == pytest.approx(kit.now + 30.0)
    assert kit.router.poll(kit.now + 29.9) == []
    out = kit.router.poll(kit.now + 30.0)
    assert [r.message for r in requests(out, "conn-a")] == [
        CallCancel(call_id=CID, reason=CancelReason.TIMEOUT)
    ]
    rec = kit.store.get_call(CID)
    assert rec is not None and rec.outcome == "missed" and rec.end_reason == "no-answer"
    assert kit.router.next_deadline() is None


def test_caller_gone_and_all_declined(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    a, b = kit.box("a"), kit.box("b")
    kit.holder("ada", HOST_LINE, at=a)
    kit.holder("ada", HOST_LINE, at=b)
    _ring(kit)
    out = kit.send("box-host", LineStateReport(call_id=CID, state=LineState.CALLER_GONE))
    assert {r.conn_id for r in requests(out)} == {"conn-a", "conn-b"}
    assert all(r.message == CallCancel(call_id=CID, reason=CancelReason.CALLER_GONE) for r in requests(out))
    rec = kit.store.get_call(CID)
    assert rec is not None and rec.outcome == "missed"
    second = "c-00000000000000a2"
    out = _ring(kit, call_id=second)
    refs = [r.ref for r in requests(out)]
    kit.router.reply_received(refs[0], CallDeclined(call_id=second, reason=DeclineReason.BUSY), kit.now)
    assert kit.store.get_call(second).state == "open"  # type: ignore[union-attr]
    kit.router.request_failed(refs[1], kit.now)  # the other box never answered the offer
    assert kit.store.get_call(second).state == "closed"  # type: ignore[union-attr]


def test_nobody_to_ring_records_a_missed_call(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    kit.holder("ada", HOST_LINE)
    out = _ring(kit)
    assert sends(out) == [LineRouted(call_id=CID, offered=0)]
    assert kit.store.get_call(CID).outcome == "missed"  # type: ignore[union-attr]
    with pytest.raises(AssertionError):
        assert (
            sends(kit.send("box-host", LineRing(call_id="c-00000000000000b1", line="+15557770000")))[0] == 0
        )


def test_box_to_box_call_by_follow_me_number(kit: Kit) -> None:
    a, b = kit.box("a"), kit.box("b")
    ada = kit.holder("ada", "+15551110000", at=a)
    bob = kit.holder("bob", "+15552220000", at=b)
    out = kit.send("box-a", CallPlace(call_id=CID, card_id=ada, number="+15552220000"))
    (placed,) = sends(out, "conn-a")
    assert isinstance(placed, CallPlaced) and placed.route is Route.BOX and placed.flow_id is not None
    (offer,) = requests(out, "conn-b")
    assert isinstance(offer.message, CallOffer)
    assert offer.message.caller.number == "+15551110000" and offer.message.card_id == bob
    assert sends(kit.router.reply_received(offer.ref, CallRinging(call_id=CID), kit.now)) == [
        CallProgress(call_id=CID, state=ProgressState.RINGING)
    ]
    out = kit.send("box-b", CallAnswer(call_id=CID, card_id=bob))
    assert CallProgress(call_id=CID, state=ProgressState.ANSWERED) in sends(out, "conn-a")
    assert [x for x in out if isinstance(x, Bridge)] == [
        Bridge(CID, placed.flow_id, "conn-a", offer.message.flow_id, "conn-b")
    ]
    kit.now += 5
    out = kit.send("box-b", CallHangup(call_id=CID))
    assert [r.message for r in requests(out, "conn-a")] == [CallHangup(call_id=CID, reason=EndReason.FAR_END)]
    rec = kit.store.get_call(CID)
    assert rec is not None and rec.route == "box" and rec.outcome == "answered"
    assert rec.caller == "+15551110000" and rec.called == "+15552220000" and rec.duration_s == 5
    # a placed call is billed to the caller's holder (DESIGN §4), also once the callee answered
    assert (rec.account_id, rec.card_id, rec.terminal_box) == ("acct-ada", ada, "box-b"), rec


def test_pstn_routes_own_line_host_line_rights_and_refusals(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)  # area 555
    kit.box("far", line="+14155550000")
    own = kit.box("own", line="+15553334444")
    a = kit.box("a")
    ada = kit.holder("ada", "+15551110000", at=a)
    olga = kit.holder("olga", "+15554440000", at=own)
    kit.store.grant_line("acct-olga", "+15553334444")
    # the line of the caller's box first, when the caller has rights on it
    out = kit.send("box-own", CallPlace(call_id="c-00000000000000c1", card_id=olga, number="+12125550000"))
    assert sends(out) == [CallPlaced(call_id="c-00000000000000c1", route=Route.OWN_LINE)]
    kit.send(
        "box-own", LineStateReport(call_id="c-00000000000000c1", state=LineState.ANSWERED, inferred=True)
    )
    kit.now += 10
    kit.send("box-own", CallHangup(call_id="c-00000000000000c1"))
    rec = kit.store.get_call("c-00000000000000c1")
    assert rec is not None and rec.answer_inferred and rec.outcome == "answered" and rec.route == "own-line"
    # a host line in the area, but no rights
    out = kit.send("box-a", CallPlace(call_id="c-00000000000000c2", card_id=ada, number="+15559990000"))
    assert [type(m) for m in sends(out)] == [CallRefused]
    assert sends(out)[0].reason is RefuseReason.NO_RIGHTS  # type: ignore[attr-defined]
    # no line in the area at all
    out = kit.send("box-a", CallPlace(call_id="c-00000000000000c3", card_id=ada, number="+13125550000"))
    assert sends(out)[0].reason is RefuseReason.NO_ROUTE  # type: ignore[attr-defined]
    # with rights: out through the host line, media bridged at once, progress from line.state
    kit.store.grant_line("acct-ada", HOST_LINE)
    cid = "c-00000000000000c4"
    out = kit.send("box-a", CallPlace(call_id=cid, card_id=ada, number="+15559990000"))
    (placed,) = sends(out)
    assert isinstance(placed, CallPlaced) and placed.route is Route.HOST_LINE and placed.via == HOST_LINE
    (dial,) = requests(out, "conn-host")
    assert isinstance(dial.message, LineDial) and dial.message.number == "+15559990000"
    assert [x for x in out if isinstance(x, Bridge)] == [
        Bridge(cid, placed.flow_id, "conn-a", dial.message.flow_id, "conn-host")
    ]  # type: ignore[arg-type]
    assert (
        kit.router.reply_received(dial.ref, LineResultReply(call_id=cid, result=LineResult.DIALLED), kit.now)
        == []
    )
    # the line is busy now for a second caller
    bo = kit.holder("bo", "+15556660000", at=a)
    kit.store.grant_line("acct-bo", HOST_LINE)
    out = kit.send("box-a", CallPlace(call_id="c-00000000000000c5", card_id=bo, number="+15559990001"))
    assert sends(out)[0].reason is RefuseReason.LINE_BUSY  # type: ignore[attr-defined]
    assert sends(kit.send("box-host", LineStateReport(call_id=cid, state=LineState.RINGBACK))) == [
        CallProgress(call_id=cid, state=ProgressState.RINGING)
    ]
    out = kit.send("box-host", LineStateReport(call_id=cid, state=LineState.ANSWERED, inferred=True))
    assert sends(out) == [CallProgress(call_id=cid, state=ProgressState.ANSWERED, answer_inferred=True)]
    kit.now += 7
    out = kit.send("box-a", CallHangup(call_id=cid))
    assert [r.message for r in requests(out)] == [LineHangup(call_id=cid, reason=EndReason.FAR_END)]
    rec = kit.store.get_call(cid)
    assert rec is not None and rec.route == "host-line" and rec.answer_inferred and rec.duration_s == 7
    outcomes = {r.call_id: r.outcome for r in kit.store.calls()}
    assert outcomes == {
        "c-00000000000000c1": "answered",
        "c-00000000000000c2": "refused",
        "c-00000000000000c3": "refused",
        "c-00000000000000c4": "answered",
        "c-00000000000000c5": "refused",
    }
    # a duplicate call id is refused without a second record
    out = kit.send("box-a", CallPlace(call_id=cid, card_id=ada, number="+15559990000"))
    assert sends(out)[0].reason is RefuseReason.DUPLICATE_CALL  # type: ignore[attr-defined]
    assert len(kit.store.calls()) == 5


def test_a_visitor_without_rights_on_the_boxs_line_goes_out_a_host_line_they_have_rights_on(kit: Kit) -> None:
    """A card away from home: the box it is in has a line, but it is not the holder's to use, so the call
    leaves by the holder's own host line in the destination's area (the one ``line grant`` gave them)."""
    home = kit.box("home", line=HOST_LINE)  # area +1555
    kit.box("visited", line="+15557770000")  # also area +1555, someone else's line
    ada = kit.holder("ada", HOST_LINE, at="box-visited")
    # no rights anywhere: the line right here is not ada's, and the one at home is not granted
    out = kit.send("box-visited", CallPlace(call_id="c-00000000000000d1", card_id=ada, number="+15559990000"))
    refused = [(type(m), getattr(m, "reason", None)) for m in sends(out)]
    assert refused == [(CallRefused, RefuseReason.NO_RIGHTS)]
    # not in the area either and no host line there: still no-rights (the box's line is right here)
    out = kit.send("box-visited", CallPlace(call_id="c-00000000000000d2", card_id=ada, number="+13125550000"))
    assert sends(out)[0].reason is RefuseReason.NO_RIGHTS  # type: ignore[attr-defined]
    kit.store.grant_line("acct-ada", HOST_LINE)
    cid = "c-00000000000000d3"
    out = kit.send("box-visited", CallPlace(call_id=cid, card_id=ada, number="+15559990000"))
    (placed,) = sends(out)
    assert isinstance(placed, CallPlaced) and placed.route is Route.HOST_LINE and placed.via == HOST_LINE
    (dial,) = requests(out, "conn-home")
    assert isinstance(dial.message, LineDial) and dial.message.number == "+15559990000"
    assert requests(out, "conn-visited") == []  # the visited box's line is not touched
    kit.now += 3
    kit.send("box-visited", CallHangup(call_id=cid))
    rec = kit.store.get_call(cid)
    assert rec is not None and rec.route == "host-line" and rec.line == HOST_LINE and rec.host_box == home
    assert rec.terminal_box == "box-visited" and rec.account_id == "acct-ada"
    # granted the visited box's line too: that line (the one right here) is preferred
    kit.store.grant_line("acct-ada", "+15557770000")
    out = kit.send("box-visited", CallPlace(call_id="c-00000000000000d4", card_id=ada, number="+15559990000"))
    assert sends(out) == [CallPlaced(call_id="c-00000000000000d4", route=Route.OWN_LINE)]


def test_host_line_without_dial_tone_refuses_the_call(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    a = kit.box("a")
    ada = kit.holder("ada", "+15551110000", at=a)
    kit.store.grant_line("acct-ada", HOST_LINE)
    out = kit.send("box-a", CallPlace(call_id=CID, card_id=ada, number="+15559990000"))
    (dial,) = requests(out, "conn-host")
    out = kit.router.reply_received(
        dial.ref, LineResultReply(call_id=CID, result=LineResult.NO_DIALTONE), kit.now
    )
    assert sends(out, "conn-a") == [
        CallProgress(call_id=CID, state=ProgressState.REFUSED, refused=RefuseReason.NO_DIALTONE)
    ]
    assert requests(out, "conn-host") == []  # it answered: its line is on hook again
    assert kit.store.get_call(CID).outcome == "refused"  # type: ignore[union-attr]


def test_a_host_slow_to_report_its_dial_gets_the_modems_time_and_is_hung_up_when_it_never_does(
    kit: Kit,
) -> None:
    """A modem in voice mode may answer ATDT only once the far end picks up: the line.dial request
    waits longer than the box's own 60 s dial timeout. If no result ever comes, the host may still be
    dialling out: the router hangs its line up (so it does not stay off hook with nobody on the call)."""
    kit.box("host", line=HOST_LINE)
    a = kit.box("a")
    ada = kit.holder("ada", "+15551110000", at=a)
    kit.store.grant_line("acct-ada", HOST_LINE)
    out = kit.send("box-a", CallPlace(call_id=CID, card_id=ada, number="+15559990000"))
    (dial,) = requests(out, "conn-host")
    assert dial.timeout_s == kit.router.config.dial_line_s and dial.timeout_s > 60 + 5
    out = kit.router.request_failed(dial.ref, kit.now + dial.timeout_s)
    assert sends(out, "conn-a") == [
        CallProgress(call_id=CID, state=ProgressState.REFUSED, refused=RefuseReason.LINE_ERROR)
    ]
    hangups = [r.message for r in requests(out, "conn-host")]
    assert hangups == [LineHangup(call_id=CID, reason=EndReason.ERROR)]
    assert kit.store.get_call(CID).outcome == "refused"  # type: ignore[union-attr]
    assert kit.router.calls() == {}


def test_unknown_card_and_strangers_are_refused(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    a = kit.box("a")
    kit.box("b")
    ada = kit.holder("ada", HOST_LINE, at=a)
    out = kit.send("box-b", CallPlace(call_id="c-00000000000000d1", card_id=ada, number="+15559990000"))
    assert sends(out)[0].reason is RefuseReason.UNKNOWN_CARD  # type: ignore[attr-defined]
    _ring(kit)
    (err,) = sends(kit.send("box-b", CallHangup(call_id=CID)))
    assert isinstance(err, Error) and err.code == "forbidden"
    (err,) = sends(kit.send("box-b", MediaBind(call_id=CID, flow_id=1)))
    assert isinstance(err, Error)
    (err,) = sends(kit.send("box-b", CallAnswer(call_id=CID, card_id=ada)))
    assert isinstance(err, Error)


def test_media_silence_ends_the_call_and_tells_both_sides(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    a = kit.box("a")
    ada = kit.holder("ada", HOST_LINE, at=a)
    (offer,) = requests(_ring(kit), "conn-a")
    out = kit.send("box-a", CallAnswer(call_id=CID, card_id=ada))
    (la,) = requests(out, "conn-host")
    kit.router.reply_received(la.ref, LineResultReply(call_id=CID, result=LineResult.ANSWERED), kit.now)
    # terminal a loses its link: its flows are unbound, the call waits
    out = kit.router.box_disconnected("box-a", "conn-a", kit.now)
    assert Bind(offer.message.flow_id, None) in out  # type: ignore[attr-defined]
    assert CID in kit.router.calls()
    out = kit.router.media_silent([offer.message.flow_id], kit.now + 10)  # type: ignore[attr-defined]
    assert [r.message for r in requests(out, "conn-host")] == [
        LineHangup(call_id=CID, reason=EndReason.MEDIA_SILENCE)
    ]
    rec = kit.store.get_call(CID)
    assert rec is not None and rec.end_reason == "media-silence" and rec.outcome == "answered"


def test_a_host_line_still_dialling_is_not_ended_for_silence_and_its_legs_are_rearmed_on_answer(
    kit: Kit,
) -> None:
    """The host's modem sends voice only once its dial completes (some modems report it when the far
    end answers): silence on a dialling call's flows does not end it. Once answered, both legs get a
    full silence period from then on, and silence ends the call as for any connected call."""
    kit.box("host", line=HOST_LINE)
    a = kit.box("a")
    ada = kit.holder("ada", "+15551110000", at=a)
    kit.store.grant_line("acct-ada", HOST_LINE)
    out = kit.send("box-a", CallPlace(call_id=CID, card_id=ada, number="+15559990000"))
    (bridge,) = [x for x in out if isinstance(x, Bridge)]
    (dial,) = requests(out, "conn-host")
    assert kit.router.media_silent([bridge.b], kit.now + 10) == []
    assert CID in kit.router.calls()
    kit.router.reply_received(dial.ref, LineResultReply(call_id=CID, result=LineResult.DIALLED), kit.now)
    out = kit.send("box-host", LineStateReport(call_id=CID, state=LineState.ANSWERED, inferred=True))
    assert sorted((b.flow_id, b.conn_id) for b in out if isinstance(b, Bind)) == sorted(
        [(bridge.a, "conn-a"), (bridge.b, "conn-host")]
    )
    out = kit.router.media_silent([bridge.b], kit.now + 20)
    silence = EndReason.MEDIA_SILENCE
    assert [r.message for r in requests(out, "conn-a")] == [CallHangup(call_id=CID, reason=silence)]
    assert [r.message for r in requests(out, "conn-host")] == [LineHangup(call_id=CID, reason=silence)]
    assert kit.store.get_call(CID).end_reason == "media-silence"  # type: ignore[union-attr]


def test_reconnect_rebinds_flows_with_media_bind(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    a = kit.box("a")
    ada = kit.holder("ada", HOST_LINE, at=a)
    (offer,) = requests(_ring(kit), "conn-a")
    kit.send("box-a", CallAnswer(call_id=CID, card_id=ada))
    flow = offer.message.flow_id  # type: ignore[attr-defined]
    assert kit.router.box_connected("box-a", "conn-a2", kit.now) == [Bind(flow, None)]
    out = kit.router.handle(
        "conn-a2",
        "box-a",
        __import__("roamline.wire.messages", fromlist=["Envelope"]).Envelope(
            MediaBind(call_id=CID, flow_id=flow), id="x"
        ),
        kit.now,
    )
    assert out[0] == Bind(flow, "conn-a2") and sends(out) == [Ok()]


def test_restart_closes_open_records_once(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    a = kit.box("a")
    ada = kit.holder("ada", HOST_LINE, at=a)
    _ring(kit)
    kit.send("box-a", CallAnswer(call_id=CID, card_id=ada))
    from roamline.cloud.router import Router

    fresh = Router(kit.store)
    assert fresh.recover(kit.now + 5) == [CID]
    assert fresh.recover(kit.now + 6) == []
    rec = kit.store.get_call(CID)
    assert rec is not None and rec.end_reason == "cloud-restart" and rec.outcome == "answered"
    # the boxes' outbox reports merge into it, however often they come
    for _ in range(3):
        assert (
            kit.store.merge_call_report(CID, "box-a", {"call_id": CID, "answer_inferred": False}, kit.now)
            is False
        )
    assert len(kit.store.calls()) == 1 and set(kit.store.get_call(CID).reports or {}) == {"box-a"}  # type: ignore[union-attr]


def test_a_box_call_every_callee_declines_busy_tells_the_caller_busy(kit: Kit) -> None:
    a, b = kit.box("a"), kit.box("b")
    ada = kit.holder("ada", "+15551110000", at=a)
    kit.holder("bob", "+15552220000", at=b)
    out = kit.send("box-a", CallPlace(call_id=CID, card_id=ada, number="+15552220000"))
    (offer,) = requests(out, "conn-b")
    out = kit.router.reply_received(offer.ref, CallDeclined(call_id=CID, reason=DeclineReason.BUSY), kit.now)
    assert sends(out, "conn-a") == [CallProgress(call_id=CID, state=ProgressState.BUSY)]  # busy tone, once
    rec = kit.store.get_call(CID)
    assert rec is not None and rec.state == "closed" and rec.end_reason == "busy" and rec.outcome == "missed"


def test_an_offline_own_line_call_gets_its_record_from_the_box(kit: Kit) -> None:
    payload = {
        "call_id": "c-00000000000000e1",
        "route": "own-line",
        "number": "+12125550000",
        "started_at": kit.now,
        "answered_at": kit.now + 4,
        "ended_at": kit.now + 64,
        "answer_inferred": True,
    }
    assert kit.store.merge_call_report("c-00000000000000e1", "box-own", payload, kit.now + 100) is True
    assert kit.store.merge_call_report("c-00000000000000e1", "box-own", payload, kit.now + 200) is False
    (rec,) = kit.store.calls(number="+12125550000")
    assert (
        rec.duration_s == 60 and rec.answer_inferred and rec.outcome == "answered" and rec.state == "closed"
    )


def test_an_offline_own_line_record_names_the_cards_holder_and_the_boxs_line(kit: Kit) -> None:
    """The box's report carries its card id, not the account: the record made from it names the
    card's holder, and the box's own line as line and caller."""
    own = kit.box("own", line="+15551230000")
    card = kit.holder("ada", "+15559990000")
    payload = {"call_id": "c-00000000000000e3", "route": "own-line", "number": "+15552220000",
               "card_id": card, "started_at": kit.now, "ended_at": kit.now + 10, "side": "terminal"}
    assert kit.store.merge_call_report("c-00000000000000e3", own, payload, kit.now + 20) is True
    rec = kit.store.get_call("c-00000000000000e3")
    assert rec is not None
    assert (rec.account_id, rec.card_id, rec.line, rec.caller, rec.terminal_box) == (
        "acct-ada", card, "+15551230000", "+15551230000", own)


def test_a_box_that_is_host_and_terminal_of_a_call_keeps_both_reports(kit: Kit) -> None:
    cid = "c-00000000000000e2"
    base = {"call_id": cid, "route": "own-line", "number": "+12125550000", "started_at": kit.now,
            "ended_at": kit.now + 10}
    kit.store.merge_call_report(cid, "box-own", {**base, "side": "host"}, kit.now + 20)
    kit.store.merge_call_report(cid, "box-own", {**base, "side": "terminal"}, kit.now + 20)
    (rec,) = kit.store.calls(number="+12125550000")
    assert rec.reports is not None and {"box-own/host", "box-own/terminal"} <= set(rec.reports)


def test_cancel_requests_are_not_sent_to_disconnected_boxes(kit: Kit) -> None:
    kit.box("host", line=HOST_LINE)
    a, b = kit.box("a"), kit.box("b")
    ada = kit.holder("ada", HOST_LINE, at=a)
    kit.holder("ada", HOST_LINE, at=b)
    _ring(kit)
    kit.router.box_disconnected("box-b", "conn-b", kit.now)
    out = kit.send("box-a", CallAnswer(call_id=CID, card_id=ada))
    assert requests(out, "conn-b") == [] and isinstance(requests(out, "conn-host")[0], Request)
