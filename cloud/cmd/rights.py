"""`roamline cloud rights --data DIR ACCOUNT LINE [--receive yes|no] [--call-out yes|no] [--max-call-s S]
[--prefix P]... [--block N]... [--spend-limit X] [--rate X] [--reset-spent] [--revoke] [--json]`."""

from __future__ import annotations

import argparse
import dataclasses
import json

SUMMARY = "show or set an account's rights on a host line (receive, call out, length, prefixes, budget)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud import profile_specs as specs
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.cloud.cmd.profile_common import add_account_arg
    from roamline.wire import validate

    add_data_arg(parser)
    add_account_arg(parser)
    parser.add_argument("line", type=validate.Phone(), metavar="E164", help="the host line's number")
    parser.add_argument("--receive", choices=("yes", "no"), help="may the line's calls ring this account")
    parser.add_argument("--call-out", choices=("yes", "no"), help="may the account call out through it")
    parser.add_argument("--max-call-s", type=validate.Number(10, 86_400, unit="seconds"),
                        help="longest call out (warned, then cut)")
    parser.add_argument("--prefix", action="append", default=None, metavar="PREFIX",
                        type=validate.Parsed("prefix", specs.prefix, "+1217"),
                        help="allowed destination prefix (repeat; none: any number in the line's area)")
    parser.add_argument("--block", action="append", default=None, metavar="PREFIX",
                        type=validate.Parsed("blocked number", specs.prefix, "+19005550123"),
                        help="a number or prefix never to call through this line (repeat)")
    parser.add_argument("--spend-limit", type=validate.Number(0, 1_000_000), help="budget in currency units")
    parser.add_argument("--rate", type=validate.Number(0, 1000), help="price per minute of a call out")
    parser.add_argument("--reset-spent", action="store_true", help="start the budget again")
    parser.add_argument("--revoke", action="store_true", help="forget every right of the account on the line")
    parser.add_argument("--json", action="store_true", help="print the rights as JSON")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import e164, open_store, wall_now
    from roamline.cloud.cmd.profile_common import find
    from roamline.cloud.errors import UsageError
    from roamline.cloud.records import LineRight

    line = e164(args.line)
    store = open_store(args.data)
    try:
        account = find(store, args.account)
        if line not in {n for n, _ in store.host_lines()}:
            raise UsageError(f"no enrolled box has the line {line}")
        right = store.line_right(account.account_id, line) or LineRight(line, account.account_id,
                                                                         call_out=False)
        changes: dict[str, object] = {}
        if args.receive is not None:
            changes["receive"] = args.receive == "yes"
        if args.call_out is not None:
            changes["call_out"] = args.call_out == "yes"
        if args.max_call_s is not None:
            changes["max_call_s"] = float(args.max_call_s)
        if args.prefix is not None:
            changes["prefixes"] = tuple(dict.fromkeys(args.prefix))
        if args.block is not None:
            changes["blocked"] = tuple(dict.fromkeys(args.block))
        if args.spend_limit is not None:
            changes["spend_limit"] = float(args.spend_limit)
        if args.rate is not None:
            changes["rate_per_min"] = float(args.rate)
        if args.reset_spent:
            changes["spent"] = 0.0
        with store.transaction():
            if args.revoke:
                store.put_line_right(LineRight(line, account.account_id, call_out=False, receive=True))
                right = LineRight(line, account.account_id, call_out=False, receive=True)
            elif changes:
                right = dataclasses.replace(right, **changes)  # type: ignore[arg-type]
                store.put_line_right(right)
            if changes or args.revoke:
                store.add_event(wall_now(), "rights-changed", {"account": account.account_id, "line": line,
                                                               "rights": right.to_json()})
    finally:
        store.close()
    if args.json:
        print(json.dumps(right.to_json()))
        return 0
    limit = "no limit" if right.spend_limit is None else f"{right.spent:g} of {right.spend_limit:g} spent"
    print(f"{account.account_id} on {line}: receive {'yes' if right.receive else 'no'}, call out "
          f"{'yes' if right.call_out else 'no'}"
          + (f", at most {right.max_call_s:g} s a call" if right.max_call_s else "")
          + (f", only to {' '.join(right.prefixes)}" if right.prefixes else "")
          + (f", never {' '.join(right.blocked)}" if right.blocked else "")
          + f", budget {limit} at {right.rate_per_min:g}/min")
    return 0
