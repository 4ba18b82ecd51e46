"""`roamline hil exchange call`: a PSTN phone on a running exchange calls a number."""

from __future__ import annotations

import argparse

SUMMARY = "place a call into a running exchange (via its control socket); prints the reply as JSON"

DEFAULT_CONTROL = "/tmp/roamline-exchange/control.sock"
HINT = "is `roamline hil exchange run` running?"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--to", required=True, type=validate.Digits(),
                        help="the number to call (a line of the exchange)")
    parser.add_argument("--from", dest="src", default="5550100", type=validate.Digits(),
                        help="the calling phone's number")
    parser.add_argument("--name", default=None, type=validate.DisplayName(15),
                        help="the caller's name for caller ID (up to 15 characters)")
    parser.add_argument("--presentation", default="number+name",
                        choices=["number+name", "number", "private", "unavailable", "none"])
    parser.add_argument("--cid-timing", choices=["before", "between", "none"], default=None)
    parser.add_argument("--cid-format", choices=["mdmf", "sdmf"], default="mdmf")
    parser.add_argument("--cadence", default=None, type=validate.NumberList(validate.seconds(60.0), 8),
                        help="ring on/off seconds, e.g. 2,4 or 0.8,0.4,0.8,4")
    parser.add_argument("--answer-after", type=validate.count(0, 100), default=2,
                        help="rings before this phone answers calls")
    parser.add_argument("--control", default=DEFAULT_CONTROL, type=validate.Socket(HINT),
                        help="the exchange's control socket")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from roamline.hil.exchange.control import request

    req: dict[str, object] = {
        "op": "call", "to": args.to, "from": args.src, "presentation": args.presentation,
        "cid_format": args.cid_format, "answer_after": args.answer_after,
    }
    if args.name is not None:
        req["name"] = args.name
    if args.cid_timing:
        req["cid_timing"] = args.cid_timing
    if args.cadence:
        req["cadence"] = list(args.cadence)
    reply = request(str(args.control), req)
    print(json.dumps(reply))
    if not reply.get("ok"):
        print(f"call failed: {reply.get('error')}", file=sys.stderr)
        return 1
    return 0
