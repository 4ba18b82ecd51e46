"""`roamline cloud filters --data DIR ACCOUNT [--add SPEC]... [--remove NAME]... [--schedule SPEC]...
[--drop-schedule NAME]... [--clear] [--json]`."""

from __future__ import annotations

import argparse
import json
from typing import Any

SUMMARY = "show or change a holder's call filters and schedules (applied before any box rings)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud import profile_specs as specs
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.cloud.cmd.profile_common import add_account_arg
    from roamline.wire import validate

    add_data_arg(parser)
    add_account_arg(parser)
    parser.add_argument("--add", action="append", default=[], metavar="SPEC",
                        type=validate.Parsed("filter", specs.filter_spec, specs.FILTER_EXAMPLE),
                        help=f"add (or replace by name) a filter NAME:ACTION[:KEY=VALUE,...], e.g. "
                             f"{specs.FILTER_EXAMPLE}; actions ring, block, forward (to=E164), voicemail")
    parser.add_argument("--remove", action="append", default=[], metavar="NAME",
                        type=validate.Parsed("filter name", specs.filter_name, "spam"))
    parser.add_argument("--schedule", action="append", default=[], metavar="SPEC",
                        type=validate.Parsed("schedule", specs.schedule_spec, specs.SCHEDULE_EXAMPLE),
                        help=f"add (or replace) a schedule NAME=ITEM[;ITEM...], e.g. "
                             f"{specs.SCHEDULE_EXAMPLE} or vacation=2026-12-24T18:00..2027-01-02T08:00")
    parser.add_argument("--drop-schedule", action="append", default=[], metavar="NAME",
                        type=validate.Parsed("schedule name", specs.filter_name, "evenings"))
    parser.add_argument("--clear", action="store_true", help="remove every filter first")
    parser.add_argument("--json", action="store_true", help="print the filters and schedules as JSON")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import open_store, wall_now
    from roamline.cloud.cmd.profile_common import change, current, find, upsert

    store = open_store(args.data)
    try:
        account = find(store, args.account)
        if args.add or args.remove or args.schedule or args.drop_schedule or args.clear:
            def edit(obj: dict[str, Any]) -> None:
                if args.clear:
                    obj["filters"] = []
                for spec in args.schedule:
                    obj["schedules"] = upsert(obj["schedules"], spec, "name")
                for spec in args.add:
                    obj["filters"] = upsert(obj["filters"], spec, "name")
                obj["filters"] = [f for f in obj["filters"] if f["name"] not in args.remove]
                obj["schedules"] = [s for s in obj["schedules"] if s["name"] not in args.drop_schedule]

            change(store, account, edit, wall_now(), "filters")
        obj = current(store, account.account_id)
    finally:
        store.close()
    shown = {"account_id": account.account_id, "timezone": obj["timezone"], "filters": obj["filters"],
             "schedules": obj["schedules"]}
    if args.json:
        print(json.dumps(shown))
        return 0
    if not obj["filters"]:
        print(f"{account.account_id}: no filters (every call rings through)")
    for f in obj["filters"]:
        extra = {k: v for k, v in f.items() if k not in ("name", "action")}
        print(f"{f['name']}: {f['action']} {json.dumps(extra) if extra else '(every caller)'}")
    for s in obj["schedules"]:
        print(f"schedule {s['name']}: {json.dumps({k: v for k, v in s.items() if k != 'name' and v})}")
    return 0
