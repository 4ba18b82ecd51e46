"""A misbehaving box for fault tests: an enrolled box identity driven from the test process over real
QUIC, that proves itself (nonce → hello), registers a card, places a box-to-box call through the real
router, and then floods the relay with datagrams — too many on its own flow, malformed RTP of every
kind, and flow ids that are not its own (an attempt to inject voice into someone else's call).

It runs its own asyncio loop on a thread; the methods block until done. Nothing here is used by the
product: it is a protocol peer that breaks the rules on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from roamline.hil.errors import PeerError
from roamline.wire import identity, quic, signing
from roamline.wire.calls import CallPlace, CallPlaced, CallProgress, ProgressState
from roamline.wire.link import LinkConnection
from roamline.wire.media import RtpPacket, encode_datagram, encode_varint
from roamline.wire.messages import (
    Hello,
    NonceIssued,
    NoncePurpose,
    NonceRequest,
    Register,
    Registered,
    Welcome,
)

T = TypeVar("T")
SERVER_NAME = "registry.roamline"


@dataclass(frozen=True)
class FloodCounts:
    valid: int = 0  # well-formed RTP on its own flow, far over a call's 50/s
    malformed: int = 0  # truncated, too long, bad version, padding/extension/CSRC, wrong payload type
    foreign: int = 0  # well-formed RTP naming flows that are not its own


def malformed_datagrams(flow_id: int) -> list[bytes]:
    """One datagram per :class:`~roamline.wire.errors.MediaFault` the relay counts, on ``flow_id``."""
    good = encode_datagram(flow_id, RtpPacket(1, 160, 0x1234, bytes(160)))
    head = encode_varint(flow_id)
    rtp = good[len(head):]
    return [
        b"",  # truncated: no flow id at all
        bytes([0xC0]),  # truncated inside an 8-byte varint
        head + rtp[:8],  # truncated RTP header
        head + rtp[:12] + bytes(40),  # truncated payload
        head + rtp + bytes(40),  # too long
        head + bytes([0x40]) + rtp[1:],  # RTP version 1
        head + bytes([0xA0]) + rtp[1:],  # padding
        head + bytes([0x90]) + rtp[1:],  # header extension
        head + bytes([0x82]) + rtp[1:],  # CSRC count 2
        head + rtp[:1] + bytes([8]) + rtp[2:],  # payload type 8 (PCMA)
    ]


class RogueBox:
    def __init__(self, host: str, port: int, *, ca_pem: bytes, box_id: str, cert_pem: str, key_pem: bytes
                 ) -> None:
        self.host, self.port, self.ca_pem = host, port, ca_pem
        self.box_id, self.cert_pem, self.key = box_id, cert_pem, identity.load_private_key_pem(key_pem)
        self.link: LinkConnection | None = None
        self.received = 0
        self._stream: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- the loop thread -----------------------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        if self._loop is None:
            loop = self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, name="rogue-box", daemon=True)
            self._thread.start()
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        link, stream = self.link, self._stream

        async def wind_down() -> None:
            if stream is not None:
                stream.cancel()
            if link is not None:
                link.close()
            await asyncio.sleep(0.2)  # the close goes out
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in others:
                t.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        with contextlib.suppress(Exception):  # a wind-down that fails leaves nothing we need
            asyncio.run_coroutine_threadsafe(wind_down(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        loop.close()

    # -- what it does --------------------------------------------------------------------------------
    def connect(self) -> None:
        async def hello() -> None:
            link = await quic.connect(self.host, self.port, ca_pem=self.ca_pem, server_name=SERVER_NAME,
                                      keepalive_s=1.0, dead_after_s=None, connect_timeout_s=10.0)
            issued = await link.request(NonceRequest(purpose=NoncePurpose.HELLO))
            assert isinstance(issued, NonceIssued)
            sig = identity.sign_digest(self.key, signing.hello_digest(issued.nonce, self.box_id))
            welcome = await link.request(Hello(cert_pem=self.cert_pem, nonce=issued.nonce, signature=sig))
            if not isinstance(welcome, Welcome):
                raise PeerError(f"hello refused: {welcome}")

            def got(_data: bytes) -> None:
                self.received += 1

            link.on_datagram = got
            self.link = link

        self._run(hello())

    def register(self, card_id: str, card_cert_pem: str, card_key_pem: str) -> None:
        async def register() -> None:
            assert self.link is not None
            issued = await self.link.request(NonceRequest(purpose=NoncePurpose.REGISTER))
            assert isinstance(issued, NonceIssued)
            key = identity.load_private_key_pem(card_key_pem.encode())
            sig = identity.sign_digest(key, signing.registration_digest(issued.nonce, self.box_id, card_id))
            reg = await self.link.request(Register(card_cert_pem=card_cert_pem, card_id=card_id,
                                                   nonce=issued.nonce, signature=sig))
            if not isinstance(reg, Registered):
                raise PeerError(f"registration refused: {reg}")

        self._run(register())

    def place(self, card_id: str, number: str) -> tuple[str, int]:
        """Place a call (box to box): (call id, this box's flow id)."""
        call_id = f"{self.box_id[:8]}-{secrets.token_hex(8)}"

        async def place() -> tuple[str, int]:
            assert self.link is not None
            placed = await self.link.request(CallPlace(call_id=call_id, card_id=card_id, number=number))
            if not isinstance(placed, CallPlaced) or placed.flow_id is None:
                raise PeerError(f"call.place: {placed}")
            return call_id, placed.flow_id

        return self._run(place())

    def wait_answered(self, call_id: str, timeout: float = 20.0) -> None:
        async def wait() -> None:
            assert self.link is not None
            while True:
                env = await self.link.next_incoming()
                m = env.message
                if isinstance(m, CallProgress) and m.call_id == call_id:
                    if m.state is ProgressState.ANSWERED:
                        return
                    if m.state not in (ProgressState.RINGING,):
                        raise PeerError(f"call {call_id}: {m.state}")

        self._run(asyncio.wait_for(wait(), timeout), timeout + 5)

    def start_stream(self, flow_id: int) -> None:
        """Send voice on ``flow_id`` as a box in a call does (one datagram per 20 ms) until ``close``:
        without it the relay ends the call for media silence."""
        async def stream() -> None:
            assert self.link is not None
            seq = 0
            while True:
                seq += 1
                pkt = RtpPacket(seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, 0x5EED, bytes([0xFF]) * 160)
                self.link.send_datagram(encode_datagram(flow_id, pkt))
                await asyncio.sleep(0.02)

        async def start() -> None:
            self._stream = asyncio.get_running_loop().create_task(stream())

        self._run(start())

    def send_malformed(self, flow_id: int, rounds: int, interval: float = 0.25) -> int:
        """``rounds`` times, one datagram of each malformed kind on ``flow_id`` (at a pace the relay's
        per-connection rate admits, so each is parsed and counted by its fault). How many were sent."""
        bad = malformed_datagrams(flow_id)

        async def send() -> int:
            assert self.link is not None
            n = 0
            for _ in range(rounds):
                for d in bad:
                    self.link.send_datagram(d)
                    n += 1
                await asyncio.sleep(interval)
            return n

        return self._run(send(), rounds * interval + 30)

    def flood(self, flow_id: int, seconds: float, *, per_tick: int = 20, foreign: tuple[int, ...] = ()
              ) -> FloodCounts:
        """For ``seconds``: every 10 ms, ``per_tick`` well-formed datagrams on its own flow (``per_tick``
        × 100/s: a call is 50/s), one malformed datagram (the kinds in turn), and one well-formed datagram
        per ``foreign`` flow id."""
        bad = malformed_datagrams(flow_id)

        async def flood() -> FloodCounts:
            assert self.link is not None
            link = self.link
            valid = malformed = alien = 0
            seq = 0
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for _ in range(per_tick):
                    seq += 1
                    pkt = RtpPacket(seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, 0xBAD, bytes([0x7F]) * 160)
                    link.send_datagram(encode_datagram(flow_id, pkt))
                    valid += 1
                link.send_datagram(bad[seq % len(bad)])
                malformed += 1
                for f in foreign:
                    pkt = RtpPacket(seq & 0xFFFF, 0, 0xBAD, bytes([0x7F]) * 160)
                    link.send_datagram(encode_datagram(f, pkt))
                    alien += 1
                await asyncio.sleep(0.01)
            return FloodCounts(valid, malformed, alien)

        return self._run(flood(), seconds + 30)


__all__ = ["FloodCounts", "RogueBox", "malformed_datagrams"]
