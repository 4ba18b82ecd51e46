"""The relay core: forwarding with flow rewrite, drops counted by reason, rate limit, re-binding, silence."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.cloud.errors import UsageError
from roamline.cloud.relay import Relay, RelayConfig
from roamline.wire.media import RtpPacket, decode_datagram, encode_datagram


def _pkt(seq: int, fill: int = 0) -> RtpPacket:
    return RtpPacket(seq, seq * 160, 0xABC, bytes([fill % 256]) * 160)


def _relay(**kw: float) -> Relay:
    r = Relay(RelayConfig(**kw))  # type: ignore[arg-type]
    r.bridge("call-1", 10, "conn-h", 500, "conn-t", now=0.0)
    return r


def test_forwards_both_ways_rewriting_only_the_flow_id() -> None:
    r = _relay()
    up = encode_datagram(10, _pkt(1, 7))
    conn, data = r.datagram("conn-h", up, 0.01)  # type: ignore[misc]
    assert conn == "conn-t"
    got = decode_datagram(data)
    assert got.flow_id == 500 and got.packet == _pkt(1, 7)
    assert data[-172:] == up[-172:]
    conn, data = r.datagram("conn-t", encode_datagram(500, _pkt(2, 9)), 0.02)  # type: ignore[misc]
    assert conn == "conn-h" and decode_datagram(data).flow_id == 10
    assert r.stats.forwarded == 2


def test_drops_are_counted_by_reason() -> None:
    r = _relay()
    good = encode_datagram(10, _pkt(1))
    assert r.datagram("conn-h", good[:50], 0.0) is None
    assert r.datagram("conn-h", b"\x0a\x40" + good[2:], 0.0) is None  # RTP version 1
    assert r.datagram("conn-h", encode_datagram(11, _pkt(1)), 0.0) is None  # not this connection's flow
    assert r.datagram("conn-t", good, 0.0) is None  # flow 10 is the host's, not the terminal's
    assert r.datagram("conn-x", good, 0.0) is None  # a connection with no flows
    assert r.stats.malformed == {"truncated": 1, "bad-version": 1}
    assert r.stats.unknown_flow == 3 and r.stats.forwarded == 0


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_garbage_never_raises(data: bytes) -> None:
    r = _relay()
    out = r.datagram("conn-h", data, 0.0)
    if out is not None:
        assert out[0] == "conn-t" and decode_datagram(out[1]).flow_id == 500


def test_a_flooding_connection_is_held_to_its_rate() -> None:
    r = _relay(rate_per_flow=100.0, burst_per_flow=50.0)
    r.bridge("call-2", 20, "conn-a", 21, "conn-b", now=0.0)
    flood = encode_datagram(10, _pkt(1))
    passed = sum(r.datagram("conn-h", flood, 1.0 + i / 10000) is not None for i in range(10000))  # 1 s
    assert 100 <= passed <= 50 + 100 + 2  # the burst plus one second of rate
    assert r.stats.rate_limited == 10000 - passed
    # the other call is untouched
    ok = sum(r.datagram("conn-a", encode_datagram(20, _pkt(i)), 1.0 + i / 50) is not None for i in range(50))
    assert ok == 50


def test_rebinding_after_a_reconnect() -> None:
    r = _relay()
    assert r.bind(500, None, 1.0)
    assert r.datagram("conn-h", encode_datagram(10, _pkt(1)), 1.0) is None  # the terminal is gone
    assert r.stats.peer_unbound == 1
    assert r.datagram("conn-t", encode_datagram(500, _pkt(1)), 1.0) is None  # the old connection
    assert r.bind(500, "conn-t2", 2.0)
    out = r.datagram("conn-h", encode_datagram(10, _pkt(2)), 2.0)
    assert out is not None and out[0] == "conn-t2"
    assert r.datagram("conn-t2", encode_datagram(500, _pkt(3)), 2.0) is not None
    assert not r.bind(999, "conn-t2", 2.0)
    r.connection_closed("conn-t2")
    assert r.flows_of("conn-t2") == []


def test_silence_is_reported_once_per_quiet_spell() -> None:
    r = _relay(silence_s=5.0)
    r.datagram("conn-h", encode_datagram(10, _pkt(1)), 1.0)
    assert r.silent(4.9) == []
    assert r.silent(5.0) == [500]  # the terminal never sent
    assert r.silent(5.5) == []
    assert r.silent(6.0) == [10]
    r.datagram("conn-h", encode_datagram(10, _pkt(2)), 7.0)
    assert r.silent(11.9) == []
    assert r.silent(12.0) == [10]
    r.unbridge("call-1")
    assert r.silent(100.0) == []
    assert r.datagram("conn-h", encode_datagram(10, _pkt(3)), 100.0) is None


def test_flows_cannot_be_reused() -> None:
    r = _relay()
    with pytest.raises(UsageError):
        r.bridge("call-2", 10, "conn-a", 11, "conn-b", now=0.0)
