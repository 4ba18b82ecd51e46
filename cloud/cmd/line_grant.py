"""`roamline cloud line grant --data DIR ACCOUNT LINE`."""

from __future__ import annotations

import argparse
import json

SUMMARY = "let an account call out through a host line (by the line's E.164 number)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.wire import validate

    add_data_arg(parser)
    parser.add_argument("account", type=validate.DisplayName(), help="account id or (unique) name")
    parser.add_argument("line", type=validate.Phone(), metavar="E164", help="the host line's number")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import e164, open_store, wall_now
    from roamline.cloud.errors import UsageError

    line = e164(args.line)
    store = open_store(args.data)
    try:
        account = store.find_account(args.account)
        if account is None:
            raise UsageError(f"no account {args.account!r}")
        if line not in {n for n, _ in store.host_lines()}:
            raise UsageError(f"no enrolled box has the line {line}")
        with store.transaction():
            store.grant_line(account.account_id, line)
            store.add_event(wall_now(), "line-granted", {"account": account.account_id, "line": line})
        lines = store.line_rights_of(account.account_id)
        print(json.dumps({"account_id": account.account_id, "lines": lines}))
    finally:
        store.close()
    return 0
