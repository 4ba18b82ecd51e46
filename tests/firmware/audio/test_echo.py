"""Echo cancellation on simulated hybrids (4–64 ms echo paths, 6 dB ERL, band-pass + reflections),
driven by espeak-ng speech (a proxy for recorded speech)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from roamline.firmware.audio.echo import EchoCanceller, gcc_phat_delay
from roamline.firmware.audio.errors import AudioUsageError
from roamline.hil import speech
from roamline.hil.hybrid_sim import HybridEcho, erle_db, through_front_end

RATE = 8000
pytestmark = [
    pytest.mark.skipif(not speech.available(), reason="espeak-ng not installed"),
    pytest.mark.filterwarnings("ignore:the imp module is deprecated:DeprecationWarning"),  # speexdsp's SWIG
]


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    cache: Path = tmp_path_factory.mktemp("speech")
    far = speech.speak(speech.FAR_TEXT, "en-us", cache)
    near = speech.speak(speech.NEAR_TEXT, "en-gb+f3", cache, words_per_minute=140)
    return far, near


def run(ec: EchoCanceller, mic: np.ndarray, far: np.ndarray, block: int = 160) -> np.ndarray:
    n = len(mic) // block * block
    return np.concatenate([ec.process(mic[i : i + block], far[i : i + block]) for i in range(0, n, block)])


def to16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def linear_fit_snr(ref: np.ndarray, out: np.ndarray, taps: int = 32) -> float:
    """How much of ``out`` is a linear filtering of ``ref`` (dB). Speex's DC notch filters the near end
    slightly, which is not damage; anything else (residual echo, clipping, gating) is."""
    cols = np.column_stack([np.roll(ref, k) for k in range(-taps // 2, taps // 2)])
    coef = np.linalg.lstsq(cols, out, rcond=None)[0]
    fit = cols @ coef
    return float(10 * np.log10(np.sum(fit**2) / np.sum((out - fit) ** 2)))


@pytest.mark.parametrize("delay_ms", [4, 16, 32, 64])
def test_erle_at_least_20_db_after_one_second(voices: tuple[np.ndarray, np.ndarray], delay_ms: int) -> None:
    far = voices[0][: 4 * RATE]
    echo = HybridEcho(delay_ms, erl_db=6.0, seed=delay_ms).process(far)
    ec = EchoCanceller(RATE)
    out = run(ec, to16(echo), far).astype(float)
    assert ec.delay_ms is not None and abs(ec.delay_ms - delay_ms) <= 2  # the echo path's pure delay
    assert erle_db(echo[RATE : 4 * RATE], out[RATE:]) >= 20
    # and no half-second stretch of active far-end speech after 1.5 s falls below 20 dB
    for i in range(int(1.5 * RATE), len(out) - RATE // 2 + 1, RATE // 2):
        if np.std(far[i : i + RATE // 2]) > 300:
            assert erle_db(echo[i : i + RATE // 2], out[i : i + RATE // 2]) >= 20, i / RATE


def test_double_talk_preserves_the_near_end(voices: tuple[np.ndarray, np.ndarray]) -> None:
    far, near_voice = voices
    far = far[: 7 * RATE]
    echo = HybridEcho(32, erl_db=6.0, seed=3).process(far)
    near = np.zeros(len(far))
    talk = slice(3 * RATE, 6 * RATE)  # near end talks over the far end from 3 s (canceller converged)
    near[talk] = 0.7 * near_voice[: 3 * RATE]
    out = run(EchoCanceller(RATE), to16(echo + near), far).astype(float)
    with_aec = linear_fit_snr(near[talk], out[talk])
    without = linear_fit_snr(near[talk], near[talk] + echo[talk])
    assert without < 8  # the echo is loud: it would swamp the near speaker
    assert with_aec >= 18, (with_aec, without)  # near speech comes through nearly clean


def test_near_end_alone_passes_unchanged_in_substance(voices: tuple[np.ndarray, np.ndarray]) -> None:
    near = voices[1][: 3 * RATE]
    silent_far = np.zeros(len(near), dtype=np.int16)
    ec = EchoCanceller(RATE)
    out = run(ec, near, silent_far)
    assert np.array_equal(out, near[: len(out)])  # no far-end speech yet: no filter, no change
    assert ec.delay is None


def test_echo_path_change_is_followed(voices: tuple[np.ndarray, np.ndarray]) -> None:
    far = np.concatenate([voices[0], voices[0]])[: 8 * RATE]
    first, second = HybridEcho(16, seed=1), HybridEcho(48, seed=2)
    echo = np.concatenate([first.process(far[: 4 * RATE]), second.process(far[4 * RATE :])])
    # the second path starts with an empty delay line; give it the history it would have had
    echo[4 * RATE : 4 * RATE + 48 * 8] = 0
    ec = EchoCanceller(RATE)
    out = run(ec, to16(echo), far).astype(float)
    assert ec.delay_ms is not None and abs(ec.delay_ms - 48) <= 2
    assert ec.restarts == 2
    assert erle_db(echo[6 * RATE :], out[6 * RATE :]) >= 20


def test_gcc_phat_finds_a_known_lag() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1000, 4000)
    y = np.concatenate([np.zeros(123), x])[: len(x)] * 0.3
    lag, prominence = gcc_phat_delay(x, y, 400, RATE)
    assert lag == 123 and prominence > 20


def test_block_sizes_must_match() -> None:
    ec = EchoCanceller(RATE, frame=80)
    with pytest.raises(AudioUsageError):
        ec.process(np.zeros(160, np.int16), np.zeros(80, np.int16))
    with pytest.raises(AudioUsageError):
        ec.process(np.zeros(100, np.int16), np.zeros(100, np.int16))


def test_switching_between_the_two_filters_does_not_step_the_residual(
    voices: tuple[np.ndarray, np.ndarray],
) -> None:
    """Each 20 ms block leaves as the quieter of the 10 ms and the 20 ms filter's outputs; where the
    choice changes, the residual echo fades across instead of stepping at the block edge. Measured on the
    residual alone (output less the near speech as the front end passes it) while both ends talk: the
    mean sample-to-sample step at block edges is no larger than inside blocks (1.19× without the fade)."""
    far = np.tile(voices[0], 3)[: 10 * RATE].astype(float)
    near = np.random.default_rng(1).normal(0, 10, len(far))
    near[4 * RATE : 9 * RATE] += 0.7 * voices[1][: 5 * RATE]
    echo = 12000 * np.tanh(HybridEcho(32, erl_db=6.0, seed=132).process(far) / 12000)
    ec = EchoCanceller(RATE)
    out = run(ec, to16(echo + near), far.astype(np.int16)).astype(float)
    assert 0 < ec.robust_blocks < len(out) // 160  # both filters' outputs were used
    step = np.abs(np.diff(out - through_front_end(near)))
    edges = step[159::160]
    inside = np.delete(step, np.s_[159::160])
    assert edges.mean() <= 1.1 * inside.mean(), (edges.mean(), inside.mean())
