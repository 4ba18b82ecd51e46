"""`roamline bench resample --json`: the box's resampler against soxr (and scipy), by the numbers.

For each rate pair the box meets (a USB codec's 48 k / 44.1 k / 16 k ⇄ the call path's 8 k) and each
candidate, fed in 20 ms blocks as the handset runner feeds it:

- ``cpu_ms_per_audio_s``: CPU time (process time) per second of audio, best of three runs;
- ``latency_ms``: how far the output lags the input in steady state (filter delay plus anything the
  implementation holds back between blocks): it adds to the call's mouth-to-ear delay twice;
- ``passband_ripple_db``: largest gain error over tones 300–3400 Hz (the telephone band);
- ``stopband_db``: on the way down, the loudest alias of a tone 4.6–20 kHz (what leaks into the band);
  on the way up, the loudest image above 4.6 kHz of a tone 300–3400 Hz; relative to the tone, in dB.

The last stdout line is one JSON object ``{"pairs": {"48000->8000": {candidate: {figure: value}}}}``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

SUMMARY = "resampler benchmark: CPU, latency, passband ripple and stopband of ours vs soxr"

FloatArray = npt.NDArray[np.float64]
Stream = Callable[[FloatArray], FloatArray]
PAIRS = ((48000, 8000), (44100, 8000), (16000, 8000), (8000, 48000), (8000, 16000))
PASS = (300.0, 600.0, 1000.0, 2000.0, 3000.0, 3400.0)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--quick", action="store_true", help="fewer tones and shorter runs (smoke tests)")


def _ours(rate_in: int, rate_out: int) -> Stream:
    from roamline.firmware.audio.resample import StreamResampler

    return StreamResampler(rate_in, rate_out).process_float


def _soxr(quality: str) -> Callable[[int, int], Stream]:
    def make(rate_in: int, rate_out: int) -> Stream:
        import soxr

        rs = soxr.ResampleStream(rate_in, rate_out, 1, dtype="float64", quality=quality)
        return lambda x: np.asarray(rs.resample_chunk(x), dtype=np.float64)

    return make


CANDIDATES: dict[str, Callable[[int, int], Stream]] = {
    "roamline": _ours, **{f"soxr-{q}": _soxr(q) for q in ("QQ", "LQ", "MQ", "HQ", "VHQ")},
}


def _run(make: Callable[[int, int], Stream], rate_in: int, rate_out: int, x: FloatArray) -> FloatArray:
    stream, block = make(rate_in, rate_out), rate_in // 50
    return np.concatenate([stream(x[i:i + block]) for i in range(0, len(x), block)] + [np.zeros(0)])


def _tone_gain(y: FloatArray, f: float, rate: int) -> float:
    """Amplitude of ``f`` in ``y`` (least squares on the steady middle half)."""
    n = len(y)
    seg = y[n // 4: 3 * n // 4]
    t = (np.arange(len(seg)) + n // 4) / rate
    basis = np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, seg, rcond=None)
    return float(np.hypot(*coef))


def _rest_above(y: FloatArray, rate: int, lo_hz: float) -> float:
    """Amplitude (peak of a sine of the same power) of everything in ``y`` above ``lo_hz``."""
    seg = y[len(y) // 4: 3 * len(y) // 4]
    spec = np.fft.rfft(seg * np.hanning(len(seg)))
    freqs = np.fft.rfftfreq(len(seg), 1 / rate)
    power = np.sum(np.abs(spec[freqs >= lo_hz]) ** 2)
    norm = np.sum(np.hanning(len(seg)) ** 2) * len(seg) / 2
    return float(math.sqrt(power / norm))


def _latency_ms(make: Callable[[int, int], Stream], rate_in: int, rate_out: int) -> float:
    """Steady-state lag: input time fed minus output time produced (what an implementation holds back
    between blocks) plus where a 1 kHz burst's edge lands in the output against where it was fed (the
    filter's own delay). Both are how late a sound reaches the other side."""
    start = 0.5
    t = np.arange(int(1.0 * rate_in)) / rate_in
    x = np.where(t >= start, np.sin(2 * np.pi * 1000 * t), 0.0)
    y = _run(make, rate_in, rate_out, x)
    held = len(x) / rate_in - len(y) / rate_out
    edge = int(np.argmax(np.abs(y) > 0.5)) / rate_out - start
    return round((held + edge) * 1000, 2)


def _cpu_ms(make: Callable[[int, int], Stream], rate_in: int, rate_out: int, seconds: float) -> float:
    x = np.random.default_rng(1).normal(0.0, 0.1, int(seconds * rate_in))
    best = math.inf
    for _ in range(3):
        t0 = time.process_time()
        _run(make, rate_in, rate_out, x)
        best = min(best, time.process_time() - t0)
    return round(best * 1000 / seconds, 3)


def measure(make: Callable[[int, int], Stream], rate_in: int, rate_out: int, quick: bool) -> dict[str, float]:
    seconds = 0.5 if quick else 1.0
    tones = PASS[::2] if quick else PASS
    n = int(seconds * rate_in)
    t = np.arange(n) / rate_in
    gains = [_tone_gain(_run(make, rate_in, rate_out, np.sin(2 * np.pi * f * t)), f, rate_out) for f in tones]
    ripple = max(abs(20 * math.log10(max(g, 1e-12))) for g in gains)
    if rate_out < rate_in:  # aliases of tones the codec hears above the telephone band
        top = min(20000.0, rate_in / 2 - 100)
        probes = [f for f in (4600.0, 5000.0, 6000.0, 7000.0, 9000.0, 12000.0, 15000.0, top) if f <= top]
        mid = slice(int(seconds * rate_out) // 4, 3 * int(seconds * rate_out) // 4)
        outs = [_run(make, rate_in, rate_out, np.sin(2 * np.pi * f * t))
                for f in (probes[::2] if quick else probes)]
        leaks = [float(np.sqrt(2 * np.mean(y[mid] ** 2))) for y in outs]
    else:  # images of telephone-band tones above the band
        leaks = [_rest_above(_run(make, rate_in, rate_out, np.sin(2 * np.pi * f * t)), rate_out, 4600.0)
                 for f in tones]
    stop = 20 * math.log10(max(max(leaks), 1e-12))
    return {"cpu_ms_per_audio_s": _cpu_ms(make, rate_in, rate_out, 2.0 if quick else 10.0),
            "latency_ms": _latency_ms(make, rate_in, rate_out),
            "passband_ripple_db": round(ripple, 3), "stopband_db": round(stop, 1)}


def run(args: argparse.Namespace) -> int:
    try:
        import soxr  # noqa: F401
    except ImportError:
        print("bench resample: soxr is not installed (pip install soxr)", file=sys.stderr)
        return 1
    pairs: dict[str, Any] = {}
    for rate_in, rate_out in PAIRS[:2] if args.quick else PAIRS:
        key = f"{rate_in}->{rate_out}"
        pairs[key] = {}
        for name, make in CANDIDATES.items():
            print(f"bench resample: {key} {name}", file=sys.stderr, flush=True)
            pairs[key][name] = measure(make, rate_in, rate_out, args.quick)
    out = {"pairs": pairs}
    if args.json:
        print(json.dumps(out))
    else:
        for key, cands in pairs.items():
            for name, fig in cands.items():
                print(key, name, fig)
    return 0
