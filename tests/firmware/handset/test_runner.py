"""The runner on firmware.audio's device interface: profile → device, rate adaptation, the audio and
control threads in real time over a paced 48 kHz loopback, and thread-safe commands."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from roamline.board.gpio import SlicPins
from roamline.board.profile import HandsetAudio, load_profile
from roamline.firmware.audio.device_file import FileDevice, write_wav
from roamline.firmware.audio.device_loopback import LoopbackEnd, LoopbackLine
from roamline.firmware.audio.device_pyaudio import PyAudioDevice
from roamline.firmware.audio.device_rate import RateAdapter
from roamline.firmware.handset.audio import WORK_RATE, audio_config, handset_device
from roamline.firmware.handset.controller import HandsetController
from roamline.firmware.handset.errors import HandsetUsageError
from roamline.firmware.handset.events import Digit, HandsetEvent, OffHook
from roamline.firmware.handset.ports import DtmfDigits, PlanTones
from roamline.firmware.handset.runner import HandsetRunner
from roamline.hil.handset import ClockedMockFactory, dtmf_audio
from roamline.wire.clock import ManualClock, SystemClock

from .conftest import peak_freqs


def test_the_profiles_audio_device_becomes_the_backend_at_8khz(tmp_path: Path) -> None:
    pi5 = load_profile("pi5-ag1171").handset_audio
    cfg = audio_config(pi5)
    assert (cfg.backend, cfg.rate, cfg.block, cfg.input_device) == ("pyaudio", 48000, 960, "USB Audio Device")
    dev = handset_device(pi5)
    assert isinstance(dev, RateAdapter) and dev.rate == WORK_RATE and isinstance(dev.device, PyAudioDevice)
    sim = handset_device(load_profile("sim").handset_audio)
    assert isinstance(sim, LoopbackEnd) and sim.rate == 8000  # no resampling needed
    write_wav(tmp_path / "mouthpiece.wav", np.full(4800, 1000, np.int16), 48000)
    f = handset_device(HandsetAudio(f"file:{tmp_path}", 48000))
    assert isinstance(f, RateAdapter) and isinstance(f.device, FileDevice)
    assert f.device.input_path == tmp_path / "mouthpiece.wav"
    assert f.device.output_path == tmp_path / "earpiece.wav"
    with f:
        assert abs(int(np.median(f.read(800)[100:700])) - 1000) <= 2
        f.write(np.zeros(160, np.int16))
    assert (tmp_path / "earpiece.wav").is_file()


def _runner(clock: ManualClock | SystemClock, audio: object, events: list[HandsetEvent]) -> HandsetRunner:
    profile = load_profile("sim")
    ctl = HandsetController(profile.hook_timing, profile.slic.ring_hz, WORK_RATE, clock.monotonic(),
                            tones=PlanTones("US", WORK_RATE), detector=DtmfDigits(WORK_RATE), dial_tone=True)
    return HandsetRunner(ctl, SlicPins(profile, ClockedMockFactory(clock)), clock, events.append,
                         audio=audio)  # type: ignore[arg-type]


def test_a_device_at_another_rate_than_the_controller_is_refused() -> None:
    with pytest.raises(HandsetUsageError, match="48000"):
        _runner(ManualClock(), LoopbackLine(48000).a, [])


def test_the_threads_in_real_time_over_a_paced_48khz_loopback() -> None:
    """Lift, hear dial tone at the phone, key a digit, get it, all through the AudioDevice path."""
    clock = SystemClock()
    events: list[HandsetEvent] = []
    dev = handset_device(HandsetAudio("loopback", 48000), clock=clock, paced=True)
    assert isinstance(dev, RateAdapter) and isinstance(dev.device, LoopbackEnd)
    phone = dev.device.peer
    runner = _runner(clock, dev, events)
    try:
        runner.open()
        phone.open()
        runner.start()
        runner.pins.factory.pin(17).drive_high()  # lift (the sim profile's hook pin)
        deadline = time.monotonic() + 3
        while not any(isinstance(e, OffHook) for e in events) and time.monotonic() < deadline:
            time.sleep(0.01)
        phone.read(48000 // 5)  # the phone's end is paced too: 200 ms
        ear = phone.read(48000 // 5)
        assert np.sqrt(np.mean(ear.astype(float) ** 2)) > 300
        assert peak_freqs(ear, 48000, 2) == pytest.approx([350, 440], abs=6)
        phone.write(dtmf_audio("7", 48000, on_ms=80, off_ms=200))
        while not any(isinstance(e, Digit) for e in events) and time.monotonic() < deadline + 2:
            time.sleep(0.01)
        assert [(e.digit, e.source) for e in events if isinstance(e, Digit)] == [("7", "dtmf")]
    finally:
        runner.close()
        runner.close()
    assert not dev.is_open and not runner.pins.is_open


def test_commands_from_many_threads_are_serialised_and_errors_reach_the_caller() -> None:
    clock = ManualClock()
    events: list[HandsetEvent] = []
    runner = _runner(clock, None, events)
    runner.open()
    try:
        inside = threading.Lock()
        overlaps = []

        def command(c: HandsetController, now: float) -> float:
            if not inside.acquire(blocking=False):
                overlaps.append(now)
                return now
            try:
                runner.step()  # the control thread's round, re-entered: the lock is the runner's own
                time.sleep(0.001)
            finally:
                inside.release()
            return now

        def hammer() -> None:
            for _ in range(20):
                runner.call(command)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert overlaps == []
        assert runner.call(lambda c, now: now) == clock.monotonic()
        runner.ring("de")
        assert runner.controller.ringing and runner.pins._dev("ring_mode").value  # written at once
        runner.stop_ring()
        assert not runner.pins._dev("ring_mode").value
        runner.pins.factory.pin(17).drive_high()
        clock.advance(0.1)
        runner.step()
        with pytest.raises(HandsetUsageError, match="off-hook"):
            runner.ring("us")
        runner.play("busy")
        runner.set_fault(True)
        assert runner.controller.leds == (False, True)
        with pytest.raises(HandsetUsageError, match="no audio device"):
            runner.audio_step()
    finally:
        runner.close()


class CountingDevice:
    """The audio device as the runner sees it, counting the blocks the audio thread reads."""

    def __init__(self, device: object) -> None:
        self._d = device
        self.rate = device.rate  # type: ignore[attr-defined]
        self.reads = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._d, name)

    def read(self, n: int) -> object:
        self.reads += 1
        return self._d.read(n)  # type: ignore[attr-defined]


def test_the_audio_thread_parks_on_hook_and_idle_and_wakes_for_a_ring_and_a_lift() -> None:
    """On-hook with nothing to send, the audio path is idle (no device reads: no CPU); a ring (the
    caller-ID burst rides on the audio path) and a lift (dial tone, DTMF) bring it back at once."""
    clock = SystemClock()
    events: list[HandsetEvent] = []
    line = LoopbackLine(WORK_RATE, clock=clock)  # paced on the clock
    dev = CountingDevice(line.a)
    runner = _runner(clock, dev, events)
    try:
        runner.open()
        line.b.open()
        runner.start()
        time.sleep(0.3)
        parked = dev.reads
        time.sleep(0.6)
        assert runner.audio_idle() and dev.reads - parked <= 1  # 30 blocks would have been read
        runner.ring("us")
        time.sleep(0.5)
        assert dev.reads - parked >= 10  # ringing: the audio path runs again
        runner.stop_ring()
        time.sleep(0.3)
        parked = dev.reads
        time.sleep(0.5)
        assert dev.reads - parked <= 1  # idle again: parked
        runner.pins.factory.pin(17).drive_high()  # lift
        deadline = time.monotonic() + 3
        while not any(isinstance(e, OffHook) for e in events) and time.monotonic() < deadline:
            time.sleep(0.01)
        # the phone's end still holds the silence written while it rang: read past it, then dial tone
        for _ in range(10):
            ear = line.b.read(WORK_RATE // 5)
            if np.sqrt(np.mean(ear.astype(float) ** 2)) > 300:
                break
        assert peak_freqs(ear, WORK_RATE, 2) == pytest.approx([350, 440], abs=6)
        assert not runner.audio_idle()
    finally:
        runner.close()
