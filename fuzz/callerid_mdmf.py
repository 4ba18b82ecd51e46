"""Unformatted caller ID (``AT+VCID=2``: MDMF/SDMF messages as hex lines, firmware/line/callerid.py).

The input is the message bytes; they reach the parser as the modem sends them (a hex line), and also
raw through ``decode_unformatted`` (every type/length framing, not only the plausible ones). No error
escapes: a bad message is a ``BadCallerId`` event.
"""

from __future__ import annotations

from roamline.firmware.line import events as ev
from roamline.firmware.line.callerid import MAX_FIELD, CallerIdAssembler, decode_unformatted

EXPECTED: tuple[type[BaseException], ...] = ()


def target(data: bytes) -> None:
    cid = CallerIdAssembler()
    line = data[1:].hex(" ") if data[:1] == b"\x00" else data.hex()  # some modems space the digits
    got = cid.feed_line(line.upper(), 0.0) or []
    if len(data) >= 3:
        got.append(decode_unformatted(data))
    for e in got:
        assert isinstance(e, (ev.CallerId, ev.BadCallerId)), e
        if isinstance(e, ev.CallerId):
            assert e.source in ("mdmf", "sdmf")
            assert all(v is None or len(v) <= MAX_FIELD for v in (e.number, e.name, e.date, e.time))
