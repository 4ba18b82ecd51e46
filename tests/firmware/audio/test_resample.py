"""Streaming resampler: block-size independence (no edge clicks), fidelity, anti-aliasing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.audio.errors import AudioUsageError
from roamline.firmware.audio.resample import StreamResampler, resample

PAIRS = [(48000, 8000), (8000, 48000), (44100, 8000), (8000, 44100), (16000, 8000), (8000, 16000)]


def tone(rate: int, freq: float, seconds: float, amp: float = 10000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


@pytest.mark.parametrize(("rate_in", "rate_out"), PAIRS)
def test_sine_passes_with_high_snr_at_the_stated_delay(rate_in: int, rate_out: int) -> None:
    rs = StreamResampler(rate_in, rate_out)
    y = rs.process(tone(rate_in, 1000, 0.5)).astype(float)
    assert len(y) == rate_out // 2
    n = np.arange(len(y))
    skip = int(rs.delay) + 50
    ref = 10000 * np.sin(2 * np.pi * 1000 * (n - rs.delay) / rate_out)
    err = y[skip:] - ref[skip:]
    snr = 10 * np.log10(np.mean(ref[skip:] ** 2) / np.mean(err**2))
    assert snr > 60


@pytest.mark.parametrize(("rate_in", "rate_out"), PAIRS)
def test_blocks_of_any_size_give_the_one_shot_output(rate_in: int, rate_out: int) -> None:
    rng = np.random.default_rng(rate_in + rate_out)
    x = rng.normal(0, 3000, rate_in // 4).astype(np.int16)
    whole = StreamResampler(rate_in, rate_out).process(x)
    rs = StreamResampler(rate_in, rate_out)
    parts, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, 700))
        parts.append(rs.process(x[i : i + n]))
        i += n
    assert np.array_equal(np.concatenate(parts), whole)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 400), min_size=1, max_size=20))
def test_block_split_property_48k_to_8k(sizes: list[int]) -> None:
    x = tone(48000, 700, sum(sizes) / 48000 + 0.001)[: sum(sizes)]
    whole = StreamResampler(48000, 8000).process(x)
    rs = StreamResampler(48000, 8000)
    out, i = [], 0
    for n in sizes:
        out.append(rs.process(x[i : i + n]))
        i += n
    assert np.array_equal(np.concatenate(out), whole)


def test_no_step_at_block_edges_with_20ms_blocks() -> None:
    x = tone(48000, 440, 1.0)
    rs = StreamResampler(48000, 8000)
    y = np.concatenate([rs.process(x[i : i + 960]) for i in range(0, len(x), 960)]).astype(float)
    # sample-to-sample change of a 440 Hz sine at 8 kHz is at most 2π·440/8000·amplitude
    assert np.max(np.abs(np.diff(y[100:]))) < 2 * np.pi * 440 / 8000 * 10000 * 1.05


def test_downsampling_rejects_what_would_alias() -> None:
    rs = StreamResampler(48000, 8000)
    y = rs.process_float(tone(48000, 5000, 0.5))[200:]
    assert 20 * np.log10(np.std(y) / (10000 / np.sqrt(2))) < -60
    rs = StreamResampler(44100, 8000)
    y = rs.process_float(tone(44100, 6000, 0.5))[200:]
    assert 20 * np.log10(np.std(y) / (10000 / np.sqrt(2))) < -60


def test_one_shot_keeps_timing_and_length() -> None:
    x = np.zeros(4410, dtype=np.int16)
    x[2205] = 20000  # an impulse at 50 ms
    y = resample(x, 44100, 8000)
    assert len(y) == 800
    assert abs(int(np.argmax(y)) - 400) <= 1
    assert np.array_equal(resample(x, 8000, 8000), x)


def test_bad_rates() -> None:
    with pytest.raises(AudioUsageError):
        StreamResampler(0, 8000)



@pytest.mark.parametrize("rate", [48000, 44100, 16000])
def test_the_wav_diagnostics_run_the_filter_the_handset_path_runs(rate: int) -> None:
    """`diag dtmf` / `diag callerid` convert with dtmf.to_8k: the live StreamResampler, its delay removed."""
    from roamline.firmware.audio import dtmf

    x = np.random.default_rng(rate).normal(0.0, 3000.0, rate // 2).astype(np.int16)
    live = StreamResampler(rate, 8000)
    block = rate // 50  # the device's 20 ms blocks
    streamed = np.concatenate([live.process_float(x[i:i + block] / 32768.0) for i in range(0, len(x), block)])
    lag = round(live.delay)
    got = dtmf.to_8k(x, rate)
    n = len(streamed) - lag
    assert n > len(x) * 8000 // rate - 40
    assert np.allclose(got[:n], streamed[lag:], atol=1e-12)
