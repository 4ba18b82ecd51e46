"""`roamline bench e911 --json`: how fast an emergency call leaves the box and its contacts are told.

A real rig (hil.rigrun): `roamline cloud serve` with an SMTP relay, one `roamline box run` enrolled with an
address and two emergency contacts (an e-mail address and a webhook), its line a modem simulator on a pty
behind the exchange simulator (an answering point on 911), its handset the attached simulated phone; a
real SMTP server (aiosmtpd) and a real HTTP webhook receiver in this process. Each run lifts the handset,
keys 911 (DTMF, detected by the box) and hangs up once the answering point has the call.

Figures (last stdout line, one JSON object; progress on stderr). Times are ``time.monotonic()`` of the
processes involved (one clock on the machine):
- ``last_digit_to_dial_ms``: the last digit's event in the box (its DTMF detector's, the ``digit_at`` the
  box logs with ``emergency.dialled``) → the ``ATD`` command's bytes arriving at the modem's pty (the
  exchange simulator notes each). Median of the runs; ``..._max`` the worst. Target ≤ 100 ms.
- ``notify_ms``: the call placed (that dial command) → the notification received by the SMTP server and
  by the webhook, whichever is later. Median; ``..._max``. Target ≤ 2,000 ms.
- ``cpc_hold_s`` / ``cpc_last_digit_to_psap_ms``: measured separately: a caller's call rings the line and
  the exchange holds the line for that caller for ``--cpc-hold`` seconds after the box drops it
  (calling-party control); last digit → the exchange connecting the call to 911, and the dial attempts
  it took.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SUMMARY = "emergency calls: last digit to dial command, and call to contacts notified (SMTP + webhook)"

RIG = """
name = "bench-e911"
[cloud]
host = "127.0.0.1"
[[boxes]]
name = "box"
civic = {{ country = "US", A1 = "IL", A3 = "Shelbyville", HNO = "400", RD = "Harbour Road", ROOM = "B2" }}
line = {{ number = "+15550200002", modem = "cx93001" }}
phone = {{ backend = "sim" }}
emergency_contacts = ["ops@example.com", "{webhook}"]
[exchange]
answering_points = ["911"]
[[exchange.phones]]
number = "+15550300003"
name = "BOB JONES"
"""


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--runs", type=validate.count(1, 50), default=5, help="911 calls to time (default 5)")
    parser.add_argument("--cpc-hold", type=validate.Number(0.0, 60.0, unit="seconds"), default=4.0,
                        help="calling-party control hold for the separate line-busy run (default 4 s; "
                        "0: skip that run)")


def _progress(msg: str) -> None:
    print(f"bench e911: {msg}", file=sys.stderr, flush=True)


def _status(rig: Any) -> dict[str, Any]:
    return dict(rig.exchange_status())


def _psap_ids(rig: Any) -> set[int]:
    return {int(c["id"]) for c in _status(rig)["calls"] if c["callee"] == "911"}


def _wait(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.01)


def _hang_up(rig: Any, phone: Any) -> None:
    """Hang up and wait until the box's line is back on hook (a hang-up during the modem's dial waits for
    the dial's result: the cx93001 gives it once ringback has stopped)."""
    mark = rig.box_log_mark("box")
    phone.hang_up()
    rig.wait_box_event("box", "on-hook", mark, timeout=10)
    rig.wait_box_event("box", r"line\.ended", mark, timeout=20)
    time.sleep(0.3)


def _one_call(rig: Any, phone: Any, smtp: Any, hook: Any) -> dict[str, float]:
    mails, hooks = len(smtp.mails), len(hook.hooks)
    known = _psap_ids(rig)
    dials_before = len(_status(rig)["dials"])
    mark = rig.box_log_mark("box")
    phone.lift()
    phone.key_dtmf("911")
    line = rig.wait_box_event("box", r"emergency\.dialled", mark, timeout=10)
    m = re.search(r"digit_at=([0-9.]+)", line)
    if m is None:
        raise TimeoutError(f"the box logged no digit time: {line}")
    digit_at = float(m.group(1))
    dial = _wait(lambda: [d for d in _status(rig)["dials"][dials_before:] if "911" in d["command"]], 10,
                 "no dial command reached the modem")[0]
    smtp.wait(mails + 1, timeout=10)
    hook.wait(hooks + 1, timeout=10)
    if len(smtp.mails) <= mails or len(hook.hooks) <= hooks:
        raise TimeoutError("the contacts were not told within 10 s")
    told = max(smtp.mails[mails].at, hook.hooks[hooks].at)
    _wait(lambda: _psap_ids(rig) - known, 15, "the answering point never got the call")
    _hang_up(rig, phone)
    return {"last_digit_to_dial_ms": (dial["at"] - digit_at) * 1000, "notify_ms": (told - dial["at"]) * 1000}


