"""The handset controller end to end: the simulated phone on mock pins drives the real runner."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pytest

from roamline.firmware.callerid.codec import Absence, CallerId
from roamline.firmware.handset.errors import HandsetUsageError
from roamline.firmware.handset.events import (
    CallerIdSent,
    Digit,
    HookFlash,
    OffHook,
    OnHook,
    RingDone,
    RingTrip,
)
from roamline.firmware.handset.ports import Segment
from roamline.hil.handset import HandsetSim


def dominant_hz(x: np.ndarray[Any, Any], rate: int) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


@pytest.fixture
def sim() -> Any:
    with HandsetSim(seed=3) as s:
        yield s


def test_lift_dial_tone_pulse_and_dtmf_digits_flash_and_hang_up(sim: HandsetSim) -> None:
    t0 = sim.lift(0.1)
    got = sim.run_for(0.5)
    assert [type(e) for e in got] == [OffHook] and abs(got[0].at - t0) < 0.01
    sim.controller.play("dial")
    sim.clear_earpiece()
    sim.run_for(1.0)
    ear = sim.earpiece()
    assert np.sqrt(np.mean(ear.astype(float) ** 2)) > 300  # US dial tone: 350 + 440 Hz
    assert dominant_hz(ear, sim.rate) == pytest.approx(440, abs=5) or dominant_hz(ear, sim.rate) == \
        pytest.approx(350, abs=5)
    sim.controller.play(None)
    end = sim.dial_pulses("20", pps=12, break_ratio=0.68)
    sim.run_until(end + 0.5)
    end = sim.key_dtmf("5#")
    sim.run_until(end + 0.3)
    digits = [(e.digit, e.source) for e in sim.events if isinstance(e, Digit)]
    assert digits == [("2", "pulse"), ("0", "pulse"), ("5", "dtmf"), ("#", "dtmf")]
    sim.flash(300)
    flashes = [e for e in sim.run_for(1.0) if isinstance(e, HookFlash)]
    assert len(flashes) == 1 and 295 <= flashes[0].duration_ms <= 305
    down = sim.hang_up()
    got = sim.run_for(2.0)
    assert [type(e) for e in got] == [OnHook] and abs(got[0].at - down) < 0.01


def test_ringing_follows_the_cadence_on_the_pins_and_the_led_blinks(sim: HandsetSim) -> None:
    sim.controller.ring("uk", sim.now, cycles=2)
    start = sim.now
    sim.run_for(7.0)
    hist = [(round((t - start) * 1000), on) for t, on in sim.ring_history()]
    assert hist == [(0, True), (400, False), (600, True), (1000, False), (3000, True), (3400, False),
                    (3600, True), (4000, False)]
    rev = [t for t, _ in sim.reverse_history() if t - start < 0.4]
    assert len(rev) >= 14  # 20 Hz: a toggle every 25 ms
    assert any(isinstance(e, RingDone) for e in sim.events)
    assert sim.controller.leds == (True, False)


def test_answering_trips_ringing_within_50ms_mid_burst(sim: HandsetSim) -> None:
    sim.controller.ring("us", sim.now)
    sim.run_for(0.7)
    lift = sim.lift()
    sim.run_for(0.5)
    trip = [e for e in sim.events if isinstance(e, RingTrip)]
    assert len(trip) == 1 and trip[0].latency_ms <= 50
    last_on = max(t for t, on in sim.ring_history() if not on)
    assert last_on - lift <= 0.050
    assert not sim.controller.ringing
    off = [e for e in sim.events if isinstance(e, OffHook)]
    assert off and off[0].answered


class FakeCid:
    def __init__(self, timing: Literal["after-first-ring", "before-first-ring"]) -> None:
        self.timing = timing
        self.sent: list[CallerId] = []

    def encode(self, info: CallerId, rate: int) -> list[Segment]:
        self.sent.append(info)
        t = np.arange(rate) / rate  # one second of 1200 Hz: stands in for the FSK burst
        return [(8000 * np.sin(2 * np.pi * 1200 * t)).astype(np.int16)]

    def encode_mwi(self, active: bool, rate: int) -> list[Segment]:
        t = np.arange(rate // 2) / rate  # half a second of 1300 or 2100 Hz
        return [(8000 * np.sin(2 * np.pi * (1300 if active else 2100) * t)).astype(np.int16)]


def burst_window(sim: HandsetSim, start: float) -> tuple[float, float]:
    ear = sim.earpiece()
    loud = np.flatnonzero(np.abs(ear) > 1000)
    return (start + loud[0] / sim.rate, start + loud[-1] / sim.rate)


def test_caller_id_goes_between_the_first_and_second_ring_in_the_us() -> None:
    cid = FakeCid("after-first-ring")
    with HandsetSim(caller_id=cid) as sim:
        start = sim.now
        sim.controller.ring("us", start, caller_id=CallerId("5551234", "ADA"))
        sim.run_for(6.5)
        a, b = burst_window(sim, start)
        assert a - start >= 2.0 + 0.5 - 0.03 and b - start <= 6.0 - 0.2  # after ring 1, before ring 2
        assert cid.sent == [CallerId("5551234", "ADA")]
        assert any(isinstance(e, CallerIdSent) for e in sim.events)


def test_caller_id_before_the_first_ring_holds_ringing_back() -> None:
    cid = FakeCid("before-first-ring")
    with HandsetSim(caller_id=cid) as sim:
        start = sim.now
        sim.controller.ring("uk", start, caller_id=CallerId(None, number_absent=Absence.PRIVATE))
        sim.run_for(3.0)
        a, b = burst_window(sim, start)
        first_ring = next(t for t, on in sim.ring_history() if on)
        assert a - start < 0.1 and b < first_ring - 0.2


def test_lifting_during_caller_id_cuts_it_and_answers() -> None:
    cid = FakeCid("after-first-ring")
    with HandsetSim(caller_id=cid) as sim:
        sim.controller.ring("us", sim.now, caller_id=CallerId("1"))
        sim.run_for(2.8)
        sim.lift()
        sim.run_for(0.3)
        sim.clear_earpiece()
        sim.run_for(0.5)
        assert not np.any(sim.earpiece())
        assert not any(isinstance(e, CallerIdSent) for e in sim.events)


def test_ringing_an_off_hook_phone_or_an_unknown_cadence_is_refused(sim: HandsetSim) -> None:
    with pytest.raises(HandsetUsageError):
        sim.controller.ring("mars", sim.now)
    sim.lift()
    sim.run_for(0.2)
    with pytest.raises(HandsetUsageError):
        sim.controller.ring("us", sim.now)
