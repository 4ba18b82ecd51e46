"""The box runtime's line bridge (the modem driver on its own thread) across the exchange simulator."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from roamline.firmware.audio import g711
from roamline.firmware.core import events as core_ev
from roamline.firmware.line import events as ev
from roamline.firmware.line.serial_line import SerialLine
from roamline.firmware.line.session import LineSession
from roamline.firmware.runtime import LineBridge
from roamline.hil.exchange.runner import ExchangeRunner

LINE, PHONE = "5550100", "5551234"


@pytest.fixture
def runner() -> Iterator[ExchangeRunner]:
    r = ExchangeRunner(time_scale=8.0)
    yield r
    r.stop()
    assert not r.errors


def _wait(events: queue.Queue[Any], want: Any, seconds: float = 15.0) -> Any:
    end = time.monotonic() + seconds
    seen = []
    while time.monotonic() < end:
        try:
            e = events.get(timeout=0.1)
        except queue.Empty:
            continue
        seen.append(type(e).__name__)
        if want(e):
            return e
    raise AssertionError(f"not seen in {seconds} s; saw {seen}")


@pytest.mark.parametrize("modem", ["cx93001", "mt9234mu"])
def test_the_pump_lives_on_when_the_far_end_hangs_up_while_voice_streams(
    runner: ExchangeRunner, modem: str
) -> None:
    """The line's voice stream stops the moment the modem reports the far end gone, while the box
    still has audio connected to the line (relayed voice on ``tx_source``, the local handset bridge on
    ``send_voice``). The pump must drop that audio, not die: the next call is still answered."""
    runner.add_line(LINE, modem)
    runner.start()
    line = SerialLine(runner.device(LINE), LineSession(command_timeout=2.0, cid_quiet_s=0.5),
                      finder=lambda: runner.device(LINE) if runner.ports[LINE].is_open else None,
                      stream_silence_s=2.0, refind_interval=0.05)
    events: queue.Queue[Any] = queue.Queue()
    bridge = LineBridge(line, events.put)
    bridge.start()
    try:
        assert bridge.ready.wait(15) and bridge.error is None
        tone = np.sin(np.arange(160) * 2 * np.pi * 1000 / 8000) * 8000
        block = g711.encode("ulaw", tone.astype(np.int16))
        bridge.tx_source = lambda: block  # stays connected across the hang-up, as in the box
        phone = runner.add_phone(PHONE)
        for _round in range(2):
            phone.dial(LINE)
            _wait(events, lambda e: isinstance(e, ev.Ring))
            bridge.do("answer")
            done = _wait(events, lambda e: isinstance(e, core_ev.LineOpDone))
            assert done.op == "answer" and done.ok, done
            assert runner.wait_for(lambda: phone.state == "connected")
            assert runner.wait_for(lambda: len(phone.heard()) > 800)  # our voice reached the phone
            phone.hang_up()
            _wait(events, lambda e: isinstance(e, ev.CallEnded))
            for _ in range(10):  # the handset bridge keeps talking for a moment
                bridge.send_voice(block)
            time.sleep(0.3)
            assert bridge.error is None
            phone.hang_up()  # back on hook for the next round
    finally:
        bridge.stop()
