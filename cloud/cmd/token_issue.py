"""`roamline cloud token issue --data DIR [--ttl SECONDS] [--kind box|card|any] [--json]`."""

from __future__ import annotations

import argparse
import json

SUMMARY = "issue a one-time installer token (only its hash is stored); prints the token"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg

    add_data_arg(parser)
    from roamline.wire import validate

    parser.add_argument("--ttl", type=validate.seconds(366 * 86400.0), default=86400.0,
                        help="seconds the token stays valid (1 day)")
    parser.add_argument("--kind", choices=("box", "card", "any"), default="any", help="what it may enroll")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of the bare token")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import open_store, wall_now
    from roamline.cloud.errors import UsageError
    from roamline.cloud.records import Token
    from roamline.wire.identity import new_installer_token, token_hash

    if args.ttl <= 0:
        raise UsageError("--ttl must be positive")
    token = new_installer_token()
    now = wall_now()
    store = open_store(args.data)
    try:
        with store.transaction():
            store.add_token(Token(token_hash(token), args.kind, now + args.ttl, False))
            store.add_event(now, "token-issued", {"kind": args.kind, "expires": now + args.ttl})
    finally:
        store.close()
    print(json.dumps({"token": token, "kind": args.kind, "expires": now + args.ttl}) if args.json else token)
    return 0
