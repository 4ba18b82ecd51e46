"""DTMF test signals and the detector's CPU benchmark (tests and `roamline bench handset`, not the box)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from roamline.firmware.audio import dtmf

FloatArray = npt.NDArray[np.float64]


def keys_signal(keys: Sequence[str] | str, on_s: float = 0.05, off_s: float = 0.05, level_dbm0: float = -10.0,
                rate: int = dtmf.RATE) -> FloatArray:
    """DTMF keys at ``level_dbm0`` per tone (full scale 1.0), with silences between and around them."""
    amp = dtmf.DBM0_PEAK * 10 ** (level_dbm0 / 20)
    t = np.arange(round(on_s * rate)) / rate
    gap = np.zeros(round(off_s * rate))
    parts = [gap]
    for key in keys:
        lo, hi = dtmf.key_tones(key)
        parts += [amp * (np.sin(2 * np.pi * lo * t) + np.sin(2 * np.pi * hi * t)), gap]
    return np.concatenate(parts)


@dataclass(frozen=True, slots=True)
class DetectorCpu:
    ms_per_audio_s: float  # detector CPU time per second of audio
    keys_sent: str
    keys_detected: str


def detector_cpu(audio_s: float = 20.0, block: int = 160, seed: int = 1) -> DetectorCpu:
    """The detector fed in real-time-sized blocks (20 ms default): CPU time and what it heard.

    The signal is realistic for a handset: keys at −10 dBm0 with noise at 15 dB SNR, plus silence.
    """
    rng = np.random.default_rng(seed)
    keys = "".join(rng.choice(list("0123456789*#")) for _ in range(int(audio_s * 5)))
    x = keys_signal(keys, on_s=0.08, off_s=0.12)[: int(audio_s * dtmf.RATE)]
    x = x + rng.normal(0.0, 0.01, len(x))
    det = dtmf.DtmfDetector()
    heard: list[str] = []
    t0 = time.process_time()
    for i in range(0, len(x), block):
        heard += [e.digit for e in det.feed(x[i:i + block]) if isinstance(e, dtmf.DigitEnded)]
    heard += [e.digit for e in det.flush() if isinstance(e, dtmf.DigitEnded)]
    ms = (time.process_time() - t0) * 1000.0 / (len(x) / dtmf.RATE)
    whole = len(x) // round(0.2 * dtmf.RATE)  # keys whose tone fits in the cut signal
    return DetectorCpu(ms, keys[:whole], "".join(heard))
