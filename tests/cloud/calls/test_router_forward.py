"""A filter forwarding a holder's calls to a plain PSTN number (docs/protocol.md §10.7), in the router on a
registry on SQLite: the forward goes out another line with the rules of a placed call, the ringing line
is answered and bridged when the far end answers, and every way it fails is the holder's voicemail —
one call record with both legs."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.cloud.records import Box, LineRight
from roamline.cloud.router import Bridge, Request, Router, RouterConfig, Unbridge
from roamline.wire import grant as wg
from roamline.wire import identity
from roamline.wire import profile as wp
from roamline.wire.calls import (
    CallerId,
    LineAnswer,
    LineChoice,
    LineDial,
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

HOST_LINE = "+15551230000"  # rings: ada's number
OUT_LINE = "+15554560000"  # another host line in the same area (+1 555)
DEST = "+15559990000"  # the forward's target: nobody's Roamline number
CID = "c-00000000000000f1"
BOB = CallerId(number="+15550300003", name="BOB JONES")


@pytest.fixture
def ca() -> identity.CertificateAuthority:
    return identity.CertificateAuthority.create(now=1_800_000_000.0)


@pytest.fixture
def kit(tmp_path: Path, ca: identity.CertificateAuthority) -> Iterator[Kit]:
    k = make_kit(tmp_path)
    k.router = Router(k.store, RouterConfig(no_answer_s=30.0, answer_line_s=10.0), grant_key=ca.key)
    k.box("host", line=HOST_LINE)
    k.box("out", line=OUT_LINE)
    k.holder("ada", HOST_LINE, at=k.box("a"))
    profile(k, "acct-ada", voicemail={"timeout_s": 12},
            filters=[{"name": "away", "action": "forward", "forward_to": DEST}])
    yield k
    k.store.close()


def profile(kit: Kit, account: str, **fields: Any) -> None:
    kit.store.put_profile(account, wp.parse(fields).to_json(), kit.now)


def ring(kit: Kit, call_id: str = CID) -> list[Any]:
    return kit.send("box-host", LineRing(call_id=call_id, line=HOST_LINE, caller=BOB, rings=1))


def dials(out: list[Any], conn: str = "conn-out") -> list[Any]:
    return [r for r in requests(out, conn) if isinstance(r.message, LineDial)]


def takes(out: list[Any]) -> list[VoicemailTake]:
    return [r.message for r in requests(out, "conn-host") if isinstance(r.message, VoicemailTake)]


def hangups(out: list[Any], conn: str) -> list[Any]:
    return [r.message for r in requests(out, conn) if isinstance(r.message, LineHangup)]


def voicemail_for_ada(kit: Kit, out: list[Any]) -> None:
    (take,) = takes(out)
    assert take.call_id == CID and take.number == HOST_LINE
    rec = kit.store.get_voicemail(take.message_id)
    assert rec is not None and rec.account_id == "acct-ada"


def only_record(kit: Kit) -> Any:
    recs = kit.store.calls()
    assert [r.call_id for r in recs] == [CID]
    return recs[0]


def test_a_forward_dials_out_another_line_and_bridges_the_ringing_line_when_answered(
        kit: Kit, ca: identity.CertificateAuthority) -> None:
    kit.store.put_line_right(LineRight(OUT_LINE, "acct-ada", rate_per_min=0.6))
    start = kit.now
    out = ring(kit)
    assert sends(out, "conn-host") == [LineRouted(call_id=CID, offered=1)]  # the line keeps ringing
    assert [r for r in requests(out) if r.conn_id == "conn-a"] == []  # ada's box does not ring
    (dial,) = dials(out)
    assert dial.message.number == DEST
    g = wg.verify(dial.message.grant, ca.certificate.public_key(), call_id=CID,  # type: ignore[arg-type]
                  line=OUT_LINE, number=DEST, now=kit.now)
    assert g.account == "acct-ada"
    (bridge,) = [a for a in out if isinstance(a, Bridge)]
    assert (bridge.conn_a, bridge.b, bridge.conn_b) == ("conn-host", dial.message.flow_id, "conn-out")
    assert kit.router.reply_received(dial.ref, LineResultReply(call_id=CID, result=LineResult.DIALLED),
                                     kit.now) == []
    kit.now += 6
    kit.send("box-out", LineStateReport(call_id=CID, state=LineState.RINGBACK))
    out = kit.send("box-out", LineStateReport(call_id=CID, state=LineState.ANSWERED, inferred=True))
    (answer,) = [r for r in requests(out, "conn-host") if isinstance(r.message, LineAnswer)]
    assert answer.message.flow_id == bridge.a
    kit.router.reply_received(answer.ref, LineResultReply(call_id=CID, result=LineResult.ANSWERED), kit.now)
    assert kit.router.calls()[CID].state == "connected"
    kit.now += 60
    out = kit.send("box-out", LineStateReport(call_id=CID, state=LineState.FAR_END_HANGUP))
    assert hangups(out, "conn-host") == [LineHangup(call_id=CID, reason="far-end")]  # type: ignore[arg-type]
    assert hangups(out, "conn-out") == []  # its line ended the call: already on hook
    assert any(isinstance(a, Unbridge) for a in out)
    rec = only_record(kit)
    assert (rec.outcome, rec.route, rec.caller, rec.called) == ("answered", "incoming", BOB.number, HOST_LINE)
    assert (rec.account_id, rec.line, rec.host_box, rec.terminal_box) == (
        "acct-ada", HOST_LINE, "box-host", "box-out")
    assert rec.answered_at == pytest.approx(start + 6) and rec.answer_inferred
    assert rec.reports["registry/forward"]["number"] == DEST
    assert rec.reports["registry/forward"]["line"] == OUT_LINE
    spent = kit.store.line_right("acct-ada", OUT_LINE)
    assert spent is not None and spent.spent == pytest.approx(0.6)  # 60 s at 0.6 a minute
    assert [e.fields["to"] for e in kit.store.events() if e.kind == "call-forwarded"] == [DEST]


def test_a_forward_nobody_answers_within_the_holders_time_is_hung_up_and_goes_to_voicemail(
        kit: Kit) -> None:
    kit.store.put_line_right(LineRight(OUT_LINE, "acct-ada"))
    start = kit.now
    ring(kit)
    assert kit.router.next_deadline() == pytest.approx(start + 12)
    assert kit.router.poll(start + 11.9) == []
    out = kit.router.poll(start + 12)
    assert hangups(out, "conn-out") == [LineHangup(call_id=CID, reason="no-answer")]  # type: ignore[arg-type]
    voicemail_for_ada(kit, out)
    assert hangups(out, "conn-host") == []  # the line rings on: the host answers it for the message
    rec = only_record(kit)
    assert (rec.outcome, rec.end_reason, rec.account_id, rec.terminal_box) == (
        "missed", "forward-no-answer", "acct-ada", None)
    # the far end answering after that changes nothing
    assert kit.send("box-out", LineStateReport(call_id=CID, state=LineState.ANSWERED)) == []


@pytest.mark.parametrize("state", [LineState.BUSY, LineState.NO_ANSWER, LineState.LINE_LOST])
def test_a_forward_the_far_line_refuses_goes_to_voicemail(kit: Kit, state: LineState) -> None:
    kit.store.put_line_right(LineRight(OUT_LINE, "acct-ada"))
    ring(kit)
    out = kit.send("box-out", LineStateReport(call_id=CID, state=state))
    voicemail_for_ada(kit, out)
    assert hangups(out, "conn-out") == []
    assert only_record(kit).end_reason == f"forward-{state.value}"


@pytest.mark.parametrize("result", [LineResult.BUSY, LineResult.NO_DIALTONE, LineResult.ERROR])
def test_a_dial_the_forwarding_host_refuses_goes_to_voicemail(kit: Kit, result: LineResult) -> None:
    kit.store.put_line_right(LineRight(OUT_LINE, "acct-ada"))
    (dial,) = dials(ring(kit))
    out = kit.router.reply_received(dial.ref, LineResultReply(call_id=CID, result=result), kit.now)
    voicemail_for_ada(kit, out)
    assert hangups(out, "conn-out") == []  # it answered: its line is on hook
    assert only_record(kit).outcome == "missed"


def test_a_dial_with_no_reply_is_hung_up_and_goes_to_voicemail(kit: Kit) -> None:
    kit.store.put_line_right(LineRight(OUT_LINE, "acct-ada"))
    (dial,) = dials(ring(kit))
    out = kit.router.request_failed(dial.ref, kit.now)
    assert hangups(out, "conn-out") == [LineHangup(call_id=CID, reason="no-answer")]  # type: ignore[arg-type]
    voicemail_for_ada(kit, out)


@pytest.mark.parametrize(
    "right",
    [
        None,
        LineRight(OUT_LINE, "acct-ada", call_out=False),
        LineRight(OUT_LINE, "acct-ada", prefixes=("+1555888",)),
        LineRight(OUT_LINE, "acct-ada", blocked=("+1555999",)),
        LineRight(OUT_LINE, "acct-ada", spend_limit=5.0, rate_per_min=0.5, spent=5.0),
    ],
)
def test_each_right_that_refuses_the_forward_leaves_the_holders_voicemail(
        kit: Kit, right: LineRight | None) -> None:
    if right is not None:
        kit.store.put_line_right(right)
    out = ring(kit)
    assert dials(out) == [] and dials(out, "conn-host") == []
    assert sends(out, "conn-host") == [LineRouted(call_id=CID, offered=0, filtered="voicemail")]
    voicemail_for_ada(kit, out)
    assert only_record(kit).outcome == "missed"
    (refused,) = [e.fields for e in kit.store.events() if e.kind == "call-forward-refused"]
    assert refused["to"] == DEST and refused["reason"] == "no-rights"


def test_the_line_of_the_box_the_holders_card_is_in_comes_first(kit: Kit) -> None:
    """ada's card is also in box-own, whose line is in another area (+1 217): her right there is used
    before the host line in the destination's area, as for a call she places."""
    own = kit.box("own", line="+12175550000")
    kit.register(kit.holder("ada", HOST_LINE), "acct-ada", own)
    kit.store.put_line_right(LineRight("+12175550000", "acct-ada"))
    kit.store.put_line_right(LineRight(OUT_LINE, "acct-ada"))
    out = ring(kit)
    assert len(dials(out, "conn-own")) == 1 and dials(out) == []


