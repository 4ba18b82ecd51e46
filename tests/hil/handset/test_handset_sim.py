"""The handset simulator itself, and the real audio pieces wired in through the handset's ports."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from roamline.firmware.audio import fsk
from roamline.firmware.callerid import codec as cm
from roamline.firmware.handset.events import CallerIdSent, Digit, OffHook, RingTrip
from roamline.firmware.handset.ports import ArraySource, FskCallerId
from roamline.hil.bench_ringtrip import ring_trip_ms
from roamline.hil.errors import UsageError
from roamline.hil.handset import HandsetSim, dtmf_audio


@pytest.mark.parametrize(("pps", "ratio"), [(8, 0.55), (8, 0.70), (12, 0.55), (12, 0.70)])
def test_pulse_dialling_through_the_simulator_at_8_and_12_pps(pps: int, ratio: float) -> None:
    with HandsetSim(seed=pps, audio=False) as sim:
        sim.lift()
        sim.run_for(0.3)
        end = sim.dial_pulses("9120", pps=pps, break_ratio=ratio, gap_ms=320)
        sim.run_until(end + 0.5)
        assert "".join(e.digit for e in sim.events if isinstance(e, Digit)) == "9120"


def test_speaking_a_wav_at_another_rate_reaches_the_dtmf_detector(tmp_path: Path) -> None:
    wav = tmp_path / "keys.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(dtmf_audio("147*", 16000, on_ms=60, off_ms=60).tobytes())
    with HandsetSim() as sim:
        sim.lift()
        sim.run_for(0.3)
        end = sim.speak(wav)
        sim.run_until(end + 0.3)
        assert [e.digit for e in sim.events if isinstance(e, Digit)] == ["1", "4", "7", "*"]


def test_speech_into_the_mouthpiece_keys_no_digits(tmp_path: Path) -> None:
    """Talk-off proxy: espeak-ng speech (classic talk-off recordings are not available here)."""
    wav = tmp_path / "speech.wav"
    text = "Hello, this is a test of the telephone. Please call me back at five five five, one two."
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True)
    with HandsetSim() as sim:
        sim.lift()
        sim.run_for(0.3)
        end = sim.speak(wav)
        sim.run_until(end + 0.3)
        assert not [e for e in sim.events if isinstance(e, Digit)]


def test_the_earpiece_records_far_end_voice(tmp_path: Path) -> None:
    voice = (np.cos(np.arange(8000) * 2 * np.pi * 300 / 8000) * 5000).astype(np.int16)  # starts non-zero
    with HandsetSim() as sim:
        sim.lift()
        sim.run_for(0.2)
        sim.clear_earpiece()
        sim.controller.set_voice(ArraySource(voice))
        sim.run_for(1.2)
        out = tmp_path / "ear.wav"
        sim.save_earpiece(out)
        with wave.open(str(out), "rb") as w:
            got = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        start = int(np.flatnonzero(got)[0])
        assert np.array_equal(got[start:start + 8000], voice)


def test_us_caller_id_reaches_the_handset_as_bell_202_between_rings() -> None:
    with HandsetSim(caller_id=FskCallerId("us")) as sim:
        start = sim.now
        sim.controller.ring("us", start, caller_id=cm.CallerId("2125551234", "ADA LOVELACE",
                                                            when=cm.Stamp(3, 4, 5, 6)))
        sim.run_for(6.0)
        ear = sim.earpiece()
        msgs = [e for e in fsk.FskReceiver(fsk.BELL202, sim.rate).feed(ear.astype(np.float64) / 32768)
                if isinstance(e, fsk.FskMessage)]
        assert len(msgs) == 1
        m = msgs[0].message
        assert isinstance(m, cm.CallerId) and m.number == "2125551234" and m.name == "ADA LOVELACE"
        assert m.when == cm.Stamp(3, 4, 5, 6)
        begins = start + msgs[0].at / sim.rate
        assert 2.5 <= begins - start <= 4.0  # in the silence after the first ring
        assert any(isinstance(e, CallerIdSent) for e in sim.events)


def test_uk_caller_id_comes_before_the_first_ring_as_v23() -> None:
    with HandsetSim(caller_id=FskCallerId("uk"), country="UK") as sim:
        start = sim.now
        sim.controller.ring("uk", start, caller_id=cm.CallerId(None, number_absent=cm.Absence.PRIVATE))
        sim.run_for(3.0)
        msgs = [e for e in fsk.FskReceiver(fsk.V23, sim.rate).feed(sim.earpiece().astype(np.float64) / 32768)
                if isinstance(e, fsk.FskMessage)]
        assert len(msgs) == 1 and isinstance(msgs[0].message, cm.CallerId)
        assert msgs[0].message.number_absent == cm.Absence.PRIVATE
        first_ring = next(t for t, on in sim.ring_history() if on)
        assert start + msgs[0].at / sim.rate < first_ring


def test_simulator_rejects_impossible_actions() -> None:
    with HandsetSim(audio=False) as sim:
        with pytest.raises(UsageError):
            sim.dial_pulses("1*")
        with pytest.raises(UsageError):
            dtmf_audio("X", 8000)


def test_the_runner_thread_in_real_time() -> None:
    from roamline.wire.clock import SystemClock

    with HandsetSim(clock=SystemClock(), audio=False) as sim:  # type: ignore[arg-type]
        sim.runner.start()
        sim.runner.start()
        sim.runner.ring("us")
        sim._drive(True)
        deadline = sim.now + 2.0
        while sim.now < deadline and not any(isinstance(e, OffHook) for e in sim.events):
            import time

            time.sleep(0.01)
        sim.runner.stop()
        sim.runner.stop()
        assert [type(e) for e in sim.events][:2] == [RingTrip, OffHook]
        assert not sim.controller.ringing


def test_ring_trip_bench_returns_its_figures() -> None:
    res = ring_trip_ms(trials=2)
    assert set(res) >= {"ring_trip_ms", "ring_trip_p99_ms"} and res["ring_trip_ms"] > 0
