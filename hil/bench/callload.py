"""Relayed-call load generator: one process, host and terminal boxes on their own QUIC connections.

Run by `roamline bench calls` as ``python -m roamline.hil.bench.callload FLEET.json PORT``. Every box
connects and proves itself (nonce → hello); every terminal registers its card; then each call is set up
through the real router (host ``line.ring`` → terminal ``call.offer`` → ``call.ringing`` →
``call.answer`` → host ``line.answer`` → ``line.result answered``) and ``{"ready": N}`` is printed. On
one stdin line ``{"start": T0, "end": T1}`` (wall seconds) both legs of every call send one PCMU
datagram per 20 ms each way until T1 — all legs in one loop tick, so the sends of a tick leave in one
transmit per connection; a tick the process is too late for is skipped, never sent as a burst — and
count what arrives (in order, content checked by sequence number).

Mouth to ear (DESIGN §8a): the first ``M2E_CALLS`` calls (third argument, default 2) are measured both
ways. Their senders delay each datagram by an extra uniform 0–20 ms (``--jitter-ms``: the network
jitter; reordering allowed), and their receivers run the firmware's receive path
(``firmware.media.MediaLeg``: datagram and RTP checks, µ-law, the adaptive jitter buffer), pulled every
20 ms on a playout clock at half a frame's phase from the sender's (the mean of an arbitrary device
phase). A frame's first sample enters the sending pipeline one frame before its tick (packetisation) and
leaves the receiving pipeline when the buffer plays it: the difference, over the frames played from
packets, is ``m2e_ms``; packets the buffer got after their playout time are ``late``. The
last stdout line is the result JSON.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roamline.wire import identity, quic, signing
from roamline.wire.calls import (
    AnswerResult,
    CallAnswer,
    CallAnswered,
    CallOffer,
    CallRinging,
    LineAnswer,
    LineResult,
    LineResultReply,
    LineRing,
)
from roamline.wire.link import LinkConnection
from roamline.wire.media import RtpPacket, encode_datagram, split_flow
from roamline.wire.messages import (
    Hello,
    NonceIssued,
    NoncePurpose,
    NonceRequest,
    Register,
    Registered,
    Welcome,
)

SERVER_NAME = "registry.roamline"
FRAME_S = 0.020


@dataclass
class Leg:
    link: LinkConnection
    flow_id: int = -1
    sent: int = 0
    received: int = 0
    in_window: int = 0
    out_of_order: int = 0
    bad: int = 0
    last_seq: int = -1
    payload: bytes = field(default=b"")
    rx_leg: Any = None  # firmware.media.MediaLeg: this leg's receive side is measured (mouth to ear)
    jitter_s: float = 0.0  # extra uniform 0..jitter_s delay on what this leg sends
    arrived: dict[int, float] = field(default_factory=dict)  # measured legs: sequence → arrival time


async def _hello(port: int, ca_pem: bytes, box: dict[str, str]) -> LinkConnection:
    link = await quic.connect("127.0.0.1", port, ca_pem=ca_pem, server_name=SERVER_NAME, keepalive_s=None,
                              dead_after_s=None, connect_timeout_s=20.0)
    key = identity.load_private_key_pem(box["key_pem"])
    issued = await link.request(NonceRequest(purpose=NoncePurpose.HELLO), timeout=30)
    assert isinstance(issued, NonceIssued)
    sig = identity.sign_digest(key, signing.hello_digest(issued.nonce, box["box_id"]))
    hello = Hello(cert_pem=box["cert_pem"], nonce=issued.nonce, signature=sig)
    welcome = await link.request(hello, timeout=30)
    assert isinstance(welcome, Welcome)
    return link


async def _register(link: LinkConnection, box_id: str, card: dict[str, str]) -> None:
    issued = await link.request(NonceRequest(purpose=NoncePurpose.REGISTER), timeout=30)
    assert isinstance(issued, NonceIssued)
    key = identity.load_private_key_pem(card["key_pem"])
    sig = identity.sign_digest(key, signing.registration_digest(issued.nonce, box_id, card["card_id"]))
    reg = await link.request(Register(card_cert_pem=card["cert_pem"], card_id=card["card_id"],
                                      nonce=issued.nonce, signature=sig), timeout=30)
    assert isinstance(reg, Registered)


async def _setup_call(i: int, call: dict[str, Any], port: int, ca_pem: bytes) -> tuple[Leg, Leg]:
    host = await _hello(port, ca_pem, call["host"])
    term = await _hello(port, ca_pem, call["terminal"])
    await _register(term, call["terminal"]["box_id"], call["card"])
    await asyncio.sleep(0.05)
    call_id = f"c-bench{i:011d}"
    await host.request(LineRing(call_id=call_id, line=call["line"]), timeout=30)
    offer = await term.next_incoming()
    assert isinstance(offer.message, CallOffer)
    await term.reply(offer, CallRinging(call_id=call_id))
    answered = await term.request(CallAnswer(call_id=call_id, card_id=call["card"]["card_id"]), timeout=30)
    assert isinstance(answered, CallAnswered) and answered.result is AnswerResult.CONNECTED
    line_answer = await host.next_incoming()
    assert isinstance(line_answer.message, LineAnswer)
    await host.reply(line_answer, LineResultReply(call_id=call_id, result=LineResult.ANSWERED))
    legs = (Leg(host, line_answer.message.flow_id), Leg(term, offer.message.flow_id))
    for leg in legs:
        leg.link.on_datagram = _receiver(leg)
    return legs


_WINDOW = [float("inf"), float("inf")]


def _receiver(leg: Leg):  # type: ignore[no-untyped-def]
    def got(data: bytes) -> None:
        try:
            flow, offset = split_flow(data)
        except Exception:
            leg.bad += 1
            return
        if flow != leg.flow_id:
            leg.bad += 1
            return
        seq = int.from_bytes(data[offset + 2 : offset + 4], "big")
        if data[offset + 12] != seq % 256:  # the frame's content names its sequence number
            leg.bad += 1
        if seq <= leg.last_seq:
            leg.out_of_order += 1
        leg.last_seq = max(leg.last_seq, seq)
        leg.received += 1
        now = time.time()
        if _WINDOW[0] <= now < _WINDOW[1]:
            leg.in_window += 1
        if leg.rx_leg is not None:
            at = time.monotonic()
            leg.arrived.setdefault(seq, at)
            leg.rx_leg.receive(data, at)

    return got


class Playout:
    """The measured receivers' playout clock: every 20 ms, each pulls one frame from its MediaLeg; the
    frame's delay is now − (its tick − one frame), by its RTP timestamp (= sequence × 160 here)."""

    def __init__(self, legs: list[Leg], sent_at: dict[int, float]) -> None:
        self.legs = legs
        self.sent_at = sent_at
        self.delays: list[float] = []
        self.network: list[float] = []  # tick → arrival (the added jitter and the relay path)
        self.buffered: list[float] = []  # arrival → played (the jitter buffer and the playout phase)
        self.frames = 0
        self.gaps = 0

    async def run(self, start: float, end: float) -> None:
        loop = asyncio.get_running_loop()
        t = start
        while loop.time() < end:
            await asyncio.sleep(max(0.0, t - loop.time()))
            now = time.monotonic()
            for leg in self.legs:
                f = leg.rx_leg.pull_frame(now)
                if f.timestamp is None:
                    continue
                sent = self.sent_at.get(f.timestamp // 160)
                if sent is None or not _WINDOW[0] <= time.time() < _WINDOW[1]:
                    continue
                self.frames += 1
                if f.kind == "audio":
                    self.delays.append(now - (sent - FRAME_S))
                    k = f.timestamp // 160
                    at = leg.arrived.pop(k, None)
                    for old in [q for q in leg.arrived if q < k - 200]:
                        del leg.arrived[old]
                    if at is not None:
                        self.network.append(at - sent)
                        self.buffered.append(now - at)
                else:
                    self.gaps += 1
            t += FRAME_S
            if loop.time() > t + FRAME_S:
                t = loop.time()

    def result(self) -> dict[str, Any]:
        import numpy as np

        d = np.array(self.delays) * 1000
        received = sum(leg.rx_leg.stats["received"] for leg in self.legs)
        late = sum(leg.rx_leg.stats["late"] for leg in self.legs)
        return {
            "m2e_ms": round(float(d.mean()), 1) if len(d) else None,
            "m2e_p95_ms": round(float(np.quantile(d, 0.95)), 1) if len(d) else None,
            "m2e_frames": len(d),
            "m2e_packetisation_ms": round(1000 * FRAME_S, 1),
            "m2e_network_ms": round(1000 * float(np.mean(self.network)), 1) if self.network else None,
            "m2e_buffer_ms": round(1000 * float(np.mean(self.buffered)), 1) if self.buffered else None,
            "m2e_late": late,
            "m2e_received": received,
            "m2e_late_pct": round(100 * late / max(1, received), 3),
            "m2e_concealed_pct": round(100 * self.gaps / max(1, self.frames), 3),
            "m2e_flows": len(self.legs),
        }


def _send(link: LinkConnection, data: bytes) -> None:
    link.send_datagram(data)


async def main(fleet: dict[str, Any], port: int, m2e_calls: int = 2, jitter_ms: float = 20.0) -> None:
    from roamline.firmware.media import MediaLeg

    ca_pem = fleet["ca_pem"].encode()
    legs: list[Leg] = []
    for i, call in enumerate(fleet["calls"]):  # one by one: setup is not what is measured
        legs += await _setup_call(i, call, port, ca_pem)
    measured = legs[: 2 * m2e_calls]
    for leg in measured:  # both legs of a call: each one's sender is jittered, its receiver measured
        leg.rx_leg = MediaLeg(leg.flow_id, echo=False)
        leg.jitter_s = jitter_ms / 1000
    sent_at: dict[int, float] = {}
    print(json.dumps({"ready": len(legs) // 2}), flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    window = json.loads(line)
    _WINDOW[0], _WINDOW[1] = window["start"], window["end"]
    loop = asyncio.get_running_loop()
    seq = 0
    next_tick = loop.time()
    playout = Playout(measured, sent_at)
    wall_to_loop = loop.time() - time.time()
    play_task = loop.create_task(playout.run(next_tick + FRAME_S / 2, _WINDOW[1] + wall_to_loop)) \
        if measured else None
    rng = random.Random(1)
    sent_in_window = 0
    skipped = 0
    while time.time() < _WINDOW[1]:
        in_window = _WINDOW[0] <= time.time()
        # when this frame was due (its capture): a late tick is delay in the sending pipeline, counted
        # (loop.time() is time.monotonic(), the clock the receivers' MediaLegs and the playout use)
        sent_at[seq] = next_tick
        for leg in legs:
            pkt = RtpPacket(seq & 0xFFFF, (seq * 160) & 0xFFFF_FFFF, leg.flow_id & 0xFFFF_FFFF,
                            bytes([seq % 256]) * 160)
            data = encode_datagram(leg.flow_id, pkt)
            if leg.jitter_s:
                loop.call_later(rng.uniform(0.0, leg.jitter_s), _send, leg.link, data)
            else:
                leg.link.send_datagram(data)
            leg.sent += 1
            sent_in_window += in_window
        seq += 1
        next_tick += FRAME_S
        now = loop.time()
        if now > next_tick + FRAME_S:  # behind (the machine is busy): skip ticks, never send a burst;
            n = int((now - next_tick) / FRAME_S)  # the audio clock goes on (those frames are lost), so
            skipped += n  # a frame's RTP timestamp still says when it was captured
            seq += n
            next_tick += n * FRAME_S
        await asyncio.sleep(max(0.0, next_tick - now))
    await asyncio.sleep(0.3)  # the last frames in flight
    if play_task is not None:
        play_task.cancel()
    result = {
        "calls": len(legs) // 2,
        "sent": sum(leg.sent for leg in legs),
        "sent_in_window": sent_in_window,
        "received": sum(leg.received for leg in legs),
        "received_in_window": sum(leg.in_window for leg in legs),
        "out_of_order": sum(leg.out_of_order for leg in legs),
        "bad": sum(leg.bad for leg in legs),
        "ticks_skipped": skipped,
        "received_by_hosts": sum(leg.in_window for leg in legs[0::2]),
        "received_by_terminals": sum(leg.in_window for leg in legs[1::2]),
    }
    quics = [leg.link._transport.quic for leg in legs]  # type: ignore[attr-defined]
    result["cwnd_min"] = min(q._loss.congestion_window for q in quics)
    result["srtt_max_ms"] = round(1000 * max(q._loss._rtt_smoothed for q in quics), 1)
    result["lost_packets"] = sum(getattr(q._loss, "_packets_lost", 0) for q in quics)
    result["dropped_queued"] = sum(getattr(leg.link._transport, "datagrams_dropped", 0) for leg in legs)
    if measured:
        result.update(playout.result())
    for leg in legs:
        leg.link.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text()), int(sys.argv[2]),
                     int(sys.argv[3]) if len(sys.argv) > 3 else 2,
                     float(sys.argv[4]) if len(sys.argv) > 4 else 20.0))
