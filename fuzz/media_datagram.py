"""Voice datagrams from the network (wire/media.py: flow id varint + RTP v2 PCMU, the RTP-over-QUIC
layout). Property: a datagram that decodes re-encodes to one that decodes the same, and the RTP
header sits where ``split_flow`` says. Documented error: ``MalformedMedia`` (truncated, bad RTP).
"""

from __future__ import annotations

from roamline.wire.errors import MalformedMedia
from roamline.wire.media import RTP_HEADER_BYTES, decode_datagram, encode_datagram, split_flow

EXPECTED: tuple[type[BaseException], ...] = (MalformedMedia,)


def target(data: bytes) -> None:
    d = decode_datagram(data)
    flow, offset = split_flow(data)
    assert flow == d.flow_id and data[offset + RTP_HEADER_BYTES:] == d.packet.payload
    assert decode_datagram(encode_datagram(d.flow_id, d.packet)) == d
