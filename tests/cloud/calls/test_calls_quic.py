"""Whole calls through the registry server over real QUIC: router, relay and records together."""

from __future__ import annotations

import asyncio
from pathlib import Path

from roamline.wire.calls import (
    AnswerResult,
    CallAnswer,
    CallAnswered,
    CallCancel,
    CallerId,
    CallHangup,
    CallOffer,
    CallRinging,
    CancelReason,
    EndReason,
    LineAnswer,
    LineHangup,
    LineResult,
    LineResultReply,
    LineRing,
    LineRouted,
    MediaBind,
)
from roamline.wire.messages import Ack, Deliver, Message, Ok

from .quic_kit import Cloud, ScriptedBox, run, tone

LINE = "+15551230000"
CALLER = CallerId(number="+15559870000", name="PSTN CALLER")


def _ringing(msg: Message) -> Message:
    assert isinstance(msg, CallOffer)
    return CallRinging(call_id=msg.call_id)


def _ok(msg: Message) -> Message:
    return Ok()


def _line_ok(result: LineResult):  # type: ignore[no-untyped-def]
    def answer(msg: Message) -> Message:
        return LineResultReply(call_id=msg.call_id, result=result)  # type: ignore[attr-defined]

    return answer


async def _setup(cloud: Cloud, terminals: int = 2) -> tuple[ScriptedBox, list[ScriptedBox], list[str]]:
    host = cloud.box("host", line=LINE)
    boxes = [cloud.box(f"t{i}") for i in range(terminals)]
    account = cloud.account("ann", LINE)
    cards = []
    await host.connect()
    for box in boxes:
        await box.connect()
        card = cloud.card(account)
        await box.register(card)
        cards.append(card[0])
    return host, boxes, cards


async def _exchange(a: ScriptedBox, fa: int, b: ScriptedBox, fb: int, n: int = 40) -> None:
    """a and b talk: n frames each way, paced at 20 ms; every frame arrives intact and in order."""
    for seq in range(n):
        a.send_media(fa, seq, tone(seq))
        b.send_media(fb, seq, tone(seq + 1000))
        await asyncio.sleep(0.02)
    at_b = await b.recv_media(fb, n)
    at_a = await a.recv_media(fa, n)
    assert [p.payload for p in at_b] == [tone(s) for s in range(n)]
    assert [p.seq for p in at_b] == list(range(n))
    assert [p.payload for p in at_a] == [tone(s + 1000) for s in range(n)]


async def _answered_call(cloud: Cloud, call_id: str) -> tuple[ScriptedBox, list[ScriptedBox], int, int]:
    host, boxes, cards = await _setup(cloud)
    for box in boxes:
        box.auto["call.offer"] = _ringing
        box.auto["call.cancel"] = _ok
    host.auto["line.answer"] = _line_ok(LineResult.ANSWERED)
    routed = await host.request(LineRing(call_id=call_id, line=LINE, caller=CALLER))
    assert routed == LineRouted(call_id=call_id, offered=2)
    await asyncio.sleep(0.1)
    answered = await boxes[0].request(CallAnswer(call_id=call_id, card_id=cards[0]))
    assert isinstance(answered, CallAnswered) and answered.result is AnswerResult.CONNECTED
    assert answered.flow_id is not None
    return host, boxes, answered.flow_id, 0