def test_the_ringing_line_itself_and_a_line_in_use_are_not_used(kit: Kit) -> None:
    """An analog line carries one call: ada's right on the line that rings gives no forward; a second
    call while the first forward holds the other line falls to voicemail (line busy)."""
    kit.store.put_line_right(LineRight(HOST_LINE, "acct-ada"))
    kit.register(kit.holder("ada", HOST_LINE), "acct-ada", "box-host")
    out = ring(kit)
    voicemail_for_ada(kit, out)
    kit.store.put_line_right(LineRight(OUT_LINE, "acct-ada"))
    other = kit.box("host2", line="+15557770000")
    kit.store.add_number("acct-ada", "+15557770000")
    first = kit.send(other, LineRing(call_id="c-00000000000000f2", line="+15557770000", caller=BOB, rings=1))
    assert len(dials(first, "conn-host")) == 1  # the line of the box her card is in, free now
    kit.store.add_number("acct-ada", "+15558880000")
    third = kit.box("host3", line="+15558880000")
    second = kit.send(third, LineRing(call_id="c-00000000000000f3", line="+15558880000", caller=BOB, rings=1))
    assert len(dials(second)) == 1  # that one in use: the host line in the area
    kit.store.add_number("acct-ada", "+15556660000")
    fourth = kit.send(kit.box("host4", line="+15556660000"),
                      LineRing(call_id="c-00000000000000f4", line="+15556660000", caller=BOB, rings=1))
    assert dials(fourth) == [] and dials(fourth, "conn-host") == []  # both forward lines are in use
    assert [r.message for r in requests(fourth, "conn-host4") if isinstance(r.message, VoicemailTake)]
    busy = [e.fields for e in kit.store.events() if e.kind == "call-forward-refused"]
    assert busy[-1]["reason"] == "line-busy"


