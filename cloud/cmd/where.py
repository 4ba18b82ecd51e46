"""`roamline cloud where NUMBER --data DIR [--json]`."""

from __future__ import annotations

import argparse
import json

SUMMARY = "where a number rings now: the boxes holding a live registration of a subscribed card"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.wire import validate

    parser.add_argument("number", type=validate.Phone(), metavar="E164")
    add_data_arg(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON list (empty: it rings nowhere)")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import e164, open_store, wall_now
    from roamline.cloud.lookup import where
    from roamline.wire.civic import describe

    store = open_store(args.data)
    try:
        entries = where(store, e164(args.number), wall_now())
    finally:
        store.close()
    if args.json:
        print(json.dumps([e.to_json() for e in entries]))
    elif not entries:
        print(f"{args.number} rings nowhere")
    else:
        for e in entries:
            place = describe(e.location)
            at = f" — {place}" if place else ""
            since = f"since {e.since:.0f}"
            print(f"{args.number} rings at {e.box_id}{at} for {e.holder} (card {e.card_id}, {since})")
    return 0
