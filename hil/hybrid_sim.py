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


def through_front_end(near: np.ndarray, frame: int = 160) -> np.ndarray:
    """``near`` (int16-ranged samples) as it passes the echo canceller when there is no echo to take
    out: Speex applies a fixed DC notch to its input before subtracting its echo estimate, so the near
    speech that leaves a canceller is this, not ``near`` itself. Measured with a Speex filter that is
    never given a far end (its estimate stays zero), not modelled. Needs speexdsp."""
    from speexdsp import EchoCanceller

    x = np.clip(np.rint(np.asarray(near, dtype=float)), -32768, 32767).astype(np.int16)
    x = np.concatenate([x, np.zeros(-len(x) % frame, dtype=np.int16)])
    ec, silent = EchoCanceller.create(frame, 2 * frame, 8000), np.zeros(frame, dtype=np.int16).tobytes()
    out = [np.frombuffer(ec.process(x[i:i + frame].tobytes(), silent), dtype=np.int16)
           for i in range(0, len(x), frame)]
    return np.concatenate(out)[: len(near)].astype(float)


def doubletalk_erle_db(echo: np.ndarray, out: np.ndarray, near: np.ndarray) -> float:
    """ERLE while the near end talks too, on the echo component alone: the echo that came in over the
    echo that is left, where what is left is the canceller's output less the near-end signal as it
    would pass (``through_front_end``). Comparing with ``near`` itself would count the notch's change
    to the near speech as echo (about 1 dB "ERLE" whatever the canceller does)."""
    return erle_db(echo, np.asarray(out, dtype=float) - through_front_end(near))


def linear_share_db(ref: np.ndarray, out: np.ndarray, lo: int = -8, hi: int = 96) -> float:
    """How much of ``out`` is a linear filtering of ``ref`` (least squares over lags ``lo..hi-1``), in dB:
    the near speech's share of what left a canceller. Speex's notch filters the near speech, which is
    not damage; residual echo, clipping or gating are."""
    r, o = np.asarray(ref, dtype=float), np.asarray(out, dtype=float)
    cols = np.column_stack([np.roll(r, k) for k in range(lo, hi)])
    fit = cols @ np.linalg.lstsq(cols, o, rcond=None)[0]
    return float(10 * np.log10(np.sum(fit**2) / (np.sum((o - fit) ** 2) + 1e-9)))
