"""A SIP datagram from an answering point (wire/sip.py ``parse``, ``Framer``, ``parse_sdp``,
``parse_multipart``).

Documented error: ``SipSyntaxError`` (one line). A message that parses re-encodes to one that parses
the same; the byte-wise Framer raises nothing else on the same bytes.
"""

from __future__ import annotations

from roamline.wire.sip import Framer, SipSyntaxError, parse, parse_multipart, parse_sdp

EXPECTED: tuple[type[BaseException], ...] = (SipSyntaxError,)


def target(data: bytes) -> None:
    framer = Framer()
    try:
        for i in range(0, len(data), 7):
            framer.feed(data[i:i + 7])
    except SipSyntaxError:
        pass
    msg = parse(data)
    assert parse(msg.encode()).encode() == msg.encode()
    ctype = msg.get("content-type")
    if ctype and ctype.lower().startswith("multipart/"):
        parse_multipart(msg.body, ctype)
    elif msg.body:
        parse_sdp(msg.body)
