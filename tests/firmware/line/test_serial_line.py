"""The pyserial adapter against a scripted modem on a real pty (no exchange simulator needed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from serial.tools import list_ports
from serial.tools.list_ports_common import ListPortInfo

from roamline.firmware.callerid.codec import Absence, CallerId
from roamline.firmware.line import events as ev
from roamline.firmware.line.calls import CallState
from roamline.firmware.line.errors import CallFailed
from roamline.firmware.line.modem_profiles import by_name
from roamline.firmware.line.recovery import usb_finder
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
    want = CallerId("5551234", None, name_absent=Absence.UNAVAILABLE)
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
    kinds = [type(e).__name__ for e in out]  # lost, reset, then back (the box core's 911 needs to know)
    assert kinds.index("ModemLost") < kinds.index("ModemReset") < kinds.index("ModemFound")
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


def _usb_port(device: str, vid: int | None, pid: int | None) -> ListPortInfo:
    """What pyserial's list_ports returns for a USB CDC modem (fields as its Linux backend fills them)."""
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid = vid, pid
    if vid is not None:
        info.hwid = f"USB VID:PID={vid:04X}:{pid:04X} LOCATION=1-1.3:1.0"
        info.location, info.interface = "1-1.3:1.0", None
        info.manufacturer, info.product = "Conexant", "USB Modem"
        info.description = "USB Modem"
    return info


def test_usb_finder_picks_the_profile_ids_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ports = [_usb_port("/dev/ttyS0", None, None), _usb_port("/dev/ttyUSB0", 0x0403, 0x6001),
             _usb_port("/dev/ttyACM3", 0x0572, 0x1329)]
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: ports)
    assert usb_finder(by_name("cx93001").usb)() == "/dev/ttyACM3"
    assert usb_finder(["0572:1329".upper()])() == "/dev/ttyACM3"
    assert usb_finder(by_name("usr5637").usb)() is None
    old = tmp_path / "ttyACM0"
    old.touch()
    assert usb_finder(by_name("usr5637").usb, str(old))() == str(old)  # not listed, but its path is back


def test_unplugged_modem_refound_by_usb_identity_at_a_new_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The driver's own finder (no test finder): the modem comes back under another device name."""
    listed: list[ListPortInfo] = []
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: list(listed))
    link = tmp_path / "ttyACM0"
    peer = PtyPeer(ScriptedModem(CX, eos="triple"), link).start()
    line = SerialLine(str(link), LineSession(command_timeout=1.0), stream_silence_s=2.0, refind_interval=0.02)
    peer2: PtyPeer | None = None
    try:
        line.open()
        _connected_call(peer, line)
        peer.stop()
        seen = _pump_until(line, ev.CallEnded)
        assert any(e.reason.startswith("modem-lost: unplugged") for e in seen if isinstance(e, ev.CallEnded))
        for _ in range(5):  # gone, and nothing with its USB identity is listed
            assert line.pump(0.02) == []
        listed.append(_usb_port("/dev/ttyS0", None, None))
        peer2 = PtyPeer(ScriptedModem(CX, eos="triple")).start()  # a new name, no link at the old one
        listed.append(_usb_port(peer2.path, 0x0572, 0x1329))
        found = [e for e in _pump_until(line, ev.ModemFound) if isinstance(e, ev.ModemFound)]
        assert found == [ev.ModemFound(peer2.path)] and line.device == peer2.path
        assert line.session.state is CallState.IDLE and "AT+FCLASS=8" in peer2.modem.commands
    finally:
        line.close()
        peer.stop()
        if peer2 is not None:
            peer2.stop()
