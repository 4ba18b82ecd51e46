"""`roamline hil exchange call`: a PSTN phone on a running exchange calls a number."""

from __future__ import annotations

import argparse

SUMMARY = "place a call into a running exchange (via its control socket); prints the reply as JSON"

DEFAULT_CONTROL = "/tmp/roamline-exchange/control.sock"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", required=True, help="the number to call (a line of the exchange)")
    parser.add_argument("--from", dest="src", default="5550100", help="the calling phone's number")
    parser.add_argument("--name", default=None, help="the caller's name for caller ID")
    parser.add_argument("--presentation", default="number+name",
                        choices=["number+name", "number", "private", "unavailable", "none"])
    parser.add_argument("--cid-timing", choices=["before", "between", "none"], default=None)
    parser.add_argument("--cid-format", choices=["mdmf", "sdmf"], default="mdmf")
    parser.add_argument("--cadence", default=None, help="ring on/off seconds, e.g. 2,4 or 0.8,0.4,0.8,4")
    parser.add_argument("--answer-after", type=int, default=2, help="rings before this phone answers calls")
    parser.add_argument("--control", default=DEFAULT_CONTROL, help="the exchange's control socket")


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
        req["cadence"] = [float(x) for x in args.cadence.split(",")]
    reply = request(args.control, req)
    print(json.dumps(reply))
    if not reply.get("ok"):
        print(f"call failed: {reply.get('error')}", file=sys.stderr)
        return 1
    return 0
