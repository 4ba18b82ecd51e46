"""`roamline cloud voicemail list --data DIR ACCOUNT [--json]`."""

from __future__ import annotations

import argparse
import json

SUMMARY = "list a holder's voicemail messages (new and saved), oldest first"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.cloud.cmd.profile_common import add_account_arg

    add_data_arg(parser)
    add_account_arg(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON list of messages")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from roamline.cloud.cmd.common import open_store
    from roamline.cloud.cmd.profile_common import find

    store = open_store(args.data)
    try:
        account = find(store, args.account)
        messages = store.voicemails(account.account_id)
        linked = {m.message_id: store.get_call(m.call_id) is not None for m in messages}
    finally:
        store.close()
    if args.json:
        print(json.dumps([{**dataclasses.asdict(m), "call_record": linked[m.message_id]} for m in messages]))
        return 0
    if not messages:
        print(f"no messages for {account.account_id}")
    for m in messages:
        who = m.caller or "withheld"
        name = f" ({m.caller_name})" if m.caller_name else ""
        print(f"{m.message_id}: {m.state}, from {who}{name} to {m.number}, {m.duration_s:.1f} s, "
              f"call {m.call_id}")
    return 0