def test_the_caller_hanging_up_while_the_forward_rings_hangs_the_forward_up(kit: Kit) -> None:
    kit.store.put_line_right(LineRight(OUT_LINE, "acct-ada"))
    ring(kit)
    out = kit.send("box-host", LineStateReport(call_id=CID, state=LineState.CALLER_GONE))
    assert len(hangups(out, "conn-out")) == 1 and takes(out) == []
    rec = only_record(kit)
    assert rec.outcome == "missed" and CID not in kit.router.calls()


def test_a_forward_over_its_length_limit_is_cut_on_both_lines(kit: Kit) -> None:
    kit.store.put_line_right(LineRight(OUT_LINE, "acct-ada", max_call_s=60.0))
    start = kit.now
    assert len(dials(ring(kit))) == 1
    out = kit.send("box-out", LineStateReport(call_id=CID, state=LineState.ANSWERED, inferred=True))
    (answer,) = [r for r in requests(out, "conn-host") if isinstance(r.message, LineAnswer)]
    kit.router.reply_received(answer.ref, LineResultReply(call_id=CID, result=LineResult.ANSWERED), kit.now)
    assert kit.router.poll(start + 59) == []
    out = kit.router.poll(start + 60)
    assert len(hangups(out, "conn-host")) == 1 and len(hangups(out, "conn-out")) == 1
    assert only_record(kit).end_reason == "limit"