def test_ring_offer_answer_cancel_media_hangup_record(tmp_path: Path) -> None:
    async def body(cloud: Cloud) -> None:
        host, (a, b), cards = await _setup(cloud)
        call_id = "c-1111111111111111"
        routed = await host.request(LineRing(call_id=call_id, line=LINE, caller=CALLER))
        assert routed == LineRouted(call_id=call_id, offered=2)
        offer_a, offer_b = await a.next("call.offer"), await b.next("call.offer")
        for box, env in ((a, offer_a), (b, offer_b)):
            assert isinstance(env.message, CallOffer)
            assert env.message.caller == CALLER and env.message.number == LINE
            await box.reply(env, CallRinging(call_id=call_id))
        assert offer_a.message.cadence == offer_b.message.cadence == "us-dr1"  # type: ignore[attr-defined]
        answered = await a.request(CallAnswer(call_id=call_id, card_id=cards[0]))
        assert answered == CallAnswered(
            call_id=call_id, result=AnswerResult.CONNECTED, flow_id=offer_a.message.flow_id
        )  # type: ignore[attr-defined]
        cancel = await b.next("call.cancel")
        assert cancel.message == CallCancel(call_id=call_id, reason=CancelReason.ANSWERED_ELSEWHERE)
        await b.reply(cancel, Ok())
        line_answer = await host.next("line.answer")
        assert isinstance(line_answer.message, LineAnswer)
        await host.reply(line_answer, LineResultReply(call_id=call_id, result=LineResult.ANSWERED))
        await _exchange(host, line_answer.message.flow_id, a, offer_a.message.flow_id)  # type: ignore[attr-defined]
        assert await a.request(CallHangup(call_id=call_id)) == Ok()
        hang = await host.next("line.hangup")
        assert hang.message == LineHangup(call_id=call_id, reason=EndReason.FAR_END)
        await host.reply(hang, LineResultReply(call_id=call_id, result=LineResult.HUNG_UP))
        (rec,) = cloud.records()
        assert rec.call_id == call_id and rec.outcome == "answered" and rec.state == "closed"
        assert rec.terminal_box == a.box_id and rec.host_box == host.box_id
        assert set(rec.offered) == {a.box_id, b.box_id} and rec.caller == CALLER.number
        # the box's own report through the outbox merges into the same record, however often it comes
        report = {"call_id": call_id, "answer_inferred": False, "ended_at": rec.ended_at}
        for _ in range(2):
            ack = await a.request(Deliver(key=f"call-record:{call_id}", kind="call-record", payload=report))
            assert ack == Ack(keys=(f"call-record:{call_id}",))
        (rec,) = cloud.records()
        assert set(rec.reports or {}) == {a.box_id}
        assert cloud.server is not None and cloud.server.relay is not None
        assert cloud.server.relay.stats.forwarded == 80

    run(body, tmp_path)


def test_answered_at_two_boxes_at_once_one_wins(tmp_path: Path) -> None:
    async def body(cloud: Cloud) -> None:
        host, (a, b), cards = await _setup(cloud)
        for box in (a, b):
            box.auto["call.offer"] = _ringing
            box.auto["call.cancel"] = _ok
        host.auto["line.answer"] = _line_ok(LineResult.ANSWERED)
        call_id = "c-2222222222222222"
        await host.request(LineRing(call_id=call_id, line=LINE, caller=CALLER))
        await asyncio.sleep(0.1)
        ra, rb = await asyncio.gather(
            a.request(CallAnswer(call_id=call_id, card_id=cards[0])),
            b.request(CallAnswer(call_id=call_id, card_id=cards[1])),
        )
        results = sorted([ra.result.value, rb.result.value])  # type: ignore[attr-defined]
        assert results == ["answered-elsewhere", "connected"]
        loser = b if ra.result is AnswerResult.CONNECTED else a  # type: ignore[attr-defined]
        await asyncio.sleep(0.2)
        assert loser.incoming["call.cancel"].qsize() == 0  # answered automatically with ok
        assert len(cloud.records()) == 1

    run(body, tmp_path)


def test_flood_and_malformed_rtp_from_one_box_do_not_starve_another_call(tmp_path: Path) -> None:
    async def body(cloud: Cloud) -> None:
        host, (a, b), cards = await _setup(cloud)
        host2 = cloud.box("host2", line="+15551239999")
        assert cloud.store is not None
        cloud.store.add_number("acct-ann", "+15551239999")
        await host2.connect()
        for box in (a, b):
            box.auto["call.offer"] = _ringing
            box.auto["call.cancel"] = _ok
        for h in (host, host2):
            h.auto["line.answer"] = _line_ok(LineResult.ANSWERED)
        # call 1: host ⇄ a (a will flood); call 2: host2 ⇄ b
        await host.request(LineRing(call_id="c-3333333333333331", line=LINE, caller=CALLER))
        await asyncio.sleep(0.1)
        r1 = await a.request(CallAnswer(call_id="c-3333333333333331", card_id=cards[0]))
        await host2.request(LineRing(call_id="c-3333333333333332", line="+15551239999", caller=CALLER))
        await asyncio.sleep(0.1)
        r2 = await b.request(CallAnswer(call_id="c-3333333333333332", card_id=cards[1]))
        assert r1.result is AnswerResult.CONNECTED and r2.result is AnswerResult.CONNECTED  # type: ignore[attr-defined]
        await asyncio.sleep(0.1)
        f1, f2 = r1.flow_id, r2.flow_id  # type: ignore[attr-defined]

        async def flood() -> None:
            assert a.link is not None
            bad = [
                b"\x00",
                bytes([f1]) + b"\x40" + bytes(171),
                bytes([f1]) + b"\x80\x08" + bytes(170),
                bytes(300),
            ]
            for i in range(3000):
                a.send_media(f1, i, tone(i))
                a.link.send_datagram(bad[i % len(bad)])
                if i % 100 == 0:
                    await asyncio.sleep(0)

        line_answer_flow = await _host_flow(cloud, "c-3333333333333332")
        flooding = asyncio.create_task(flood())
        await _exchange(host2, line_answer_flow, b, f2, n=50)
        await flooding
        relay = cloud.server.relay  # type: ignore[union-attr]
        assert relay is not None
        assert relay.stats.rate_limited > 0
        assert sum(relay.stats.malformed.values()) > 0
        assert host.media[await _host_flow(cloud, "c-3333333333333331")].qsize() < 3000  # held to its rate

    run(body, tmp_path)


