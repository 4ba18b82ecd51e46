"""Shared body of `roamline cloud card revoke ID` and `roamline cloud box revoke ID`.

Revocation is a store write; the registry reads the store on every message, so it takes effect on the
connected box's next message, and the registry's sweeper also tells the box within one sweep.
"""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser, kind: str) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.wire import validate

    parser.add_argument("id", type=validate.Identifier(), help=f"{kind} id")
    add_data_arg(parser)


def run(args: argparse.Namespace, kind: str) -> int:
    from roamline.cloud.cmd.common import open_store, wall_now
    from roamline.cloud.errors import UsageError

    store = open_store(args.data)
    try:
        now = wall_now()
        with store.transaction():
            done = store.revoke_card(args.id, now) if kind == "card" else store.revoke_box(args.id, now)
            if not done:
                raise UsageError(f"no {kind} {args.id!r}")
            store.add_event(now, f"{kind}-revoked", {"id": args.id})
        print(json.dumps({"kind": kind, "id": args.id, "revoked": True}))
    finally:
        store.close()
    return 0