def test_the_ringing_line_failing_to_answer_hangs_the_forward_up(kit: Kit) -> None:
    kit.store.put_line_right(LineRight(OUT_LINE, "acct-ada"))
    ring(kit)
    out = kit.send("box-out", LineStateReport(call_id=CID, state=LineState.ANSWERED, inferred=True))
    (answer,) = [r for r in requests(out, "conn-host") if isinstance(r.message, LineAnswer)]
    out = kit.router.reply_received(answer.ref, LineResultReply(call_id=CID, result=LineResult.CALLER_GONE),
                                    kit.now)
    assert len(hangups(out, "conn-out")) == 1
    assert CID not in kit.router.calls()


def test_an_attendants_chosen_holder_forwarding_to_pstn_is_dialled_and_bridged(kit: Kit) -> None:
    """On a shared line the chosen holder's forward goes out the same way; the attendant's line is off
    hook already and is bridged at the far end's answer; a failed forward is her voicemail there."""
    kit.store.put_line_right(LineRight(OUT_LINE, "acct-ada"))
    kit.holder("carol", HOST_LINE, at=kit.box("c"))
    out = ring(kit)
    (routed,) = sends(out, "conn-host")
    assert isinstance(routed, LineRouted) and len(routed.attendant) == 2
    out = kit.send("box-host", LineChoice(call_id=CID, key="1"))  # ada
    assert len(dials(out)) == 1 and [r for r in requests(out) if r.conn_id in ("conn-a", "conn-c")] == []
    out = kit.send("box-out", LineStateReport(call_id=CID, state=LineState.BUSY))
    voicemail_for_ada(kit, out)
    assert only_record(kit).end_reason == "forward-busy"


def test_a_revoked_boxs_line_is_never_the_forwards_way_out(kit: Kit) -> None:
    """A revoked box's line is never a forward's way out."""
    kit.store.put_line_right(LineRight(OUT_LINE, "acct-ada"))
    kit.store.put_box(Box("box-out", "pem-out", "out", "sim", None, OUT_LINE, None, True, kit.now))
    out = ring(kit)
    assert dials(out) == []
    voicemail_for_ada(kit, out)


def test_a_holders_filters_decide_though_their_card_is_in_no_box(kit: Kit) -> None:
    """The filters are the holder's, not the card's: with ada's card out of every box her forward is still
    dialled, her block still refuses (spoken, not voicemail), and a forward to a follow-me number rings
    that holder's box."""
    kit.store.put_line_right(LineRight(OUT_LINE, "acct-ada"))
    kit.now += 7200  # her registration's lease (an hour) has run out: no card of hers is anywhere
    out = ring(kit)
    assert len(dials(out)) == 1 and sends(out, "conn-host") == [LineRouted(call_id=CID, offered=1)]
    kit.send("box-host", LineStateReport(call_id=CID, state=LineState.CALLER_GONE))
    profile(kit, "acct-ada", filters=[{"name": "bob", "action": "block", "prefixes": [BOB.number]}])
    out = ring(kit, call_id="c-00000000000000f6")
    assert sends(out, "conn-host") == [LineRouted(call_id="c-00000000000000f6", offered=0, filtered="block")]
    assert takes(out) == []
    kit.holder("bea", "+15550200002", at=kit.box("b"))
    profile(kit, "acct-ada", filters=[{"name": "all", "action": "forward", "forward_to": "+15550200002"}])
    out = ring(kit, call_id="c-00000000000000f7")
    assert {r.conn_id for r in requests(out)} == {"conn-b"}


