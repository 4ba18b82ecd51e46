"""`roamline hil handset …`: drive the simulated phone attached to a running box (its control socket).

Each subcommand sends one request and prints the reply as one JSON line; a refusal exits 1 with the
phone's reason on stderr. The socket is ``--control`` or ``$ROAMLINE_HANDSET_CONTROL``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

SUMMARY = "lift, hang up, flash, dial, speak into and record the simulated handset attached to a box"

ENV = "ROAMLINE_HANDSET_CONTROL"


def _ms(lo: float, hi: float) -> Any:
    from roamline.wire import validate

    return validate.Number(lo, hi, unit="ms")


def _wait_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-wait", dest="wait", action="store_false",
                   help="reply at once instead of when the action has been carried out")


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    text = validate.Parsed("text", str, "1")
    wav_in, wav_out = validate.ExistingFile(), validate.NewFile(overwrite=True)
    parser.add_argument("--control", default=os.environ.get(ENV), type=validate.Socket("is the box running?"),
                        help=f"the phone's control socket (default ${ENV})")
    sub = parser.add_subparsers(dest="op", required=True, metavar="COMMAND")
    sub.add_parser("status", help="hook state, ringing, what is queued and recorded")
    _wait_flag(sub.add_parser("lift", help="lift the handset (answers a ringing call)"))
    _wait_flag(sub.add_parser("hangup", help="put the handset down"))
    p = sub.add_parser("flash", help="press the cradle briefly (hook flash)")
    p.add_argument("--ms", type=_ms(10, 5000), default=300.0)
    _wait_flag(p)
    p = sub.add_parser("dtmf", help="key DTMF digits into the mouthpiece")
    p.add_argument("keys", type=text, help="0-9 * # A-D")
    p.add_argument("--on-ms", type=validate.Number(20, 2000, integer=True, unit="ms"), default=80)
    p.add_argument("--off-ms", type=validate.Number(20, 2000, integer=True, unit="ms"), default=80)
    _wait_flag(p)
    p = sub.add_parser("pulse", help="dial digits on the rotary dial (hook pulses)")
    p.add_argument("digits", type=text)
    p.add_argument("--pps", type=validate.Number(4, 25), default=10.0)
    p.add_argument("--break-ratio", type=validate.Number(0.3, 0.8), default=0.6)
    p.add_argument("--gap-ms", type=_ms(0, 5000), default=600.0)
    _wait_flag(p)
    p = sub.add_parser("play", help="play a 16-bit WAV (any rate) into the mouthpiece")
    p.add_argument("wav", type=wav_in)
    _wait_flag(p)
    p = sub.add_parser("tone", help="play a tone into the mouthpiece")
    p.add_argument("freqs", type=validate.NumberList(validate.Number(1, 24000, lo_open=True, unit="Hz"), 8),
                   help="Hz, several as 350,440")
    p.add_argument("--ms", type=_ms(1, 600_000), default=1000.0)
    p.add_argument("--level-dbfs", type=validate.Number(-90, 0), default=-12.0)
    _wait_flag(p)
    sub.add_parser("quiet", help="stop what is being played into the mouthpiece")
    p = sub.add_parser("record", help="record the earpiece to a WAV: for --seconds, or --start / --stop")
    p.add_argument("wav", nargs="?", default=None, type=wav_out)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--seconds", type=validate.seconds(600.0))
    g.add_argument("--start", action="store_true")
    g.add_argument("--stop", action="store_true")
    p = sub.add_parser("rings", help="ring episodes: measured cadence, matched name, caller ID")
    p.add_argument("--after", type=validate.count(0, 1_000_000), default=0,
                   help="only episodes numbered this or later")
    p.add_argument("--wait", action="store_true", help="wait for such an episode first")
    p.add_argument("--bursts", type=validate.count(1, 1000), default=1,
                   help="with --wait: until it has this many bursts")
    p.add_argument("--caller-id", action="store_true", help="with --wait: until its caller ID is decoded")
    p.add_argument("--timeout", type=validate.seconds(600.0), default=10.0)
    sub.add_parser("callerid", help="every caller ID decoded from the earpiece")
    sub.add_parser("mwi", help="message-waiting signals decoded from the earpiece")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from roamline.hil.errors import UsageError
    from roamline.hil.handset_control import request

    if not args.control:
        raise UsageError(f"no control socket: give --control or set ${ENV}")
    op, req, timeout = args.op, {"op": args.op}, 15.0
    wait = getattr(args, "wait", True)
    if op in ("lift", "hangup"):
        req["wait"] = wait
    elif op == "flash":
        req.update(ms=args.ms, wait=wait)
    elif op == "dtmf":
        req.update(keys=args.keys, on_ms=args.on_ms, off_ms=args.off_ms, wait=wait)
        timeout += len(args.keys) * (args.on_ms + args.off_ms) / 1000
    elif op == "pulse":
        req.update(digits=args.digits, pps=args.pps, break_ratio=args.break_ratio, gap_ms=args.gap_ms,
                   wait=wait)
        timeout += len(args.digits) * (1 + args.gap_ms / 1000)
    elif op == "play":
        req.update(wav=str(Path(args.wav).resolve()), wait=wait)
        timeout = 620.0
    elif op == "tone":
        freqs = [float(f) for f in args.freqs]
        req.update(freqs=freqs, ms=args.ms, level_dbfs=args.level_dbfs, wait=wait)
        timeout += args.ms / 1000
    elif op == "record":
        if args.start:
            req = {"op": "record_start"}
        else:
            if not args.wav:
                raise UsageError("record needs the WAV file to write")
            if args.stop:
                req = {"op": "record_stop", "wav": str(Path(args.wav).resolve())}
            else:
                req.update(wav=str(Path(args.wav).resolve()), seconds=args.seconds)
                timeout += args.seconds
    elif op == "rings":
        if args.wait:
            req = {"op": "wait_ring", "after": args.after, "bursts": args.bursts, "caller_id": args.caller_id,
                   "timeout": args.timeout}
            timeout += args.timeout
        else:
            req["after"] = args.after
    elif op == "callerid":
        req = {"op": "caller_ids"}
    reply = request(args.control, req, timeout=timeout)
    print(json.dumps(reply))
    if not reply.get("ok"):
        print(f"handset {op}: {reply.get('error')}", file=sys.stderr)
        return 1
    return 0