async def _host_flow(cloud: Cloud, call_id: str) -> int:
    call = cloud.server.router.calls()[call_id]  # type: ignore[union-attr]
    assert call.origin_flow is not None
    return call.origin_flow


def test_terminal_loses_its_link_mid_call(tmp_path: Path) -> None:
    async def body(cloud: Cloud) -> None:
        call_id = "c-4444444444444444"
        host, (a, _b), flow_a, _ = await _answered_call(cloud, call_id)
        await asyncio.sleep(0.1)
        host_flow = await _host_flow(cloud, call_id)
        await _exchange(host, host_flow, a, flow_a, n=10)
        a.vanish()
        for seq in range(10, 60):  # the host keeps talking into the void
            host.send_media(host_flow, seq, tone(seq))
            await asyncio.sleep(0.02)
        hang = await host.next("line.hangup", timeout=5)
        assert hang.message == LineHangup(call_id=call_id, reason=EndReason.MEDIA_SILENCE)
        await host.reply(hang, LineResultReply(call_id=call_id, result=LineResult.HUNG_UP))
        (rec,) = cloud.records()
        assert rec.end_reason == "media-silence" and rec.outcome == "answered" and rec.state == "closed"
        assert call_id not in cloud.server.router.calls()  # type: ignore[union-attr]

    run(body, tmp_path, silence_s=0.5)


def test_terminal_reconnects_and_rebinds_its_flow(tmp_path: Path) -> None:
    async def body(cloud: Cloud) -> None:
        call_id = "c-5555555555555555"
        host, (a, _b), flow_a, _ = await _answered_call(cloud, call_id)
        await asyncio.sleep(0.1)
        host_flow = await _host_flow(cloud, call_id)
        a.close()
        await asyncio.sleep(0.1)
        await a.connect()
        assert await a.request(MediaBind(call_id=call_id, flow_id=flow_a)) == Ok()
        await _exchange(host, host_flow, a, flow_a, n=20)

    run(body, tmp_path, silence_s=2.0)


def test_cloud_restart_mid_call_ends_it_with_one_record(tmp_path: Path) -> None:
    async def body(cloud: Cloud) -> None:
        call_id = "c-6666666666666666"
        _host, (a, _b), flow_a, _ = await _answered_call(cloud, call_id)
        await asyncio.sleep(0.1)
        await cloud.stop()
        await cloud.start()  # same database, same port
        assert cloud.server is not None and cloud.server.recovered == [call_id]
        (rec,) = cloud.records()
        assert rec.end_reason == "cloud-restart" and rec.outcome == "answered"
        await a.connect()
        # the box's media.bind for the lost call is refused; its outbox report merges, once
        from roamline.wire.errors import RemoteError

        try:
            await a.request(MediaBind(call_id=call_id, flow_id=flow_a))
            raise AssertionError("bind of a call the cloud no longer has was accepted")
        except RemoteError as exc:
            assert exc.code == "forbidden"
        report = {"call_id": call_id, "ended_at": rec.ended_at}
        for _ in range(2):
            await a.request(Deliver(key=f"call-record:{call_id}", kind="call-record", payload=report))
        (rec,) = cloud.records()
        assert rec.call_id == call_id and set(rec.reports or {}) == {a.box_id}

    run(body, tmp_path)
