"""A small control socket for a running exchange: one JSON object per line in, one per line out.

Requests (``op`` plus fields): ``call`` {to, from, name?, presentation?, cid_timing?, cid_format?,
cadence?, answer_after?, cpc_s?}, ``answer`` {number}, ``hangup`` {number, signal?}, ``dtmf``
{number, digits}, ``play`` {number, wav}, ``record`` {number, wav}, ``status``,
``unplug``/``replug`` {number},
``silent`` {number, on?}. Replies: ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from pathlib import Path
from typing import Any

from roamline.hil.errors import HilError, UsageError
from roamline.hil.exchange import audio
from roamline.hil.exchange.endpoints import Phone
from roamline.hil.exchange.runner import ExchangeRunner

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024


class ControlServer:
    def __init__(self, runner: ExchangeRunner, path: str | Path) -> None:
        self.runner = runner
        self.path = Path(path)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def open(self) -> None:
        if self._sock is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.path))
        sock.listen(8)
        sock.settimeout(0.2)
        self._sock = sock
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="exchange-control", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2.0)
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        buf = b""
        while b"\n" not in buf:
            try:
                chunk = conn.recv(4096)
            except OSError:
                return
            if not chunk:
                break
            buf += chunk
            if len(buf) > MAX_REQUEST:
                conn.sendall(b'{"ok": false, "error": "request too long"}\n')
                return
        for raw in buf.splitlines():
            if raw.strip():
                conn.sendall(json.dumps(self.handle_line(raw)).encode() + b"\n")

    def handle_line(self, raw: bytes) -> dict[str, Any]:
        try:
            req = json.loads(raw)
            if not isinstance(req, dict):
                raise UsageError("a request is a JSON object")
            return {"ok": True, **self.handle(req)}
        except (ValueError, HilError, KeyError, TypeError) as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

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
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
        except OSError as exc:
            raise UsageError(f"no exchange listening at {path}: {exc.strerror}") from None
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    reply = json.loads(buf.decode() or "{}")
    if not isinstance(reply, dict):
        raise UsageError("the exchange sent a reply that is not a JSON object")
    return reply
