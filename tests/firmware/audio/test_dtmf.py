"""DTMF detector against the ITU-T Q.24-style criteria (AT&T/Bell figures), measured on synthetic keys."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.audio import dtmf
from roamline.firmware.audio.errors import AudioUsageError
from roamline.hil.dtmf_signal import keys_signal

ALL = "123A456B789C*0#D"
RATE = dtmf.RATE


def tone(key: str, on_s: float = 0.05, level_dbm0: float = -10.0, twist_db: float = 0.0,
         dev: float = 0.0, phase: float = 0.3) -> np.ndarray:
    """One key; twist_db = level(high) − level(low); dev = relative frequency offset of both tones."""
    lo, hi = dtmf.key_tones(key)
    t = np.arange(round(on_s * RATE)) / RATE
    a = dtmf.DBM0_PEAK * 10 ** (level_dbm0 / 20)
    return (a * np.sin(2 * np.pi * lo * (1 + dev) * t + phase)
            + a * 10 ** (twist_db / 20) * np.sin(2 * np.pi * hi * (1 + dev) * t))


def padded(*parts: np.ndarray, lead: int = 317, gap_s: float = 0.06) -> np.ndarray:
    gap = np.zeros(round(gap_s * RATE))
    out = [np.zeros(lead)]
    for p in parts:
        out += [p, gap]
    return np.concatenate(out)


def test_all_sixteen_keys() -> None:
    x = keys_signal(ALL, on_s=0.05, off_s=0.05)
    events = dtmf.detect(x)
    assert "".join(e.digit for e in events) == ALL
    for i, e in enumerate(events):  # start/end within 2 ms of the truth
        start = 400 + i * 800
        assert abs(e.start - start) <= 16 and abs(e.end - (start + 400)) <= 16


def test_started_comes_before_ended_and_matches() -> None:
    det = dtmf.DtmfDetector()
    x = padded(tone("7", on_s=0.3))
    events = []
    for i in range(0, len(x), 160):
        events += det.feed(x[i:i + 160])
    events += det.flush()
    assert [type(e) for e in events] == [dtmf.DigitStarted, dtmf.DigitEnded]
    started, ended = events
    assert started.digit == ended.digit == "7" and started.start == ended.start
    assert ended.duration_s == pytest.approx(0.3, abs=0.003)


@pytest.mark.parametrize("key", list(ALL))
@pytest.mark.parametrize("dev", [-0.015, 0.015])
def test_accepts_frequency_deviation_of_1_5_percent(key: str, dev: float) -> None:
    assert dtmf.digits(padded(tone(key, dev=dev))) == key


@pytest.mark.parametrize("key", list(ALL))
@pytest.mark.parametrize("dev", [-0.035, 0.035, -0.05, 0.05])
def test_rejects_frequency_deviation_of_3_5_percent(key: str, dev: float) -> None:
    assert dtmf.digits(padded(tone(key, dev=dev, on_s=0.2))) == ""


def test_rejects_when_only_one_tone_is_off_frequency() -> None:
    lo, hi = dtmf.key_tones("5")
    t = np.arange(800) / RATE
    a = dtmf.DBM0_PEAK * 10 ** (-10 / 20)
    x = a * np.sin(2 * np.pi * lo * t) + a * np.sin(2 * np.pi * hi * 1.035 * t)
    assert dtmf.digits(padded(x)) == ""


@pytest.mark.parametrize("lead", [0, 13, 26, 38, 50])
@pytest.mark.parametrize("key", ["1", "5", "D", "#"])
def test_accepts_40_ms(key: str, lead: int) -> None:
    assert dtmf.digits(padded(tone(key, on_s=0.040), lead=lead)) == key


@pytest.mark.parametrize("lead", [0, 13, 26, 38, 50])
@pytest.mark.parametrize("on_s", [0.005, 0.015, 0.023])
def test_rejects_23_ms_and_shorter(on_s: float, lead: int) -> None:
    assert dtmf.digits(padded(tone("5", on_s=on_s), tone("D", on_s=on_s), lead=lead)) == ""


def test_40_ms_keys_with_40_ms_pauses_count_separately() -> None:
    keys = [np.concatenate([tone(k, on_s=0.04), np.zeros(320)]) for k in "1123"]
    x = np.concatenate([np.zeros(100), *keys])
    assert dtmf.digits(x) == "1123"


def test_a_short_dropout_does_not_split_a_key() -> None:
    x = padded(np.concatenate([tone("8", on_s=0.1), np.zeros(40), tone("8", on_s=0.1)]))  # 5 ms break
    assert dtmf.digits(x) == "8"


@pytest.mark.parametrize("key", list(ALL))
@pytest.mark.parametrize("twist_db", [-8.0, 4.0])  # normal twist (high weaker) 8 dB, reverse 4 dB
def test_accepts_twist_edges(key: str, twist_db: float) -> None:
    assert dtmf.digits(padded(tone(key, twist_db=twist_db))) == key


@pytest.mark.parametrize("key", ["1", "D", "0"])
@pytest.mark.parametrize("twist_db", [-12.0, 8.0])
def test_rejects_twist_beyond_the_limits(key: str, twist_db: float) -> None:
    assert dtmf.digits(padded(tone(key, twist_db=twist_db, on_s=0.2))) == ""


@pytest.mark.parametrize("twist_db", [-8.0, 0.0, 4.0])
def test_worst_corner_deviation_and_twist_together(twist_db: float) -> None:
    keys = "1D5#"
    x = padded(*(tone(k, twist_db=twist_db, dev=d) for k in keys for d in (-0.015, 0.015)))
    assert dtmf.digits(x) == "".join(k * 2 for k in keys)


@pytest.mark.parametrize("seed", range(4))
def test_works_at_15_db_snr_in_white_noise(seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys = "".join(rng.choice(list(ALL), 12))
    level = -10.0
    x = padded(*(tone(k, on_s=0.045, level_dbm0=level) for k in keys), gap_s=0.05)
    signal_power = (dtmf.DBM0_PEAK * 10 ** (level / 20)) ** 2  # two tones of A²/2 each
    noise = rng.normal(0.0, np.sqrt(signal_power / 10 ** 1.5), len(x))
    assert dtmf.digits(x + noise) == keys


def test_worst_corner_all_at_once_40_ms_8_db_twist_1_5_percent_off_15_db_snr() -> None:
    """All Q.24 edges together: a few misses are tolerated (each criterion alone is tested exactly)."""
    rng = np.random.default_rng(7)
    misses = 0
    for i in range(100):
        key = ALL[i % 16]
        dev = (-0.015, 0.015)[i % 2]
        key_audio = tone(key, on_s=0.040, twist_db=-8.0, dev=dev, phase=rng.uniform(0, 6))
        x = padded(key_audio, lead=int(rng.integers(0, 51)))
        a = dtmf.DBM0_PEAK * 10 ** (-10 / 20)
        power = a * a / 2 * (1 + 10 ** (-8 / 10))
        misses += dtmf.digits(x + rng.normal(0, np.sqrt(power / 10 ** 1.5), len(x))) != key
    assert misses <= 3


def test_level_limits() -> None:
    assert dtmf.digits(padded(tone("3", level_dbm0=-30.0))) == "3"
    assert dtmf.digits(padded(tone("3", level_dbm0=-45.0))) == ""
    assert dtmf.digits(padded(tone("3", level_dbm0=0.0))) == "3"


def test_int16_and_float_inputs_agree() -> None:
    x = padded(tone("9"), tone("*"))
    as_int = np.round(x * 32767).astype(np.int16)
    assert dtmf.detect(x) == dtmf.detect(as_int)


def test_sample_by_sample_and_byte_by_byte_feeding_give_the_same_events() -> None:
    x = np.round(padded(tone("4"), tone("B", on_s=0.07)) * 32767).astype(np.int16)
    whole = dtmf.DtmfDetector()
    expected = whole.feed(x) + whole.flush()
    assert [e.digit for e in expected] == ["4", "4", "B", "B"]
    one = dtmf.DtmfDetector()
    got = [e for s in x for e in one.feed(np.array([s], dtype=np.int16))] + one.flush()
    assert got == expected
    raw = x.astype("<i2").tobytes()
    by_byte = dtmf.DtmfDetector()
    got = [e for i in range(len(raw)) for e in by_byte.feed_pcm16(raw[i:i + 1])] + by_byte.flush()
    assert got == expected


def test_other_rates_are_resampled() -> None:
    for rate in (16000, 44100, 48000):
        x = keys_signal("159#", rate=rate)
        assert dtmf.digits(x, rate) == "159#"


def test_bad_input_is_a_usage_error() -> None:
    det = dtmf.DtmfDetector()
    with pytest.raises(AudioUsageError):
        det.feed(np.zeros((2, 10)))
    with pytest.raises(AudioUsageError):
        det.feed(np.array(["a"]))
    with pytest.raises(AudioUsageError):
        dtmf.key_tones("E")


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=0, max_size=4000))
def test_random_bytes_never_crash(data: bytes) -> None:
    det = dtmf.DtmfDetector()
    events = det.feed_pcm16(data) + det.flush()
    assert all(isinstance(e, dtmf.DtmfEvent) for e in events)


_SIGNAL = np.concatenate([padded(tone("2"), tone("2", on_s=0.2), tone("C", dev=0.01)),
                          np.random.default_rng(5).normal(0, 0.3, 2000)])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=40))
def test_detection_is_invariant_under_block_splitting(sizes: list[int]) -> None:
    reference = dtmf.DtmfDetector()
    expected = reference.feed(_SIGNAL) + reference.flush()
    det = dtmf.DtmfDetector()
    got: list[dtmf.DtmfEvent] = []
    i = 0
    for n in sizes * (len(_SIGNAL) // sum(sizes) + 1):
        got += det.feed(_SIGNAL[i:i + n])
        i += n
        if i >= len(_SIGNAL):
            break
    got += det.flush()
    assert got == expected
