"""The box runtime's line pump (``firmware.runtime.LineBridge``) across the exchange simulator: a voice
source left attached while no transmit stream runs (before the answer, after the far end hung up and
before the core takes the leg away) must neither be sent nor stop the pump."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from roamline.firmware.core import events as core_ev
from roamline.firmware.line import events as ev
from roamline.firmware.runtime import LineBridge
from roamline.hil.exchange import audio
from roamline.hil.exchange.runner import ExchangeRunner
from roamline.hil.line_rig import driver_on

LINE, PHONE = "5550100", "5551234"


@pytest.fixture
def runner() -> Iterator[ExchangeRunner]:
    r = ExchangeRunner(time_scale=8.0)
    yield r
    r.stop()
    assert not r.errors


class Seen:
    def __init__(self) -> None:
        self.items: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, item: Any) -> None:
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def wait(self, pred: Any, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item in self.items:
                    if pred(item):
                        return item
                left = deadline - time.monotonic()
                assert left > 0, f"not seen; got {self.items[-8:]}"
                self._cond.wait(left)


def test_a_voice_source_without_a_stream_is_held_and_the_pump_goes_on(runner: ExchangeRunner) -> None:
    line = driver_on(runner, LINE, expect="cx93001", modem="cx93001", session_kw={"ringback_on_s": 0.5})
    seen = Seen()
    bridge = LineBridge(line, seen)
    tone = bytes(audio.encode(audio.tone((700,), 0.02, level=0.5), line.session.encoding))
    bridge.tx_source = lambda: tone  # attached before there is any call
    bridge.start()
    try:
        assert bridge.ready.wait(20) and bridge.error is None
        phone = runner.add_phone(PHONE)
        phone.dial(LINE)
        seen.wait(lambda e: isinstance(e, ev.Ring))
        bridge.do("answer")
        assert seen.wait(lambda e: isinstance(e, core_ev.LineOpDone) and e.op == "answer").ok
        assert runner.wait_for(lambda: len(phone.heard()) > 1600)
        assert np.abs(phone.heard()[-800:]).mean() > 500  # once answered, the source reaches the phone
        phone.hang_up()
        seen.wait(lambda e: isinstance(e, ev.CallEnded))
        time.sleep(0.3)  # the source is still attached, the stream is gone
        phone.dial(LINE)  # the pump is alive: a new call rings through it
        n = sum(isinstance(e, ev.Ring) for e in seen.items)
        seen.wait(lambda e: isinstance(e, ev.Ring) and sum(isinstance(x, ev.Ring) for x in seen.items) > n)
        assert bridge._thread is not None and bridge._thread.is_alive()
        phone.hang_up()
    finally:
        bridge.stop()


def test_a_prompt_played_on_a_half_duplex_line_turns_it_to_transmit_first(runner: ExchangeRunner) -> None:
    """The usr5637 has no +VTR: answered, it streams voice receive (+VRX). A refusal (``play``) must
    turn it to voice transmit (+VTX) before the audio, or the caller hears nothing; a second prompt
    while it transmits is heard too (no second +VTX, no stream restart)."""
    line = driver_on(runner, LINE, expect="usr5637", modem="usr5637")
    assert not line.session.can_bridge
    seen = Seen()
    bridge = LineBridge(line, seen)
    tone = bytes(audio.encode(audio.tone((700,), 0.02, level=0.5), line.session.encoding))
    other = bytes(audio.encode(audio.tone((1200,), 0.02, level=0.5), line.session.encoding))
    bridge.start()
    try:
        assert bridge.ready.wait(20) and bridge.error is None
        phone = runner.add_phone(PHONE)
        phone.dial(LINE)
        seen.wait(lambda e: isinstance(e, ev.Ring))
        bridge.do("answer")
        assert seen.wait(lambda e: isinstance(e, core_ev.LineOpDone) and e.op == "answer").ok
        phone.clear_heard()
        bridge.play(lambda: tone)
        assert seen.wait(lambda e: isinstance(e, core_ev.LineOpDone) and e.op == "transmit").ok
        assert runner.wait_for(lambda: len(phone.heard()) > 2400
                               and np.abs(phone.heard()[-800:]).mean() > 500)
        n_done = sum(isinstance(e, core_ev.LineOpDone) for e in seen.items)
        bridge.play(lambda: other)  # already transmitting: done at once, the stream kept
        seen.wait(lambda e: sum(isinstance(x, core_ev.LineOpDone) for x in seen.items) > n_done)
        phone.clear_heard()
        assert runner.wait_for(lambda: len(phone.heard()) > 2400)
        heard = phone.heard()[-1600:].astype(np.float64)
        spectrum = np.abs(np.fft.rfft(heard))
        assert np.argmax(spectrum) * 8000 / len(heard) == pytest.approx(1200, abs=30)  # the second prompt
        phone.hang_up()
        seen.wait(lambda e: isinstance(e, ev.CallEnded))
    finally:
        bridge.stop()
