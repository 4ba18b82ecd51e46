"""The demo's steps for the holder's service (issue 10 item 8): a personal speed-dial that works at box A
and at box B, and a filter that blocks a listed caller before any box rings (``call.filtered``).

A mixin of :class:`roamline.hil.story.Story`: it uses the story's ``events``, ``records`` and ``names``,
and the rig's operator commands (``roamline cloud speed-dials|filters|profile show``) on the registry's
store while it runs. A failed check raises :class:`ServiceStepFailed` (the story's ``step`` reports it).
"""

from __future__ import annotations

import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from roamline.hil.demo_events import DemoEvents
from roamline.hil.errors import PeerError
from roamline.hil.rig import exchange_number
from roamline.hil.rigrun import RigRunner, last_json, roamline


class ServiceStepFailed(PeerError):
    """The rig did not do what the service steps expected of it."""


def _cloud(rig: RigRunner, *args: str) -> Any:
    return last_json(roamline("cloud", *args, "--data", str(rig.cloud_dir), "--json"))


def _wav(path: Path) -> np.ndarray[Any, Any]:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def prompt_heard(heard: np.ndarray[Any, Any], said: np.ndarray[Any, Any]) -> float:
    """How well the first second of a prompt is found in a recording: the highest normalised
    correlation (by FFT), 0 … 1."""
    probe = said[:8000] - said[:8000].mean()
    if len(heard) < len(probe) or not np.any(probe):
        return 0.0
    n = 1 << int(np.ceil(np.log2(len(heard) + len(probe))))
    corr = np.fft.irfft(np.fft.rfft(heard, n) * np.conj(np.fft.rfft(probe, n)), n)[: len(heard) - len(probe)]
    energy = np.sqrt(np.convolve(heard**2, np.ones(len(probe)), "valid")[: len(corr)]) * np.linalg.norm(probe)
    # windows of (near) digital silence: the FFT's rounding noise over ~0 energy is no match
    audible = energy > 1e-3 * float(energy.max(initial=0.0))
    if not np.any(audible):
        return 0.0
    return float(np.max(corr[audible] / energy[audible]))


