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

    from roamline.provisioning.cardfile import save_cardfile
    from roamline.provisioning.cardissue import VirtualCardKeys, issue_card
    from roamline.provisioning.enroll import parse_registry, read_ca
    from roamline.provisioning.errors import UsageError

    if args.out.exists():
        raise UsageError(f"{args.out}: exists (refusing to overwrite a card's keys)")
    address = parse_registry(args.registry, args.server_name)
    ca_pem = read_ca(args.ca)
    card = VirtualCardKeys(args.guid)
    slots = asyncio.run(issue_card(address, ca_pem, args.token, args.account, card, with_9a=not args.no_9a,
                                   timeout=args.timeout))
    save_cardfile(card.cardfile(pin=args.pin), args.out)
    result = {"card_id": card.card_id, "account": args.account, "slots": slots, "out": str(args.out)}
    print(json.dumps(result))
    return 0
