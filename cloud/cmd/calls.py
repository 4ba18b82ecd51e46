"""`roamline cloud calls --data DIR [--number E164] [--limit N] [--json]`."""

from __future__ import annotations

import argparse
import json

SUMMARY = "list call records (one per call: answered, missed, refused), newest last"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.wire import validate

    add_data_arg(parser)
    parser.add_argument("--number", type=validate.Phone(), metavar="E164",
                        help="only calls from, to or through this number")
    parser.add_argument("--limit", type=validate.count(1, 100_000), default=100,
                        help="at most this many (the newest); default 100")
    parser.add_argument("--json", action="store_true", help="print a JSON list of records")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import e164, open_store

    number = e164(args.number) if args.number is not None else None
    store = open_store(args.data)
    try:
        records = store.calls(number=number, limit=args.limit)
    finally:
        store.close()
    if args.json:
        print(json.dumps([r.to_json() for r in records]))
        return 0
    if not records:
        print("no calls" + (f" for {number}" if number else ""))
    for r in records:
        state = r.outcome or "in progress"
        length = "" if r.duration_s is None else f", {r.duration_s:.0f} s" + (" (answer inferred)"
                                                                              if r.answer_inferred else "")
        via = f" via {r.line}" if r.line and r.route != "incoming" else ""
        where = f" at {r.terminal_box}" if r.terminal_box else ""
        print(f"{r.call_id}: {r.caller or 'unknown'} → {r.called} [{r.route}{via}] {state}{where}{length}"
              + (f" ({r.end_reason})" if r.end_reason else ""))
    return 0