_fwd_steps = st.lists(
    st.one_of(
        st.tuples(st.just("out"), st.sampled_from(list(LineState))),
        st.tuples(st.just("host"), st.sampled_from(list(LineState))),
        st.tuples(st.just("reply"), st.sampled_from(list(LineResult))),
        st.tuples(st.just("fail"), st.integers(0, 5)),
        st.tuples(st.just("tick"), st.floats(0, 40)),
        st.tuples(st.just("silent"), st.integers(1, 4)),
        st.tuples(st.just("vanish"), st.sampled_from(["out", "host"])),
    ),
    max_size=20,
)


@settings(max_examples=100, deadline=None)
@given(_fwd_steps)
def test_any_order_of_forward_events_ends_in_one_record_and_at_most_one_message(
        plan: list[tuple[str, object]]) -> None:
    """Whatever the two lines report, in any order with replies, failures, timers and silence: every
    router step is legal, the call ends with one closed record, a message is asked for at most once and
    never for an answered call, and the forward's line is never left up by the router."""
    with tempfile.TemporaryDirectory() as tmp:
        kit = make_kit(Path(tmp))
        try:
            kit.box("host", line=HOST_LINE)
            kit.box("out", line=OUT_LINE)
            kit.holder("ada", HOST_LINE, at=kit.box("a"))
            profile(kit, "acct-ada", voicemail={"timeout_s": 12},
                    filters=[{"name": "away", "action": "forward", "forward_to": DEST}])
            kit.store.put_line_right(LineRight(OUT_LINE, "acct-ada"))
            outs = [ring(kit)]
            pending = [a for a in outs[0] if isinstance(a, Request)]
            ended = {LineState.BUSY, LineState.NO_ANSWER, LineState.FAR_END_HANGUP, LineState.LINE_LOST}
            out_down = False  # the forward's line said it is on hook again
            for kind, arg in plan:
                out: list[Any] = []
                if kind == "out":
                    out_down = out_down or arg in ended
                    out = kit.send("box-out", LineStateReport(call_id=CID, state=arg))  # type: ignore[arg-type]
                elif kind == "host":
                    out = kit.send("box-host", LineStateReport(call_id=CID, state=arg))  # type: ignore[arg-type]
                elif kind == "reply" and pending:
                    req = pending.pop(0)
                    out_down = out_down or (req.ref.purpose == "fwd-dial" and arg is not LineResult.DIALLED)
                    out = kit.router.reply_received(req.ref, LineResultReply(call_id=CID, result=arg),  # type: ignore[arg-type]
                                                    kit.now)
                elif kind == "fail" and pending:
                    out = kit.router.request_failed(pending.pop(int(arg) % len(pending)).ref, kit.now)  # type: ignore[call-overload]
                elif kind == "tick":
                    kit.now += float(arg)  # type: ignore[arg-type]
                    out = kit.router.poll(kit.now)
                elif kind == "silent":
                    out = kit.router.media_silent([int(arg)], kit.now)  # type: ignore[call-overload]
                elif kind == "vanish":
                    out = kit.router.box_disconnected(f"box-{arg}", f"conn-{arg}", kit.now)
                    kit.router.box_connected(f"box-{arg}", f"conn-{arg}", kit.now)
                outs.append(out)
                pending += [a for a in out if isinstance(a, Request)]
            kit.now += 100
            outs.append(kit.router.poll(kit.now))
            outs.append(kit.send("box-host", LineStateReport(call_id=CID, state=LineState.FAR_END_HANGUP)))
            assert CID not in kit.router.calls()
            (rec,) = kit.store.calls()
            assert rec.call_id == CID and rec.state == "closed" and rec.outcome in ("answered", "missed")
            everything = [a for out in outs for a in out]
            asked = [a for a in everything if isinstance(a, Request) and isinstance(a.message, VoicemailTake)]
            assert len(asked) <= 1
            assert not (asked and rec.outcome == "answered")
            told_down = any(isinstance(a, Request) and a.conn_id == "conn-out"
                            and isinstance(a.message, LineHangup) for a in everything)
            assert told_down or out_down  # the router hung the forward up, or its line had ended
        finally:
            kit.store.close()
