"""When and how caller ID / message waiting is sent to the handset, per country, as data.

The handset controller owns the SLIC and the ringer; this module only says what to do in which order and
with what timing, as a tuple of :class:`Step` objects, and renders the audio steps. Timings are the
standards' windows (``min_s``/``max_s``); ``nominal_s`` is the value we use.

- **US** (Telcordia GR-30-CORE): Bell 202, MDMF (or SDMF), 300 seizure + 180 mark bits. Call: in the
  silent interval after the *first* ring, starting ≥ 0.5 s after it and ending ≥ 0.2 s before the second
  ring. Message waiting without ringing: the data alone, on an idle line.
- **UK** (BT SIN 227 / SIN 242): V.23, ETSI message layout. *Before* the first ring: line polarity
  reversal, ≥ 100 ms silence, Tone Alert Signal 2130 + 2750 Hz for 88–110 ms, ≥ 45 ms silence, then
  96–315 seizure bits, 55–90 mark bits, the message; ringing starts (or the polarity is restored, for
  message waiting) ≥ 200 ms after the data.
- **DE** (ETSI EN 300 659-1 "during ringing", as Deutsche Telekom uses it): V.23, ETSI layout, 300 + 180
  bits, between the first and second ring (≥ 0.5 s after the first). Message waiting without ringing uses
  the ETSI Dual Tone Alerting Signal (2130 + 2750 Hz, 100 ms) before the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from roamline.firmware.audio import fsk
from roamline.firmware.audio.errors import AudioUsageError
from roamline.firmware.callerid import codec as cm

FloatArray = npt.NDArray[np.float64]
ALERT_TONES = (2130.0, 2750.0)  # BT TAS / ETSI DT-AS


@dataclass(frozen=True, slots=True)
class Step:
    """One thing the handset controller does, in order."""


@dataclass(frozen=True, slots=True)
class LineReversal(Step):
    """Reverse the SLIC's feed polarity (``restore=True``: back to normal)."""

    restore: bool = False


@dataclass(frozen=True, slots=True)
class RingBurst(Step):
    """Ring the bell once per the call's cadence (the controller owns the cadence)."""

    index: int  # 1 = the first ring of the call


@dataclass(frozen=True, slots=True)
class Wait(Step):
    """Silence on the line for ``nominal_s`` (the standard allows ``min_s`` … ``max_s``; None: unbounded)."""

    nominal_s: float
    min_s: float
    max_s: float | None = None


@dataclass(frozen=True, slots=True)
class AlertTone(Step):
    """Dual-tone alert (BT TAS / ETSI DT-AS)."""

    duration_s: float
    freqs: tuple[float, float] = ALERT_TONES


@dataclass(frozen=True, slots=True)
class Data(Step):
    """The FSK transmission: channel seizure, mark and one framed message."""

    message: bytes
    modem: fsk.FskModem
    seizure_bits: int
    mark_bits: int

    @property
    def duration_s(self) -> float:
        bits = len(fsk.burst_bits(self.message, self.seizure_bits, self.mark_bits))
        return bits / self.modem.baud


@dataclass(frozen=True, slots=True)
class CallerIdPlan:
    country: str
    modem: fsk.FskModem
    call_format: cm.Format
    mwi_format: cm.Format
    seizure_bits: int
    mark_bits: int
    before_first_ring: bool       # UK: data before ringing; US/DE: after the first ring
    line_reversal: bool           # UK: polarity reversal announces the data
    mwi_alert: bool               # an alert tone precedes message-waiting data on an idle line
    after_ring_s: tuple[float, float] = (0.5, 0.5)   # nominal, minimum delay after the first ring
    guard_after_data_s: float = 0.2                   # silence after the data before the next ring

    def data(self, msg: cm.Message, fmt: cm.Format | None = None) -> Data:
        if fmt is None:
            fmt = self.mwi_format if isinstance(msg, cm.MessageWaiting) else self.call_format
        return Data(cm.encode(msg, fmt), self.modem, self.seizure_bits, self.mark_bits)


