"""Streaming rational resampling (e.g. 48 k / 44.1 k / 16 k ⇄ 8 k) with a polyphase windowed-sinc FIR.

The filter is designed once (Kaiser-windowed sinc, cut off just below the lower Nyquist frequency) and
applied as up/down polyphase branches. State (the last taps' worth of input and the output phase) is kept
between calls, so feeding a signal in blocks of any size gives exactly the same output as feeding it at
once: no clicks at block edges. The filter is linear phase; its delay is :attr:`StreamResampler.delay`
output samples (about 2 ms at the default settings).

It is the one resampler of the box: the handset's device adapter, the DTMF port, the file backend and the
WAV diagnostics (``roamline box diag dtmf`` / ``diag callerid``) all use it, so a diagnostic tests the
filter the box runs. ``roamline bench resample`` measured it against soxr's streaming resampler: soxr is
cheaper and has a deeper stopband, but holds back 12–138 ms in stream mode (ours: 2.4–3.1 ms), which a
telephone call cannot spend; docs/handset.md has the figures.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from roamline.firmware.audio.errors import AudioUsageError

FloatArray = npt.NDArray[np.float64]
Int16Array = npt.NDArray[np.int16]


def design_lowpass(up: int, down: int, rate_in: int, zero_crossings: int, beta: float, cutoff: float
                   ) -> FloatArray:
    """Prototype filter at the upsampled rate, normalised so each polyphase branch has unity DC gain."""
    fs_up = rate_in * up
    fc = cutoff * min(rate_in, rate_in * up / down) / 2
    spacing = fs_up / (2 * fc)  # upsampled samples between the sinc's zero crossings
    length = 2 * zero_crossings * math.ceil(spacing) + 1
    n = np.arange(length) - (length - 1) / 2
    h = np.sinc(n / spacing) * np.kaiser(length, beta)
    return np.asarray(h * (up / h.sum()), dtype=np.float64)


class StreamResampler:
    """Resample int16 (or float) blocks from ``rate_in`` to ``rate_out``, keeping state across blocks."""

    def __init__(self, rate_in: int, rate_out: int, *, zero_crossings: int = 16, beta: float = 8.0,
                 cutoff: float = 0.9) -> None:
        if rate_in <= 0 or rate_out <= 0:
            raise AudioUsageError(f"sample rates must be positive, not {rate_in} → {rate_out}")
        if not 0.1 < cutoff < 1.0:
            raise AudioUsageError(f"cutoff {cutoff} must be a fraction of the lower Nyquist rate")
        g = math.gcd(rate_in, rate_out)
        self.rate_in, self.rate_out = rate_in, rate_out
        self.up, self.down = rate_out // g, rate_in // g
        self._identity = self.up == self.down == 1
        h = design_lowpass(self.up, self.down, rate_in, zero_crossings, beta, cutoff)
        self._taps = len(h)
        per_phase = math.ceil(len(h) / self.up)
        padded = np.zeros(per_phase * self.up)
        padded[: len(h)] = h
        # _poly[p, q] = h[p + q·up]: branch p weights input x[j - q]
        self._poly = padded.reshape(per_phase, self.up).T.copy()
        self._per_phase = per_phase
        self.reset()

    @property
    def delay(self) -> float:
        """Group delay of the filter, in output samples."""
        return 0.0 if self._identity else (self._taps - 1) / 2 / self.down

    def reset(self) -> None:
        self._hist = np.zeros(self._per_phase - 1)
        self._consumed = 0  # input samples seen so far
        self._next_out = 0  # index of the next output sample

    def process_float(self, block: npt.ArrayLike) -> FloatArray:
        x = np.asarray(block, dtype=np.float64).reshape(-1)
        if self._identity:
            return x.copy()
        buf = np.concatenate([self._hist, x])
        start = self._consumed - len(self._hist)  # absolute input index of buf[0]
        self._consumed += len(x)
        end = -(-self._consumed * self.up // self.down)  # outputs n with n·down < consumed·up
        ns = np.arange(self._next_out, end, dtype=np.int64)
        self._next_out = max(end, self._next_out)
        if len(self._hist):
            self._hist = buf[len(buf) - len(self._hist):]
        if len(ns) == 0:
            return np.zeros(0)
        t = ns * self.down
        j = t // self.up - start
        idx = j[:, None] - np.arange(self._per_phase)[None, :]
        return np.asarray(np.einsum("ij,ij->i", self._poly[t % self.up], buf[idx]), dtype=np.float64)

    def process(self, block: npt.ArrayLike) -> Int16Array:
        y = self.process_float(block)
        return np.clip(np.rint(y), -32768, 32767).astype(np.int16)


def resample_float(x: npt.ArrayLike, rate_in: int, rate_out: int) -> FloatArray:
    """One-shot resampling of a whole signal through :class:`StreamResampler` (the filter the box runs
    live), delay-compensated, length ≈ len(x)·rate_out/rate_in. Float in, float out, nothing clipped."""
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if rate_in == rate_out:
        return a.copy()
    rs = StreamResampler(rate_in, rate_out)
    want = -(-len(a) * rate_out // rate_in)
    lag = round(rs.delay)
    pad = math.ceil((lag + 2) * rate_in / rate_out) + 1
    x = np.concatenate([a, np.zeros(pad)])
    step = max(rate_in, 1)  # a second at a time: the same output as at once, in bounded memory
    y = np.concatenate([rs.process_float(x[i:i + step]) for i in range(0, len(x), step)])
    return y[lag: lag + want]


def resample(x: npt.ArrayLike, rate_in: int, rate_out: int) -> Int16Array:
    """:func:`resample_float` rounded and clipped to int16."""
    a = np.asarray(x)
    if rate_in == rate_out:
        return np.asarray(a, dtype=np.int16).copy()
    return np.clip(np.rint(resample_float(a, rate_in, rate_out)), -32768, 32767).astype(np.int16)
