"""Voice streams from the modem (firmware/line/dle.py DleDecoder), both end-of-stream styles.

Property: the decoded stream (voice bytes, DLE events, end of stream, trailing noise) does not depend on
where the bytes were cut. No error escapes: unknown DLE codes are events.
"""

from __future__ import annotations

from fuzz._harness import chunks, merged
from roamline.firmware.line.dle import DleDecoder

EXPECTED: tuple[type[BaseException], ...] = ()


def _decode(eos: str, pieces: list[bytes]) -> list[object]:
    dec = DleDecoder("triple" if eos == "triple" else "single")
    out: list[object] = []
    for piece in pieces:
        out += dec.feed(piece)
    return out


def target(data: bytes) -> None:
    if not data:
        return
    eos = "triple" if data[0] & 0x80 else "single"
    body = data[1:]
    assert merged(_decode(eos, [body])) == merged(_decode(eos, chunks(body, data[0])))
