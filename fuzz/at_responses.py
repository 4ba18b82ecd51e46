"""AT dialogue from the modem (firmware/line/at.py ModemCore): result codes, RING, caller ID, voice streams.

The modem's bytes are fed in small chunks while commands are outstanding (one of them enters voice
receive mode, so DLE streams and the return to command mode are reached too). Property: the events are
the same whether the bytes come in one piece or in small pieces. No error escapes the parser: bad input
is reported as events (noise, timeouts).
"""

from __future__ import annotations

from fuzz._harness import chunks, merged
from roamline.firmware.line.at import ModemCore

EXPECTED: tuple[type[BaseException], ...] = ()
COMMANDS = ("ATE0", "AT+FCLASS=8", "AT+VCID=1", "AT+VRX", "ATA")


def _run(pieces: list[bytes]) -> list[object]:
    core = ModemCore()
    for i, c in enumerate(COMMANDS):
        core.command(c, now=0.0, timeout=100.0 + i)
    events: list[object] = []
    for piece in pieces:
        events += core.feed(piece, now=0.0)
        core.outgoing()
    events += core.poll(1000.0)
    return events


def target(data: bytes) -> None:
    if not data:
        return
    body = data[1:]
    whole = _run([body])
    split = _run(chunks(body, data[0]))
    assert merged(whole) == merged(split), (whole, split)
