from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamline.wire.clock import ManualClock
from roamline.wire.errors import ErrorCode, LinkError, UsageError
from roamline.wire.messages import (
    Deregister,
    Envelope,
    Error,
    Hello,
    NoncePurpose,
    NonceRequest,
    Ok,
    Ping,
    Pong,
    Revoked,
    RevokedKind,
)
from roamline.wire.session import (
    Backoff,
    HandshakeGate,
    Incoming,
    KeepaliveDue,
    PeerSilent,
    ReplyReceived,
    RequestTimedOut,
    RequestTracker,
    StrayReply,
)


def test_request_reply_matching_on_virtual_clock() -> None:
    clock = ManualClock()
    t = RequestTracker(now=clock.monotonic(), id_prefix="b")
    f1 = t.start_request(Ping(), now=clock.monotonic(), timeout=5)
    f2 = t.start_request(Deregister(card_id="c"), now=clock.monotonic(), timeout=10)
    assert f1.id == "b1" and f2.id == "b2" and f1.type == "ping"
    assert t.next_deadline(clock.monotonic()) == clock.monotonic() + 5
    ev = t.on_envelope(Envelope(Pong(), re="b1"), now=clock.monotonic())
    assert isinstance(ev, ReplyReceived) and ev.request_id == "b1"
    # the same reply again is stray (already answered)
    assert isinstance(t.on_envelope(Envelope(Pong(), re="b1"), now=clock.monotonic()), StrayReply)
    clock.advance(9.9)
    assert t.poll(clock.monotonic()) == []
    clock.advance(0.1)
    assert t.poll(clock.monotonic()) == [RequestTimedOut("b2", "deregister")]
    assert t.pending == frozenset()
    # a late reply after the timeout is stray, not a crash
    assert isinstance(t.on_envelope(Envelope(Ok(), re="b2"), now=clock.monotonic()), StrayReply)
    assert t.next_deadline(clock.monotonic()) is None


def test_incoming_requests_pushes_and_unsolicited_errors() -> None:
    t = RequestTracker(now=0)
    assert isinstance(t.on_envelope(Envelope(Ping(), id="s1"), now=1), Incoming)
    assert isinstance(t.on_envelope(Envelope(Revoked(kind=RevokedKind.CARD, id="c")), now=1), Incoming)
    assert isinstance(t.on_envelope(Envelope(Error(code=ErrorCode.BAD_FRAME)), now=1), Incoming)
    assert isinstance(t.on_envelope(Envelope(Error(code=ErrorCode.INTERNAL), re="zz"), now=1), StrayReply)


def test_error_reply_matches_its_request() -> None:
    t = RequestTracker(now=0)
    f = t.start_request(NonceRequest(purpose=NoncePurpose.HELLO), now=0, timeout=1)
    ev = t.on_envelope(Envelope(Error(code=ErrorCode.FORBIDDEN), re=f.id), now=0.5)
    assert isinstance(ev, ReplyReceived) and isinstance(ev.envelope.message, Error)


def test_keepalive_and_silence() -> None:
    clock = ManualClock(start=0)
    t = RequestTracker(now=0, keepalive_s=15, dead_after_s=45)
    assert t.next_deadline(0) == 15
    clock.advance(14)
    t.note_sent(clock.monotonic())  # sending something postpones the keep-alive
    assert t.next_deadline(clock.monotonic()) == 29
    clock.advance(15)
    assert t.poll(clock.monotonic()) == [KeepaliveDue()]
    assert t.poll(clock.monotonic()) == []  # once per idle period
    clock.advance(16)  # t=45: nothing received since 0
    assert t.poll(clock.monotonic()) == [KeepaliveDue(), PeerSilent()]
    assert PeerSilent() not in t.poll(clock.monotonic())
    t.on_bytes_received(clock.monotonic())
    assert t.next_deadline(clock.monotonic()) == 45 + 15  # the next keep-alive comes before silence (90)


def test_limits_and_misuse() -> None:
    t = RequestTracker(now=0, max_pending=2)
    t.start_request(Ping(), now=0, timeout=1)
    t.start_request(Ping(), now=0, timeout=1)
    with pytest.raises(UsageError):
        t.start_request(Ping(), now=0, timeout=1)
    with pytest.raises(UsageError):
        t.start_request(Ok(), now=0, timeout=1)
    with pytest.raises(UsageError):
        RequestTracker(now=0, keepalive_s=0)


def test_handshake_gate() -> None:
    gate = HandshakeGate()
    gate.check(Envelope(NonceRequest(purpose=NoncePurpose.HELLO), id="1"))
    gate.check(Envelope(Hello(cert_pem="x", nonce=b"n", signature=b"s"), id="2"))
    gate.check(Envelope(Ping(), id="3"))
    with pytest.raises(LinkError) as info:
        gate.check(Envelope(Deregister(card_id="c"), id="4"))
    assert info.value.code is ErrorCode.NOT_AUTHENTICATED
    gate.authenticated("box-0123456789abcdef")
    gate.check(Envelope(Deregister(card_id="c"), id="5"))
    assert gate.box_id == "box-0123456789abcdef"
    with pytest.raises(UsageError):
        gate.authenticated("box-ffffffffffffffff")


def test_backoff_bounds_and_jitter() -> None:
    b = Backoff(base_s=0.5, factor=2, cap_s=30)
    assert b.delay(0, lambda: 0.0) == 0.25 and b.delay(0, lambda: 0.999999) < 0.5
    assert b.delay(3, lambda: 1.0) == 4.0
    assert b.delay(10, lambda: 1.0) == 30.0 and b.delay(10_000, lambda: 0.0) == 15.0
    rng = random.Random(7)
    delays = {round(b.delay(4, rng.random), 6) for _ in range(20)}
    assert len(delays) > 10  # jittered
    with pytest.raises(UsageError):
        b.delay(-1, rng.random)


@given(st.integers(0, 500), st.floats(0, 1, exclude_max=True))
def test_backoff_property(attempt: int, r: float) -> None:
    b = Backoff()
    d = b.delay(attempt, lambda: r)
    ceiling = min(b.cap_s, b.base_s * b.factor ** min(attempt, 64))
    assert ceiling / 2 <= d <= ceiling
