"""NMEA 0183 from a GPS receiver (firmware/location/nmea.py NmeaDecoder), fed whole and in small pieces.

Property: where the input is cut does not change the fixes decoded (compared by repr: NaN-safe).
Documented errors: none; a bad sentence is counted and skipped, never raised.
"""

from __future__ import annotations

from fuzz._harness import chunks
from roamline.firmware.location.nmea import NmeaDecoder

EXPECTED: tuple[type[BaseException], ...] = ()


def target(data: bytes) -> None:
    if not data:
        return
    whole = NmeaDecoder().feed(data[1:], 1.0)
    cut = NmeaDecoder()
    pieces = [f for piece in chunks(data[1:], data[0]) for f in cut.feed(piece, 1.0)]
    assert repr(whole) == repr(pieces), (whole, pieces)
