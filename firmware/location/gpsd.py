"""Sans-I/O decoder of gpsd's JSON stream (one object per line): TPV and SKY reports → fixes.

gpsd reports ``TPV`` (time-position-velocity: ``mode`` 0–3, ``status``, ``lat``/``lon``/``alt``, error
estimates ``eph`` or ``epx``/``epy``) and ``SKY`` (satellites, ``uSat`` or ``satellites[].used``). The
first TPV after a watch often has a mode but no ``lat``: such a report is a fix without a position, not
an error. Lines are bounded (``max_line``); a line that is not a JSON object is counted and skipped;
other classes (VERSION, DEVICES, WATCH …) are ignored.
"""

from __future__ import annotations

import json
import math
from typing import Any

from roamline.firmware.location.counters import Counters
from roamline.firmware.location.errors import UsageError
from roamline.firmware.location.fix import Fix, Quality

MAX_LINE = 65536  # gpsd's SKY with many satellites runs to a few kB

# TPV "status" (gpsd ≥ 3.21): 0/absent = unknown (a normal GPS fix when mode ≥ 2), 1 normal, 2 DGPS,
# 3 RTK fixed, 4 RTK float, 5 dead reckoning, 6 GNSS + DR, 7 time only (surveyed), 8 simulated, 9 P(Y)
_STATUS = {0: Quality.GPS, 1: Quality.GPS, 2: Quality.DGPS, 3: Quality.RTK, 4: Quality.RTK,
           5: Quality.ESTIMATED, 6: Quality.ESTIMATED, 7: Quality.NONE, 8: Quality.SIMULATED, 9: Quality.GPS}


def _num(obj: dict[str, Any], key: str) -> float | None:
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


class GpsdDecoder:
    """``feed(data, now) -> list[Fix]``: one Fix per TPV, with the satellites of the latest SKY."""

    def __init__(self, *, max_line: int = MAX_LINE) -> None:
        if max_line < 1024:
            raise UsageError("max_line must hold a gpsd report (at least 1024 bytes)")
        self._max = max_line
        self._buf = bytearray()
        self._dropping = False
        self._satellites: int | None = None
        self.counters = Counters()
        self.devices: list[str] = []  # paths gpsd reported in DEVICES

    def feed(self, data: bytes, now: float) -> list[Fix]:
        out: list[Fix] = []
        start = 0
        while start < len(data):
            nl = data.find(b"\n", start)
            chunk = data[start:] if nl < 0 else data[start:nl]
            if not self._dropping:
                if len(self._buf) + len(chunk) > self._max:
                    self.counters.overlong += 1
                    self._buf.clear()
                    self._dropping = True
                else:
                    self._buf += chunk
            if nl < 0:
                break
            if not self._dropping and self._buf.strip():
                self._line(bytes(self._buf), now, out)
            self._buf.clear()
            self._dropping = False
            start = nl + 1
        return out

    def _line(self, raw: bytes, now: float, out: list[Fix]) -> None:
        try:
            obj = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except ValueError:  # also UnicodeDecodeError
            self.counters.malformed += 1
            return
        if not isinstance(obj, dict) or not isinstance(obj.get("class"), str):
            self.counters.malformed += 1
            return
        self.counters.sentences += 1
        cls = obj["class"]
        if cls == "SKY":
            used = _num(obj, "uSat")
            sats = obj.get("satellites")
            if used is not None:
                self._satellites = int(used)
            elif isinstance(sats, list):
                self._satellites = sum(1 for s in sats if isinstance(s, dict) and s.get("used") is True)
            return
        if cls == "DEVICES" and isinstance(obj.get("devices"), list):
            self.devices = [str(d.get("path")) for d in obj["devices"] if isinstance(d, dict)]
            return
        if cls != "TPV":
            self.counters.ignored += 1
            return
        out.append(self._tpv(obj, now))

    def _tpv(self, obj: dict[str, Any], now: float) -> Fix:
        mode_f = _num(obj, "mode")
        mode = int(mode_f) if mode_f is not None and mode_f in (0, 1, 2, 3) else 0
        status_f = _num(obj, "status")
        quality = _STATUS.get(int(status_f) if status_f is not None else 0, Quality.NONE)
        if mode < 2:
            quality = Quality.NONE if quality is not Quality.SIMULATED else quality
        eph = _num(obj, "eph")
        if eph is None:
            epx, epy = _num(obj, "epx"), _num(obj, "epy")
            eph = math.hypot(epx, epy) if epx is not None and epy is not None else None
        return Fix(at=now, mode=mode, quality=quality, lat=_num(obj, "lat"), lon=_num(obj, "lon"),
                   alt_m=_num(obj, "altHAE") if "altHAE" in obj else _num(obj, "alt"), error_m=eph,
                   satellites=self._satellites, source=f"gpsd:{obj.get('device', '')}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
