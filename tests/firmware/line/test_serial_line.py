"""The pyserial adapter against a scripted modem on a real pty (no exchange simulator needed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from roamline.firmware.line import events as ev
from roamline.firmware.line.calls import CallState
from roamline.firmware.line.errors import CallFailed
from roamline.firmware.line.serial_line import SerialLine
from roamline.firmware.line.session import LineSession
from roamline.hil.line_peer import PtyPeer, ScriptedModem

CX = {"ATI3": "CX93001-EIS_V0.2002-V92", "AT+FCLASS=?": "(0,1,1.0,8)"}


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[PtyPeer, SerialLine, Path]]:
    link = tmp_path / "ttyACM0"
    peer = PtyPeer(ScriptedModem(CX, eos="triple"), link).start()
    power: list[float] = []
    line = SerialLine(str(link), LineSession(command_timeout=0.4, ring_gap_s=5),
                      finder=lambda: str(link) if link.exists() else None, stream_silence_s=0.4,
                      refind_interval=0.05, power_cycle=lambda: power.append(time.monotonic()))
    line.power_log = power  # type: ignore[attr-defined]
    line.open()
    yield peer, line, link
    line.close()
    peer.stop()


def _pump_until(line: SerialLine, pred: type[ev.LineEvent], seconds: float = 5.0) -> list[ev.LineEvent]:
    seen: list[ev.LineEvent] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = line.pump(0.02)
        seen += got
        if any(isinstance(e, pred) for e in got):
            return seen
    raise AssertionError(f"no {pred.__name__} in {seen}")


def _connected_call(peer: PtyPeer, line: SerialLine) -> None:
    profile = line.identify()
    assert profile is not None and profile.name == "cx93001"
    line.initialise()
    peer.with_modem(lambda m: m.inject(b"\r\nRING\r\n\r\nNMBR = 5551234\r\nNAME = O\r\n\r\nRING\r\n"))
    seen = _pump_until(line, ev.Ring)
    if not any(isinstance(e, ev.Ring) and e.count == 2 for e in seen):
        seen += _pump_until(line, ev.Ring)
    want = ev.CallerId("5551234", None, number_status="ok", name_status="unavailable")
    assert line.session.caller_id == want
    line.answer()
    assert line.session.state is CallState.CONNECTED


def test_pty_call_every_byte_both_ways_then_far_end_hangup(rig: tuple[PtyPeer, SerialLine, Path]) -> None:
    peer, line, _ = rig
    _connected_call(peer, line)
    payload = bytes(range(256)) * 8
    line.send_voice(payload)
    peer.with_modem(lambda m: m.voice(payload))
    got = bytearray()
    end = time.monotonic() + 5
    while len(got) < len(payload) and time.monotonic() < end:
        got += b"".join(e.data for e in line.pump(0.02) if isinstance(e, ev.VoiceData))
    assert bytes(got) == payload
    assert bytes(peer.modem.received_voice) == payload
    peer.with_modem(lambda m: m.inject(b"\x10l"))
    seen = _pump_until(line, ev.CallEnded)
    assert ev.CallEnded("loop-current-loss") in seen
    assert line.session.state is CallState.IDLE


def test_dial_busy_raises_clear_error(rig: tuple[PtyPeer, SerialLine, Path]) -> None:
    peer, line, _ = rig
    line.identify()
    line.initialise()
    peer.modem.dial_result = "BUSY"
    with pytest.raises(CallFailed, match="busy"):
        line.dial("5551234")
    _pump_until(line, ev.CallEnded)
    assert line.session.state is CallState.IDLE


def test_silent_modem_is_reset(rig: tuple[PtyPeer, SerialLine, Path]) -> None:
    peer, line, _ = rig
    line.identify()
    line.initialise()
    peer.modem.silent = True
    threading.Timer(0.2, lambda: setattr(peer.modem, "silent", False)).start()
    out = line.check()
    assert any(isinstance(e, ev.ModemReset) for e in out)
    assert not any(isinstance(e, ev.ModemPowerCycled) for e in out)
    assert line.session.state is CallState.IDLE
    assert "ATZ" in peer.modem.commands


def test_silent_mid_call_ends_call_then_power_cycle(rig: tuple[PtyPeer, SerialLine, Path]) -> None:
    peer, line, _ = rig
    _connected_call(peer, line)
    line.power_cycle = lambda: setattr(peer, "modem", ScriptedModem(CX, eos="triple"))  # a fresh modem
    line.recovery.has_power_cycle = True
    peer.modem.silent = True
    seen = _pump_until(line, ev.ModemFound, seconds=10)
    kinds = [type(e).__name__ for e in seen]
    assert ev.CallEnded("modem-lost: silent: no data during a voice stream") in seen
    assert kinds.index("ModemReset") < kinds.index("ModemPowerCycled") < kinds.index("ModemFound")
    assert line.session.state is CallState.IDLE


def test_unplugged_mid_call_then_replugged(rig: tuple[PtyPeer, SerialLine, Path], tmp_path: Path) -> None:
    peer, line, link = rig
    _connected_call(peer, line)
    peer.stop()
    seen = _pump_until(line, ev.CallEnded)
    ended = [e for e in seen if isinstance(e, ev.CallEnded)]
    assert ended and ended[0].reason.startswith("modem-lost: unplugged")
    assert line.session.state is CallState.OUT_OF_SERVICE
    for _ in range(5):  # unplugged: nothing found, nothing hangs
        assert line.pump(0.02) == []
    peer2 = PtyPeer(ScriptedModem(CX, eos="triple"), link).start()
    try:
        seen = _pump_until(line, ev.ModemFound)
        assert line.session.state is CallState.IDLE
        assert "AT+FCLASS=8" in peer2.modem.commands
    finally:
        line.close()
        peer2.stop()
