"""The box runtime's line pump (``firmware.runtime.LineBridge``) on the exchange simulator's modem: it
must outlive anything one step does wrong, because the lifeline needs it. Once, mouthpiece audio still
queued when a call's voice stream ended raised in the pump thread and the box had no line until restarted."""

from __future__ import annotations

import queue
import time

from roamline.firmware.core import events as ev
from roamline.firmware.line.modem_profiles import by_name
from roamline.firmware.line.serial_line import SerialLine
from roamline.firmware.runtime import LineBridge
from roamline.hil.exchange.runner import ExchangeRunner
from roamline.wire.clock import SystemClock


def wait_done(got: queue.Queue[object], op: str, timeout: float = 20.0) -> ev.LineOpDone:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = got.get(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(item, ev.LineOpDone) and item.op == op:
            return item
    raise AssertionError(f"no {op} result")


def test_voice_queued_after_a_hang_up_does_not_stop_the_pump_and_911_dials_again() -> None:
    with ExchangeRunner(time_scale=4.0) as ex:
        ex.add_line("5550200002", "cx93001")
        psap = ex.add_phone("911", answer_after=1, hangs_up=True)
        got: queue.Queue[object] = queue.Queue()
        port = SerialLine(ex.device("5550200002"), profile=by_name("cx93001"), clock=SystemClock())
        bridge = LineBridge(port, got.put)
        bridge.start()
        try:
            assert bridge.ready.wait(20) and bridge.error is None
            for attempt in range(2):
                bridge.do("dial", "911")
                assert wait_done(got, "dial").ok
                assert ex.wait_for(lambda: psap.state == "connected", timeout=10)
                for _ in range(40):  # the handset keeps talking into the line ...
                    bridge.send_voice(bytes([0xFF]) * 160)
                bridge.do("hangup")  # ... as the call ends: audio is still queued behind the hang-up
                for _ in range(40):
                    bridge.send_voice(bytes([0xFF]) * 160)
                assert wait_done(got, "hangup").ok, attempt
                assert bridge._thread is not None and bridge._thread.is_alive()
                assert ex.wait_for(lambda: psap.state in ("idle", "ended"), timeout=10)
        finally:
            bridge.stop()
