"""The simulator on a 48 kHz handset codec (the Pi profiles' rate): the phone's audio crosses the same
loopback device and 48 k ⇄ 8 k resampling the box uses. Every tone of every plan is measured at the
earpiece (frequencies, and a cadence per country), written out here rather than read from the plans."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from roamline.board.profile import load_profile
from roamline.firmware.audio.tones import TONE_NAMES
from roamline.firmware.handset.events import Digit
from roamline.hil.handset import HandsetSim, dtmf_audio

RATE = 48000
FREQS = {  # national specs (ANSI T1.401, BT SIN 350, 1TR110)
    "US": {"dial": (350, 440), "stutter_dial": (350, 440), "ringback": (440, 480), "busy": (480, 620),
           "reorder": (480, 620), "call_waiting": (440,), "confirmation": (350, 440)},
    "UK": {"dial": (350, 450), "stutter_dial": (350, 450), "ringback": (400, 450), "busy": (400,),
           "reorder": (400,), "call_waiting": (400,), "confirmation": (1400,)},
    "DE": {"dial": (425,), "stutter_dial": (400, 425), "ringback": (425,), "busy": (425,), "reorder": (425,),
           "call_waiting": (425,), "confirmation": (1400,)},
}
BUSY_MS = {"US": 500, "UK": 375, "DE": 480}


def strongest(x: np.ndarray, count: int) -> list[float]:
    w = np.hanning(len(x))
    nfft = 1 << (len(x) * 4 - 1).bit_length()
    mag = np.abs(np.fft.rfft(x.astype(float) * w, nfft))
    hz = np.fft.rfftfreq(nfft, 1 / RATE)
    out = []
    for _ in range(count):
        i = int(np.argmax(mag))
        out.append(float(hz[i]))
        g = int(4 * nfft / len(x))
        mag[max(0, i - g):i + g] = 0
    return sorted(out)


@pytest.fixture(scope="module")
def lifted() -> Iterator[dict[str, HandsetSim]]:
    sims = {c: HandsetSim(load_profile("pi5-ag1171"), country=c, rate=RATE, audio=True) for c in FREQS}
    for s in sims.values():
        s.lift()
        s.run_for(0.3)
    yield sims
    for s in sims.values():
        s.close()


def test_the_pi_profiles_codec_rate_is_used() -> None:
    assert load_profile("pi5-ag1171").handset_audio.rate == RATE


@pytest.mark.parametrize(("country", "name"), [(c, n) for c in FREQS for n in TONE_NAMES])
def test_every_tone_reaches_the_earpiece_at_48khz_with_its_frequencies(
        lifted: dict[str, HandsetSim], country: str, name: str) -> None:
    sim = lifted[country]
    sim.controller.play(name)
    sim.clear_earpiece()
    # inside the first burst where the cadence is short; long enough to part 400 from 425 Hz
    sim.run_for({"stutter_dial": 0.1, "confirmation": 0.1}.get(name, 0.2) if country == "US" else
                0.1 if name == "call_waiting" else 0.6)
    sim.controller.play(None)
    ear = sim.earpiece()[RATE // 100:]  # past the first ramp and the resampler's delay
    want = FREQS[country][name]
    assert np.sqrt(np.mean(ear.astype(float) ** 2)) > 200
    got = strongest(ear, len(want))
    assert got == pytest.approx(sorted(want), abs=max(6, 0.005 * max(want)))
    spec = np.abs(np.fft.rfft(ear.astype(float) * np.hanning(len(ear))))
    hz = np.fft.rfftfreq(len(ear), 1 / RATE)
    assert spec[hz > 4000].max() < spec.max() * 10 ** (-50 / 20)  # no images of the 8 kHz path


@pytest.mark.parametrize("country", sorted(FREQS))
def test_busy_cadence_measured_at_the_earpiece(lifted: dict[str, HandsetSim], country: str) -> None:
    sim = lifted[country]
    sim.controller.play("busy")
    sim.clear_earpiece()
    sim.run_for(2.2)
    sim.controller.play(None)
    ear = sim.earpiece()[RATE // 100:].astype(float)  # the first ms still hold the resampler's delay
    env = np.sqrt(np.convolve(ear**2, np.ones(RATE // 100) / (RATE // 100), mode="same"))  # 10 ms RMS
    on = env > 0.5 * np.percentile(env, 99)
    edges = np.flatnonzero(np.diff(on.astype(int))) + 1
    runs = np.diff(edges) * 1000 / RATE
    assert len(runs) >= 3 and all(abs(r - BUSY_MS[country]) <= 6 for r in runs)


def test_dtmf_keyed_at_48khz_and_a_44k1_wav_spoken_into_the_48khz_mouthpiece(tmp_path: Path) -> None:
    wav = tmp_path / "keys.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(dtmf_audio("90#", 44100, on_ms=50, off_ms=60).tobytes())
    with HandsetSim(rate=RATE) as sim:
        sim.lift()
        sim.run_for(0.3)
        end = sim.key_dtmf("*8D", on_ms=45, off_ms=45)
        sim.run_until(end + 0.2)
        end = sim.speak(wav)
        sim.run_until(end + 0.3)
        assert "".join(e.digit for e in sim.events if isinstance(e, Digit)) == "*8D90#"
