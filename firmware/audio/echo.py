"""Echo cancellation for a 2-wire hybrid (the handset's SLIC, the modem's line side): Speex DSP's MDF
canceller behind our interface, with a bulk-delay estimator in front of it.

Why the estimator: an adaptive filter long enough to cover a 64 ms echo path converges slowly (Speex
with a 128 ms tail reached only ~13 dB ERLE one second into speech here). The delay of a hybrid's echo is
mostly pure delay (codec, USB and relay buffering) followed by a short dispersive response. So we find
the bulk delay by GCC-PHAT cross-correlation of far-end and near-end signals, delay the far-end reference
by it (minus a small margin), and give Speex a short tail (32 ms), which converges within a second.

Two Speex filters run side by side on the same delay-aligned reference, one with 10 ms frames and one
with 20 ms frames, and each 20 ms block leaves as the one of their two outputs with less energy. Why:
with 10 ms frames Speex converges in under a second but, on some echo paths, diverges during sustained
double-talk (measured on the hybrid model: 6 dB of echo reduction left, 0.6 dB in the worst half
second, where the same filter held 25 dB with the far end alone); with 20 ms frames it holds through
double-talk but converges about half as fast. Both see the same near-end input through the same fixed
front end (Speex's DC notch), so the near speech in their outputs is the same and the quieter output
is the one with less echo left. When the choice changes, the first 2 ms of the block fade from the
other filter's output, so the residual echo does not step at the block edge.

Until the first delay estimate (about 0.25 s of far-end speech) the near-end signal passes unchanged.
If the echo path moves (a different line), the estimate changes after two consistent readings and the
adaptive filters restart.

``process(near, far)``: ``near`` is what the microphone/line delivered (near speech + echo of ``far``),
``far`` is what was played into the hybrid over the same interval; both int16 of a multiple of
``frame`` samples (20 ms by default; the fast filter runs on half frames). Returns the near-end
signal with the echo removed.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt

from roamline.firmware.audio.errors import AudioUsageError

log = logging.getLogger(__name__)

Int16Array = npt.NDArray[np.int16]


def gcc_phat_delay(far: npt.NDArray[np.float64], near: npt.NDArray[np.float64], max_lag: int, rate: int
                   ) -> tuple[int, float]:
    """Lag (samples, 0..max_lag-1) by which ``near`` follows ``far``, and the peak's prominence
    (peak over mean absolute correlation). Whitened (PHAT) in the telephone band 300–3400 Hz."""
    n = 1 << int(np.ceil(np.log2(len(far) + max_lag)))
    cross = np.fft.rfft(near, n) * np.conj(np.fft.rfft(far, n))
    freqs = np.fft.rfftfreq(n, 1 / rate)
    cross = np.where((freqs >= 300) & (freqs <= 3400), cross / (np.abs(cross) + 1e-9), 0)
    corr = np.abs(np.fft.irfft(cross, n)[:max_lag])
    lag = int(np.argmax(corr))
    return lag, float(corr[lag] / (np.mean(corr) + 1e-12))


class EchoCanceller:
    def __init__(self, rate: int = 8000, frame: int = 160, tail_ms: float = 32.0, max_delay_ms: float = 200.0,
                 margin_ms: float = 4.0, estimate_every_ms: float = 250.0, window_ms: float = 500.0,
                 min_prominence: float = 12.0, fade_ms: float = 2.0) -> None:
        try:
            from speexdsp import EchoCanceller as SpeexEchoCanceller
        except ImportError:
            raise AudioUsageError("echo cancellation needs speexdsp (libspeexdsp-dev + pip)") from None
        self._speex_cls: Any = SpeexEchoCanceller
        if frame <= 0 or rate <= 0 or frame % 2:
            raise AudioUsageError("frame and rate must be positive, frame even")
        self.rate, self.frame = rate, frame
        self._tail = round(tail_ms * rate / 1000)  # samples; each filter rounds it to its frames
        self._max_lag = round(max_delay_ms * rate / 1000)
        self._margin = round(margin_ms * rate / 1000)
        self._every = round(estimate_every_ms * rate / 1000)
        self._window = round(window_ms * rate / 1000)
        self._min_prominence = min_prominence
        keep = self._window + self._max_lag
        self._far_hist = np.zeros(keep)  # the most recent far-end samples
        self._near_hist = np.zeros(keep)
        self._since_estimate = 0
        self._seen = 0
        self.delay: int | None = None  # current bulk delay estimate, samples
        self._candidate: int | None = None
        self._speex: tuple[Any, Any] | None = None  # (10 ms frames, 20 ms frames) on the same reference
        self.restarts = 0
        self.robust_blocks = 0  # blocks where the 20 ms filter's output was the quieter one
        self._robust_last = False
        fade = round(fade_ms * rate / 1000)
        self._fade = np.arange(1, fade + 1) / (fade + 1)  # gain of the new filter's output, per sample

    @property
    def delay_ms(self) -> float | None:
        return None if self.delay is None else self.delay * 1000 / self.rate

    def reset(self) -> None:
        self.delay, self._candidate, self._speex = None, None, None
        self._robust_last = False
        self._far_hist[:] = 0
        self._near_hist[:] = 0
        self._seen = self._since_estimate = 0

    def _estimate(self) -> None:
        far = self._far_hist[-self._window - self._max_lag:]
        near = self._near_hist[-self._window:]
        if np.sqrt(np.mean(far**2)) < 100.0:  # about -44 dBm0: too quiet to tell
            return
        lag, prominence = self._lag(far, near)
        if prominence < self._min_prominence:
            return
        if self.delay is not None and abs(lag - self.delay) <= self._margin // 2:
            self._candidate = None
            return
        if self.delay is not None and self._candidate != lag:
            self._candidate = lag  # wait for a second consistent reading before moving
            return
        fields = {"delay_ms": lag * 1000 / self.rate, "prominence": round(prominence, 1)}
        log.info("echo-delay", extra={"fields": fields})
        self.delay, self._candidate = lag, None
        fast, robust = (self._speex_cls.create(f, max(f, round(self._tail / f) * f), self.rate)
                        for f in (self.frame // 2, self.frame))
        self._speex = (fast, robust)
        self.restarts += 1

    def _lag(self, far: npt.NDArray[np.float64], near: npt.NDArray[np.float64]) -> tuple[int, float]:
        # far covers [t - window - max_lag, t), near covers [t - window, t). A near sample at position
        # p echoes the far sample at p - lag; cross-correlating the far window that starts max_lag
        # earlier gives the peak at max_lag - lag.
        k, prominence = gcc_phat_delay(near, far, self._max_lag + 1, self.rate)
        return self._max_lag - k, prominence

    def process(self, near: npt.ArrayLike, far: npt.ArrayLike) -> Int16Array:
        n_arr = np.asarray(near, dtype=np.int16).reshape(-1)
        f_arr = np.asarray(far, dtype=np.int16).reshape(-1)
        if len(n_arr) != len(f_arr) or len(n_arr) % self.frame:
            raise AudioUsageError(f"near and far must be equal multiples of {self.frame} samples")
        out = np.empty_like(n_arr)
        for i in range(0, len(n_arr), self.frame):
            out[i : i + self.frame] = self._one(n_arr[i : i + self.frame], f_arr[i : i + self.frame])
        return out

    def _one(self, near: Int16Array, far: Int16Array) -> Int16Array:
        m = self.frame
        self._far_hist = np.concatenate([self._far_hist[m:], far.astype(np.float64)])
        self._near_hist = np.concatenate([self._near_hist[m:], near.astype(np.float64)])
        self._seen += m
        self._since_estimate += m
        if self._since_estimate >= self._every and self._seen >= self._window:
            self._since_estimate = 0
            self._estimate()
        if self._speex is None or self.delay is None:
            return near.copy()
        shift = max(0, self.delay - self._margin)
        end = len(self._far_hist) - shift
        ref = self._far_hist[end - m : end]
        ref16 = np.clip(np.rint(ref), -32768, 32767).astype(np.int16)
        fast, robust = self._speex
        h = m // 2
        a = np.concatenate([np.frombuffer(fast.process(near[j : j + h].tobytes(), ref16[j : j + h].tobytes()),
                                          dtype=np.int16) for j in (0, h)])
        b = np.frombuffer(robust.process(near.tobytes(), ref16.tobytes()), dtype=np.int16)
        robust_now = bool(np.sum(b.astype(np.float64) ** 2) < np.sum(a.astype(np.float64) ** 2))
        self.robust_blocks += robust_now
        new, old = (b, a) if robust_now else (a, b)
        out = new.astype(np.float64)
        if robust_now != self._robust_last:  # the other filter's residual takes over: fade, not step
            k = min(len(self._fade), m)
            out[:k] = old[:k] * (1 - self._fade[:k]) + new[:k] * self._fade[:k]
        self._robust_last = robust_now
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)
