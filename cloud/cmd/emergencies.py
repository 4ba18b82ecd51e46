"""`roamline cloud emergencies --data DIR [--limit N] [--json]`."""

from __future__ import annotations

import argparse
import json

SUMMARY = "list emergency calls (when, box, holder, location, route, who was notified), newest last"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.wire import validate

    add_data_arg(parser)
    parser.add_argument("--limit", type=validate.count(1, 100_000), default=100,
                        help="at most this many (the newest); default 100")
    parser.add_argument("--json", action="store_true", help="print a JSON list of records")


def run(args: argparse.Namespace) -> int:
    import time

    from roamline.cloud.cmd.common import open_store
    from roamline.cloud.notify import civic_text

    store = open_store(args.data)
    try:
        records = store.emergencies(limit=args.limit)
    finally:
        store.close()
    if args.json:
        print(json.dumps([r.to_json() for r in records]))
        return 0
    if not records:
        print("no emergency calls")
    for r in records:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.at if r.at is not None else r.received))
        told = ", ".join(f"{n['contact']} {'ok' if n.get('ok') else 'FAILED: ' + str(n.get('error'))}"
                         for n in r.notifications) or r.notify_state
        print(f"{when}Z {r.number} from {r.box_name or r.box_id} [{r.route or '?'}] "
              f"holder {r.holder or 'none'}, call-back {r.call_back or 'unknown'}, "
              f"at {civic_text(r.location)}; "
              f"notified: {r.notify_state} ({told})")
    return 0
