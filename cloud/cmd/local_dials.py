"""`roamline cloud local-dials --data DIR ACCOUNT [--set CODE=CATEGORY]... [--clear CODE]... [--json]`."""

from __future__ import annotations

import argparse
import json

SUMMARY = "show or change a holder's location speed-dials **1…**99 (a local-services category each)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud import profile_specs as specs
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.cloud.cmd.profile_common import add_account_arg
    from roamline.wire import validate

    add_data_arg(parser)
    add_account_arg(parser)
    parser.add_argument("--set", action="append", default=[], metavar="CODE=CATEGORY",
                        type=validate.Parsed("location speed-dial", specs.local_dial_spec,
                                             specs.LOCAL_DIAL_EXAMPLE),
                        help="**CODE (1–99) rings the nearest service of CATEGORY from the box the card "
                             f"is in, e.g. {specs.LOCAL_DIAL_EXAMPLE}")
    parser.add_argument("--clear", action="append", default=[], metavar="CODE",
                        type=validate.Number(0, 99, integer=True), help="remove **CODE")
    parser.add_argument("--json", action="store_true", help="print the location speed-dials as JSON")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.profile_common import keyed_entries

    account, dials = keyed_entries(args, "local_dials", "code", lambda d: (len(d["code"]), d["code"]),
                                   "local-dials")
    if args.json:
        print(json.dumps({"account_id": account.account_id, "local_dials": dials}))
        return 0
    if not dials:
        print(f"{account.account_id}: no location speed-dials")
    for d in dials:
        print(f"**{d['code']}: {d['category']}")
    return 0
