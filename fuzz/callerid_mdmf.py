"""Unformatted caller ID (``AT+VCID=2``: MDMF/SDMF messages as hex lines, firmware/line/callerid.py) and
the one caller-ID codec under it (firmware/callerid/codec.py: ``decode``, and the byte-at-a-time
``Framer`` the FSK side uses).

The input is the message bytes; they reach the parser as the modem sends them (a hex line), raw through
``decode_unformatted``, through ``codec.decode``, and byte by byte through a ``Framer``. The line parser
lets no error escape (a bad message is a ``BadCallerId`` event); the codec raises ``CallerIdError``.
"""

from __future__ import annotations

from roamline.firmware.callerid import codec
from roamline.firmware.line import events as ev
from roamline.firmware.line.callerid import MAX_FIELD, CallerIdAssembler, decode_unformatted

EXPECTED: tuple[type[BaseException], ...] = ()  # codec errors are caught below, where they are documented


def target(data: bytes) -> None:
    cid = CallerIdAssembler()
    line = data[1:].hex(" ") if data[:1] == b"\x00" else data.hex()  # some modems space the digits
    got = cid.feed_line(line.upper(), 0.0) or []
    if len(data) >= 3:
        got.append(decode_unformatted(data))
    for e in got:
        assert isinstance(e, (ev.CallerIdReceived, ev.BadCallerId)), e
        if isinstance(e, ev.CallerIdReceived):
            c = e.caller_id
            assert all(v is None or len(v) <= MAX_FIELD for v in (c.number, c.name))
    try:
        codec.decode(data)
    except codec.CallerIdError:
        pass
    framer = codec.Framer()
    for byte in data:
        try:
            msg = framer.push(byte)
            if msg is not None:
                codec.decode(msg)
        except codec.CallerIdError:
            framer.reset()
