"""The box's view of its GPS: the latest fix, the latest *valid* fix and why the latest was rejected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roamline.firmware.location.fix import DEFAULT_POLICY, Fix, Policy, Verdict, judge


@dataclass(frozen=True, slots=True)
class GpsSummary:
    valid: bool  # the latest fix is valid (at the time it was judged)
    lat: float | None  # of the most recent valid fix
    lon: float | None
    error_m: float | None
    mode: int | None  # of the latest fix
    satellites: int | None
    reason: str  # why the latest fix was rejected ("" when valid; "no fix received" before any)

    def as_dict(self) -> dict[str, Any]:
        return {"valid": self.valid, "lat": _round(self.lat, 7), "lon": _round(self.lon, 7),
                "error_m": _round(self.error_m, 1),
                "mode": self.mode, "satellites": self.satellites, "reason": self.reason}


class Tracker:
    def __init__(self, policy: Policy = DEFAULT_POLICY) -> None:
        self._policy = policy
        self.latest: Fix | None = None
        self.latest_verdict: Verdict | None = None
        self.best: Fix | None = None  # the most recent valid fix

    def observe(self, fix: Fix, now: float) -> Verdict:
        verdict = judge(fix, now, self._policy)
        self.latest, self.latest_verdict = fix, verdict
        if verdict.valid:
            self.best = fix
        return verdict

    def current(self, now: float) -> Fix | None:
        """The most recent valid fix if it is still fresh at ``now`` (GPS lost → None)."""
        if self.best is None or not judge(self.best, now, self._policy).valid:
            return None
        return self.best

    def summary(self) -> GpsSummary:
        best, latest, verdict = self.best, self.latest, self.latest_verdict
        return GpsSummary(
            valid=bool(verdict and verdict.valid),
            lat=best.lat if best else None, lon=best.lon if best else None,
            error_m=best.error_m if best else (latest.error_m if latest else None),
            mode=latest.mode if latest else None,
            satellites=latest.satellites if latest else None,
            reason=(verdict.reason if verdict else "no fix received"))


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)
