"""Call progress events, µ-law voice, WAV play/record, inactivity timer, cadences, DLE chunking properties."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.hil.exchange import audio
from roamline.hil.exchange.core import Call, Exchange
from roamline.hil.exchange.dialects import dialect
from roamline.hil.exchange.endpoints import Phone
from roamline.hil.exchange.modem import ModemSim
from roamline.hil.exchange.runner import ExchangeRunner
from roamline.hil.exchange.testing import unshield
from roamline.hil.exchange.voicepath import VoicePath, shield

LINE, PHONE = "5551000", "5552000"


@settings(max_examples=60)
@given(payload=st.binary(max_size=600), cuts=st.lists(st.integers(0, 1200), max_size=8))
def test_dle_unshielding_is_transparent_however_split(payload: bytes, cuts: list[int]) -> None:
    vp = VoicePath()
    vp.start(dialect("usr5637").format_by_code(1), receive=False, transmit=True, now=0.0)  # type: ignore[arg-type]
    wire = shield(payload) + b"\x10\x03"
    ends = []
    for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(wire)], strict=True):
        for byte in wire[a:b]:
            ends.append(vp.dte_byte(byte))
    assert ends.count("end") == 1 and ends[-1] == "end"
    frames = []
    while vp.tx_len:
        frame, _ = vp.speak()
        frames.append(frame)
    got = audio.encode(np.concatenate(frames), "u8")[: len(payload)] if frames else b""
    assert got == payload


def test_ring_cadence_and_distinctive_ring_schedule() -> None:
    ex = Exchange(wall_clock=False)
    call = Call(1, Phone(ex, PHONE), None, started=10.0, cadence=(0.8, 0.4, 0.8, 4.0))
    assert [round(call.ring_onset(k), 2) for k in range(4)] == [10.0, 11.2, 16.0, 17.2]


def test_ringback_and_dialtone_events_and_inactivity(tmp_path: Path) -> None:
    r = ExchangeRunner(time_scale=20.0, device_dir=tmp_path)
    r.add_line(LINE, "usr5637")
    r.add_phone(PHONE, answer_after=None)
    with r:
        from roamline.hil.exchange.testing import Dte

        dte = Dte(r.device(LINE))
        dte.cmd("ATE0")
        dte.cmd("AT+FCLASS=8")
        dte.cmd(f"ATDT{PHONE}", final=b"VCON\r\n")  # USR: answers once the digits are out
        _, events = unshield(dte.drain(0.5))
        assert events.count("r") >= 2  # a DLE r for every ringback burst
        dte.cmd("ATH")
        dte.cmd("AT+VLS=1")
        dte.cmd("AT+VRX", final=b"CONNECT\r\n")
        data, events = unshield(dte.drain(0.3))
        assert "d" in events and audio.rms(audio.decode(data[:4000], "s8")) > 1000  # dial tone heard
        dte.write(b"\x10!")
        dte.read_until(b"OK\r\n")
        dte.cmd("AT+VIT=2")
        assert r.wait_for(lambda: not r.line(LINE).off_hook, timeout=2)  # no DTE activity: on-hook
        dte.close()
    assert not r.errors


def test_ulaw_voice_and_wav_play_record(tmp_path: Path) -> None:
    r = ExchangeRunner(time_scale=20.0, device_dir=tmp_path)
    r.add_line(LINE, "cx93001")
    phone = r.add_phone(PHONE, answer_after=1)
    wav = tmp_path / "hello.wav"
    audio.write_wav(wav, audio.tone((600,), 0.5, level=0.5))
    with r:
        from roamline.hil.exchange.testing import Dte

        dte = Dte(r.device(LINE))
        dte.cmd("ATE0")
        dte.cmd("AT+FCLASS=8;+VSM=4,8000")  # G711U on this dialect
        dte.cmd(f"ATDT{PHONE}", timeout=5)  # OK once ringback has gone away for +VRA
        dte.cmd("AT+VTR", final=b"CONNECT\r\n")
        phone.play(wav)
        tone = audio.encode(audio.tone((1000,), 0.4, level=0.5), "ulaw")
        dte.write(shield(tone))
        data, _ = unshield(dte.drain(0.5))
        got = audio.decode(data, "ulaw")
        ref = audio.tone((600,), 0.5, level=0.5)
        corr = np.correlate(got.astype(float), ref[:800].astype(float), "valid")
        assert corr.max() > 0.9 * float(np.dot(ref[:800].astype(float), ref[:800].astype(float)))
        dte.write(b"\x10!")
        dte.read_until(b"OK\r\n")
        out = tmp_path / "heard.wav"
        heard = phone.heard()
        audio.write_wav(out, heard)
        spectrum = np.abs(np.fft.rfft(audio.read_wav(out).astype(float)))
        assert abs(np.argmax(spectrum) * audio.RATE / len(heard) - 1000) < 20
        dte.close()
    assert not r.errors


def test_modem_hangs_up_mid_call_phone_hears_it(tmp_path: Path) -> None:
    ex = Exchange(wall_clock=False)
    line = ex.add_line(LINE, "mt9234mu")
    phone = ex.add_phone(PHONE, answer_after=None)
    m = line.modem
    assert isinstance(m, ModemSim)
    m.feed(b"ATE0\rAT+FCLASS=8\r", 0.0)
    phone.dial(LINE)
    for t in np.arange(0.0, 3.0, 0.02):
        ex.tick(float(t))
    m.feed(b"ATA\r", 3.0)
    ex.tick(3.02)
    assert phone.state == "connected"
    m.feed(b"ATH\r", 4.0)
    ex.tick(4.02)
    assert phone.kinds()[-1] in ("far_hangup", "ended") and "far_hangup" in phone.kinds()


def test_call_waiting_tone_then_waiting_call_rings(tmp_path: Path) -> None:
    r = ExchangeRunner(time_scale=20.0, device_dir=tmp_path)
    r.add_line(LINE, "mt9234mu", call_waiting=True)
    first = r.add_phone(PHONE, answer_after=None)
    second = r.add_phone("5552001", answer_after=None)
    with r:
        from roamline.hil.exchange.testing import Dte

        dte = Dte(r.device(LINE))
        dte.cmd("ATE0")
        dte.cmd("AT+FCLASS=8;+VSM=133,8000")
        first.dial(LINE)
        dte.read_until(b"RING\r\n")
        dte.cmd("ATA")
        dte.cmd("AT+VRX", final=b"CONNECT\r\n")
        second.dial(LINE)
        assert second.state == "waiting"
        data, _ = unshield(dte.drain(0.2))
        heard = audio.decode(data, "s16le")
        spectrum = np.abs(np.fft.rfft(heard.astype(float)))
        assert abs(np.argmax(spectrum) * audio.RATE / len(heard) - 440) < 15  # the call-waiting burst
        dte.write(b"\x10!")
        dte.read_until(b"OK\r\n")
        dte.cmd("ATH")
        assert "far_hangup" in first.kinds()
        dte.read_until(b"RING\r\n")  # the waiting call now rings the line
        dte.cmd("ATA")
        assert r.wait_for(lambda: second.state == "connected")
        dte.close()
    assert not r.errors
