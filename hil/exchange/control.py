"""A small control socket for a running exchange: one JSON object per line in, one per line out.

Requests (``op`` plus fields): ``call`` {to, from, name?, presentation?, cid_timing?, cid_format?,
cadence?, answer_after?, cpc_s?}, ``answer`` {number}, ``hangup`` {number, signal?}, ``dtmf``
{number, digits}, ``play`` {number, wav}, ``record`` {number, wav}, ``status``,
``unplug``/``replug`` {number},
``silent`` {number, on?}. Replies: ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from roamline.hil import jsonline
from roamline.hil.errors import UsageError
from roamline.hil.exchange import audio
from roamline.hil.exchange.endpoints import Phone
from roamline.hil.exchange.runner import ExchangeRunner
from roamline.hil.jsonline import JsonLineServer


class ControlServer(JsonLineServer):
    """Serves a running exchange; connections one after another (requests never run at once)."""

    name = "exchange-control"

    def __init__(self, runner: ExchangeRunner, path: str | Path) -> None:
        super().__init__(path, concurrent=False)
        self.runner = runner

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        r, ex = self.runner, self.runner.exchange
        op = req.get("op")
        if op == "status":
            with ex.lock:
                calls = [{"id": c.id, "caller": c.caller.number, "callee": getattr(c.callee, "number", None),
                          "state": c.state, "reason": c.end_reason} for c in ex.calls]
                dials = [{"at": at, "number": n, "command": cmd} for at, n, cmd in r.dials]
            return {"endpoints": r.describe(), "calls": calls, "sim_time": round(r.sim_now(), 3),
                    "dials": dials}
        if op == "call":
            src = str(req.get("from", "5550100"))
            with ex.lock:
                phone = ex.phones.get(src) or r.add_phone(src, name=req.get("name"),
                                                          answer_after=req.get("answer_after", 2) or None)
                if req.get("name") is not None:
                    phone.name = req["name"]
            cadence = tuple(float(x) for x in req["cadence"]) if req.get("cadence") else None
            cpc = req.get("cpc_s")
            if cpc is not None and (isinstance(cpc, bool) or not isinstance(cpc, int | float)):
                raise UsageError("cpc_s is a number of seconds")
            call = phone.dial(str(req["to"]), presentation=req.get("presentation", "number+name"),
                              cid_timing=req.get("cid_timing"), cid_format=req.get("cid_format", "mdmf"),
                              cadence=cadence, cpc_s=None if cpc is None else float(cpc))
            return {"call": call.id, "from": src, "to": str(req["to"])}
        if op in ("unplug", "replug", "silent"):
            number = str(req["number"])
            if number not in ex.lines:
                raise UsageError(f"no line {number}")
            if op == "silent":
                r.set_silent(number, bool(req.get("on", True)))
            else:
                getattr(r, op)(number)
            return {"number": number}
        if op not in ("answer", "hangup", "dtmf", "play", "record"):
            raise UsageError(f"unknown op {op!r}")
        phone = self._phone(str(req.get("number", "")))
        if op == "answer":
            phone.answer()
        elif op == "hangup":
            phone.hang_up(signal=req.get("signal"))
        elif op == "dtmf":
            phone.send_dtmf(str(req["digits"]))
        elif op == "play":
            phone.play(str(req["wav"]))
        else:
            audio.write_wav(str(req["wav"]), phone.heard())
        return {"number": phone.number, "state": phone.state}

    def _phone(self, number: str) -> Phone:
        phone = self.runner.exchange.phones.get(number)
        if phone is None:
            raise UsageError(f"no phone {number!r} on the exchange")
        return phone


def request(path: str | Path, req: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one request to a running exchange's control socket and return its reply."""
    return jsonline.request(path, req, timeout, "exchange")
