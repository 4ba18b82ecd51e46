"""Formatted caller ID (``AT+VCID=1``: DATE/TIME/NMBR/NAME records, firmware/line/callerid.py).

Lines from the modem go to ``CallerIdAssembler.feed_line`` with rings and quiet periods between them
(the fuzz input's line starting with a control byte decides). No error escapes the assembler.
"""

from __future__ import annotations

from roamline.firmware.line import events as ev
from roamline.firmware.line.callerid import MAX_FIELD, CallerIdAssembler

EXPECTED: tuple[type[BaseException], ...] = ()


def target(data: bytes) -> None:
    cid = CallerIdAssembler(quiet_s=1.5)
    now = 0.0
    out: list[ev.LineEvent] = []
    for raw in data.split(b"\n"):
        line = raw.decode("latin-1").rstrip("\r")
        if line[:1] == "\x01":
            out += cid.ring(now)
        elif line[:1] == "\x02":
            now += 2.0
            out += cid.poll(now)
        else:
            out += cid.feed_line(line, now) or []
    out += cid.poll(now + 10.0)
    for e in out:
        assert isinstance(e, (ev.CallerIdReceived, ev.BadCallerId)), e
        if isinstance(e, ev.CallerIdReceived):
            c = e.caller_id
            for value in (c.number, c.name):
                assert value is None or len(value) <= MAX_FIELD
