from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.wire.errors import BadRtp, MalformedMedia, MediaFault, TruncatedMedia, UsageError
from roamline.wire.media import (
    MAX_DATAGRAM,
    MAX_FLOW_ID,
    PCMU_FRAME_BYTES,
    MediaDatagram,
    RtpPacket,
    decode_datagram,
    decode_varint,
    encode_datagram,
    encode_varint,
    split_flow,
    with_flow,
)

flow_ids = st.one_of(
    st.integers(0, 63), st.integers(64, 16383), st.integers(16384, 2**30 - 1), st.integers(2**30, MAX_FLOW_ID)
)
packets = st.builds(
    RtpPacket,
    seq=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFF_FFFF),
    ssrc=st.integers(0, 0xFFFF_FFFF),
    payload=st.binary(min_size=PCMU_FRAME_BYTES, max_size=PCMU_FRAME_BYTES),
    marker=st.booleans(),
)


def test_varint_vectors_from_rfc9000() -> None:
    # RFC 9000 §A.1 examples
    assert decode_varint(bytes.fromhex("c2197c5eff14e88c")) == (151288809941952652, 8)
    assert decode_varint(bytes.fromhex("9d7f3e7d")) == (494878333, 4)
    assert decode_varint(bytes.fromhex("7bbd")) == (15293, 2)
    assert decode_varint(bytes.fromhex("25")) == (37, 1)
    assert decode_varint(bytes.fromhex("4025")) == (37, 2)  # non-shortest is accepted
    assert encode_varint(15293) == bytes.fromhex("7bbd")
    assert encode_varint(494878333) == bytes.fromhex("9d7f3e7d")
    assert encode_varint(151288809941952652) == bytes.fromhex("c2197c5eff14e88c")
    with pytest.raises(UsageError):
        encode_varint(MAX_FLOW_ID + 1)
    with pytest.raises(UsageError):
        encode_varint(-1)


def test_layout_byte_by_byte() -> None:
    pkt = RtpPacket(seq=0x1234, timestamp=0x01020304, ssrc=0xDEADBEEF, payload=bytes(range(160)), marker=True)
    data = encode_datagram(300, pkt)
    assert data[:2] == bytes.fromhex("412c")  # flow id 300 as a 2-byte varint
    assert data[2:14] == bytes.fromhex("80 80 1234 01020304 deadbeef".replace(" ", ""))
    assert data[14:] == bytes(range(160))
    assert len(data) == 174
    assert decode_datagram(data) == MediaDatagram(300, pkt)


@settings(max_examples=300)
@given(flow_ids, packets)
def test_round_trip(flow_id: int, pkt: RtpPacket) -> None:
    data = encode_datagram(flow_id, pkt)
    assert len(data) <= MAX_DATAGRAM
    assert decode_datagram(data) == MediaDatagram(flow_id, pkt)
    fid, off = split_flow(data)
    assert fid == flow_id
    moved = with_flow(data, off, 7)
    assert decode_datagram(moved) == MediaDatagram(7, pkt)


@settings(max_examples=50)
@given(flow_ids, packets)
def test_every_truncation_is_a_typed_error(flow_id: int, pkt: RtpPacket) -> None:
    data = encode_datagram(flow_id, pkt)
    for n in range(len(data)):
        with pytest.raises(TruncatedMedia) as info:
            decode_datagram(data[:n])
        assert info.value.fault is MediaFault.TRUNCATED


@settings(max_examples=500)
@given(st.binary(max_size=400))
def test_garbage_never_escapes_as_another_exception(data: bytes) -> None:
    try:
        got = decode_datagram(data)
    except MalformedMedia:
        return
    rtp = PCMU_FRAME_BYTES + 12
    assert encode_datagram(got.flow_id, got.packet)[-rtp:] == data[-rtp:]


@settings(max_examples=100)
@given(packets, st.integers(0, 173), st.integers(0, 255))
def test_single_byte_mutations(pkt: RtpPacket, where: int, value: int) -> None:
    data = bytearray(encode_datagram(300, pkt))
    data[where] = value
    try:
        got = decode_datagram(bytes(data))
    except MalformedMedia:
        return
    assert len(got.packet.payload) == PCMU_FRAME_BYTES


@pytest.mark.parametrize(
    ("first", "second", "fault"),
    [
        (0x40, 0x00, MediaFault.BAD_VERSION),
        (0xA0, 0x00, MediaFault.UNSUPPORTED_HEADER),  # padding
        (0x90, 0x00, MediaFault.UNSUPPORTED_HEADER),  # extension
        (0x81, 0x00, MediaFault.UNSUPPORTED_HEADER),  # one CSRC
        (0x80, 0x08, MediaFault.BAD_PAYLOAD_TYPE),  # PCMA
        (0x80, 0x88, MediaFault.BAD_PAYLOAD_TYPE),
    ],
)
def test_header_faults(first: int, second: int, fault: MediaFault) -> None:
    data = bytes([5, first, second]) + bytes(10) + bytes(160)
    with pytest.raises(BadRtp) as info:
        decode_datagram(data)
    assert info.value.fault is fault


def test_length_faults() -> None:
    good = encode_datagram(5, RtpPacket(1, 2, 3, bytes(160)))
    with pytest.raises(BadRtp) as info:
        decode_datagram(good + b"\x00")
    assert info.value.fault is MediaFault.TOO_LONG
    with pytest.raises(BadRtp) as info:
        decode_datagram(b"\x05" + bytes(2000))
    assert info.value.fault is MediaFault.TOO_LONG
    with pytest.raises(TruncatedMedia):
        decode_datagram(b"")
    with pytest.raises(TruncatedMedia):
        decode_datagram(b"\xc0\x00\x00")  # 8-byte varint cut short


def test_encoder_refuses_packets_outside_the_profile() -> None:
    for bad in (
        RtpPacket(1, 2, 3, bytes(159)),
        RtpPacket(1, 2, 3, bytes(160), payload_type=8),
        RtpPacket(0x10000, 2, 3, bytes(160)),
        RtpPacket(1, 2, 1 << 32, bytes(160)),
    ):
        with pytest.raises(UsageError):
            encode_datagram(1, bad)
