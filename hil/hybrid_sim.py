"""A simulated 2-wire hybrid: the echo a SLIC or a modem's line interface returns of what it is sent.

Echo path = pure delay + a short dispersive response (a couple of reflections) + the telephone band-pass
(300–3400 Hz), attenuated by the echo return loss. Streaming: ``process`` keeps filter state, so blocks
of any size give the same result.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, lfilter, lfilter_zi


class HybridEcho:
    def __init__(self, delay_ms: float, erl_db: float = 6.0, rate: int = 8000, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        d = round(delay_ms * rate / 1000)
        ir = np.zeros(d + 48)
        ir[d] = 1.0
        for k, g in zip(rng.integers(2, 40, 3), (-0.4, 0.25, -0.1), strict=True):  # reflections
            ir[d + int(k)] += g
        self._fir = ir * 10 ** (-erl_db / 20)
        self._b, self._a = butter(2, [300 / (rate / 2), 3400 / (rate / 2)], "bandpass")
        self._zf = np.zeros(len(ir) - 1)
        self._zb = lfilter_zi(self._b, self._a) * 0.0
        self.delay_ms = delay_ms

    def process(self, x: np.ndarray) -> np.ndarray:
        """Echo (float samples) of the int16 or float block ``x``."""
        y, self._zf = lfilter(self._fir, [1.0], np.asarray(x, dtype=float), zi=self._zf)
        y, self._zb = lfilter(self._b, self._a, y, zi=self._zb)
        return np.asarray(y, dtype=float)


def erle_db(echo: np.ndarray, residual: np.ndarray) -> float:
    """Echo return loss enhancement: echo power over residual power, in dB."""
    e = float(np.sum(np.asarray(echo, dtype=float) ** 2))
    r = float(np.sum(np.asarray(residual, dtype=float) ** 2)) + 1e-9
    return 10 * float(np.log10(e / r + 1e-12))
