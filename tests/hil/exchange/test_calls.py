"""Talk to the simulated modems with pyserial over their ptys, with calls across the exchange."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import serial

from roamline.hil.exchange import audio, callerid
from roamline.hil.exchange.dialects import dialect
from roamline.hil.exchange.runner import ExchangeRunner
from roamline.hil.exchange.testing import Dte, unshield

DIALECTS = ["usr5637", "cx93001", "mt9234mu"]

LINE, PHONE = "5551000", "5552000"


def voice_line(dte: Dte, fmt: int | None = None) -> None:
    dte.cmd("ATE0")
    dte.cmd("AT+FCLASS=8")
    if fmt is not None:
        dte.cmd(f"AT+VSM={fmt},8000")


@pytest.mark.parametrize("name", DIALECTS)
def test_identification_per_dialect(runner: ExchangeRunner, dte_factory, name: str) -> None:
    runner.add_line(LINE, name)
    runner.start()
    dte = dte_factory(LINE)
    d = dialect(name)
    out = dte.cmd("ATI3")
    assert out.startswith("ATI3\r")  # power-on default: echo on
    assert d.ati[3] in out
    assert d.model in dte.cmd("AT+GMM") and d.manufacturer in dte.cmd("AT+FMI?")
    dte.cmd("ATE0")
    assert dte.cmd("ATI0") == f"\r\n{d.ati[0]}\r\n\r\nOK\r\n"
    assert d.fclass_range in dte.cmd("AT+FCLASS=?")
    assert "ERROR" in dte.cmd("AT+VSM=?", final=b"ERROR\r\n")  # voice commands need +FCLASS=8
    dte.cmd("AT+FCLASS=8")
    formats = dte.cmd("AT+VSM=?")
    assert all(f'{f.code},"{f.label}"' in formats for f in d.formats)
    vtr = dte.cmd("AT+VLS=1")
    assert "OK" in vtr
    if d.has_vtr:
        assert "CONNECT" in dte.cmd("AT+VTR", final=b"CONNECT\r\n")
        dte.write(b"\x10!")
        dte.read_until(b"OK\r\n")
    else:
        assert "ERROR" in dte.cmd("AT+VTR", final=b"ERROR\r\n")


def test_echo_and_numeric_results_over_pty(runner: ExchangeRunner, dte_factory) -> None:
    runner.add_line(LINE, "mt9234mu")
    runner.start()
    dte = dte_factory(LINE)
    assert dte.cmd("AT") == "AT\r\r\nOK\r\n"
    assert dte.cmd("ATE0") == "ATE0\r\r\nOK\r\n"
    assert dte.cmd("AT") == "\r\nOK\r\n"
    assert dte.cmd("ATV0", final=b"0\r") == "0\r"
    assert dte.cmd("ATNONSENSE", final=b"4\r") == "4\r"


def _rings(dte: Dte, rings: int) -> str:
    out = b""
    for _ in range(rings):
        out += dte.read_until(b"RING\r\n", timeout=3)
    return out.decode("latin-1")


@pytest.mark.parametrize("name", DIALECTS)
@pytest.mark.parametrize("timing", ["before", "between"])
@pytest.mark.parametrize("vcid", [1, 2])
def test_caller_id_positions_and_formats(runner: ExchangeRunner, dte_factory, name: str, timing: str,
                                        vcid: int) -> None:
    runner.add_line(LINE, name, cid_timing=timing)
    phone = runner.add_phone(PHONE, name="RING DATE NMBR", answer_after=None)
    runner.start()
    dte = dte_factory(LINE)
    d = dialect(name)
    dte.cmd("ATE0")
    cid_cmd = d.cid_commands[-1]
    dte.cmd(f"AT{cid_cmd}={vcid}")
    call = phone.dial(LINE)
    text = _rings(dte, 2)
    first, second = text.index("RING"), text.index("RING", text.index("RING") + 1)
    p = call.presentation
    assert p is not None
    if vcid == 1:
        marker = f"NMBR{d.cid_sep}{PHONE}"
        assert f"NAME{d.cid_sep}RING DATE NMBR" in text
        assert f"DATE{d.cid_sep}{p.date}" in text and f"TIME{d.cid_sep}{p.time}" in text
    else:
        marker = d.cid_hex_tag + callerid.encode(p).hex().upper()
        hexline = next(ln for ln in text.split("\r\n") if ln.startswith(d.cid_hex_tag) and len(ln) > 20)
        raw = bytes.fromhex(hexline[len(d.cid_hex_tag):])
        assert sum(raw) % 256 == 0 and raw[0] == 0x80
    pos = text.index(marker)
    assert (pos < first) if timing == "before" else (first < pos < second)
    phone.hang_up()


@pytest.mark.parametrize("how,number,name", [
    ("number+name", PHONE, "ALICE"), ("number", PHONE, None),
    ("private", "P", "P"), ("unavailable", "O", "O"),
])
def test_caller_id_presentations(runner: ExchangeRunner, dte_factory, how: str, number: str,
                                 name: str | None) -> None:
    runner.add_line(LINE, "usr5637")
    phone = runner.add_phone(PHONE, name="ALICE", answer_after=None)
    runner.start()
    dte = dte_factory(LINE)
    dte.cmd("ATE0")
    dte.cmd("AT+VCID=1")
    phone.dial(LINE, presentation=how)
    text = _rings(dte, 2)
    assert f"NMBR = {number}\r\n" in text
    assert (f"NAME = {name}\r\n" in text) if name else ("NAME" not in text)


def test_caller_id_none_sdmf_and_corrupt(runner: ExchangeRunner, dte_factory) -> None:
    runner.add_line(LINE, "cx93001")
    runner.add_line("5551001", "cx93001")
    phone = runner.add_phone(PHONE, answer_after=None)
    other = runner.add_phone("5552001", answer_after=None)
    runner.start()
    a, b = dte_factory(LINE), dte_factory("5551001")
    for dte in (a, b):
        dte.cmd("ATE0")
    a.cmd("AT+VCID=1")
    b.cmd("AT#CID=2")
    phone.dial(LINE, presentation="none")
    assert "NMBR" not in _rings(a, 3)
    phone.hang_up()
    bad = callerid.Presentation("5552001", None, format="sdmf", corrupt=True)
    other.dial("5551001", presentation=bad)
    text = _rings(b, 2)
    raw = bytes.fromhex(next(ln for ln in text.split("\r\n") if ln.startswith("MESG = "))[7:])
    assert raw[0] == 0x04 and sum(raw) % 256 != 0
    other.hang_up()
    a.cmd("AT+VCID=1")
    phone.dial(LINE, presentation=callerid.Presentation(PHONE, "X", corrupt=True))
    assert "NMBR" not in _rings(a, 2)  # formatted output drops a message that fails its checksum


def answered_call(runner: ExchangeRunner, dte: Dte, phone, name: str, fmt: int) -> None:
    voice_line(dte, fmt)
    phone.dial(LINE)
    dte.read_until(b"RING\r\n")
    d = dialect(name)
    dte.cmd("AT+VLS=1", final=f"{d.answer_result}\r\n".encode())
    assert runner.wait_for(lambda: phone.state == "connected")


@pytest.mark.parametrize("name", DIALECTS)
def test_dle_shielding_every_byte_both_ways_and_dtmf(runner: ExchangeRunner, dte_factory, name: str) -> None:
    runner.add_line(LINE, name)
    phone = runner.add_phone(PHONE, answer_after=None)
    runner.start()
    dte = dte_factory(LINE)
    u8 = next(f.code for f in dialect(name).formats if f.encoding == "u8")
    answered_call(runner, dte, phone, name, u8)
    pattern = bytes(range(256)) * 2
    dte.write(b"AT+VRX\r")
    dte.read_until(b"CONNECT\r\n")
    phone.play(((np.frombuffer(pattern, np.uint8).astype(np.int16) - 128) << 8).astype(np.int16))
    phone.send_dtmf("5#")
    stream = dte.drain_until(lambda s: pattern in unshield(s)[0] and {"5", "#"} <= set(unshield(s)[1]))
    data, events = unshield(stream)
    assert pattern in data
    assert "5" in events and "#" in events
    dte.write(b"\x10!")
    tail = dte.read_until(b"OK\r\n")
    assert (b"\x10\x10\x10\x03" if dialect(name).eos_triple else b"\x10\x03") in tail
    # the other way: every byte value through +VTX reaches the phone unchanged
    phone.clear_heard()
    dte.write(b"AT+VTX\r")
    dte.read_until(b"CONNECT\r\n")
    dte.write(pattern.replace(b"\x10", b"\x10\x10") + b"\x10\x03")
    dte.read_until(b"OK\r\n", timeout=5)
    heard = audio.encode(phone.heard(), "u8")
    assert pattern in heard
    # and digits the modem sends reach the phone
    dte.cmd("AT+VTS=1,2,{9,5}", timeout=5)
    assert runner.wait_for(lambda: phone.digits_heard == "129")


def test_modem_to_modem_call_full_duplex_voice(runner: ExchangeRunner, dte_factory) -> None:
    runner.add_line(LINE, "cx93001", name="BOX A")
    runner.add_line("5551001", "mt9234mu")
    runner.start()
    a, b = dte_factory(LINE), dte_factory("5551001")
    voice_line(a, 1)
    voice_line(b, 1)
    b.cmd("AT+VCID=1")
    a.write(b"ATDT5551001\r")
    text = b.read_until(b"RING\r\n", timeout=3) + b.read_until(b"RING\r\n", timeout=3)
    assert b"NMBR=5551000\r\nNAME=BOX A" in text
    b.cmd("AT+VLS=1")
    a.read_until(b"OK\r\n", timeout=5)  # ringback went away for +VRA: deemed answered
    for dte in (a, b):
        dte.write(b"AT+VTR\r")
        dte.read_until(b"CONNECT\r\n")
    tone = bytes([200, 56]) * 800
    a.write(tone)
    data, _ = unshield(b.drain_until(lambda s: tone[:400] in unshield(s)[0]))
    assert tone[:400] in data
    b.write(b"\x10!")
    b.cmd("ATH")
    _, events = unshield(a.drain_until(lambda s: "l" in unshield(s)[1]))
    assert "l" in events  # b hung up: a's exchange drops loop current


@pytest.mark.parametrize("signal,event", [("loop_drop", "l"), ("busy", "b"), ("reorder", "b"), ("none", "q")])
def test_far_end_hangup_signals(runner: ExchangeRunner, dte_factory, signal: str, event: str) -> None:
    runner.add_line(LINE, "cx93001", disconnect=signal)
    phone = runner.add_phone(PHONE, answer_after=None)
    runner.start()
    dte = dte_factory(LINE)
    answered_call(runner, dte, phone, "cx93001", 1)
    dte.cmd("AT+VSD=128,20")
    dte.write(b"AT+VRX\r")
    dte.read_until(b"CONNECT\r\n")
    phone.play(audio.tone((400,), 1.0))
    runner.sleep(1.5)
    phone.hang_up()
    stream = dte.drain_until(lambda s: event in unshield(s)[1])
    if signal == "loop_drop":
        assert "b" not in unshield(stream + dte.drain(0.2))[1]  # 4+ simulated seconds: no busy tone


@pytest.mark.parametrize("name", DIALECTS)
def test_busy_unknown_no_answer_and_no_dialtone(runner: ExchangeRunner, dte_factory, name: str) -> None:
    runner.add_line(LINE, name)
    runner.add_line("5551009", name, dial_tone=False)
    runner.add_phone(PHONE, busy=True)
    runner.add_phone("5552001", answer_after=None)
    runner.start()
    dte, dead = dte_factory(LINE), dte_factory("5551009")
    voice_line(dte)
    d = dialect(name)
    if d.dial_immediate:
        dte.cmd(f"ATDT{PHONE}", final=f"{d.dial_result}\r\n".encode())
        dte.drain_until(lambda s: "b" in unshield(s)[1])
        dte.cmd("ATH")
    else:
        dte.cmd(f"ATDT{PHONE}", final=b"BUSY\r\n")
        dte.cmd("ATDT5550000", final=b"BUSY\r\n")  # not a number: reorder
        dte.cmd("ATS7=10")
        dte.cmd("ATDT5552001", final=b"NO ANSWER\r\n", timeout=5)
    voice_line(dead)
    dead.cmd("ATDT5552001", final=b"NO DIALTONE\r\n")


def test_silent_modem_and_recovery(runner: ExchangeRunner, dte_factory) -> None:
    runner.add_line(LINE, "usr5637")
    runner.start()
    dte = dte_factory(LINE)
    dte.cmd("AT")
    runner.set_silent(LINE)
    dte.write(b"AT\r")
    assert dte.drain(0.3) == b""
    runner.set_silent(LINE, False)
    assert "OK" in dte.cmd("AT")


def test_unplug_and_replug_mid_call(runner: ExchangeRunner, dte_factory) -> None:
    runner.add_line(LINE, "cx93001")
    phone = runner.add_phone(PHONE, answer_after=None)
    runner.start()
    path = runner.device(LINE)
    dte = dte_factory(LINE)
    answered_call(runner, dte, phone, "cx93001", 1)
    runner.unplug(LINE)
    assert not Path(path).exists()
    assert runner.wait_for(lambda: "far_hangup" in phone.kinds())
    with pytest.raises(serial.SerialException):
        for _ in range(20):
            dte.port.write(b"AT\r")
            dte.port.read(10)
    runner.replug(LINE)
    assert Path(path).exists()
    fresh = dte_factory(LINE)
    assert fresh.cmd("AT") == "AT\r\r\nOK\r\n"  # power-on defaults again
    assert fresh.cmd("AT+FCLASS?").count("0") >= 1


def test_time_scaling_runs_rings_fast(runner: ExchangeRunner, dte_factory) -> None:
    runner.add_line(LINE, "mt9234mu")
    phone = runner.add_phone(PHONE, answer_after=None)
    runner.start()
    dte = dte_factory(LINE)
    start = runner.sim_now()
    phone.dial(LINE)
    _rings(dte, 3)  # 12+ simulated seconds of ringing, read within the helper's 3 s real timeouts
    assert runner.sim_now() - start >= 12.0
