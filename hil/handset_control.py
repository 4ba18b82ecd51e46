"""The attached phone's control socket: one JSON object per line in, one per line out (as the exchange's).

Requests (``op`` plus fields; ``wait``: reply once the action has been carried out):

==============  =====================================================================================
``status``      off_hook, ringing, rate, mic_queued_s, recording, rings (count), audio_late_ms, now
``lift``        {wait?}                       ``hangup`` {wait?}        ``flash`` {ms=300, wait?}
``pulse``       {digits, pps=10, break_ratio=0.6, gap_ms=600, wait?}    rotary dialling
``dtmf``        {keys, on_ms=80, off_ms=80, wait?}                      keypad tones into the mouthpiece
``play``        {wav, wait?}                                            a WAV into the mouthpiece
``tone``        {freqs: [Hz, ...], ms, level_dbfs=-12, wait?}           a tone into the mouthpiece
``quiet``       stop what is being said into the mouthpiece
``record``      {wav, seconds}: the next seconds of the earpiece (replies when done)
``record_start`` / ``record_stop`` {wav}: record the earpiece between the two
``rings``       {after=0}: ring episodes (cadence_ms, cadence, bursts, ringing, answered, caller_id)
``wait_ring``   {after=0, bursts=1, caller_id=false, timeout=10}: the first such episode
``caller_ids``  every caller ID decoded from the earpiece; ``mwi``: message-waiting signals decoded
==============  =====================================================================================

Replies: ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. A connection may carry several
requests; each connection is served by its own thread, so a long ``record`` does not hold others up.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from roamline.hil import jsonline
from roamline.hil.errors import UsageError
from roamline.hil.handset_phone import Phone
from roamline.hil.jsonline import JsonLineServer


def _num(req: dict[str, Any], key: str, default: float) -> float:
    v = req.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise UsageError(f"{key} must be a number")
    return float(v)


class HandsetControlServer(JsonLineServer):
    """Serves one phone on a Unix socket, each connection in its own thread."""

    name = "handset-control"

    def __init__(self, phone: Phone, path: str | Path) -> None:
        super().__init__(path, concurrent=True)
        self.phone = phone

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        p = self.phone
        op = req.get("op")
        done: float | None = None
        if op == "status":
            return p.status()
        if op == "lift":
            done = p.lift()
        elif op == "hangup":
            done = p.hang_up()
        elif op == "flash":
            done = p.flash(_num(req, "ms", 300))
        elif op == "pulse":
            done = p.dial_pulses(str(req["digits"]), _num(req, "pps", 10), _num(req, "break_ratio", 0.6),
                                 _num(req, "gap_ms", 600))
        elif op == "dtmf":
            done = p.key_dtmf(str(req["keys"]), int(_num(req, "on_ms", 80)), int(_num(req, "off_ms", 80)))
        elif op == "play":
            done = p.play(str(req["wav"]))
        elif op == "tone":
            freqs = req.get("freqs")
            if not isinstance(freqs, list) or not freqs:
                raise UsageError("freqs must be a list of frequencies in Hz")
            done = p.tone(tuple(float(f) for f in freqs), _num(req, "ms", 1000), _num(req, "level_dbfs", -12))
        elif op == "quiet":
            p.quiet()
            return {}
        elif op == "record":
            wav = str(req["wav"])
            x = p.record(_num(req, "seconds", 1.0))
            p.save(x, wav)
            return {"wav": wav, "seconds": round(len(x) / p.rate, 3), "rate": p.rate}
        elif op == "record_start":
            p.record_start()
            return {}
        elif op == "record_stop":
            wav = str(req["wav"])
            x = p.record_stop()
            p.save(x, wav)
            return {"wav": wav, "seconds": round(len(x) / p.rate, 3), "rate": p.rate}
        elif op == "rings":
            return {"rings": p.rings(int(_num(req, "after", 0)))}
        elif op == "wait_ring":
            return {"ring": p.wait_ring(int(_num(req, "after", 0)), int(_num(req, "bursts", 1)),
                                        bool(req.get("caller_id", False)), _num(req, "timeout", 10))}
        elif op == "caller_ids":
            return {"caller_ids": p.caller_ids()}
        elif op == "mwi":
            return {"mwi": p.message_waiting()}
        else:
            raise UsageError(f"unknown op {op!r}")
        if req.get("wait"):
            p.wait_until(done)
        return {"done_at": round(done, 4), "off_hook": p.off_hook}


def request(path: str | Path, req: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
    """Send one request to a phone's control socket; its reply (PeerError if none came)."""
    return jsonline.request(path, req, timeout, "handset")


