"""Packet-loss concealment by pitch-period repetition (the method of G.711 Appendix I, in outline).

On a lost frame the last pitch period of good audio (found by normalised autocorrelation, 2.5–15 ms)
is repeated, its loop point smoothed by a quarter-period cross-fade. Speech stays natural for short
losses, and a long loss must not buzz, so the repeated signal is kept at full level for 10 ms and then
faded linearly to silence at 60 ms. When audio resumes, the first 4 ms of it are cross-faded from the
concealment's continuation so there is no step. The output is silence, never noise, after 60 ms.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roamline.firmware.audio.errors import AudioUsageError

Int16Array = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float64]


def pitch_period(history: FloatArray, min_lag: int, max_lag: int) -> int:
    """Lag (samples) that maximises the normalised autocorrelation of the newest ``max_lag`` samples."""
    seg = history[-max_lag:]
    best, best_score = max_lag, -np.inf
    for lag in range(min_lag, max_lag + 1):
        a, b = seg, history[-max_lag - lag : len(history) - lag]
        denom = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
        score = float(np.dot(a, b)) / denom if denom > 0 else 0.0
        if score > best_score:
            best, best_score = lag, score
    return best


class Concealer:
    """Feed every played frame through :meth:`good`; call :meth:`conceal` for each missing frame."""

    def __init__(self, rate: int = 8000, frame: int = 160) -> None:
        if frame <= 0 or rate < 8000:
            raise AudioUsageError("concealment needs a positive frame size and at least 8 kHz")
        self.rate, self.frame = rate, frame
        self._min_lag = round(0.0025 * rate)
        self._max_lag = round(0.015 * rate)
        self._hold = round(0.010 * rate)  # full level this long into a loss
        self._fade_end = round(0.060 * rate)  # silent from here on
        self._merge = round(0.004 * rate)
        self._history = np.zeros(2 * self._max_lag + self._max_lag // 4 + 1)
        self._loop: FloatArray | None = None
        self._loop_pos = 0
        self._lost = 0  # samples concealed in the current loss

    @property
    def in_loss(self) -> bool:
        return self._loop is not None

    def _remember(self, x: FloatArray) -> None:
        self._history = np.concatenate([self._history, x])[-len(self._history):]

    def _start_loss(self) -> None:
        h = self._history
        period = pitch_period(h, self._min_lag, self._max_lag)
        loop = h[-period:].copy()
        q = max(1, period // 4)
        w = np.linspace(0.0, 1.0, q + 2)[1:-1]
        # make the loop's end run into its start: blend towards the samples that preceded the period
        loop[-q:] = loop[-q:] * (1 - w) + h[-period - q : -period] * w
        self._loop, self._loop_pos, self._lost = loop, 0, 0

    def _synth(self, n: int) -> FloatArray:
        assert self._loop is not None
        idx = (self._loop_pos + np.arange(n)) % len(self._loop)
        self._loop_pos = int((self._loop_pos + n) % len(self._loop))
        t = self._lost + np.arange(n)
        gain = np.clip((self._fade_end - t) / (self._fade_end - self._hold), 0.0, 1.0)
        self._lost += n
        return np.asarray(self._loop[idx] * gain, dtype=np.float64)

    def conceal(self) -> Int16Array:
        if self._loop is None:
            self._start_loss()
        y = self._synth(self.frame)
        self._remember(y)
        return np.clip(np.rint(y), -32768, 32767).astype(np.int16)

    def good(self, samples: npt.ArrayLike) -> Int16Array:
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        if self._loop is not None:
            m = min(self._merge, len(x))
            if m:
                tail = self._synth(m)
                w = np.linspace(0.0, 1.0, m + 2)[1:-1]
                x = x.copy()
                x[:m] = tail * (1 - w) + x[:m] * w
            self._loop = None
        self._remember(x)
        return np.clip(np.rint(x), -32768, 32767).astype(np.int16)
