"""Echo cancelled on a relayed leg while both ends talk, on the hybrid model of ``test_leg_echo.py``
(6 dB ERL, bulk delay, reflections, band-pass, tanh saturation, noise, jitter buffer, µ-law). The far
end talks for 10 s; the near end talks over it from 4 s to 9 s, once the canceller has converged.
Echo reduction is measured on the echo component (``hybrid_sim.doubletalk_erle_db``: the output less
the near-end signal as the canceller's front end passes it), so the near speech is not counted as echo;
and the near speech must still come through.

The legs' random RTP sequence numbers and timestamps are fixed here: how many frames the jitter buffer
skips on this jitter-free model moves with the random timestamp (2 or 3 in 10 s), and each skip shifts
what the far end plays, so the same call could measure differently from run to run."""

from __future__ import annotations

import secrets
from pathlib import Path

import numpy as np
import pytest

from roamline.firmware.audio import g711
from roamline.firmware.media import FRAME, MediaLeg
from roamline.hil import speech
from roamline.hil.hybrid_sim import (
    HybridEcho,
    doubletalk_erle_db,
    erle_db,
    linear_share_db,
    through_front_end,
)
from roamline.wire import media

pytest.importorskip("speexdsp")
pytestmark = pytest.mark.skipif(not speech.available(), reason="espeak-ng not installed")
RATE = 8000
TALK = slice(4 * RATE, 9 * RATE)


def _call(tmp: Path, delay_ms: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(echo that came back, near-end signal, what the leg sent), all as float samples."""
    far = np.tile(speech.speak(speech.FAR_TEXT, "en-us", tmp), 3)[: 10 * RATE]
    voice = speech.speak(speech.NEAR_TEXT, "en-gb+f3", tmp, words_per_minute=140)
    n = len(far) // FRAME * FRAME
    near = np.random.default_rng(seed).normal(0, 10, n)  # line noise, about -70 dBFS
    near[TALK] += 0.7 * np.tile(voice, 2)[: TALK.stop - TALK.start]
    hybrid = HybridEcho(delay_ms, erl_db=6.0, seed=seed)
    rx, tx = MediaLeg(1, echo=True), MediaLeg(1, echo=False)
    datagrams = tx.send(far[:n])
    outs, echoes = [], []
    for k, i in enumerate(range(0, n, FRAME)):
        now = 10.0 + i / RATE
        rx.receive(datagrams[k], now)
        echo = 12000 * np.tanh(hybrid.process(rx.pull(now)) / 12000)
        echoes.append(echo)
        mic = np.clip(np.rint(echo + near[i:i + FRAME]), -32768, 32767).astype(np.int16)
        outs += [g711.decode("ulaw", media.decode_datagram(d).packet.payload).astype(float)
                 for d in rx.send(mic)]
    return np.concatenate(echoes), near, np.concatenate(outs)


@pytest.fixture
def fixed_rtp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "randbits", lambda k: 0x5A5A5A5A & ((1 << k) - 1))


# Paths (bulk delay, reflections' seed) on which the single 10 ms Speex filter of before diverged while
# both talked: 14.8 / 17.4 / 13.8 dB over the talk, 8.6 / 12.9 / 7.3 dB in its worst half second.
@pytest.mark.parametrize(("delay_ms", "seed"), [(8, 201), (32, 32), (64, 108)])
@pytest.mark.usefixtures("fixed_rtp")
def test_echo_is_reduced_while_both_ends_talk(tmp_path: Path, delay_ms: int, seed: int) -> None:
    echo, near, out = _call(tmp_path, delay_ms, seed)
    t = TALK
    assert np.sum(near[t] ** 2) > np.sum(echo[t] ** 2)  # real double-talk: the near end is louder
    overall = doubletalk_erle_db(echo[t], out[t], near[t])
    halves = [doubletalk_erle_db(echo[i:i + RATE // 2], out[i:i + RATE // 2], near[i:i + RATE // 2])
              for i in range(t.start, t.stop, RATE // 2)]
    assert overall >= 18.0, (overall, [round(h, 1) for h in halves])
    assert min(halves) >= 13.0, [round(h, 1) for h in halves]  # the filter does not diverge on the way
    # the near speech comes through: most of what left is a linear filtering of it
    assert linear_share_db(near[t], out[t]) >= 15.0
    assert linear_share_db(near[t], near[t] + echo[t]) < 6.0  # without the canceller the echo swamps it


def test_the_measure_does_not_count_the_front_ends_notch_as_echo(tmp_path: Path) -> None:
    """Once the far end is silent there is nothing to cancel: what leaves the canceller is then the near
    speech as ``through_front_end`` passes it, to within rounding, while the raw near speech differs
    from it by far more (so comparing with that would call the notch's change "echo left")."""
    from roamline.firmware.audio.echo import EchoCanceller

    far = np.zeros(7 * RATE)
    far[: 3 * RATE] = speech.speak(speech.FAR_TEXT, "en-us", tmp_path)[: 3 * RATE]
    voice = speech.speak(speech.NEAR_TEXT, "en-gb+f3", tmp_path)[: 3 * RATE].astype(float)
    near = np.zeros(len(far))
    near[4 * RATE:] = voice
    mic = np.clip(np.rint(HybridEcho(32, seed=1).process(far) + near), -32768, 32767).astype(np.int16)
    ec = EchoCanceller(RATE)
    out = ec.process(mic, far.astype(np.int16)).astype(float)
    assert ec.delay is not None  # the filters ran (they had far speech to adapt to)
    t = slice(4 * RATE, 7 * RATE)
    assert erle_db(near[t], out[t] - through_front_end(near)[t]) >= 40.0
    assert erle_db(near[t], out[t] - near[t]) < 10.0
    assert np.max(np.abs(through_front_end(voice) - through_front_end(voice, frame=80))) <= 1.0