class HandsetClient:
    """The Python face of a phone's control socket, for tests, rigs and the demo. Each method raises
    UsageError with the phone's reason when the phone refuses."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def call(self, op: str, timeout: float = 15.0, **fields: Any) -> dict[str, Any]:
        """One request; ``timeout`` is how long to wait for the reply (not a request field)."""
        return request_ok(self.path, {"op": op, **fields}, timeout)

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.status()
                return
            except UsageError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def status(self) -> dict[str, Any]:
        return self.call("status")

    def lift(self, wait: bool = True) -> dict[str, Any]:
        return self.call("lift", wait=wait)

    def hang_up(self, wait: bool = True) -> dict[str, Any]:
        return self.call("hangup", wait=wait)

    def flash(self, ms: float = 300, wait: bool = True) -> dict[str, Any]:
        return self.call("flash", ms=ms, wait=wait)

    def dial_pulses(self, digits: str, pps: float = 10, break_ratio: float = 0.6, gap_ms: float = 600,
                    wait: bool = True) -> dict[str, Any]:
        t = len(digits) * (1.0 + gap_ms / 1000) + 5
        return self.call("pulse", timeout=t, digits=digits, pps=pps, break_ratio=break_ratio, gap_ms=gap_ms,
                         wait=wait)

    def key_dtmf(self, keys: str, on_ms: int = 80, off_ms: int = 80, wait: bool = True) -> dict[str, Any]:
        return self.call("dtmf", timeout=len(keys) * (on_ms + off_ms) / 1000 + 15, keys=keys, on_ms=on_ms,
                         off_ms=off_ms, wait=wait)

    def dial(self, number: str, wait: bool = True) -> dict[str, Any]:
        """Key a number on the keypad as a person does (DTMF; ``+``, spaces and dashes skipped)."""
        keys = "".join(ch for ch in number if ch not in "+ -()")
        return self.key_dtmf(keys, on_ms=90, off_ms=90, wait=wait)

    def play(self, wav: str | Path, wait: bool = True) -> dict[str, Any]:
        return self.call("play", timeout=620, wav=str(wav), wait=wait)

    def tone(self, freqs: tuple[float, ...] | list[float], ms: float, level_dbfs: float = -12,
             wait: bool = True) -> dict[str, Any]:
        return self.call("tone", timeout=ms / 1000 + 15, freqs=list(freqs), ms=ms, level_dbfs=level_dbfs,
                         wait=wait)

    def quiet(self) -> None:
        self.call("quiet")

    def record(self, wav: str | Path, seconds: float) -> dict[str, Any]:
        return self.call("record", timeout=seconds + 15, wav=str(wav), seconds=seconds)

    def record_start(self) -> None:
        self.call("record_start")

    def record_stop(self, wav: str | Path) -> dict[str, Any]:
        return self.call("record_stop", wav=str(wav))

    def rings(self, after: int = 0) -> list[dict[str, Any]]:
        return list(self.call("rings", after=after)["rings"])

    def wait_ring(self, after: int = 0, bursts: int = 1, caller_id: bool = False,
                  timeout: float = 10.0) -> dict[str, Any]:
        """The first ring episode numbered ``after`` or later with ``bursts`` bursts (and caller ID)."""
        return dict(request_ok(self.path, {"op": "wait_ring", "after": after, "bursts": bursts,
                                           "caller_id": caller_id, "timeout": timeout}, timeout + 5)["ring"])

    def caller_ids(self) -> list[dict[str, Any]]:
        return list(self.call("caller_ids")["caller_ids"])

    def message_waiting(self) -> list[dict[str, Any]]:
        return list(self.call("mwi")["mwi"])


def request_ok(path: str | Path, req: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
    """``request`` that raises UsageError with the phone's reason when it refuses."""
    reply = request(path, req, timeout)
    if not reply.get("ok"):
        raise UsageError(f"handset {req.get('op')}: {reply.get('error', 'failed')}")
    return reply
