"""Media datagrams, sans-I/O: ``[QUIC varint flow id][RTP header][payload]`` (docs/protocol.md §11).

Voice travels as RTP (RFC 3550) inside QUIC DATAGRAM frames (RFC 9221), each prefixed with a QUIC
variable-length integer naming the flow (the RTP-over-QUIC layout). Version 1 carries one profile:
PCMU (payload type 0), 20 ms = 160 samples = 160 payload bytes per packet, 8000 Hz RTP clock. The RTP
header is the fixed 12 bytes: V=2, no padding, no extension, no CSRCs; the marker bit is allowed.

Every decoder here is bounded (nothing longer than :data:`MAX_DATAGRAM` is looked at) and raises a
:class:`~roamline.wire.errors.MalformedMedia` subclass with a :class:`MediaFault` for anything else, so
a relay counts and drops bad datagrams and never crashes on them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from roamline.wire.errors import BadRtp, MalformedMedia, MediaFault, TruncatedMedia, UsageError

MAX_FLOW_ID = (1 << 62) - 1
RTP_VERSION = 2
RTP_HEADER_BYTES = 12
PCMU_PAYLOAD_TYPE = 0
PCMU_FRAME_BYTES = 160  # 20 ms at 8 kHz, one byte per sample
PCMU_CLOCK_HZ = 8000
MAX_DATAGRAM = 8 + RTP_HEADER_BYTES + PCMU_FRAME_BYTES
"""The longest valid media datagram (an 8-byte varint, the header, one frame): 180 bytes."""

_RTP = struct.Struct(">BBHII")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet of the v1 profile (PCMU, 160-byte payload)."""

    seq: int  # 16 bits, wraps
    timestamp: int  # 32 bits, 8000 Hz, +160 per packet
    ssrc: int  # 32 bits, random per sending leg
    payload: bytes
    marker: bool = False
    payload_type: int = PCMU_PAYLOAD_TYPE


@dataclass(frozen=True, slots=True)
class MediaDatagram:
    flow_id: int
    packet: RtpPacket


# --- QUIC variable-length integers (RFC 9000 §16) ------------------------------------------------------


def encode_varint(value: int) -> bytes:
    """The shortest QUIC varint for ``value`` (0 … 2^62−1)."""
    if value < 0 or value > MAX_FLOW_ID:
        raise UsageError(f"varint out of range: {value}")
    if value < 0x40:
        return bytes((value,))
    if value < 0x4000:
        return (value | 0x4000).to_bytes(2, "big")
    if value < 0x4000_0000:
        return (value | 0x8000_0000).to_bytes(4, "big")
    return (value | 0xC000_0000_0000_0000).to_bytes(8, "big")


def decode_varint(data: bytes, offset: int = 0) -> tuple[int, int]:
    """(value, offset after it). TruncatedMedia if ``data`` ends inside the varint.

    Non-shortest encodings are accepted (RFC 9000 allows them outside frame types).
    """
    if offset >= len(data):
        raise TruncatedMedia("datagram ends before its flow id", MediaFault.TRUNCATED)
    first = data[offset]
    length = 1 << (first >> 6)
    if offset + length > len(data):
        raise TruncatedMedia("datagram ends inside its flow id", MediaFault.TRUNCATED)
    value = first & 0x3F
    for i in range(1, length):
        value = (value << 8) | data[offset + i]
    return value, offset + length


# --- datagrams ---------------------------------------------------------------------------------------


def encode_datagram(flow_id: int, packet: RtpPacket) -> bytes:
    """The datagram carrying ``packet`` on ``flow_id`` (UsageError for a packet outside the profile)."""
    if not 0 <= packet.seq <= 0xFFFF or not 0 <= packet.timestamp <= 0xFFFF_FFFF:
        raise UsageError("RTP seq is 16 bits and timestamp 32 bits")
    if not 0 <= packet.ssrc <= 0xFFFF_FFFF:
        raise UsageError("RTP SSRC is 32 bits")
    if packet.payload_type != PCMU_PAYLOAD_TYPE or len(packet.payload) != PCMU_FRAME_BYTES:
        raise UsageError(f"v1 media is PCMU (PT 0) with {PCMU_FRAME_BYTES}-byte payloads")
    second = (0x80 if packet.marker else 0) | packet.payload_type
    header = _RTP.pack(RTP_VERSION << 6, second, packet.seq, packet.timestamp, packet.ssrc)
    return encode_varint(flow_id) + header + packet.payload


