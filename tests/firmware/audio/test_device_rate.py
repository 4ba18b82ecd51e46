"""RateAdapter: a 48 / 44.1 / 16 kHz device seen at 8 kHz, both directions, exact counts, no drift."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.audio.device_file import FileDevice
from roamline.firmware.audio.device_loopback import LoopbackLine
from roamline.firmware.audio.device_rate import RateAdapter, at_rate
from roamline.firmware.audio.errors import AudioUsageError
from roamline.wire.clock import ManualClock


def tone(f: float, seconds: float, rate: int, amp: float = 8000) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * f * np.arange(round(seconds * rate)) / rate)).astype(np.int16)


def peak_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x.astype(float) * np.hanning(len(x)), 8 * len(x)))
    return float(np.argmax(spec) * rate / (8 * len(x)))


@pytest.mark.parametrize("rate", [48000, 44100, 16000])
def test_reads_are_exact_and_tones_keep_pitch_and_level_both_ways(rate: int) -> None:
    line = LoopbackLine(rate, capacity_s=10)
    box = at_rate(line.a, 8000)
    assert isinstance(box, RateAdapter) and box.rate == 8000
    with box, line.b:
        line.b.write(tone(1000, 2.0, rate))
        blocks = [box.read(160) for _ in range(90)]
        assert all(len(b) == 160 for b in blocks)
        x = np.concatenate(blocks)[400:]
        assert peak_hz(x, 8000) == pytest.approx(1000, abs=2)
        assert np.sqrt(np.mean(x.astype(float) ** 2)) == pytest.approx(8000 / np.sqrt(2), rel=0.02)
        for i in range(0, 8000, 160):
            box.write(tone(700, 1.0, 8000)[i:i + 160])
        y = line.b.read(rate)[rate // 20:]
        assert line.b.underrun == 0  # 50 blocks of 160 at 8 kHz are exactly one second at the device rate
        assert peak_hz(y, rate) == pytest.approx(700, abs=2)
        assert np.sqrt(np.mean(y.astype(float) ** 2)) == pytest.approx(8000 / np.sqrt(2), rel=0.02)


def test_nothing_above_4khz_leaks_into_8khz() -> None:
    line = LoopbackLine(48000)
    box = RateAdapter(line.a, 8000)
    with box, line.b:
        line.b.write(tone(6000, 0.5, 48000))  # would alias to 2 kHz without the filter
        x = box.read(4000)[200:]
        assert np.sqrt(np.mean(x.astype(float) ** 2)) < 8000 * 10 ** (-50 / 20)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=20))
def test_any_read_sizes_give_the_same_signal(sizes: list[int]) -> None:
    total = sum(sizes)
    outs = []
    for split in (sizes, [total]):
        line = LoopbackLine(44100, capacity_s=10)
        box = RateAdapter(line.a, 8000)
        box.open()
        line.b.open()
        line.b.write(tone(440, total / 8000 + 0.1, 44100))
        outs.append(np.concatenate([box.read(n) for n in split]))
    assert np.array_equal(outs[0], outs[1])


def test_a_paced_device_stays_paced() -> None:
    clock = ManualClock()
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        clock.advance(s)

    line = LoopbackLine(48000, clock=clock, sleep=sleep)
    box = RateAdapter(line.a, 8000)
    with box:
        t0 = clock.monotonic()
        for _ in range(50):
            box.read(160)
        assert clock.monotonic() - t0 == pytest.approx(1.0)


def test_same_rate_is_the_device_itself_and_open_close_pass_through() -> None:
    dev = FileDevice(8000, None, None)
    assert at_rate(dev, 8000) is dev
    box = RateAdapter(FileDevice(48000, None, None), 8000)
    assert not box.is_open
    with pytest.raises(AudioUsageError):
        box.read(160)
    box.open()
    box.open()
    assert box.is_open and box.device.is_open and not np.any(box.read(160))
    box.close()
    box.close()
    assert not box.device.is_open
    with pytest.raises(AudioUsageError):
        RateAdapter(dev, 0)
