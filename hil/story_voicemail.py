"""The demo's voicemail steps (issue 10 item 8): nobody answers the holder's number → box A's line
records the caller's message and the registry holds it (``voicemail.recorded``) → the handset at the box
the card is in shows message waiting and gives stutter dial tone on lift (``mwi.on``, checked by the
cadence the earpiece records) → ``*98`` plays the message (checked by content: the caller's tone is in
the earpiece) → ``7`` deletes it and message waiting goes off (``mwi.off``).

The unanswered call reaches the holder's number on box A's host line (her card in box B): box B's own
line is another holder's. A mixin of :class:`roamline.hil.story.Story` like ``story_service``.
"""

from __future__ import annotations

import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from roamline.hil.demo_events import DemoEvents
from roamline.hil.errors import PeerError
from roamline.hil.rigrun import RigRunner, last_json, roamline


class VoicemailStepFailed(PeerError):
    """The rig did not do what the voicemail steps expected of it."""


def _cloud(rig: RigRunner, *args: str) -> Any:
    return last_json(roamline("cloud", *args, "--data", str(rig.cloud_dir), "--json"))


def read_wav(path: Path) -> tuple[np.ndarray[Any, Any], int]:
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64), rate


def write_tone(path: Path, hz: float, seconds: float, rate: int = 8000) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    x = (np.sin(2 * np.pi * hz * t) * 32767 * 10 ** (-12 / 20)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(x.tobytes())
    return path


def tone_seconds(x: np.ndarray[Any, Any], rate: int, hz: float) -> float:
    """How many seconds of ``x`` (20 ms blocks) hold mostly ``hz`` (Goertzel power vs the block's)."""
    n = rate // 50
    k = np.exp(-2j * np.pi * hz * np.arange(n) / rate)
    found = 0
    for i in range(0, len(x) - n + 1, n):
        block = x[i:i + n]
        total = float(np.sum(block ** 2))
        if total < n * 100.0 ** 2:  # quieter than −50 dBFS
            continue
        if abs(np.dot(block, k)) ** 2 * 2 / n / total > 0.6:
            found += 1
    return found * n / rate


def tone_runs(x: np.ndarray[Any, Any], rate: int, freqs: tuple[float, ...]) -> list[int]:
    """On/off run lengths (ms), starting with the first on run, of a tone made of ``freqs`` (as
    tests/firmware/handset/conftest.py measures them); the last, cut-off run is dropped."""
    t = np.arange(len(x)) / rate
    length = round(2 / abs(freqs[1] - freqs[0]) * rate) if len(freqs) == 2 else round(0.01 * rate)
    w = np.hanning(length + 2)[1:-1]
    w /= w.sum()
    env = sum(np.abs(np.convolve(x * np.exp(-2j * np.pi * f * t), w, mode="same")) for f in freqs)
    on = np.asarray(env > 0.5 * np.percentile(env, 99))
    start = int(np.argmax(on))
    edges = np.flatnonzero(np.diff(on[start:].astype(int))) + 1
    bounds = [0, *edges.tolist(), len(x) - start]
    return [round(r * 1000 / rate) for r in np.diff(bounds)[:-1]]


class VoicemailSteps:
    events: DemoEvents
    records: set[str]
    _vm_message: dict[str, Any]
    _vm_holder: str

    def _vm_messages(self, rig: RigRunner, holder: str) -> list[dict[str, Any]]:
        return list(_cloud(rig, "voicemail", "list", holder))

    def _vm_unanswered(self, rig: RigRunner, holder: str, caller: str, number: str, host: str,
                       terminal: str, hz: float = 700.0, seconds: float = 3.0) -> str:
        """``caller`` calls ``number``; ``terminal`` rings, nobody lifts; ``host``'s line answers with the
        greeting and beep, records a tone, the registry stores it with the missed call."""
        _cloud(rig, "profile", "set", holder, "--voicemail-timeout", "6")
        phone = rig.handset(terminal)
        rings = len(phone.rings())
        mark = rig.box_log_mark(host)
        pstn = rig.pstn(caller)
        pstn.call(number)
        try:
            rig.wait_box_event(host, "voicemail.recording", mark, timeout=30)
            time.sleep(0.3)
            digits = number.lstrip("+")
            greeting = rig.boxes[host].dir / "data" / "prompts" / f"greeting-{digits}.wav"
            said, rate = read_wav(greeting)
            time.sleep(len(said) / rate + 0.2 + 0.4 + 0.3)  # greeting, pause, beep
            pstn.play(write_tone(rig.workdir / "vm-say.wav", hz, seconds))
            time.sleep(seconds + 0.5)
        finally:
            pstn.hang_up()
        if len(phone.rings()) <= rings:
            raise VoicemailStepFailed(f"{terminal}'s handset did not ring before voicemail took the call")
        line = rig.wait_box_event(host, r"voicemail\.recorded", mark, timeout=25)
        deadline = time.monotonic() + 30
        while not (got := self._vm_messages(rig, holder)) and time.monotonic() < deadline:
            time.sleep(0.5)
        if len(got) != 1:
            raise VoicemailStepFailed(f"the registry holds {len(got)} messages for {holder}: {got}")
        msg = got[0]
        out = rig.workdir / "vm-stored.wav"
        _cloud(rig, "voicemail", "play", msg["message_id"], "--out", str(out))
        stored, srate = read_wav(out)
        held = tone_seconds(stored, srate, hz)
        if held < seconds - 0.5:
            raise VoicemailStepFailed(f"the stored message holds {held:.1f} s of {hz:g} Hz, not ~{seconds} s")
        self._vm_message = msg
        self._vm_holder = holder
        self.events.emit("voicemail.recorded", box=host, number=number, message_id=msg["message_id"],
                         call_id=msg["call_id"], caller=msg["caller"], duration_s=msg["duration_s"],
                         audio_bytes=msg["audio_bytes"], tone_s=round(held, 2), holder=holder)
        chunks = line.split("chunks=")[1].split()[0] if "chunks=" in line else "?"
        return (f"{terminal} rang, nobody lifted; {host}'s line answered and recorded ({chunks} chunks); "
                f"`cloud voicemail list`: {msg['message_id']} {msg['duration_s']:.1f} s; "
                f"`cloud voicemail play`: {held:.1f} s of {hz:g} Hz")

    def _vm_missed_record(self, rig: RigRunner, number: str, host: str) -> str:
        msg = self._vm_message
        deadline = time.monotonic() + 20
        while True:
            recs = [r for r in rig.calls(number) if r["call_id"] == msg["call_id"]]
            if recs and recs[0]["state"] == "closed":
                break
            if time.monotonic() > deadline:
                raise VoicemailStepFailed(f"no closed record {msg['call_id']} ({recs})")
            time.sleep(0.3)
        rec = recs[0]
        if rec["outcome"] != "missed":
            raise VoicemailStepFailed(f"record {rec['call_id']}: outcome {rec['outcome']!r}, not missed")
        self.records.add(rec["call_id"])
        self.events.emit("cdr.recorded", box=host, number=rec["called"], call_id=rec["call_id"],
                         route=rec["route"], line=rec["line"], host_box=host, caller=rec["caller"],
                         outcome=rec["outcome"], duration_s=rec["duration_s"],
                         answer_inferred=rec["answer_inferred"], account=rec["account_id"])
        return f"`roamline cloud calls`: {rec['call_id']} [{rec['route']} via {rec['line']}] missed"

    def _vm_stutter(self, rig: RigRunner, number: str, box: str) -> str:
        """Message waiting is on at ``box``'s handset; on lift the earpiece hears stutter dial tone."""
        phone = rig.handset(box)
        deadline = time.monotonic() + 15
        while not (phone.message_waiting() and phone.message_waiting()[-1]["active"]):
            if time.monotonic() > deadline:
                raise VoicemailStepFailed(f"{box}'s handset got no message waiting on")
            time.sleep(0.2)
        phone.record_start()
        phone.lift()
        time.sleep(2.5)
        heard = rig.workdir / "vm-stutter.wav"
        phone.record_stop(heard)
        x, rate = read_wav(heard)
        runs = tone_runs(x, rate, (350.0, 440.0))
        if len(runs) < 10 or not all(abs(r - 100) <= 15 for r in runs[1:10]):
            raise VoicemailStepFailed(f"no US stutter (100/100 ms) in {box}'s earpiece: runs {runs[:20]} ms")
        self.events.emit("mwi.on", box=box, number=number, stutter_runs_ms=runs[:10])
        return f"message waiting on; lifted: the earpiece heard 350+440 Hz in runs of {runs[1:9]} ms"

    def _vm_play(self, rig: RigRunner, number: str, box: str, hz: float = 700.0) -> str:
        """``*98`` (the handset is off hook) plays the message: the caller's tone is in the earpiece;
        ``7`` deletes it; on hook, message waiting goes off."""
        msg = self._vm_message
        phone = rig.handset(box)
        mark = rig.box_log_mark(box)
        phone.dial("*98")
        rig.wait_box_event(box, r"voicemail\.mailbox", mark, timeout=15)
        phone.record_start()
        line = rig.wait_box_event(box, r"voicemail\.playing", mark, timeout=15)
        if msg["message_id"] not in line:
            raise VoicemailStepFailed(f"{box} plays another message: {line}")
        time.sleep(msg["duration_s"] + 1.0)
        heard = rig.workdir / "vm-earpiece.wav"
        phone.record_stop(heard)
        x, rate = read_wav(heard)
        held = tone_seconds(x, rate, hz)
        if held < 2.0:
            raise VoicemailStepFailed(f"the earpiece heard {held:.1f} s of the caller's {hz:g} Hz")
        self.events.emit("voicemail.played", box=box, number=number, message_id=msg["message_id"],
                         tone_hz=hz, tone_s=round(held, 2))
        phone.key_dtmf("7")
        rig.wait_box_event(box, r"voicemail\.marked", mark, timeout=15)
        deadline = time.monotonic() + 15
        while self._vm_messages(rig, self._vm_holder):
            if time.monotonic() > deadline:
                raise VoicemailStepFailed("the message is still at the registry after 7")
            time.sleep(0.3)
        off_mark = rig.box_log_mark(box)
        phone.hang_up()
        rig.wait_box_event(box, "on-hook", off_mark, timeout=10)
        deadline = time.monotonic() + 20
        while phone.message_waiting()[-1]["active"]:
            if time.monotonic() > deadline:
                raise VoicemailStepFailed(f"{box}'s message waiting stayed on after the delete")
            time.sleep(0.2)
        self.events.emit("mwi.off", box=box, number=number)
        return (f"the earpiece heard {held:.1f} s of the caller's {hz:g} Hz; 7 deleted it at the "
                "registry; on hook, message waiting went off")
