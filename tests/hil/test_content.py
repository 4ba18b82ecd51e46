"""Content checks: what goes in at one end is found at the other, through what a call does to audio."""

from __future__ import annotations

import numpy as np
import pytest

from roamline.firmware.audio.g711 import ulaw_decode, ulaw_encode
from roamline.hil import content
from roamline.hil.handset import dtmf_audio
from roamline.hil.handset_phone import tone_audio
from roamline.hil.speech import available as espeak_available

RATE = 8000
rng = np.random.default_rng(7)


def through_a_call(x: np.ndarray, delay_s: float = 0.3, gain: float = 0.5, noise: float = 200.0,
                   echo_of: np.ndarray | None = None) -> np.ndarray:
    """A delay, a loss, µ-law both ways, noise and (optionally) the other side's echo."""
    y = np.concatenate([np.zeros(round(delay_s * RATE)), x.astype(np.float64) * gain])
    y = y + rng.normal(0, noise, len(y))
    if echo_of is not None:
        e = np.zeros(len(y))
        e[:min(len(y), len(echo_of))] = echo_of[:len(y)] * 0.05
        y = y + e
    return ulaw_decode(ulaw_encode(np.clip(np.round(y), -32768, 32767).astype(np.int16)))


def test_a_tone_survives_a_call_and_other_tones_are_not_found() -> None:
    rx = through_a_call(tone_audio((1004.0,), 800, RATE))
    assert content.check_tone(rx, RATE, 1004.0, min_s=0.5).ok
    assert not content.check_tone(rx, RATE, 1400.0).ok
    assert not content.check_tone(rng.normal(0, 3000, RATE).astype(np.int16), RATE, 1004.0).ok
    dual = through_a_call(tone_audio((350.0, 440.0), 600, RATE))
    check = content.check_tone(dual, RATE, (350, 440), min_s=0.4)
    assert check.ok and check.event(box="box-a")["type"] == "media.verified"
    assert not content.check_tone(tone_audio((350.0,), 600, RATE), RATE, (350, 440)).ok  # half of it


def test_a_too_short_tone_is_not_enough() -> None:
    rx = through_a_call(tone_audio((1004.0,), 100, RATE))
    c = content.check_tone(rx, RATE, 1004.0, min_s=0.3)
    assert not c.ok and c.event()["type"] == "media.failed"


def test_dtmf_digits_come_out_as_sent_and_wrong_ones_fail() -> None:
    rx = through_a_call(dtmf_audio("4711#", RATE), gain=0.3)
    assert content.check_dtmf(rx, RATE, "4711#").ok
    assert not content.check_dtmf(rx, RATE, "4712#").ok


@pytest.mark.skipif(not espeak_available(), reason="needs espeak-ng")
def test_spoken_digits_are_found_at_the_far_end_and_other_speech_is_not() -> None:
    sent = content.spoken_digits("4711")
    other = content.spoken_digits("9382")
    rx = through_a_call(sent, delay_s=0.45, echo_of=other)
    c = content.check_speech(sent, rx, RATE)
    assert c.ok, c
    assert abs(c.detail["lag_ms"] - 450) <= 20
    padded = np.concatenate([np.zeros(4000, np.int16), other, np.zeros(4000, np.int16)])
    assert not content.check_speech(sent, through_a_call(padded), RATE).ok
    assert not content.check_speech(sent, np.zeros(len(sent) * 2, np.int16) + 1, RATE).ok
