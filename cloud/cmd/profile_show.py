"""`roamline cloud profile show --data DIR ACCOUNT [--json]`."""

from __future__ import annotations

import argparse
import json

SUMMARY = "show a holder's whole profile (rings, filters, schedules, speed-dials, voicemail settings)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.cloud.cmd.profile_common import add_account_arg

    add_data_arg(parser)
    add_account_arg(parser)
    parser.add_argument("--json", action="store_true", help="print the profile as JSON (wire.profile)")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import open_store
    from roamline.cloud.cmd.profile_common import current, find

    store = open_store(args.data)
    try:
        account = find(store, args.account)
        obj = current(store, account.account_id)
        stored = store.get_profile(account.account_id)
    finally:
        store.close()
    version = stored[1] if stored is not None else 0
    if args.json:
        print(json.dumps({"account_id": account.account_id, "version": version, "profile": obj}))
        return 0
    vm = obj["voicemail"]
    print(f"{account.account_id} (profile version {version}), time zone {obj['timezone'] or 'of the box'}")
    for r in obj["rings"]:
        print(f"  ring {r['number']}: {r['cadence']}")
    for f in obj["filters"]:
        print(f"  filter {f['name']}: {f['action']}")
    for s in obj["schedules"]:
        print(f"  schedule {s['name']}: {len(s['windows'])} weekly windows, {len(s['periods'])} periods")
    for d in obj["speed_dials"]:
        print(f"  #{d['key']}: {d['number']}" + (f" ({d['label']})" if d["label"] else ""))
    print(f"  voicemail after {vm['timeout_s']:g} s, greeting {vm['greeting']}, "
          f"PIN {'set' if vm['pin_hash'] else 'not set'}; {obj['waiting']} waiting")
    return 0
