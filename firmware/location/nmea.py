"""Sans-I/O NMEA 0183 decoder: bytes from a receiver in (any split, any talker), fixes out.

Real receivers interleave talkers (GP, GN, GL, GA, BD/GB …), proprietary sentences (``$P…``) and
garbage from a serial line that was opened mid-sentence or lost bytes. The decoder:

- keeps at most ``max_line`` bytes of an unfinished line (NMEA allows 82); a longer run is dropped up to
  the next ``$`` or line end, so memory stays bounded whatever arrives;
- restarts a line at a ``$`` found inside it (a sentence cut short by a lost line end);
- requires a correct checksum (``pynmea2.parse(check=True)``); a sentence with a bad or missing
  checksum, non-ASCII bytes or fields pynmea2 cannot read is counted and skipped;
- ignores talker ids for dispatch and keeps the latest GSA fix mode, GST error and RMC status, and emits
  one :class:`Fix` per GGA or RMC sentence, stamped with ``now`` (the caller's clock).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pynmea2

from roamline.firmware.location.counters import Counters
from roamline.firmware.location.errors import UsageError
from roamline.firmware.location.fix import Fix, Quality

MAX_LINE = 128

# GGA fix quality → Quality
_GGA_QUALITY = {0: Quality.NONE, 1: Quality.GPS, 2: Quality.DGPS, 3: Quality.RTK, 4: Quality.RTK,
                5: Quality.RTK, 6: Quality.ESTIMATED, 7: Quality.MANUAL, 8: Quality.SIMULATED}
# RMC/GLL/GNS mode indicator (NMEA 2.3+) → Quality
_MODE_INDICATOR = {"A": Quality.GPS, "D": Quality.DGPS, "P": Quality.RTK, "R": Quality.RTK, "F": Quality.RTK,
                   "E": Quality.ESTIMATED, "M": Quality.MANUAL, "S": Quality.SIMULATED, "N": Quality.NONE}


@dataclass(slots=True)
class _State:
    gsa_mode: int | None = None  # 1 no fix, 2 2D, 3 3D (latest GSA of any talker)
    gst_error_m: float | None = None
    hdop: float | None = None
    satellites: int | None = None
    rmc_void: bool | None = None
    rmc_mode: Quality | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _float(value: object) -> float | None:
    try:
        f = float(str(value))
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


class NmeaDecoder:
    """``feed(data, now) -> list[Fix]``; ``counters`` tells what was skipped and why."""

    def __init__(self, *, max_line: int = MAX_LINE, uere_m: float = 5.0, source: str = "nmea") -> None:
        if max_line < 82:
            raise UsageError("max_line must hold a whole NMEA sentence (82 bytes)")
        self._max = max_line
        self._uere = uere_m  # error estimate per unit of HDOP when the receiver sends no GST
        self._source = source
        self._buf = bytearray()
        self._dropping = False
        self._state = _State()
        self.counters = Counters()

    def feed(self, data: bytes, now: float) -> list[Fix]:
        out: list[Fix] = []
        for byte in data:
            if byte in (0x0A, 0x0D):
                if self._buf and not self._dropping:
                    self._line(bytes(self._buf), now, out)
                self._buf.clear()
                self._dropping = False
            elif byte == 0x24:  # '$' starts a sentence, also inside a line that lost its end
                if self._buf and not self._dropping:
                    self.counters.malformed += 1
                self._buf[:] = b"$"
                self._dropping = False
            elif self._dropping:
                continue
            elif len(self._buf) >= self._max:
                self.counters.overlong += 1
                self._buf.clear()
                self._dropping = True
            else:
                self._buf.append(byte)
        return out

    def _line(self, raw: bytes, now: float, out: list[Fix]) -> None:
        if not raw.startswith(b"$"):
            self.counters.malformed += 1  # the tail of a sentence whose start we never saw, or noise
            return
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            self.counters.malformed += 1
            return
        if not text.isprintable():
            self.counters.malformed += 1
            return
        try:
            msg = pynmea2.parse(text, check=True)
        except pynmea2.ChecksumError:
            self.counters.bad_checksum += 1
            return
        except (ValueError, TypeError, AttributeError, IndexError):  # pynmea2.ParseError is a ValueError
            self.counters.malformed += 1
            return
        self.counters.sentences += 1
        if isinstance(msg, pynmea2.ProprietarySentence):
            self.counters.proprietary += 1
            return
        try:
            fix = self._apply(msg, now)
        except (ValueError, TypeError, AttributeError, IndexError):
            self.counters.malformed += 1
            return
        if fix is not None:
            out.append(fix)

    def _apply(self, msg: Any, now: float) -> Fix | None:
        st = self._state
        talker = getattr(msg, "talker", "") or ""
        kind = getattr(msg, "sentence_type", "")
        if kind == "GSA":
            st.gsa_mode = _int(msg.mode_fix_type)
            hdop = _float(msg.hdop)
            st.hdop = hdop if hdop is not None else st.hdop
            return None
        if kind == "GST":
            slat, slon = _float(msg.std_dev_latitude), _float(msg.std_dev_longitude)
            st.gst_error_m = math.hypot(slat, slon) if slat is not None and slon is not None else None
            return None
        if kind == "GGA":
            q = _int(msg.gps_qual)
            quality = _GGA_QUALITY.get(q if q is not None else 0, Quality.NONE)
            st.satellites = _int(msg.num_sats)
            hdop = _float(msg.horizontal_dil)
            st.hdop = hdop if hdop is not None else st.hdop
            alt = _float(msg.altitude)
            return self._fix(now, talker, quality, msg, alt, void=bool(st.rmc_void))
        if kind == "RMC":
            st.rmc_void = msg.status != "A"
            indicator = msg.data[11] if len(msg.data) > 11 else None
            st.rmc_mode = _MODE_INDICATOR.get(str(indicator)[:1]) if indicator else None
            quality = st.rmc_mode or (Quality.NONE if st.rmc_void else Quality.GPS)
            return self._fix(now, talker, quality, msg, None, void=st.rmc_void)
        self.counters.ignored += 1
        return None

    def _fix(self, now: float, talker: str, quality: Quality, msg: Any, alt: float | None,
             *, void: bool) -> Fix:
        st = self._state
        lat = _float(msg.latitude) if msg.lat else None
        lon = _float(msg.longitude) if msg.lon else None
        if quality is Quality.NONE or lat is None or lon is None:
            mode = 1
        elif st.gsa_mode in (1, 2, 3):
            mode = st.gsa_mode
        else:
            mode = 3 if alt is not None else 2
        if st.gst_error_m is not None:
            error: float | None = st.gst_error_m
        elif st.hdop is not None:
            error = st.hdop * self._uere
        else:
            error = None
        return Fix(at=now, mode=mode, quality=quality, lat=lat, lon=lon, alt_m=alt, error_m=error,
                   satellites=st.satellites, status_void=void, source=f"{self._source}:{talker}")
