"""What a GPS decoder read and skipped (the NMEA and gpsd decoders share it; this module stays free of
pynmea2 so a box fed by gpsd never imports the NMEA parser)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Counters:
    sentences: int = 0  # checksummed sentences read
    bad_checksum: int = 0
    malformed: int = 0  # not ASCII, no checksum, fields unreadable
    overlong: int = 0  # runs dropped for exceeding max_line
    proprietary: int = 0
    ignored: int = 0  # well-formed sentence types we do not use (GSV, VTG, TXT …)

    def as_dict(self) -> dict[str, int]:
        return {k: int(getattr(self, k)) for k in self.__slots__}
