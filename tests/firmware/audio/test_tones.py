"""Tone plans, measured from generated audio against the national specifications written out here.

Frequencies come from an FFT of the signal, levels from the spectrum, cadences from the smoothed power
envelope (threshold at half the on level). Nothing is read back from the TOML tables.
"""

from __future__ import annotations

import numpy as np
import pytest

from roamline.firmware.audio.g711 import DBM0_RMS
from roamline.firmware.audio.tones import TONE_NAMES, ToneGenerator, ToneSpec, available_countries, load_plan
from roamline.wire.config import ConfigError

RATE = 8000

# (frequencies Hz, level dBm0 per component, first on/off durations in ms; None = steady)
SPEC: dict[str, dict[str, tuple[tuple[float, ...], float, list[int] | None]]] = {
    "US": {  # ANSI T1.401 precise tone plan
        "dial": ((350, 440), -13, None),
        "stutter_dial": ((350, 440), -13, [100, 100] * 10),
        "ringback": ((440, 480), -19, [2000, 4000, 2000, 4000]),
        "busy": ((480, 620), -24, [500, 500, 500, 500]),
        "reorder": ((480, 620), -24, [250, 250, 250, 250]),
        "call_waiting": ((440,), -13, [300, 9700, 300]),
        "confirmation": ((350, 440), -13, [100, 100, 100, 100, 100]),
    },
    "UK": {  # BT SIN 350
        "dial": ((350, 450), -10, None),
        "stutter_dial": ((350, 450), -10, [750, 750, 750, 750]),
        "ringback": ((400, 450), -10, [400, 200, 400, 2000, 400, 200, 400, 2000]),
        "busy": ((400,), -10, [375, 375, 375, 375]),
        "reorder": ((400,), -10, [400, 350, 225, 525, 400, 350, 225, 525]),
        "call_waiting": ((400,), -10, [100, 2900, 100]),
        "confirmation": ((1400,), -10, [500]),
    },
    "DE": {  # 1TR110: the 425 Hz family
        "dial": ((425,), -10, None),
        "stutter_dial": ((400, 425), -13, None),
        "ringback": ((425,), -10, [1000, 4000, 1000, 4000]),
        "busy": ((425,), -10, [480, 480, 480, 480]),
        "reorder": ((425,), -10, [240, 240, 240, 240]),
        "call_waiting": ((425,), -10, [200, 200, 200, 5000, 200, 200, 200]),
        "confirmation": ((1400,), -10, [500]),
    },
}

CASES = [(c, n) for c in SPEC for n in TONE_NAMES]


def generate(country: str, name: str, seconds: float, block: int = 160) -> np.ndarray:
    gen = ToneGenerator(load_plan(country).tone(name), RATE)
    n = int(seconds * RATE)
    return np.concatenate([gen.read(min(block, n - i)) for i in range(0, n, block)]).astype(float)


def spectral_peaks(x: np.ndarray, count: int) -> list[tuple[float, float]]:
    """(frequency, level dBm0) of the ``count`` strongest components, by FFT with a flat-top-ish window."""
    w = np.hanning(len(x))
    nfft = 1 << (len(x) * 8 - 1).bit_length()
    mag = np.abs(np.fft.rfft(x * w, nfft)) * 2 / w.sum()
    freqs = np.fft.rfftfreq(nfft, 1 / RATE)
    peaks: list[tuple[float, float]] = []
    mag = mag.copy()
    for _ in range(count):
        i = int(np.argmax(mag))
        peaks.append((float(freqs[i]), float(20 * np.log10(mag[i] / np.sqrt(2) / DBM0_RMS))))
        guard = int(3 * nfft / len(x))  # wipe the main lobe before looking for the next peak
        mag[max(0, i - guard) : i + guard] = 0
    return sorted(peaks)


def on_off_runs(x: np.ndarray, freqs: tuple[float, ...]) -> list[int]:
    """Durations (ms) of alternating on/off runs, starting with the first on, from the tone's envelope.

    Each component is demodulated to baseband and smoothed with a Hann window two beat periods long,
    which nulls the other component; the half-level crossings of the summed magnitudes are the edges.
    """
    t = np.arange(len(x)) / RATE
    length = round(2 / abs(freqs[1] - freqs[0]) * RATE) if len(freqs) == 2 else 80
    w = np.hanning(length + 2)[1:-1]
    w /= w.sum()
    env = sum(np.abs(np.convolve(x * np.exp(-2j * np.pi * f * t), w, mode="same")) for f in freqs)
    on = env > 0.5 * np.percentile(env, 99)
    edges = np.flatnonzero(np.diff(on.astype(int))) + 1
    bounds = [0, *edges.tolist(), len(x)] if on[0] else [*edges.tolist(), len(x)]
    runs = np.diff(bounds) * 1000 / RATE
    return [round(r) for r in runs[:-1]]  # the last run is cut off by the end of the signal


