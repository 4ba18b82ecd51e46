"""`roamline provision card issue --registry HOST:PORT --ca CA.pem --token T --account A --out card.toml`."""

from __future__ import annotations

import argparse
from pathlib import Path

SUMMARY = "issue a virtual PIV card: keys 9E (and 9A) certified by the registry for an account"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", required=True, metavar="HOST:PORT")
    parser.add_argument("--server-name", default=None, help="registry TLS name (default registry.roamline)")
    parser.add_argument("--ca", required=True, type=Path, help="the Roamline CA certificate (pinned)")
    parser.add_argument("--token", required=True, help="one-time installer token")
    parser.add_argument("--account", required=True, help="account id the card is bound to")
    parser.add_argument("--out", required=True, type=Path, help="card file to write (TOML)")
    parser.add_argument("--pin", default="123456", help="card PIN (6-8 digits)")
    parser.add_argument("--guid", default=None, help="card GUID, 32 hex digits (default: random)")
    parser.add_argument("--no-9a", action="store_true", help="only the 9E key (no PIN-protected 9A key)")
    parser.add_argument("--timeout", type=float, default=10.0)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import math
    import os

    import pydantic

    from roamline.provisioning import cardfile
    from roamline.provisioning.cardissue import finish_pending, issue_card, start_pending
    from roamline.provisioning.enroll import parse_registry, read_ca
    from roamline.provisioning.errors import UsageError
    from roamline.wire import identity

    # Everything local is checked before the token is spent (issue 8): a refusal here costs nothing.
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
    try:
        cardfile.PinFields(pin=args.pin)
    except pydantic.ValidationError:
        raise UsageError("--pin: a card PIN is 6-8 digits") from None
    if args.guid is not None and identity.CARD_ID_RE.fullmatch(args.guid) is None:
        raise UsageError(f"--guid: {args.guid!r} is not 32 lowercase hex digits")
    if not math.isfinite(args.timeout) or args.timeout <= 0:
        raise UsageError("--timeout: must be a positive number of seconds")
    if not args.token or not args.account:
        raise UsageError("--token and --account must not be empty")
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
