"""Packet-loss concealment: continuation quality on voiced sound, fade-out, seamless merges."""

from __future__ import annotations

import numpy as np
import pytest

from roamline.firmware.audio.plc import Concealer, pitch_period

RATE, FRAME = 8000, 160


def voiced(f0: float, seconds: float) -> np.ndarray:
    """A crude vowel: harmonics of f0 with falling amplitude."""
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum((3000 / k) * np.sin(2 * np.pi * k * f0 * t + k) for k in range(1, 8) if k * f0 < 3800)
    return np.asarray(x).astype(np.int16)


def snr(ref: np.ndarray, got: np.ndarray) -> float:
    ref, got = ref.astype(float), got.astype(float)
    return float(10 * np.log10(np.sum(ref**2) / (np.sum((ref - got) ** 2) + 1e-9)))


def test_pitch_period_of_a_vowel() -> None:
    x = voiced(125, 0.1).astype(float)
    assert pitch_period(x, 20, 120) == 64


@pytest.mark.parametrize("f0", [100.0, 125.0, 200.0, 133.3])
def test_first_10ms_of_a_lost_frame_continue_the_waveform(f0: float) -> None:
    x = voiced(f0, 0.2)
    plc = Concealer(RATE, FRAME)
    for i in range(0, 800, FRAME):
        plc.good(x[i : i + FRAME])
    guess = plc.conceal()
    truth = x[800:960]
    assert snr(truth[:80], guess[:80]) > 10  # continues in phase, not just in spectrum


def test_long_loss_fades_to_silence_by_60ms() -> None:
    x = voiced(150, 0.2)
    plc = Concealer(RATE, FRAME)
    for i in range(0, 800, FRAME):
        plc.good(x[i : i + FRAME])
    out = np.concatenate([plc.conceal() for _ in range(5)]).astype(float)
    rms = lambda a: float(np.sqrt(np.mean(a**2)))  # noqa: E731
    assert rms(out[:80]) > 0.8 * rms(x[:800].astype(float))  # full level at first
    assert rms(out[240:400]) < rms(out[:80])  # fading
    assert not np.any(out[480:])  # silent from 60 ms on: no noise, no buzz


def test_resuming_audio_is_merged_without_a_step() -> None:
    x = voiced(120, 0.3)
    plc = Concealer(RATE, FRAME)
    out = []
    for i in range(0, len(x) - FRAME + 1, FRAME):
        frame_no = i // FRAME
        out.append(plc.conceal() if frame_no in (5, 6) else plc.good(x[i : i + FRAME]))
    y = np.concatenate(out).astype(float)
    natural = np.max(np.abs(np.diff(x.astype(float))))
    assert np.max(np.abs(np.diff(y))) <= 1.2 * natural
    # after the 4 ms merge, the frame is the real audio again
    assert np.array_equal(y[7 * FRAME + 32 : 8 * FRAME], x[7 * FRAME + 32 : 8 * FRAME])


def test_concealment_before_any_audio_is_silence() -> None:
    plc = Concealer(RATE, FRAME)
    assert not np.any(plc.conceal())
