"""The DTMF benchmark's signal and figures (hil.dtmf_signal)."""

from __future__ import annotations

from roamline.firmware.audio import dtmf
from roamline.hil.dtmf_signal import detector_cpu, keys_signal


def test_keys_signal_is_what_the_detector_hears() -> None:
    assert dtmf.digits(keys_signal("147*2580369#ABCD")) == "147*2580369#ABCD"


def test_detector_cpu_hears_every_key_of_the_noisy_signal() -> None:
    run = detector_cpu(audio_s=2.0)
    assert len(run.keys_sent) == 10
    assert run.keys_detected == run.keys_sent
    assert 0.0 < run.ms_per_audio_s < 1000.0  # a figure, and the detector keeps up with real time
