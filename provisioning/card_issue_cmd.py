"""`roamline provision card issue --registry HOST:PORT --ca CA.pem --token T --account A --out card.toml`."""

from __future__ import annotations

import argparse

from roamline.provisioning.registry_args import add_registry_arguments

SUMMARY = "issue a virtual PIV card: keys 9E (and 9A) certified by the registry for an account"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    add_registry_arguments(parser)
    parser.add_argument("--account", required=True, type=validate.Identifier(),
                        help="account id the card is bound to")
    parser.add_argument("--out", required=True, type=validate.NewFile(), help="card file to write (TOML)")
    parser.add_argument("--pin", default="123456", type=validate.Pin(), help="card PIN (6-8 digits)")
    parser.add_argument("--guid", default=None, type=validate.HexId(32),
                        help="card GUID, 32 hex digits (default: random)")
    parser.add_argument("--no-9a", action="store_true", help="only the 9E key (no PIN-protected 9A key)")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import os
    from pathlib import Path

    from roamline.provisioning import cardfile
    from roamline.provisioning.cardissue import finish_pending, issue_card, start_pending
    from roamline.provisioning.enroll import parse_registry, read_ca
    from roamline.provisioning.errors import UsageError

    # Everything local is checked before the token is spent (issue 8): a refusal here costs nothing.
    # The options' validators checked PIN, GUID, timeout, token and account already.
    out: Path = args.out
    if out.exists() or out.is_symlink():
        raise UsageError(f"{out}: exists (refusing to overwrite a card's keys)")
    if not out.name or out.name in (".", ".."):
        raise UsageError(f"{out}: not a file name")
    parent = out.parent
    if not parent.is_dir():
        raise UsageError(f"{out}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{out}: directory {parent} is not writable")
    address = parse_registry(args.registry, args.server_name)
    ca_pem = read_ca(args.ca)
    card = start_pending(out, args.account, args.guid, with_9a=not args.no_9a)  # resumes an unfinished run
    slots = asyncio.run(issue_card(address, ca_pem, args.token, args.account, card, with_9a=not args.no_9a,
                                   timeout=args.timeout))
    cardfile.save_cardfile(card.cardfile(pin=args.pin), out)
    finish_pending(out)
    result = {"card_id": card.card_id, "account": args.account, "slots": slots, "out": str(args.out)}
    print(json.dumps(result))
    return 0
