"""`roamline hil exchange send`: one raw control request (hang up, DTMF, unplug, status...)."""

from __future__ import annotations

import argparse

SUMMARY = "send one JSON control request (hangup, dtmf, unplug, status...) to a running exchange"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("request", help='JSON object with "op": status, answer, hangup, dtmf, play, record, '
                                        "unplug, replug, silent (see roamline.hil.exchange.control)")
    parser.add_argument("--control", default="/tmp/roamline-exchange/control.sock")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from roamline.hil.errors import UsageError
    from roamline.hil.exchange.control import request

    try:
        req = json.loads(args.request)
    except ValueError as exc:
        raise UsageError(f"request is not JSON: {exc}") from None
    reply = request(args.control, req)
    print(json.dumps(reply))
    if not reply.get("ok"):
        print(f"request failed: {reply.get('error')}", file=sys.stderr)
        return 1
    return 0
