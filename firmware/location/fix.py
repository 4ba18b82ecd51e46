"""A GPS fix and the policy that decides whether it may locate the box.

A fix locates the box only if it is a real navigation fix: 2D or 3D (not time-only or none), not
simulated, estimated/dead-reckoning or manual, NMEA status not void, with a plausible horizontal error
estimate, and fresh at ``now``. :func:`judge` says yes or gives the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from roamline.firmware.location.errors import UsageError
from roamline.wire.geo import distance_m

__all__ = ["DEFAULT_POLICY", "NAVIGATION", "Fix", "Policy", "Quality", "Verdict", "distance_m", "judge"]


class Quality(StrEnum):
    """What kind of fix the receiver claims (NMEA GGA quality / RMC mode, gpsd TPV status)."""

    GPS = "gps"  # autonomous GNSS
    DGPS = "dgps"  # differential / SBAS
    RTK = "rtk"  # RTK fixed or float, PPS/precise
    ESTIMATED = "estimated"  # dead reckoning
    MANUAL = "manual"  # typed in
    SIMULATED = "simulated"
    NONE = "none"  # no fix / invalid / unknown


NAVIGATION = frozenset({Quality.GPS, Quality.DGPS, Quality.RTK})


@dataclass(frozen=True, slots=True)
class Fix:
    """One position report. ``at`` is the monotonic time it was received (the caller's clock)."""

    at: float
    mode: int  # 0 unknown, 1 no fix / time only, 2 = 2D, 3 = 3D
    quality: Quality
    lat: float | None = None
    lon: float | None = None
    alt_m: float | None = None
    error_m: float | None = None  # horizontal error estimate, metres (1 sigma / 68 %)
    satellites: int | None = None  # satellites used in the fix
    status_void: bool = False  # NMEA RMC/GLL status "V"
    source: str = ""  # "nmea:GN", "gpsd" …


@dataclass(frozen=True, slots=True)
class Policy:
    max_age_s: float = 10.0  # a fix older than this is stale
    max_error_m: float = 500.0  # worse than this is not a dispatchable position
    min_error_m: float = 0.1  # a claimed error below this is not plausible for a stand-alone receiver

    def __post_init__(self) -> None:
        if not (0 < self.min_error_m < self.max_error_m) or self.max_age_s <= 0:
            raise UsageError("fix policy: need 0 < min_error_m < max_error_m and max_age_s > 0")


@dataclass(frozen=True, slots=True)
class Verdict:
    valid: bool
    reason: str = ""  # why not, when not


DEFAULT_POLICY = Policy()


def judge(fix: Fix, now: float, policy: Policy = DEFAULT_POLICY) -> Verdict:
    """Whether ``fix`` may locate the box at ``now``; the first failed rule is the reason."""
    if fix.status_void:
        return Verdict(False, "receiver status void (no valid fix)")
    if fix.quality is Quality.SIMULATED:
        return Verdict(False, "simulated fix")
    if fix.quality is Quality.ESTIMATED:
        return Verdict(False, "estimated (dead-reckoning) fix")
    if fix.quality is Quality.MANUAL:
        return Verdict(False, "manual position")
    if fix.mode < 2:
        return Verdict(False, "time-only or no fix" if fix.mode == 1 else "no fix mode")
    if fix.quality not in NAVIGATION:
        return Verdict(False, "no navigation fix")
    if fix.lat is None or fix.lon is None:
        return Verdict(False, "fix without a position")
    if not (-90.0 <= fix.lat <= 90.0 and -180.0 <= fix.lon <= 180.0) or (fix.lat == 0.0 and fix.lon == 0.0):
        return Verdict(False, "position out of range")
    if fix.error_m is None or not math.isfinite(fix.error_m):
        return Verdict(False, "no error estimate")
    if not (policy.min_error_m <= fix.error_m <= policy.max_error_m):
        return Verdict(False, f"implausible error estimate {fix.error_m:.1f} m")
    age = now - fix.at
    if age > policy.max_age_s:
        return Verdict(False, f"stale fix ({age:.1f} s old)")
    if age < -1.0:
        return Verdict(False, "fix from the future")
    return Verdict(True)