def check_rtp(data: bytes, offset: int) -> None:
    """Check the RTP part of a datagram starting at ``offset`` (header and payload length) without
    building objects: what a relay needs before forwarding. Raises a MalformedMedia subclass."""
    if len(data) > MAX_DATAGRAM:
        raise BadRtp(f"datagram of {len(data)} bytes is longer than {MAX_DATAGRAM}", MediaFault.TOO_LONG)
    remaining = len(data) - offset
    if remaining < RTP_HEADER_BYTES:
        raise TruncatedMedia(f"RTP header needs {RTP_HEADER_BYTES} bytes, {remaining} left",
                             MediaFault.TRUNCATED)
    first = data[offset]
    if first >> 6 != RTP_VERSION:
        raise BadRtp(f"RTP version {first >> 6}, expected 2", MediaFault.BAD_VERSION)
    if first & 0x20:
        raise BadRtp("RTP padding is not used in v1 media", MediaFault.UNSUPPORTED_HEADER)
    if first & 0x10:
        raise BadRtp("RTP header extensions are not used in v1 media", MediaFault.UNSUPPORTED_HEADER)
    if first & 0x0F:
        raise BadRtp("RTP CSRC lists are not used in v1 media", MediaFault.UNSUPPORTED_HEADER)
    if data[offset + 1] & 0x7F != PCMU_PAYLOAD_TYPE:
        raise BadRtp(f"RTP payload type {data[offset + 1] & 0x7F}, expected 0 (PCMU)",
                     MediaFault.BAD_PAYLOAD_TYPE)
    size = remaining - RTP_HEADER_BYTES
    if size < PCMU_FRAME_BYTES:
        raise TruncatedMedia(f"PCMU payload of {size} bytes, expected {PCMU_FRAME_BYTES}",
                             MediaFault.TRUNCATED)
    if size > PCMU_FRAME_BYTES:
        raise BadRtp(f"PCMU payload of {size} bytes, expected {PCMU_FRAME_BYTES}", MediaFault.TOO_LONG)


def split_flow(data: bytes) -> tuple[int, int]:
    """(flow id, offset of the RTP header) of a datagram whose RTP part checks out (see check_rtp)."""
    if len(data) > MAX_DATAGRAM:
        raise BadRtp(f"datagram of {len(data)} bytes is longer than {MAX_DATAGRAM}", MediaFault.TOO_LONG)
    flow_id, offset = decode_varint(data)
    check_rtp(data, offset)
    return flow_id, offset


def decode_datagram(data: bytes) -> MediaDatagram:
    """Parse a whole media datagram; a MalformedMedia subclass for anything outside the layout."""
    flow_id, offset = split_flow(data)
    _, second, seq, timestamp, ssrc = _RTP.unpack_from(data, offset)
    payload = bytes(data[offset + RTP_HEADER_BYTES :])
    packet = RtpPacket(seq, timestamp, ssrc, payload, bool(second & 0x80), second & 0x7F)
    return MediaDatagram(flow_id, packet)


def with_flow(data: bytes, rtp_offset: int, flow_id: int) -> bytes:
    """The same RTP bytes behind another flow id (what the relay forwards)."""
    return encode_varint(flow_id) + data[rtp_offset:]


__all__ = [
    "MAX_DATAGRAM", "MAX_FLOW_ID", "PCMU_CLOCK_HZ", "PCMU_FRAME_BYTES", "PCMU_PAYLOAD_TYPE",
    "RTP_HEADER_BYTES", "BadRtp", "MalformedMedia", "MediaDatagram", "MediaFault", "RtpPacket",
    "TruncatedMedia", "check_rtp", "decode_datagram", "decode_varint", "encode_datagram",
    "encode_varint", "split_flow", "with_flow",
]