PROFILES: dict[str, CallerIdPlan] = {
    "us": CallerIdPlan("us", fsk.BELL202, cm.Format.MDMF, cm.Format.MDMF, 300, 180,
                  before_first_ring=False, line_reversal=False, mwi_alert=False),
    "uk": CallerIdPlan("uk", fsk.V23, cm.Format.ETSI, cm.Format.ETSI, 150, 72,
                  before_first_ring=True, line_reversal=True, mwi_alert=True),
    "de": CallerIdPlan("de", fsk.V23, cm.Format.ETSI, cm.Format.ETSI, 300, 180,
                  before_first_ring=False, line_reversal=False, mwi_alert=True),
}


def profile(country: str) -> CallerIdPlan:
    try:
        return PROFILES[country.lower()]
    except KeyError:
        raise AudioUsageError(f"no caller-ID profile for {country!r} (have {', '.join(PROFILES)})") from None


def _uk_preamble() -> list[Step]:
    return [LineReversal(), Wait(0.12, 0.1), AlertTone(0.1), Wait(0.06, 0.045)]


def plan_call(p: CallerIdPlan, cid: cm.CallerId, fmt: cm.Format | None = None) -> tuple[Step, ...]:
    """Steps for an incoming call's caller ID, up to and including the ring that follows the data."""
    data = p.data(cid, fmt)
    if p.before_first_ring:
        return (*_uk_preamble(), data, Wait(p.guard_after_data_s, p.guard_after_data_s), RingBurst(1))
    nominal, minimum = p.after_ring_s
    return (RingBurst(1), Wait(nominal, minimum), data,
            Wait(p.guard_after_data_s, p.guard_after_data_s), RingBurst(2))


def plan_message_waiting(p: CallerIdPlan, mwi: cm.MessageWaiting, fmt: cm.Format | None = None
                         ) -> tuple[Step, ...]:
    """Steps for switching the handset's message-waiting lamp/icon on or off, without ringing."""
    data = p.data(mwi, fmt)
    if p.line_reversal:
        return (*_uk_preamble(), data, Wait(p.guard_after_data_s, p.guard_after_data_s),
                LineReversal(restore=True))
    if p.mwi_alert:
        return (AlertTone(0.1), Wait(0.1, 0.045, 0.5), data)
    return (data,)


def fits_in_ring_gap(steps: tuple[Step, ...], silent_s: float) -> bool:
    """Whether the steps between the first and second ring fit a cadence's silent interval."""
    inner: list[Step] = []
    seen = False
    for s in steps:
        if isinstance(s, RingBurst):
            if seen:
                break
            seen = True
            continue
        if seen:
            inner.append(s)
    return duration_s(tuple(inner)) <= silent_s


def duration_s(steps: tuple[Step, ...]) -> float:
    """Nominal time of the audio and wait steps (ring bursts count zero: their cadence is elsewhere)."""
    total = 0.0
    for s in steps:
        if isinstance(s, Wait):
            total += s.nominal_s
        elif isinstance(s, AlertTone | Data):
            total += s.duration_s
    return total


def render(step: Step, rate: int = 8000, level_dbm0: float = -13.0) -> FloatArray:
    """Audio for a step (silence for waits; empty for line/ring steps, which are not audio)."""
    if isinstance(step, Data):
        return fsk.burst(step.message, step.modem, step.seizure_bits, step.mark_bits, rate, level_dbm0)
    if isinstance(step, Wait):
        return np.zeros(round(step.nominal_s * rate))
    if isinstance(step, AlertTone):
        t = np.arange(round(step.duration_s * rate)) / rate
        amp = fsk.DBM0_PEAK * 10 ** ((level_dbm0 - 3.0) / 20)
        return np.asarray(amp * sum(np.sin(2 * np.pi * f * t) for f in step.freqs), dtype=np.float64)
    return np.zeros(0)


def render_all(steps: tuple[Step, ...], rate: int = 8000) -> FloatArray:
    """Concatenated audio of all steps (ring bursts and line reversals take no audio time here)."""
    return np.concatenate([render(s, rate) for s in steps] or [np.zeros(0)])
