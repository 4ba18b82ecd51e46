"""Property: whatever order boxes answer, reject, hang up, vanish or time out in, a call has at most one
winner, every router step is legal, and the call ends with exactly one closed record."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamline.cloud.router import Request
from roamline.wire.calls import (
    AnswerResult,
    CallAnswer,
    CallAnswered,
    CallerId,
    CallHangup,
    CallReject,
    CallRinging,
    LineResult,
    LineResultReply,
    LineRing,
    LineState,
    LineStateReport,
)

from .routing_kit import make_kit, sends

LINE = "+15551230000"
CID = "c-00000000000000f1"

steps = st.lists(
    st.one_of(
        st.tuples(st.just("answer"), st.integers(0, 2)),
        st.tuples(st.just("reject"), st.integers(0, 2)),
        st.tuples(st.just("hangup"), st.integers(0, 2)),
        st.tuples(st.just("vanish"), st.integers(0, 2)),
        st.tuples(st.just("reply"), st.integers(0, 20)),
        st.tuples(st.just("fail"), st.integers(0, 20)),
        st.tuples(st.just("host"), st.sampled_from(list(LineState))),
        st.tuples(st.just("tick"), st.floats(0, 40)),
        st.tuples(st.just("silent"), st.integers(0, 20)),
    ),
    max_size=25,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps)
def test_any_order_one_winner_one_record(plan: list[tuple[str, object]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        kit = make_kit(Path(tmp))
        try:
            kit.box("host", line=LINE)
            boxes = [kit.box(f"t{i}") for i in range(3)]
            cards = [kit.holder("ann", LINE, at=b) for b in boxes]
            pending: list[Request] = []
            ring = LineRing(call_id=CID, line=LINE, caller=CallerId(number="+15559870000"))
            out = kit.send("box-host", ring)
            pending += [a for a in out if isinstance(a, Request)]
            winners = 0
            for kind, arg in plan:
                out = []
                if kind == "answer":
                    i = int(arg)  # type: ignore[call-overload]
                    out = kit.send(boxes[i], CallAnswer(call_id=CID, card_id=cards[i]))
                    winners += sum(isinstance(m, CallAnswered) and m.result is AnswerResult.CONNECTED
                                   for m in sends(out))
                elif kind == "reject":
                    out = kit.send(boxes[int(arg)], CallReject(call_id=CID))  # type: ignore[call-overload]
                elif kind == "hangup":
                    out = kit.send(boxes[int(arg)], CallHangup(call_id=CID))  # type: ignore[call-overload]
                elif kind == "vanish":
                    b = boxes[int(arg)]  # type: ignore[call-overload]
                    out = kit.router.box_disconnected(b, "conn-" + b.removeprefix("box-"), kit.now)
                elif kind in ("reply", "fail") and pending:
                    req = pending.pop(int(arg) % len(pending))  # type: ignore[call-overload]
                    if kind == "fail":
                        out = kit.router.request_failed(req.ref, kit.now)
                    elif req.ref.purpose == "offer":
                        out = kit.router.reply_received(req.ref, CallRinging(call_id=CID), kit.now)
                    elif req.ref.purpose.startswith("line"):
                        out = kit.router.reply_received(
                            req.ref, LineResultReply(call_id=CID, result=LineResult.ANSWERED), kit.now)
                elif kind == "host":
                    out = kit.send("box-host", LineStateReport(call_id=CID, state=arg))  # type: ignore[arg-type]
                elif kind == "tick":
                    kit.now += float(arg)  # type: ignore[arg-type]
                    out = kit.router.poll(kit.now)
                elif kind == "silent":
                    out = kit.router.media_silent([int(arg)], kit.now)  # type: ignore[call-overload]
                pending += [a for a in out if isinstance(a, Request)]
            assert winners <= 1
            # whatever is left ends by the no-answer timer, the host's hang-up or media silence
            kit.now += 100
            kit.router.poll(kit.now)
            kit.send("box-host", LineStateReport(call_id=CID, state=LineState.FAR_END_HANGUP))
            assert CID not in kit.router.calls()
            (rec,) = kit.store.calls()
            assert rec.call_id == CID and rec.state == "closed"
            assert (rec.outcome == "answered") == (winners == 1)
            assert rec.outcome in ("answered", "missed")
        finally:
            kit.store.close()
