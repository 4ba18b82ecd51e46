"""gpsd's JSON reports (firmware/location/gpsd.py GpsdDecoder: TPV, SKY, DEVICES), whole and in pieces.

Property: where the input is cut does not change the fixes decoded (compared by repr: NaN-safe).
Documented errors: none; a bad report is counted and skipped, never raised.
"""

from __future__ import annotations

from fuzz._harness import chunks
from roamline.firmware.location.gpsd import GpsdDecoder

EXPECTED: tuple[type[BaseException], ...] = ()


def target(data: bytes) -> None:
    if not data:
        return
    whole = GpsdDecoder().feed(data[1:], 1.0)
    cut = GpsdDecoder()
    pieces = [f for piece in chunks(data[1:], data[0]) for f in cut.feed(piece, 1.0)]
    assert repr(whole) == repr(pieces), (whole, pieces)
