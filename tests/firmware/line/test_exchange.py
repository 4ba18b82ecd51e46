"""The driver across the telephone-exchange simulator (hil/exchange), for every modem profile."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

from roamline.firmware.line import events as ev
from roamline.firmware.line.calls import CallState
from roamline.firmware.line.errors import CallFailed
from roamline.firmware.line.serial_line import SerialLine
from roamline.hil.exchange import audio
from roamline.hil.exchange.runner import ExchangeRunner
from roamline.hil.line_rig import PROFILES, driver_on, has, pump_until

LINE, PHONE = "5550100", "5551234"


@pytest.fixture
def runner(request: pytest.FixtureRequest) -> Iterator[ExchangeRunner]:
    # nothing here measures real time: run the exchange fast (voice tests a little slower, so the
    # driver's paced sender keeps up on a loaded machine)
    r = ExchangeRunner(time_scale=20.0 if "caller_id" in request.function.__name__ else 8.0)
    yield r
    r.stop()
    assert not r.errors


def _up(runner: ExchangeRunner, modem: str, unformatted: bool = False, command_timeout: float = 2.0,
        stream_silence_s: float = 2.0, **line_kw: object) -> SerialLine:
    # ringback bursts last well under 0.5 s of real time at these scales
    kw = {"unformatted_cid": unformatted, "ringback_on_s": 0.5}
    return driver_on(runner, LINE, expect=modem, modem=modem, command_timeout=command_timeout,
                     stream_silence_s=stream_silence_s, session_kw=kw, **line_kw)


def _until(line: SerialLine, done: Callable[[list[ev.LineEvent]], bool], seconds: float = 15.0,
           feed: bytes = b"") -> list[ev.LineEvent]:
    return pump_until(line, done, seconds, feed)


@pytest.mark.parametrize("modem", PROFILES)
@pytest.mark.parametrize(("timing", "fmt", "presentation"), [
    ("before", "formatted", "number+name"), ("between", "mdmf", "number+name"),
    ("between", "formatted", "private"),
    ("before", "sdmf", "number"), ("none", "formatted", "number+name"),
])
def test_incoming_caller_id(
    runner: ExchangeRunner, modem: str, timing: str, fmt: str, presentation: str
) -> None:
    line = _up(runner, modem, unformatted=fmt != "formatted", cid_timing=timing)
    phone = runner.add_phone(PHONE, name="RING DATE")
    phone.dial(LINE, presentation=presentation, cid_format="sdmf" if fmt == "sdmf" else "mdmf")
    seen = _until(line, lambda s: sum(isinstance(e, ev.Ring) for e in s) >= 2
                  and (timing == "none" or has(ev.CallerIdReceived)(s)))
    cids = [e.caller_id for e in seen if isinstance(e, ev.CallerIdReceived)]
    if timing == "none":
        assert cids == []
        return
    assert len(cids) == 1
    cid = cids[0]
    if presentation == "private":
        assert (cid.number, cid.number_status, cid.name_status) == (None, "private", "private")
    else:
        assert cid.number == PHONE
        assert cid.name == ("RING DATE" if presentation == "number+name" else None)
    assert cid.when is not None
    line.close()


@pytest.mark.parametrize("modem", PROFILES)
@pytest.mark.parametrize("signal", ["loop_drop", "busy", "reorder"])
def test_answer_voice_and_far_end_hangup(runner: ExchangeRunner, modem: str, signal: str) -> None:
    line = _up(runner, modem, disconnect=signal)
    phone = runner.add_phone(PHONE)
    phone.dial(LINE)
    _until(line, has(ev.Ring))
    line.answer()
    assert line.session.state is CallState.CONNECTED
    assert runner.wait_for(lambda: phone.state == "connected")
    phone.play(audio.tone((1000,), 2.0))
    enc = line.session.encoding
    loud = bytes(audio.encode(audio.tone((700,), 0.02, level=0.5), enc))
    seen = _until(line, lambda s: sum(len(e.data) for e in s if isinstance(e, ev.VoiceData)) > 4000,
                  feed=loud if line.session.can_bridge else b"")
    heard = b"".join(e.data for e in seen if isinstance(e, ev.VoiceData))
    assert np.abs(audio.decode(heard[-2000:], enc)).mean() > 500  # the phone's tone reached us
    if line.session.can_bridge:
        assert runner.wait_for(lambda: len(phone.heard()) > 800)
        assert np.abs(phone.heard()[-800:]).mean() > 500  # and ours reached the phone
    phone.hang_up()
    seen = _until(line, has(ev.CallEnded), seconds=10)
    ended = next(e for e in seen if isinstance(e, ev.CallEnded))
    assert ended.reason == ("loop-current-loss" if signal == "loop_drop" else "busy-tone")
    assert line.session.state is CallState.IDLE
    line.close()


@pytest.mark.parametrize("modem", PROFILES)
def test_outgoing_answer_inferred_then_local_hangup(runner: ExchangeRunner, modem: str) -> None:
    line = _up(runner, modem)
    phone = runner.add_phone(PHONE, answer_after=2)
    phone.play(audio.tone((600,), 30.0))
    line.dial(PHONE)
    _until(line, has(ev.AnswerInferred), seconds=10)  # ringback seen or not: some modems hold ATD's result
    assert line.session.state is CallState.CONNECTED
    assert runner.wait_for(lambda: phone.state == "connected")
    line.hangup()
    assert line.session.state is CallState.IDLE
    assert runner.wait_for(lambda: phone.state in ("ended", "idle"))
    line.close()


@pytest.mark.parametrize("modem", PROFILES)
def test_outgoing_busy(runner: ExchangeRunner, modem: str) -> None:
    line = _up(runner, modem)
    runner.add_phone(PHONE, busy=True)
    try:
        line.dial(PHONE)
    except CallFailed as exc:  # modems that report BUSY as a result code
        assert exc.reason == "busy"
    seen = _until(line, has(ev.CallEnded))
    assert next(e for e in seen if isinstance(e, ev.CallEnded)).reason == "busy"
    line.close()


@pytest.mark.parametrize("modem", PROFILES)
def test_modem_unplugged_and_replugged_mid_call(runner: ExchangeRunner, modem: str) -> None:
    line = _up(runner, modem)
    phone = runner.add_phone(PHONE)
    phone.dial(LINE)
    _until(line, has(ev.Ring))
    line.answer()
    runner.unplug(LINE)
    seen = _until(line, has(ev.CallEnded))
    assert next(e for e in seen if isinstance(e, ev.CallEnded)).reason.startswith("modem-lost: unplugged")
    assert line.session.state is CallState.OUT_OF_SERVICE
    runner.replug(LINE)
    _until(line, has(ev.ModemFound))
    assert line.session.state is CallState.IDLE
    line.close()


@pytest.mark.parametrize("modem", PROFILES)
def test_modem_silent_mid_call_power_cycled(runner: ExchangeRunner, modem: str) -> None:
    line = _up(runner, modem, command_timeout=1.0, stream_silence_s=0.5)  # silence is what is tested
    cycles: list[int] = []

    def power_cycle() -> None:
        cycles.append(1)
        runner.power_cycle(LINE, off_seconds=0.1)

    line.power_cycle = power_cycle
    line.recovery.has_power_cycle = True
    phone = runner.add_phone(PHONE)
    phone.dial(LINE)
    _until(line, has(ev.Ring))
    line.answer()
    runner.set_silent(LINE)
    seen = _until(line, lambda s: line.session.state is CallState.IDLE and has(ev.CallEnded)(s), seconds=20)
    ended = next(e for e in seen if isinstance(e, ev.CallEnded))
    assert ended.reason.startswith("modem-lost: silent")
    assert cycles == [1]
    assert any(isinstance(e, ev.ModemReset) for e in seen)
    line.close()
