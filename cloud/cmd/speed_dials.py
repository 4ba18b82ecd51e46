"""`roamline cloud speed-dials --data DIR ACCOUNT [--set KEY=E164[,LABEL]]... [--clear KEY]... [--json]`."""

from __future__ import annotations

import argparse
import json

SUMMARY = "show or change a holder's personal speed-dials #2…#9 (valid on any box)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud import profile_specs as specs
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.cloud.cmd.profile_common import add_account_arg
    from roamline.wire import validate

    add_data_arg(parser)
    add_account_arg(parser)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=E164[,LABEL]",
                        type=validate.Parsed("speed-dial", specs.speed_dial_spec, specs.SPEED_DIAL_EXAMPLE),
                        help=f"set #KEY (2–9), e.g. {specs.SPEED_DIAL_EXAMPLE}")
    parser.add_argument("--clear", action="append", default=[], metavar="KEY",
                        type=validate.Number(2, 9, integer=True), help="remove #KEY")
    parser.add_argument("--json", action="store_true", help="print the speed-dials as JSON")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.profile_common import keyed_entries

    account, dials = keyed_entries(args, "speed_dials", "key", lambda d: d["key"], "speed-dials")
    if args.json:
        print(json.dumps({"account_id": account.account_id, "speed_dials": dials}))
        return 0
    if not dials:
        print(f"{account.account_id}: no speed-dials")
    for d in dials:
        print(f"#{d['key']}: {d['number']}" + (f" ({d['label']})" if d["label"] else ""))
    return 0