@pytest.mark.parametrize(("country", "name"), CASES)
def test_frequencies_and_levels(country: str, name: str) -> None:
    freqs, level, cadence = SPEC[country][name]
    seconds = (cadence[0] / 1000) if cadence else 1.0
    x = generate(country, name, seconds)
    x = x[40 : len(x) - 40]  # inside the first on period, away from the ramps
    peaks = spectral_peaks(x, len(freqs))
    for (f_meas, l_meas), f_spec in zip(peaks, sorted(freqs), strict=True):
        assert abs(f_meas - f_spec) < 0.005 * f_spec + 1.0, (f_meas, f_spec)
        assert abs(l_meas - level) < 0.5, (f_meas, l_meas, level)
    # and nothing else of note: the residual after the named components is > 40 dB down
    t = np.arange(len(x)) / RATE
    basis = np.column_stack([g(2 * np.pi * f * t) for f in freqs for g in (np.sin, np.cos)])
    resid = x - basis @ np.linalg.lstsq(basis, x, rcond=None)[0]
    assert 10 * np.log10(np.mean(resid**2) / np.mean(x**2)) < -40


@pytest.mark.parametrize(("country", "name"), [(c, n) for c, n in CASES if SPEC[c][n][2]])
def test_cadences(country: str, name: str) -> None:
    freqs, _, cadence = SPEC[country][name]
    assert cadence is not None
    total = sum(cadence) / 1000 + 1.0
    runs = on_off_runs(generate(country, name, total, block=97), freqs)
    assert len(runs) >= len(cadence)
    for got, want in zip(runs, cadence, strict=False):
        assert abs(got - want) <= max(3, 0.01 * want), (runs, cadence)


def test_stutter_dial_becomes_steady_after_ten_bursts() -> None:
    x = generate("US", "stutter_dial", 4.0)
    runs = on_off_runs(x, (350, 440))
    assert len(runs) == 20  # ten bursts and ten gaps, then steady dial tone to the end
    assert all(abs(r - 100) <= 3 for r in runs)
    tail = x[int(2.1 * RATE) :]
    assert np.min(np.convolve(tail**2, np.ones(89) / 89, mode="valid")) > 0.5 * np.mean(tail**2)


def test_counted_tones_end_in_silence() -> None:
    gen = ToneGenerator(load_plan("US").tone("confirmation"), RATE)
    x = gen.read(int(0.6 * RATE))
    assert not gen.finished or np.any(x)
    y = gen.read(RATE)
    assert gen.finished and not np.any(y)
    cw = ToneGenerator(load_plan("US").tone("call_waiting"), RATE)
    z = cw.read(25 * RATE).astype(float)
    assert len(on_off_runs(z, (440,))) == 3  # two bursts, then silence for good


def test_phase_continuous_across_blocks() -> None:
    spec = load_plan("DE").tone("dial")
    a = ToneGenerator(spec, RATE)
    one = a.read(8000)
    b = ToneGenerator(spec, RATE)
    sizes = [1, 7, 160, 333, 2, 999]
    parts, n = [], 0
    while n < 8000:
        s = min(sizes[len(parts) % len(sizes)], 8000 - n)
        parts.append(b.read(s))
        n += s
    assert np.abs(np.concatenate(parts).astype(int) - one.astype(int)).max() <= 1


def test_edges_are_ramped_not_clicks() -> None:
    x = generate("US", "reorder", 1.0)
    # biggest sample-to-sample step stays that of the sines themselves
    amp = DBM0_RMS * np.sqrt(2) * 10 ** (-24 / 20)
    assert np.max(np.abs(np.diff(x))) < amp * 2 * np.pi * (480 + 620) / RATE * 1.05


def test_plans_and_validation() -> None:
    assert set(available_countries()) >= {"US", "UK", "DE"}
    with pytest.raises(ConfigError):
        load_plan("XX")
    with pytest.raises(ValueError):
        ToneSpec(freqs=(5000.0,), level_dbm0=-10)
    with pytest.raises(ValueError):
        ToneSpec(freqs=(400.0,), level_dbm0=-10, repeat=2)
