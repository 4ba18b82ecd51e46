"""`roamline hil exchange send`: one raw control request (hang up, DTMF, unplug, status...)."""

from __future__ import annotations

import argparse

SUMMARY = "send one JSON control request (hangup, dtmf, unplug, status...) to a running exchange"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.hil.exchange.call_cmd import DEFAULT_CONTROL, HINT
    from roamline.wire import validate

    parser.add_argument("request", type=validate.JsonObject(),
                        help='JSON object with "op": status, answer, hangup, dtmf, play, record, '
                             "unplug, replug, silent (see roamline.hil.exchange.control)")
    parser.add_argument("--control", default=DEFAULT_CONTROL, type=validate.Socket(HINT),
                        help="the exchange's control socket")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from roamline.hil.exchange.control import request

    reply = request(str(args.control), args.request)
    print(json.dumps(reply))
    if not reply.get("ok"):
        print(f"request failed: {reply.get('error')}", file=sys.stderr)
        return 1
    return 0