class ServiceSteps:
    events: DemoEvents
    records: set[str]
    names: dict[str, str]

    def _set_speed_dial(self, rig: RigRunner, holder: str, box: str, key: str, number: str) -> str:
        mark = rig.box_log_mark(box)
        shown = _cloud(rig, "speed-dials", holder, "--set", f"{key}={number}")
        if not any(d["key"] == key and d["number"] == number for d in shown["speed_dials"]):
            raise ServiceStepFailed(f"`cloud speed-dials` shows {shown['speed_dials']}")
        version = _cloud(rig, "profile", "show", holder)["version"]
        # pushed within a registry sweep (an earlier change's push may come first: wait for this version)
        rig.wait_box_event(box, f"profile-updated .*seq={version}", mark, timeout=15)
        return f"`roamline cloud speed-dials {holder} --set {key}={number}`; {box} has profile {version}"

    def _speed_dial_own_line(self, rig: RigRunner, box: str, key: str, callee: str, line: str) -> str:
        """``#key`` at ``box``: the holder's list says ``callee``, which leaves by the box's own line."""
        phone = rig.handset(box)
        mark = rig.box_log_mark(box)
        phone.lift()
        phone.key_dtmf(f"#{key}")
        told = rig.wait_box_event(box, "speed-dial", mark, timeout=15)
        if f"number={callee}" not in told:
            raise ServiceStepFailed(f"{box} dialled {told!r}, not {callee}")
        rig.wait_box_event(box, r"call\.placing .*route=own-line", mark, timeout=15)
        src, to = exchange_number(line), exchange_number(callee)
        deadline = time.monotonic() + 30
        while not any(c["caller"] == src and c["callee"] == to and c["state"] == "connected"
                      for c in rig.exchange_status()["calls"]):
            if time.monotonic() > deadline:
                raise ServiceStepFailed(f"the exchange never connected {line} to {callee}")
            time.sleep(0.1)
        # the called party answers with a greeting: the modem infers the answer from the voice
        from roamline.firmware.audio.device_file import write_wav
        from roamline.hil.voicecheck import RATE, greeting

        wav = rig.workdir / "greeting.wav"
        write_wav(wav, greeting(), RATE)
        for hello in range(1, 6):  # "hello? … hello?": until the modem streams and hears it
            rig.pstn(callee).play(wav)
            try:
                rig.wait_box_event(box, r"call\.answered .*route=own-line", mark, timeout=4)
                break
            except PeerError:  # ProcessFailed: not yet
                if hello == 5:
                    raise
        phone.hang_up()
        rig.pstn(callee).hang_up()
        rig.wait_box_event(box, r"line\.ended", mark, timeout=20)
        self.events.emit("call.answered", box=box, number=callee, via=line, speed_dial=f"#{key}")
        return (f"#{key} → {callee}: the exchange connected {line} → {callee}, it answered with a greeting "
                f"({hello}×) and {box} heard it; hung up")

    def _speed_dial_record(self, rig: RigRunner, box: str, callee: str, line: str, holder: str) -> str:
        rec = self._fresh_record(rig, callee)
        problems = [f"{k} is {got!r}, expected {exp!r}" for k, got, exp in (
            ("route", rec["route"], "own-line"), ("outcome", rec["outcome"], "answered"),
            ("terminal_box", rec["terminal_box"], rig.boxes[box].box_id),
            ("line", rec["line"], line), ("account_id", rec["account_id"], holder)) if got != exp]
        if problems:
            raise ServiceStepFailed(f"record {rec['call_id']}: " + "; ".join(problems))
        self.records.add(rec["call_id"])
        self.events.emit("cdr.recorded", box=box, number=rec["called"], call_id=rec["call_id"],
                         route=rec["route"], line=rec["line"], host_box=box, caller=rec["caller"],
                         outcome=rec["outcome"], duration_s=rec["duration_s"],
                         answer_inferred=rec["answer_inferred"], account=rec["account_id"])
        return f"`roamline cloud calls`: {rec['call_id']} [{rec['route']} via {rec['line']}] {rec['outcome']}"

    def _filter_blocks(self, rig: RigRunner, holder: str, caller: str, number: str, host: str,
                       terminal: str) -> str:
        """``holder`` blocks ``caller`` (a spoken refusal); ``caller`` calls ``number``: the host's line
        answers to say no, ``terminal``'s handset never rings; the filter is cleared afterwards."""
        _cloud(rig, "filters", holder, "--add", f"demo:block:prefixes={caller}")
        phone = rig.handset(terminal)
        before = len(phone.rings())
        mark = rig.box_log_mark(host)
        pstn = rig.pstn(caller)
        try:
            pstn.call(number)
            told = rig.wait_box_event(host, r"call\.filtered", mark, timeout=30)
            if "how=block" not in told:
                raise ServiceStepFailed(f"{host}: {told!r}")
            rig.wait_box_event(host, r"line\.ended", mark, timeout=25)  # said, then hung up
            heard = rig.workdir / "filtered-heard.wav"
            pstn.record(heard)
            said = rig.boxes[host].dir / "data" / "prompts" / "refused-filtered.wav"
            score = prompt_heard(_wav(heard), _wav(said))
            if score <= 0.5:
                raise ServiceStepFailed(f"{caller} did not hear the refusal (correlation {score:.2f})")
            if len(phone.rings()) != before:
                raise ServiceStepFailed(f"{terminal}'s handset rang for a blocked caller")
        finally:
            pstn.hang_up()
            _cloud(rig, "filters", holder, "--clear")
        self.events.emit("call.filtered", box=host, number=number, how="block", caller=caller,
                         holder=holder, heard_correlation=round(score, 2))
        return (f"{host} answered and said the refusal ({caller} heard it: correlation {score:.2f}); "
                f"{terminal}'s handset did not ring; filter cleared")

    def _filtered_record(self, rig: RigRunner, number: str, host: str, line: str) -> str:
        rec = self._fresh_record(rig, number)
        problems = [f"{k} is {got!r}, expected {exp!r}" for k, got, exp in (
            ("route", rec["route"], "incoming"), ("outcome", rec["outcome"], "filtered"),
            ("end_reason", rec["end_reason"], "filtered-block"), ("line", rec["line"], line),
            ("host_box", rec["host_box"], rig.boxes[host].box_id),
            ("terminal_box", rec["terminal_box"], None),
        ) if got != exp]
        if problems:
            raise ServiceStepFailed(f"record {rec['call_id']}: " + "; ".join(problems))
        self.records.add(rec["call_id"])
        self.events.emit("cdr.recorded", box=host, number=rec["called"], call_id=rec["call_id"],
                         route=rec["route"], line=rec["line"], host_box=host, caller=rec["caller"],
                         outcome=rec["outcome"], duration_s=rec["duration_s"],
                         answer_inferred=rec["answer_inferred"], account=rec["account_id"])
        return (f"`roamline cloud calls`: {rec['call_id']} {rec['caller']} → {rec['called']} "
                f"filtered at {host}")

    def _fresh_record(self, rig: RigRunner, number: str, timeout: float = 20.0) -> dict[str, Any]:
        """The newest closed record for ``number`` the story has not checked yet."""
        deadline = time.monotonic() + timeout
        while True:
            fresh = [r for r in rig.calls(number) if r["call_id"] not in self.records]
            if fresh and fresh[-1]["state"] == "closed":
                return fresh[-1]
            if time.monotonic() > deadline:
                raise ServiceStepFailed(f"no closed record for {number} (newest unseen: "
                                        f"{fresh[-1] if fresh else None})")
            time.sleep(0.3)
