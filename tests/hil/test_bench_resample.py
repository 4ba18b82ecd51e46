"""`roamline bench resample`: the figures it reports mean what they say."""

from __future__ import annotations

import pytest

from roamline.hil import bench_resample


@pytest.mark.parametrize(("rate_in", "rate_out"), [(48000, 8000), (8000, 48000)])
def test_the_box_resampler_figures(rate_in: int, rate_out: int) -> None:
    fig = bench_resample.measure(bench_resample.CANDIDATES["roamline"], rate_in, rate_out, quick=True)
    assert 1.0 < fig["latency_ms"] < 5.0  # the filter's delay, about 2.5 ms, nothing held back
    assert fig["passband_ripple_db"] < 2.0 and fig["stopband_db"] < -80.0
    assert fig["cpu_ms_per_audio_s"] > 0.0


def test_no_filter_shows_as_no_stopband() -> None:
    """A candidate that only drops samples aliases everything: the figure must say so."""
    def make(rate_in: int, rate_out: int) -> bench_resample.Stream:
        step = rate_in // rate_out
        return lambda x: x[::step]

    fig = bench_resample.measure(make, 48000, 8000, quick=True)
    assert fig["stopband_db"] > -10.0 and fig["latency_ms"] < 1.0


def test_soxr_streams_hold_audio_back() -> None:
    pytest.importorskip("soxr")
    fig = bench_resample.measure(bench_resample.CANDIDATES["soxr-HQ"], 48000, 8000, quick=True)
    assert fig["latency_ms"] > 10.0 and fig["stopband_db"] < -100.0
