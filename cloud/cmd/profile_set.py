"""`roamline cloud profile set --data DIR ACCOUNT [--timezone TZ] [--ring E164=CADENCE]...
[--voicemail-timeout S] [--greeting ID] [--pin PIN | --clear-pin] [--json]`."""

from __future__ import annotations

import argparse
import json
from typing import Any

SUMMARY = "change a holder's time zone, ring per number and voicemail settings (the PIN is stored hashed)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud import profile_specs as specs
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.cloud.cmd.profile_common import add_account_arg
    from roamline.wire import validate
    from roamline.wire.profile import VOICEMAIL_TIMEOUT_S, check_voicemail_pin

    add_data_arg(parser)
    add_account_arg(parser)
    parser.add_argument("--timezone", type=validate.Parsed("time zone", specs.timezone, "America/Chicago"),
                        help="the holder's IANA time zone for schedules (default: the box's)")
    parser.add_argument("--ring", action="append", default=[], metavar="E164=CADENCE",
                        type=validate.Parsed("ring", specs.ring_spec, specs.RING_EXAMPLE),
                        help=f"the cadence one of the holder's numbers rings with, e.g. {specs.RING_EXAMPLE}")
    parser.add_argument("--voicemail-timeout", type=validate.Number(*VOICEMAIL_TIMEOUT_S, unit="seconds"),
                        help="no answer this long: voicemail")
    parser.add_argument("--greeting", type=validate.Identifier(), help="the greeting's id")
    pin = parser.add_mutually_exclusive_group()
    pin.add_argument("--pin", type=validate.Parsed("voicemail PIN", check_voicemail_pin, "2468", max_len=8),
                     help="the voicemail PIN asked at *98: 4–8 digits, not beginning with an emergency "
                          "number (only its salted hash is kept, at the registry)")
    pin.add_argument("--clear-pin", action="store_true", help="no PIN: the card alone opens the mailbox")
    parser.add_argument("--json", action="store_true", help="print the profile as JSON")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import open_store, wall_now
    from roamline.cloud.cmd.profile_common import change, find
    from roamline.wire.profile import hash_pin

    pin_hash = hash_pin(args.pin) if args.pin is not None else None
    store = open_store(args.data)
    try:
        account = find(store, args.account)

        def edit(obj: dict[str, Any]) -> None:
            if args.timezone is not None:
                obj["timezone"] = args.timezone
            for spec in args.ring:
                obj["rings"] = [r for r in obj["rings"] if r["number"] != spec["number"]] + [spec]
            if args.voicemail_timeout is not None:
                obj["voicemail"]["timeout_s"] = float(args.voicemail_timeout)
            if args.greeting is not None:
                obj["voicemail"]["greeting"] = args.greeting
            if pin_hash is not None:
                obj["voicemail"]["pin_hash"] = pin_hash
            elif args.clear_pin:
                obj["voicemail"]["pin_hash"] = ""

        profile, version = change(store, account, edit, wall_now(), "profile")
    finally:
        store.close()
    shown = profile.to_json()
    shown["voicemail"]["pin_hash"] = "set" if shown["voicemail"]["pin_hash"] else ""
    print(json.dumps({"account_id": account.account_id, "version": version, "profile": shown}) if args.json
          else f"{account.account_id}: profile version {version}")
    return 0
