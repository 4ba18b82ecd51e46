"""The driver across the exchange simulator, for every profile: call waiting and hook flash, dial-string
pauses, DLE call-progress events (ringback, silence, quiet), and voice in real time between a modem and
a phone and between two modems."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from roamline.firmware.line import events as ev
from roamline.firmware.line.calls import CallState
from roamline.firmware.line.modem_profiles import by_name
from roamline.firmware.line.serial_line import SerialLine
from roamline.hil.exchange import audio
from roamline.hil.exchange.runner import ExchangeRunner
from roamline.hil.line_rig import PROFILES, driver_on, has, of, pump_until
from roamline.wire.config import replace

LINE, PHONE, OTHER = "5550100", "5551234", "5552001"


@pytest.fixture
def runner() -> Iterator[ExchangeRunner]:
    r = ExchangeRunner(time_scale=10.0)
    yield r
    r.stop()
    assert not r.errors


def _answered(runner: ExchangeRunner, line: SerialLine, phone_number: str = PHONE) -> None:
    runner.exchange.phones[phone_number].dial(LINE, presentation="none")
    pump_until(line, has(ev.Ring))
    line.answer()
    assert line.session.state is CallState.CONNECTED


def _loud(data: bytes, encoding: str) -> bool:
    return len(data) > 400 and float(np.abs(audio.decode(data[-400:], encoding)).mean()) > 500


@pytest.mark.parametrize("modem", PROFILES)
def test_call_waiting_reported_then_flash_swaps_calls(runner: ExchangeRunner, modem: str) -> None:
    line = driver_on(runner, LINE, expect=modem, modem=modem, call_waiting=True)
    first = runner.add_phone(PHONE, answer_after=None)
    second = runner.add_phone(OTHER, answer_after=None)
    _answered(runner, line)
    assert runner.wait_for(lambda: first.state == "connected")
    second.dial(LINE)
    seen = pump_until(line, has(ev.CallWaiting))  # the 440 Hz burst, reported as <DLE>w
    assert not of(ev.CallEnded, seen) and line.session.state is CallState.CONNECTED
    second.play(audio.tone((900,), 30.0))
    line.flash()  # take the waiting call; the first is held
    assert runner.wait_for(lambda: (second.state, first.state) == ("connected", "held"))
    pump_until(line, lambda s: _loud(b"".join(e.data for e in of(ev.VoiceData, s)), line.session.encoding))
    line.flash()  # and back
    assert runner.wait_for(lambda: (first.state, second.state) == ("connected", "held"))
    line.hangup()  # releases the held call too
    assert line.session.state is CallState.IDLE
    assert runner.wait_for(lambda: "far_hangup" in first.kinds() and "far_hangup" in second.kinds())
    line.close()


@pytest.mark.parametrize("modem", PROFILES)
def test_dial_pause_is_honoured_and_ringback_reported(runner: ExchangeRunner, modem: str) -> None:
    # ringback bursts last 0.2 s of real time at this time scale: energy after 0.5 s is not ringback
    line = driver_on(runner, LINE, expect=modem, modem=modem, session_kw={"ringback_on_s": 0.5})
    phone = runner.add_phone(PHONE, answer_after=2)
    phone.play(audio.tone((600,), 30.0))
    started = runner.sim_now()
    line.dial("555,1234")  # ',' waits S8 (2 s) between 555 and 1234
    seen = pump_until(line, has(ev.AnswerInferred))
    rings = [h.at for h in phone.events if h.kind == "ring"]
    assert rings and rings[0] - started >= 2.0  # the pause, in the exchange's (simulated) time
    kinds = [type(e) for e in seen]
    assert ev.Ringback in kinds and kinds.index(ev.Ringback) < kinds.index(ev.AnswerInferred)
    line.hangup()
    line.close()


@pytest.mark.parametrize("modem", PROFILES)
def test_silence_then_quiet_do_not_end_the_call(runner: ExchangeRunner, modem: str) -> None:
    base = by_name(modem)
    profile = replace(base, voice=replace(base.voice, silence="AT+VSD=128,10"))
    line = driver_on(runner, LINE, modem=modem, session_kw={"profile": profile})
    phone = runner.add_phone(PHONE, answer_after=None)
    _answered(runner, line)
    seen = pump_until(line, has(ev.Silence))  # nothing said from the start: <DLE>s after 1 s
    phone.play(audio.tone((500,), 1.0))
    seen = pump_until(line, has(ev.Quiet))  # something said, then 1 s of nothing: <DLE>q
    assert not of(ev.CallEnded, seen) and line.session.state is CallState.CONNECTED
    phone.hang_up()
    assert of(ev.CallEnded, pump_until(line, has(ev.CallEnded)))[0].reason == "loop-current-loss"
    line.close()


def _rate_cap(received: int, elapsed: float, width: int) -> bool:
    """Never faster than real time (an upper bound holds on a loaded machine too)."""
    return received <= (elapsed + 0.5) * 8000 * width


def test_real_time_voice_modem_to_phone_and_modem_to_modem() -> None:
    """time_scale 1: 20 ms frames in real time. Phone <-> full-duplex modem both ways; then a half-duplex
    modem calls a full-duplex one and hears it (answer inferred from its voice)."""
    with ExchangeRunner(time_scale=1.0) as runner:
        box = driver_on(runner, LINE, expect="cx93001", modem="cx93001")
        phone = runner.add_phone(PHONE, answer_after=None)
        phone.play(audio.tone((1000,), 10.0))
        _answered(runner, box)
        enc = box.session.encoding
        ours = bytes(audio.encode(audio.tone((700,), 0.02, level=0.5), enc))
        t0, got = time.monotonic(), bytearray()
        while time.monotonic() - t0 < 1.0:
            box.send_voice(ours) if box.session.core.voice == "duplex" else None
            got += b"".join(e.data for e in of(ev.VoiceData, box.pump(0.02)))
        assert _loud(bytes(got), enc) and _rate_cap(len(got), time.monotonic() - t0, 1)
        assert runner.wait_for(lambda: len(phone.heard()) > 800 and np.abs(phone.heard()[-800:]).mean() > 500)
        box.hangup()

        caller = driver_on(runner, "5550200", expect="usr5637", modem="usr5637")
        answered = threading.Event()

        def answer_and_talk() -> None:  # the called box, on its own thread (each driver has one owner)
            pump_until(box, has(ev.Ring))
            box.answer()
            answered.set()
            end = time.monotonic() + 3.0
            while time.monotonic() < end and box.session.state is CallState.CONNECTED:
                box.send_voice(ours)
                box.pump(0.02)

        talker = threading.Thread(target=answer_and_talk)
        talker.start()
        try:
            caller.dial(LINE)  # usr5637: VCON as soon as the digits are out; progress by DLE events
            assert answered.wait(15)
            t0 = time.monotonic()
            seen = pump_until(caller, has(ev.AnswerInferred))
            heard = b"".join(e.data for e in of(ev.VoiceData, seen))
            assert _rate_cap(len(heard), time.monotonic() - t0 + 2.0, 1)  # + ringback before the answer
            assert not caller.session.can_bridge  # half duplex: it hears, it cannot talk back
            caller.hangup()
        finally:
            talker.join(10)
        box.close()
        caller.close()
    assert not runner.errors
