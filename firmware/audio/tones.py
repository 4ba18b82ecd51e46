"""Call-progress tones from country tone plans (data: ``toneplans/<country>.toml``).

A tone is one to four sine components at a stated level (dBm0 each), gated by a cadence (on, off, on,
off … ms) that repeats forever or ``repeat`` times and is then followed by steady tone or silence.
:class:`ToneGenerator` streams it in blocks of any size: the sines are phase-continuous across blocks and
the gating is a function of the absolute sample position, with short raised-cosine ramps (2 ms) at each
edge so switching makes no clicks; the half-amplitude points of the ramps fall exactly on the cadence
boundaries.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import numpy.typing as npt
from msgspec import Meta

from roamline.firmware.audio.errors import AudioUsageError
from roamline.firmware.audio.g711 import DBM0_RMS
from roamline.wire.config import ConfigError, Frozen, load_toml

Int16Array = npt.NDArray[np.int16]

TONE_NAMES = ("dial", "stutter_dial", "ringback", "busy", "reorder", "call_waiting", "confirmation")
PLAN_DIR = Path(__file__).with_name("toneplans")


class ToneSpec(Frozen, frozen=True, kw_only=True):
    freqs: Annotated[tuple[float, ...], Meta(min_length=1, max_length=4)]
    level_dbm0: Annotated[float, Meta(ge=-60.0, le=0.0)]
    cadence_ms: tuple[int, ...] = ()
    repeat: Annotated[int, Meta(ge=0)] = 0  # cycles of the cadence; 0 = forever
    then: Literal["steady", "silence"] = "silence"

    def __post_init__(self) -> None:
        if any(not 20.0 <= f <= 3800.0 for f in self.freqs):
            raise ValueError(f"tone frequencies must lie in 20..3800 Hz: {self.freqs}")
        if any(ms <= 0 for ms in self.cadence_ms):
            raise ValueError("cadence durations must be positive milliseconds")
        if not self.cadence_ms and self.repeat:
            raise ValueError("a steady tone (no cadence) cannot have a repeat count")


class TonePlan(Frozen, frozen=True, kw_only=True):
    country: str
    source: str
    tones: dict[str, ToneSpec]

    def __post_init__(self) -> None:
        missing = [n for n in TONE_NAMES if n not in self.tones]
        if missing:
            raise ValueError(f"tone plan lacks {', '.join(missing)}")

    def tone(self, name: str) -> ToneSpec:
        try:
            return self.tones[name]
        except KeyError:
            raise AudioUsageError(f"tone plan {self.country} has no tone {name!r}") from None


def available_countries() -> list[str]:
    return sorted(p.stem.upper() for p in PLAN_DIR.glob("*.toml"))


def load_plan(country_or_path: str | Path) -> TonePlan:
    """A built-in plan by country code ("US", "UK", "DE") or a plan file by path."""
    p = Path(country_or_path)
    if p.suffix != ".toml":
        p = PLAN_DIR / f"{str(country_or_path).lower()}.toml"
        if not p.is_file():
            have = ", ".join(available_countries())
            raise ConfigError(f"no tone plan for {country_or_path!r} (have {have})")
    return load_toml(TonePlan, p)


class ToneGenerator:
    """Streams one tone; ``read(n)`` returns the next n int16 samples."""

    def __init__(self, spec: ToneSpec, rate: int = 8000, ramp_ms: float = 2.0) -> None:
        if rate < 2 * max(spec.freqs) + 1:
            raise AudioUsageError(f"rate {rate} Hz is too low for {max(spec.freqs)} Hz")
        self.spec, self.rate = spec, rate
        self._amp = DBM0_RMS * math.sqrt(2) * 10 ** (spec.level_dbm0 / 20)
        self._step = np.array([2 * math.pi * f / rate for f in spec.freqs])
        self._phase = np.zeros(len(spec.freqs))
        self._pos = 0
        durs = [max(1, round(ms * rate / 1000)) for ms in spec.cadence_ms]
        self._ends = np.cumsum(durs) if durs else np.zeros(0, dtype=np.int64)
        self._cycle = int(self._ends[-1]) if durs else 0
        self._stop = spec.repeat * self._cycle if spec.repeat else None
        r = max(1, round(ramp_ms * rate / 1000))
        w = np.hanning(r + 2)[1:-1]
        self._ramp = w / w.sum()  # smoothing kernel: a step becomes a raised-cosine ramp

    @property
    def finished(self) -> bool:
        """True once a counted cadence has ended in silence (reads return zeros from then on)."""
        return (self._stop is not None and self.spec.then == "silence"
                and self._pos >= self._stop + len(self._ramp))

    def _gate(self, pos: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        if not self._cycle:
            g = np.ones(len(pos))
        else:
            seg = np.searchsorted(self._ends, pos % self._cycle, side="right")
            g = (seg % 2 == 0).astype(np.float64)
            if self._stop is not None:
                g[pos >= self._stop] = 1.0 if self.spec.then == "steady" else 0.0
        g[pos < 0] = 0.0
        return g

    def read(self, n: int) -> Int16Array:
        if n < 0:
            raise AudioUsageError("cannot read a negative number of samples")
        k = len(self._ramp)
        lead = k // 2
        pos = np.arange(self._pos - lead, self._pos + n + (k - 1 - lead), dtype=np.int64)
        env = np.convolve(self._gate(pos), self._ramp, mode="valid")
        steps = np.arange(n)
        x = np.zeros(n)
        for i, step in enumerate(self._step):
            x += np.sin(self._phase[i] + step * steps)
        self._phase = (self._phase + self._step * n) % (2 * math.pi)
        self._pos += n
        return np.clip(np.rint(self._amp * env * x), -32768, 32767).astype(np.int16)
