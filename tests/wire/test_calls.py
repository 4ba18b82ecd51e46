"""Call signalling messages: every type round-trips, bodies are strict, the link enforces who sends what."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.wire.calls import (
    CALL_MESSAGES,
    AnswerResult,
    AttendantChoice,
    CallAnswer,
    CallAnswered,
    CallCancel,
    CallDeclined,
    CallDtmf,
    CallEmergency,
    CallerId,
    CallerIdAbsence,
    CallHangup,
    CallOffer,
    CallPlace,
    CallPlaced,
    CallProgress,
    CallRefused,
    CallReject,
    CallRinging,
    CancelReason,
    DeclineReason,
    EndReason,
    Fallback,
    LineAnswer,
    LineChoice,
    LineDial,
    LineFallback,
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
from roamline.wire.errors import BadBody, ErrorCode, UsageError
from roamline.wire.framing import Frame, FrameDecoder
from roamline.wire.link import LinkConnection
from roamline.wire.messages import Envelope, Message, Ok, encode_message, from_frame
from roamline.wire.session import HandshakeGate

from .test_link import FakeTransport, run

CID = "c-0123456789abcdef"
CARD = "00112233445566778899aabbccddeeff"

SAMPLES: list[Message] = [
    LineRing(call_id=CID, line="+15551230000", caller=CallerId(number="+15559870000", name="ADA L"), rings=2),
    LineRing(call_id=CID, line="+15551230000", caller=CallerId(absent=CallerIdAbsence.PRIVATE)),
    LineRouted(call_id=CID, offered=2),
    LineStateReport(call_id=CID, state=LineState.ANSWERED, inferred=True, detail="ringback stopped"),
    LineAnswer(call_id=CID, flow_id=7),
    LineDial(call_id=CID, number="+15557770000", flow_id=2**40),
    LineHangup(call_id=CID, reason=EndReason.HANGUP),
    LineResultReply(call_id=CID, result=LineResult.NO_DIALTONE, detail="no dial tone after 3 s"),
    CallOffer(call_id=CID, card_id=CARD, number="+15551230000", caller=CallerId(number="5559870000"),
              cadence="us-dr2", flow_id=8),
    CallRinging(call_id=CID),
    CallDeclined(call_id=CID, reason=DeclineReason.BUSY),
    CallCancel(call_id=CID, reason=CancelReason.ANSWERED_ELSEWHERE),
    CallAnswer(call_id=CID, card_id=CARD),
    CallAnswered(call_id=CID, result=AnswerResult.CONNECTED, flow_id=8),
    CallAnswered(call_id=CID, result=AnswerResult.ANSWERED_ELSEWHERE),
    CallReject(call_id=CID, reason=DeclineReason.FILTERED),
    CallHangup(call_id=CID, reason=EndReason.MEDIA_SILENCE),
    CallDtmf(call_id=CID, digits="12*#A", duration_ms=80),
    CallPlace(call_id=CID, card_id=CARD, number="+442071234567"),
    CallPlaced(call_id=CID, route=Route.HOST_LINE, flow_id=9, via="+15551230000"),
    CallPlaced(call_id=CID, route=Route.OWN_LINE),
    CallRefused(call_id=CID, reason=RefuseReason.NO_ROUTE, message="no line for +44 20"),
    CallProgress(call_id=CID, state=ProgressState.ANSWERED, answer_inferred=True),
    CallProgress(call_id=CID, state=ProgressState.REFUSED, refused=RefuseReason.LINE_BUSY),
    MediaBind(call_id=CID, flow_id=8),
    # the attendant on a shared line (appended: the indices above are used below)
    LineRouted(call_id=CID, offered=0, attendant=(AttendantChoice(key="1", label="alice"),
                                                  AttendantChoice(key="2", label="Carol Ng"))),
    LineChoice(call_id=CID, key="2"),
    LineChoice(call_id=CID),
    LineFallback(call_id=CID, outcome=Fallback.VOICEMAIL, account="acct-carol"),
    CallEmergency(call_id=CID, number="911"),
    CallEmergency(call_id=CID, number="112", card_id=CARD, line="+15550200002",
                  location={"civic": {"country": "US", "A1": "IL", "A3": "Shelbyville", "RD": "Mill Lane",
                                      "HNO": "12"}, "method": "installer"}),
    CallPlaced(call_id=CID, route=Route.SOS, flow_id=11),
]
ATTENDANT = next(i for i, m in enumerate(SAMPLES) if isinstance(m, LineRouted) and m.attendant)


def _ids(msg: Message) -> dict[str, str]:
    return {"request": {"id": "s1"}, "reply": {"re": "s1"}, "push": {}}[msg.KIND]


def test_every_call_type_has_a_sample() -> None:
    assert {type(m) for m in SAMPLES} == set(CALL_MESSAGES)


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: m.TYPE)
def test_round_trip_fed_byte_by_byte(msg: Message) -> None:
    data = encode_message(msg, **_ids(msg))
    dec = FrameDecoder()
    frames: list[Frame] = []
    for i in range(len(data)):
        frames += dec.feed(data[i : i + 1])
    (frame,) = frames
    assert from_frame(frame).message == msg


call_ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{7,63}\Z")
e164 = st.from_regex(r"\A\+[1-9][0-9]{1,14}\Z")
flows = st.integers(0, 2**62 - 1)
caller_ids = st.builds(
    CallerId,
    number=st.none() | st.from_regex(r"\A[0-9*#+]{1,32}\Z"),
    name=st.none() | st.text(max_size=64),
    absent=st.none() | st.sampled_from(CallerIdAbsence),
)


@settings(max_examples=150)
@given(
    st.one_of(
        st.builds(LineRing, call_id=call_ids, line=e164, caller=caller_ids, rings=st.integers(1, 1000)),
        st.builds(CallOffer, call_id=call_ids, card_id=st.just(CARD), number=e164, caller=caller_ids,
                  cadence=st.sampled_from(["us", "us-dr1", "us-dr4", "uk", "de"]), flow_id=flows),
        st.builds(CallPlaced, call_id=call_ids, route=st.sampled_from(Route), flow_id=st.none() | flows,
                  via=st.none() | e164),
        st.builds(CallProgress, call_id=call_ids, state=st.sampled_from(ProgressState),
                  reason=st.none() | st.sampled_from(EndReason),
                  refused=st.none() | st.sampled_from(RefuseReason), answer_inferred=st.booleans()),
        st.builds(LineStateReport, call_id=call_ids, state=st.sampled_from(LineState), inferred=st.booleans(),
                  detail=st.text(max_size=200)),
        st.builds(LineRouted, call_id=call_ids, offered=st.just(0), attendant=st.lists(
            st.builds(AttendantChoice, key=st.sampled_from("123456789"),
                      label=st.text(min_size=1, max_size=64)),
            max_size=9).map(tuple)),
        st.builds(LineChoice, call_id=call_ids, key=st.sampled_from(["", *"123456789"])),
        st.builds(LineFallback, call_id=call_ids, outcome=st.sampled_from(Fallback),
                  account=st.text(max_size=128)),
    )
)
def test_property_round_trip(msg: Message) -> None:
    data = encode_message(msg, **_ids(msg))
    (frame,) = FrameDecoder().feed(data)
    assert from_frame(frame).message == msg


def _body(msg: Message, **changes: Any) -> Frame:
    (frame,) = FrameDecoder().feed(encode_message(msg, **_ids(msg)))
    body = dict(frame.body)
    for k, v in changes.items():
        if v is ...:
            body.pop(k)
        else:
            body[k] = v
    return Frame(v=1, type=frame.type, body=body, id=frame.id, re=frame.re)


@pytest.mark.parametrize(
    ("msg", "changes"),
    [
        (SAMPLES[0], {"call_id": "short"}),
        (SAMPLES[0], {"call_id": "-starts-with-dash"}),
        (SAMPLES[0], {"call_id": "x" * 65}),
        (SAMPLES[0], {"line": "5551230000"}),  # not E.164
        (SAMPLES[0], {"line": "+0551230000"}),
        (SAMPLES[0], {"rings": 0}),
        (SAMPLES[0], {"rings": "2"}),
        (SAMPLES[0], {"caller": {"number": "12ab"}}),
        (SAMPLES[0], {"caller": {"absent": "secret"}}),
        (SAMPLES[4], {"flow_id": -1}),
        (SAMPLES[4], {"flow_id": 2**62}),
        (SAMPLES[4], {"flow_id": 1.5}),
        (SAMPLES[8], {"cadence": "US DR1"}),
        (SAMPLES[8], {"card_id": "ABC"}),
        (SAMPLES[8], {"flow_id": ...}),
        (SAMPLES[11], {"reason": "bored"}),
        (SAMPLES[17], {"digits": "12x"}),
        (SAMPLES[17], {"duration_ms": 5}),
        (SAMPLES[19], {"route": "carrier-pigeon"}),
        (SAMPLES[ATTENDANT], {"attendant": [{"key": "0", "label": "zero"}]}),  # keys are 1…9
        (SAMPLES[ATTENDANT], {"attendant": [{"key": "12", "label": "x"}]}),
        (SAMPLES[ATTENDANT], {"attendant": [{"key": "1", "label": ""}]}),
        (SAMPLES[ATTENDANT], {"attendant": [{"key": "1", "label": "x" * 65}]}),
        (SAMPLES[ATTENDANT], {"attendant": [{"key": "1", "label": "a"}] * 10}),  # at most 9 holders
        (SAMPLES[ATTENDANT + 1], {"key": "0"}),
        (SAMPLES[ATTENDANT + 1], {"key": "#"}),
        (SAMPLES[ATTENDANT + 3], {"outcome": "forward"}),
        (SAMPLES[-3], {"number": "9a1"}),
        (SAMPLES[-3], {"number": "+15550200002"}),  # emergency digits, not a number to route
        (SAMPLES[-2], {"card_id": "ABC"}),
        (SAMPLES[-2], {"line": "5550200002"}),
    ],
)
def test_bad_bodies_are_refused(msg: Message, changes: dict[str, Any]) -> None:
    with pytest.raises(BadBody) as info:
        from_frame(_body(msg, **changes))
    assert info.value.code is ErrorCode.BAD_BODY


def test_unknown_fields_are_ignored() -> None:
    got = from_frame(_body(SAMPLES[9], future_field=[1, 2]))
    assert got.message == SAMPLES[9]


# --- the link: who may send what, cloud-started requests -------------------------------------------------


def test_a_box_cannot_send_cloud_messages_and_vice_versa() -> None:
    async def body() -> None:
        server_t, client_t = FakeTransport(), FakeTransport()
        server = LinkConnection(server_t, id_prefix="s", gate=HandshakeGate())
        client = LinkConnection(client_t, id_prefix="c")
        server.mark_authenticated("box-0123456789abcdef")
        for msg, link, t in ((SAMPLES[8], server, server_t), (SAMPLES[18], client, client_t)):
            data = encode_message(msg, id="x1")
            (frame,) = FrameDecoder().feed(data)
            link.frame_received(frame)  # a call.offer reaching the cloud, a call.place reaching a box
            reply = from_frame(t.sent[-1])
            assert reply.re == "x1" and reply.message.code is ErrorCode.FORBIDDEN  # type: ignore[attr-defined]
        with pytest.raises(UsageError):
            await client.request(SAMPLES[8])  # a box sending call.offer: our own bug
        with pytest.raises(UsageError):
            await server.request(SAMPLES[18])  # the cloud sending call.place
        with pytest.raises(UsageError):
            await client.send(CallProgress(call_id=CID, state=ProgressState.RINGING))
        # either-side messages pass both ways
        await server.send(CallDtmf(call_id=CID, digits="5"))
        await client.send(CallDtmf(call_id=CID, digits="6"))
        client.frame_received(server_t.sent[-1])
        server.frame_received(client_t.sent[-1])
        assert (await client.next_incoming()).message == CallDtmf(call_id=CID, digits="5")
        assert (await server.next_incoming()).message == CallDtmf(call_id=CID, digits="6")
        server.close()
        client.close()

    run(body)


def test_the_cloud_does_not_start_requests_before_hello() -> None:
    async def body() -> None:
        t = FakeTransport()
        server = LinkConnection(t, id_prefix="s", gate=HandshakeGate())
        with pytest.raises(UsageError):
            await server.request(CallCancel(call_id=CID, reason=CancelReason.TIMEOUT))
        assert t.sent == []
        server.close()

    run(body)


def test_cloud_started_request_and_box_reply_over_a_fake_transport() -> None:
    async def body() -> None:
        server_t, client_t = FakeTransport(), FakeTransport()
        server = LinkConnection(server_t, id_prefix="s", gate=HandshakeGate())
        client = LinkConnection(client_t, id_prefix="c")
        server.mark_authenticated("box-0123456789abcdef")
        offer = SAMPLES[8]
        pending = asyncio.create_task(server.request(offer, timeout=5))
        await asyncio.sleep(0)
        (sent,) = server_t.sent
        assert sent.id == "s1" and sent.type == "call.offer"
        client.frame_received(sent)
        env = await client.next_incoming()
        assert env == Envelope(offer, id="s1")
        await client.reply(env, CallRinging(call_id=CID))
        server.frame_received(client_t.sent[-1])
        assert await pending == CallRinging(call_id=CID)
        # the box hangs up: an either-side request the cloud answers ok
        hang = asyncio.create_task(client.request(CallHangup(call_id=CID)))
        await asyncio.sleep(0)
        server.frame_received(client_t.sent[-1])
        got = await server.next_incoming()
        assert got.message == CallHangup(call_id=CID)
        await server.reply(got, Ok())
        client.frame_received(server_t.sent[-1])
        assert await hang == Ok()
        server.close()
        client.close()

    run(body)
