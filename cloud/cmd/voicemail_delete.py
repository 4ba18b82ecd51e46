"""`roamline cloud voicemail delete --data DIR MESSAGE`."""

from __future__ import annotations

import argparse
import json

SUMMARY = "delete a voicemail message (the missed-call record stays)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.wire import validate

    add_data_arg(parser)
    parser.add_argument("message", type=validate.Identifier(), help="message id (from `voicemail list`)")
    parser.add_argument("--json", action="store_true", help="print the deleted message as JSON")


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import time

    from roamline.cloud import voicemail
    from roamline.cloud.cmd.common import open_store
    from roamline.cloud.errors import UsageError

    store = open_store(args.data)
    try:
        gone = voicemail.delete(store, args.message, time.time())
    finally:
        store.close()
    if gone is None:
        raise UsageError(f"no message {args.message!r}")
    if args.json:
        print(json.dumps(dataclasses.asdict(gone)))
    else:
        print(f"{gone.message_id} deleted ({gone.account_id})")
    return 0
