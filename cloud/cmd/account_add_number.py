"""`roamline cloud account add-number --data DIR ACCOUNT E164...`."""

from __future__ import annotations

import argparse
import json

SUMMARY = "subscribe an account to more follow-me numbers (several accounts may share one)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.wire import validate

    add_data_arg(parser)
    parser.add_argument("account", type=validate.DisplayName(), help="account id or (unique) name")
    parser.add_argument("numbers", nargs="+", type=validate.Phone(), metavar="E164")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import e164, open_store, wall_now
    from roamline.cloud.errors import UsageError

    numbers = [e164(n) for n in args.numbers]
    store = open_store(args.data)
    try:
        account = store.find_account(args.account)
        if account is None:
            raise UsageError(f"no account {args.account!r}")
        with store.transaction():
            for n in numbers:
                store.add_number(account.account_id, n)
            store.add_event(wall_now(), "numbers-added", {"account": account.account_id, "numbers": numbers})
        print(json.dumps({"account_id": account.account_id, "numbers": store.numbers_of(account.account_id)}))
    finally:
        store.close()
    return 0
