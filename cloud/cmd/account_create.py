"""`roamline cloud account create --data DIR --name N [--number E164 ...]`."""

from __future__ import annotations

import argparse
import json

SUMMARY = "create an account (a card holder) with its follow-me numbers; prints it as JSON"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.wire import validate

    add_data_arg(parser)
    parser.add_argument("--name", required=True, type=validate.DisplayName(), help="the holder's name")
    parser.add_argument("--id", dest="account_id", type=validate.Identifier(),
                        help="account id (default: generated)")
    parser.add_argument("--number", action="append", default=[], type=validate.Phone(), metavar="E164",
                        help="follow-me number")


def run(args: argparse.Namespace) -> int:
    import secrets

    from roamline.cloud.cmd.common import e164, open_store, wall_now

    numbers = [e164(n) for n in args.number]
    store = open_store(args.data)
    try:
        account_id = args.account_id or f"acct-{secrets.token_hex(4)}"
        with store.transaction():
            account = store.create_account(account_id, args.name, wall_now())
            for n in numbers:
                store.add_number(account_id, n)
            store.add_event(account.created, "account-created", {"account": account_id, "numbers": numbers})
        numbers = store.numbers_of(account_id)
        print(json.dumps({"account_id": account_id, "name": account.name, "numbers": numbers}))
    finally:
        store.close()
    return 0
