"""The phone attached to a box process: control socket and commands against a handset runner in a
subprocess (``hil.handset_box``: the firmware's runner on the ``sim`` backend found by entry point)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roamline.firmware.audio.device_file import read_wav
from roamline.hil.content import check_dtmf, check_tone
from roamline.hil.errors import UsageError
from roamline.hil.handset_control import HandsetClient, request
from roamline.hil.proc import ManagedProcess

BOX = [sys.executable, "-m", "roamline.hil.handset_box"]
CLI = [sys.executable, "-m", "roamline.cli.main", "hil", "handset"]


class Box:
    def __init__(self, tmp: Path, *args: str) -> None:
        self.control = tmp / "handset.sock"
        self.proc = ManagedProcess("handset-box", [*BOX, "--control", str(self.control), *args],
                                   ready=r'"state": "running"')
        self.phone = HandsetClient(self.control)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        out = []
        for line in self.proc.output():
            if line.startswith('{"event"'):
                e = json.loads(line)
                if kind is None or e["event"] == kind:
                    out.append(e)
        return out

    def wait_event(self, kind: str, n: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.events(kind)) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {n}× {kind} in {timeout}s: {self.proc.tail(12)}")
            time.sleep(0.05)
        return self.events(kind)


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    b = Box(tmp_path)
    with b.proc:
        b.phone.wait_ready()
        yield b


def test_lifting_hears_the_firmware_dial_tone_and_keyed_dtmf_reaches_its_detector(box: Box,
                                                                                  tmp_path: Path) -> None:
    box.phone.lift()
    assert box.wait_event("OffHook")[0]["answered"] is False
    rec = tmp_path / "dial.wav"
    reply = box.phone.record(rec, 0.6)
    assert reply["seconds"] == 0.6
    x = read_wav(rec, 8000)
    assert check_tone(x, 8000, (350, 440), min_s=0.5).ok  # the US plan's dial tone, played by the firmware
    assert not check_tone(x, 8000, (480, 620)).ok  # not busy
    box.phone.key_dtmf("159#*0D")
    digits = box.wait_event("Digit", 7)
    assert "".join(d["digit"] for d in digits) == "159#*0D"
    assert {d["source"] for d in digits} == {"dtmf"}
    box.phone.dial("+1 555-0100")
    assert "".join(d["digit"] for d in box.wait_event("Digit", 15)[7:]) == "15550100"


def test_pulse_dialling_flash_and_hang_up_reach_the_hook_core(box: Box) -> None:
    box.phone.lift()
    box.phone.dial_pulses("307", pps=10, break_ratio=0.6, gap_ms=500)
    digits = box.wait_event("Digit", 3)
    assert [(d["digit"], d["source"]) for d in digits] == [("3", "pulse"), ("0", "pulse"), ("7", "pulse")]
    box.phone.flash(350)
    flash = box.wait_event("HookFlash")[0]
    assert 300 <= flash["duration_ms"] <= 420
    box.phone.hang_up()
    box.wait_event("OnHook")
    assert box.phone.status()["off_hook"] is False


@pytest.mark.parametrize(("cadence", "country", "number", "name"), [
    ("us-dr2", "US", "5551234567", "ALICE SMITH"),
    ("us-dr4", "US", "5550100", None),
    ("uk", "UK", "01632960123", "BOB"),  # V.23 caller ID before the first ring, UK double ring
])
def test_rings_report_their_cadence_and_the_caller_id_the_box_sent(tmp_path: Path, cadence: str, country: str,
                                                                   number: str, name: str | None) -> None:
    args = ["--ring", cadence, "--country", country, "--cid-number", number]
    if name:
        args += ["--cid-name", name]
    b = Box(tmp_path, *args)
    with b.proc:
        from roamline.board.core.cadence import CADENCES

        cad = CADENCES[cadence]
        ring = b.phone.wait_ring(bursts=len(cad) // 2 + 1, caller_id=True, timeout=20)
        assert ring["cadence"] == cadence
        measured = ring["cadence_ms"][:len(cad)]
        assert all(abs(m - c) <= 40 for m, c in zip(measured, cad, strict=True)), measured
        assert ring["caller_id"]["number"] == number
        assert ring["caller_id"]["name"] == name
        assert ring["ringing"] is True and ring["answered"] is False
        # lifting answers: the ring trips, the episode ends answered, the far end's voice is heard
        b.phone.lift()
        b.wait_event("RingTrip")
        assert b.wait_event("OffHook")[0]["answered"] is True
        ring = b.phone.rings()[0]
        assert ring["answered"] is True and ring["ringing"] is False
        b.phone.record_start()
        time.sleep(0.5)
        rec = tmp_path / "voice.wav"
        assert b.phone.record_stop(rec)["seconds"] >= 0.4
        assert check_tone(read_wav(rec, 8000), 8000, 1000.0, min_s=0.3).ok


def test_a_48k_handset_codec_still_carries_dtmf_and_tones(tmp_path: Path) -> None:
    b = Box(tmp_path, "--rate", "48000")
    with b.proc:
        b.phone.wait_ready()
        assert b.phone.status()["rate"] == 48000
        b.phone.lift()
        rec = tmp_path / "dial48.wav"
        b.phone.record(rec, 0.5)
        assert check_tone(read_wav(rec, 48000), 48000, (350, 440), min_s=0.3).ok
        b.phone.key_dtmf("42")
        assert "".join(d["digit"] for d in b.wait_event("Digit", 2)) == "42"


def test_tone_and_wav_into_the_mouthpiece_are_what_the_box_reads(box: Box, tmp_path: Path) -> None:
    """A WAV of DTMF at another rate, played into the mouthpiece, is decoded by the firmware."""
    from roamline.firmware.audio.device_file import write_wav
    from roamline.hil.handset import dtmf_audio

    wav = tmp_path / "keys16k.wav"
    write_wav(wav, dtmf_audio("7*", 16000), 16000)
    box.phone.lift()
    box.phone.play(wav)
    box.phone.tone((941, 1336), 120)  # the 0 key's two tones, made as a plain tone
    assert "".join(d["digit"] for d in box.wait_event("Digit", 3)) == "7*0"
    assert check_dtmf(dtmf_audio("7*", 8000), 8000, "7*").ok


def test_refusals_are_reasons_not_crashes(box: Box, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="needs the handset lifted"):
        box.phone.flash()
    with pytest.raises(UsageError, match="rotary dial has only digits"):
        box.phone.call("pulse", digits="12#")
    with pytest.raises(UsageError, match="unknown op"):
        box.phone.call("explode")
    with pytest.raises(UsageError, match="not being recorded"):
        box.phone.record_stop(tmp_path / "x.wav")
    with pytest.raises(UsageError, match="no ring"):
        box.phone.wait_ring(timeout=0.3)
    assert request(box.control, {"op": "dtmf"})["ok"] is False  # missing field
    # not JSON: answered with a reason, and the socket keeps serving
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(box.control))
        s.settimeout(10)
        s.sendall(b"{nope\n[1]\n")
        f = s.makefile()
        replies = f.readline(), f.readline()
    assert all('"ok": false' in r for r in replies)
    assert box.phone.status()["off_hook"] is False


def test_commands_print_json_and_fail_with_one_line(box: Box, tmp_path: Path) -> None:
    env_ctl = ["--control", str(box.control)]
    out = subprocess.run([*CLI, *env_ctl, "lift"], capture_output=True, text=True, check=True, timeout=30)
    assert json.loads(out.stdout)["off_hook"] is True
    rec = tmp_path / "cli.wav"
    out = subprocess.run([*CLI, *env_ctl, "record", str(rec), "--seconds", "0.3"], capture_output=True,
                         text=True, check=True, timeout=30)
    assert json.loads(out.stdout)["seconds"] == 0.3 and rec.exists()
    subprocess.run([*CLI, *env_ctl, "dtmf", "88"], check=True, capture_output=True, timeout=30)
    assert "".join(d["digit"] for d in box.wait_event("Digit", 2)) == "88"
    bad = subprocess.run([*CLI, *env_ctl, "pulse", "1*"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    gone = subprocess.run([*CLI, "--control", str(tmp_path / "none.sock"), "status"], capture_output=True,
                          text=True, timeout=30)
    assert gone.returncode == 2 and "no such socket" in gone.stderr and len(gone.stderr.splitlines()) == 1
    rings = subprocess.run([*CLI, *env_ctl, "rings"], capture_output=True, text=True, check=True, timeout=30)
    assert json.loads(rings.stdout)["rings"] == []
    assert np.isfinite(box.phone.status()["audio_late_ms"])


def test_the_handset_end_of_a_voice_check_speaks_and_listens(tmp_path: Path) -> None:
    """voicecheck.HandsetEnd: what it says reaches the firmware (DTMF), what it hears is the box's audio."""
    from roamline.hil.voicecheck import HandsetEnd, Probe

    b = Box(tmp_path, "--ring", "us", "--voice-hz", "1400")
    with b.proc:
        b.phone.wait_ring(timeout=10)
        b.phone.lift()
        b.wait_event("RingTrip")
        end = HandsetEnd(b.phone, "box", workdir=tmp_path)
        end.listen_start()
        end.say(Probe("dtmf", digits="369").audio())
        time.sleep(1.0)
        heard = end.listen_stop()
        assert "".join(d["digit"] for d in b.wait_event("Digit", 3)) == "369"
        assert Probe("tone", hz=1400).check(heard, heard).ok  # the box's far-end stand-in
        assert not Probe("tone", hz=1004).check(heard, heard).ok
