"""The DTMF benchmark's signal and figures (hil.dtmf_signal)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from roamline.firmware.audio import dtmf
from roamline.hil.dtmf_signal import detector_cpu, keys_signal


def test_keys_signal_is_what_the_detector_hears() -> None:
    assert dtmf.digits(keys_signal("147*2580369#ABCD")) == "147*2580369#ABCD"


def test_detector_cpu_hears_every_key_of_the_noisy_signal() -> None:
    run = detector_cpu(audio_s=2.0)
    assert len(run.keys_sent) == 10
    assert run.keys_detected == run.keys_sent
    assert 0.0 < run.ms_per_audio_s < 1000.0  # a figure, and the detector keeps up with real time


def test_detector_cpu_is_detector_cpu_per_second_of_audio(monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark feeds all of its signal to the real detector in 20 ms blocks between two CPU-clock
    readings and reports ms of CPU per second of audio; a fake clock makes the figure exact."""
    fed: list[int] = []
    real_feed = dtmf.DtmfDetector.feed

    def feed(self: dtmf.DtmfDetector, block: np.ndarray) -> list[dtmf.DtmfEvent]:
        fed.append(len(block))
        return real_feed(self, block)

    readings = iter([100.0, 100.25])
    monkeypatch.setattr(dtmf.DtmfDetector, "feed", feed)
    monkeypatch.setattr(time, "process_time", lambda: next(readings))
    run = detector_cpu(audio_s=2.0)
    assert run.ms_per_audio_s == pytest.approx(125.0)  # 250 ms of CPU over 2 s of audio
    assert fed[:100] == [160] * 100  # then flush() pads the end
    # the noisy signal is the work a call brings: its keys are detected, so the figure is the cost of
    # detecting, not of rejecting noise
    assert run.keys_detected == run.keys_sent and len(run.keys_sent) == 10