def _cpc_call(rig: Any, phone: Any, hold_s: float) -> dict[str, Any]:
    from roamline.hil.exchange.control import request as exchange_request

    known = _psap_ids(rig)
    dials_before = len(_status(rig)["dials"])
    mark = rig.box_log_mark("box")
    exchange_request(rig.exchange_control, {"op": "call", "from": "15550300003", "to": "15550200002",
                                            "cpc_s": hold_s})
    rig.wait_box_event("box", r"line\.ring(-held)?", mark, timeout=20)
    phone.lift()
    phone.key_dtmf("911")
    line = rig.wait_box_event("box", r"emergency\.dialled", mark, timeout=10)
    m = re.search(r"digit_at=([0-9.]+)", line)
    digit_at = float(m.group(1)) if m else time.monotonic()
    _wait(lambda: _psap_ids(rig) - known, hold_s + 30, "911 never went through under calling-party control")
    reached = time.monotonic()
    attempts = len([d for d in _status(rig)["dials"][dials_before:] if "911" in d["command"]])
    _hang_up(rig, phone)
    exchange_request(rig.exchange_control, {"op": "hangup", "number": "15550300003"})
    return {"cpc_hold_s": hold_s, "cpc_last_digit_to_psap_ms": round((reached - digit_at) * 1000, 1),
            "cpc_dial_attempts": attempts}


def measure(runs: int, cpc_hold_s: float) -> dict[str, Any]:
    import tomllib

    import tomli_w

    from roamline.hil.notify_sinks import SmtpSink, WebhookSink
    from roamline.hil.rig import load_rig
    from roamline.hil.rigrun import RigRunner

    with tempfile.TemporaryDirectory(prefix="bench-e911-") as tmp, SmtpSink() as smtp, WebhookSink() as hook:
        root = Path(tmp)
        (root / "rig.toml").write_text(RIG.format(webhook=hook.url), encoding="utf-8")
        rig = RigRunner(load_rig(root / "rig.toml"), root / "run", log_level="info")
        rig.registry_args = ("--smtp-host", smtp.host, "--smtp-port", str(smtp.port))
        try:
            _progress("starting the registry, the exchange and the box")
            rig.workdir.mkdir(parents=True, exist_ok=True)
            rig.start_cloud()
            rig.start_exchange()
            rig.enroll_boxes()
            cfg_path = rig.boxes["box"].dir / "box.toml"
            cfg = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
            cfg["link"] = {"request_timeout_s": 2.0, "backoff_initial_s": 0.2, "backoff_max_s": 1.0}
            cfg_path.write_text(tomli_w.dumps(cfg), encoding="utf-8")
            rig.start_boxes()
            phone = rig.handset("box")
            rig.wait_box_event("box", "link-up", 0, timeout=20)
            cpc: dict[str, Any] = {}
            if cpc_hold_s > 0:  # first: after a 911 call, the call-back window rings the handset instead
                _progress(f"line held {cpc_hold_s:g} s by a caller (calling-party control)")
                cpc = _cpc_call(rig, phone, cpc_hold_s)
            samples = []
            for i in range(runs):
                s = _one_call(rig, phone, smtp, hook)
                _progress(f"run {i + 1}: last digit → dial {s['last_digit_to_dial_ms']:.1f} ms, "
                          f"notified {s['notify_ms']:.0f} ms")
                samples.append(s)
        finally:
            rig.stop()
    dial = [s["last_digit_to_dial_ms"] for s in samples]
    told = [s["notify_ms"] for s in samples]
    return {
        "runs": runs,
        "last_digit_to_dial_ms": round(statistics.median(dial), 1),
        "last_digit_to_dial_ms_max": round(max(dial), 1),
        "last_digit_to_dial_target_ms": 100,
        "notify_ms": round(statistics.median(told), 1),
        "notify_ms_max": round(max(told), 1),
        "notify_target_ms": 2000,
        **cpc,
    }


def run(args: argparse.Namespace) -> int:
    result = measure(args.runs, args.cpc_hold)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0
