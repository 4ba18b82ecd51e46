"""`roamline provision card issue --registry HOST:PORT --ca CA.pem --token T --account A --out FILE
[--reader NAME …]`.

Without ``--reader`` the keys are made here and ``--out`` is a virtual card file. With ``--reader`` a real
PIV card (or token) in that PC/SC reader is personalised: its keys are generated on the card and never
leave it, and ``--out`` is the issuance record (card id, account, certificates; mode 0600).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from roamline.provisioning.registry_args import add_registry_arguments

SUMMARY = "issue a PIV card (virtual card file, or a real card in a PC/SC reader): keys 9E (and 9A)"
ADMIN_ALGS = ("3des", "aes128", "aes192", "aes256")


def _hex_key(text: str) -> bytes:
    from roamline.provisioning.errors import UsageError

    clean = text.replace(":", "")
    try:
        raw = bytes.fromhex(clean)
    except ValueError:
        raise UsageError("a management key is hex digits (colons allowed)") from None
    if len(raw) not in (16, 24, 32):
        raise UsageError(f"a management key is 16, 24 or 32 bytes, not {len(raw)}")
    return raw


def _slot_file(text: str) -> tuple[str, Path]:
    from roamline.provisioning.errors import UsageError
    from roamline.wire import validate

    slot, sep, path = text.partition("=")
    if not sep or slot.lower() not in ("9e", "9a"):
        raise UsageError("must be SLOT=FILE with SLOT 9e or 9a (e.g. 9e=pub.pem)")
    return slot.lower(), validate.check_existing_file(path)


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    add_registry_arguments(parser)
    parser.add_argument("--account", required=True, type=validate.Identifier(),
                        help="account id the card is bound to")
    parser.add_argument("--out", required=True, type=validate.NewFile(),
                        help="card file to write (TOML); with --reader, the issuance record")
    parser.add_argument("--pin", default="123456", type=validate.Pin(),
                        help="card PIN (6-8 digits); with --reader, the PIN to set")
    parser.add_argument("--guid", default=None, type=validate.HexId(32),
                        help="card GUID, 32 hex digits (default: random)")
    parser.add_argument("--no-9a", action="store_true", help="only the 9E key (no PIN-protected 9A key)")
    real = parser.add_argument_group("real cards (--reader)")
    real.add_argument("--reader", default=None, type=validate.DisplayName(128),
                      help="PC/SC reader holding a PIV card to personalise (see `pcsc_scan -r`)")
    real.add_argument("--admin-key", default=None,
                      type=validate.Parsed("management key", _hex_key, "01:02:…"),
                      help="the card's current management key (9B), hex (default: the factory key)")
    real.add_argument("--admin-alg", default="3des", choices=ADMIN_ALGS,
                      help="its algorithm (default 3des; YubiKey 5.7+ ships aes192)")
    real.add_argument("--new-admin-key", default=None,
                      type=validate.Parsed("management key", _hex_key, "01:02:…"),
                      help="replace the management key with this one when done")
    real.add_argument("--new-admin-alg", default=None, choices=ADMIN_ALGS,
                      help="algorithm of the new management key (default: --admin-alg)")
    real.add_argument("--current-pin", default="123456", type=validate.Pin(),
                      help="the card's PIN now (default: the factory 123456)")
    real.add_argument("--current-puk", default="12345678", type=validate.Pin(),
                      help="the card's PUK now (default: the factory 12345678)")
    real.add_argument("--puk", default=None, type=validate.Pin(), help="the PUK to set (default: unchanged)")
    real.add_argument("--public-key", action="append", default=[], metavar="SLOT=FILE",
                      type=validate.Parsed("slot key", _slot_file, "9e=pub.pem"),
                      help="certify the key already in SLOT (made by another tool; FILE: its public key)")
    real.add_argument("--keep-key", action="append", default=[], choices=("9e", "9a"),
                      help="certify the key already in this slot (its public key is recovered from the "
                           "card's signatures); may be repeated")


def _check_out(out: Path) -> None:
    import os

    from roamline.provisioning.errors import UsageError

    if out.exists() or out.is_symlink():
        raise UsageError(f"{out}: exists (refusing to overwrite a card's keys)")
    if not out.name or out.name in (".", ".."):
        raise UsageError(f"{out}: not a file name")
    parent = out.parent
    if not parent.is_dir():
        raise UsageError(f"{out}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{out}: directory {parent} is not writable")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from roamline.provisioning import cardfile
    from roamline.provisioning.cardissue import finish_pending, issue_card, start_pending
    from roamline.provisioning.enroll import parse_registry, read_ca
    from roamline.provisioning.errors import UsageError

    # Everything local is checked before the token is spent (issue 8): a refusal here costs nothing.
    # The options' validators checked PIN, GUID, timeout, token and account already.
    out: Path = args.out
    _check_out(out)
    address = parse_registry(args.registry, args.server_name)
    ca_pem = read_ca(args.ca)
    if args.reader is not None:
        return _run_reader(args, address, ca_pem)
    real_only = [name for name in ("admin_key", "new_admin_key", "puk", "new_admin_alg")
                 if getattr(args, name) is not None]
    real_only += [name for name in ("public_key", "keep_key") if getattr(args, name)]
    if real_only:
        raise UsageError(f"--{real_only[0].replace('_', '-')} is for a real card: give --reader")
    card = start_pending(out, args.account, args.guid, with_9a=not args.no_9a)  # resumes an unfinished run
    slots = asyncio.run(issue_card(address, ca_pem, args.token, args.account, card, with_9a=not args.no_9a,
                                   timeout=args.timeout))
    cardfile.save_cardfile(card.cardfile(pin=args.pin), out)
    finish_pending(out)
    result = {"card_id": card.card_id, "account": args.account, "slots": slots, "out": str(args.out)}
    print(json.dumps(result))
    return 0


def _run_reader(args: argparse.Namespace, address: Any, ca_pem: bytes) -> int:
    import asyncio
    import datetime as dt
    import json

    from roamline.firmware.card.pivadmin import ALG_NAMES, DEFAULT_MANAGEMENT_KEY, ManagementKey
    from roamline.provisioning.cardissue import PivPending, issue_card, write_receipt
    from roamline.provisioning.errors import UsageError
    from roamline.provisioning.pivcard import (
        Personalisation,
        PivCardKeys,
        load_public_key,
        open_reader,
        public_key_pem,
    )

    with_9a = not args.no_9a
    known = {}
    for slot, path in args.public_key:
        if slot == "9a" and not with_9a:
            raise UsageError("--public-key 9a=… with --no-9a")
        known[slot] = load_public_key(path.read_bytes(), str(path))
    admin = ManagementKey(ALG_NAMES[args.admin_alg], args.admin_key or DEFAULT_MANAGEMENT_KEY)
    new_admin = (ManagementKey(ALG_NAMES[args.new_admin_alg or args.admin_alg], args.new_admin_key)
                 if args.new_admin_key is not None else None)
    pending = PivPending.start(args.out, args.account, args.guid, args.reader)
    for slot, pem in pending.keys.items():
        known.setdefault(slot, load_public_key(pem.encode(), str(pending.path)))
    for slot, key in known.items():
        pending.keys[slot] = public_key_pem(key)
    pending.save()
    # Steps an interrupted run already did change what the card has now.
    plan = Personalisation(
        guid=pending.guid,
        admin_key=new_admin if new_admin is not None and "management-key" in pending.done else admin,
        current_pin=args.pin if "pin" in pending.done else args.current_pin, new_pin=args.pin,
        current_puk=args.puk if args.puk and "puk" in pending.done else args.current_puk, new_puk=args.puk,
        new_admin_key=new_admin, with_9a=with_9a,
    )

    def remember(slot: str, key: Any) -> None:
        pending.keys[slot] = public_key_pem(key)
        pending.save()

    def step_done(step: str) -> None:
        if step not in pending.done:
            pending.done.append(step)
        pending.save()

    if "9a" in args.keep_key and not with_9a:
        raise UsageError("--keep-key 9a with --no-9a")
    with open_reader(args.reader) as piv:
        card = PivCardKeys(piv, plan, known=known, on_key=remember, on_step=step_done)
        for slot in args.keep_key:
            if slot not in known:
                remember(slot, card.recover(slot))
        card.prepare()  # management key, PIN and CHUID: a wrong key or PIN stops here, token unspent
        slots = asyncio.run(issue_card(address, ca_pem, args.token, args.account, card, with_9a=with_9a,
                                       timeout=args.timeout))
        card.finish()
    certs = dict(card.certs)
    body: dict[str, object] = {
        "card_id": card.card_id, "account": args.account, "reader": args.reader, "slots": slots,
        "issued_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "public_keys": dict(pending.keys), "changed": pending.done, "certificates": certs,
    }
    write_receipt(args.out, body)
    pending.finish()
    print(json.dumps({"card_id": card.card_id, "account": args.account, "slots": slots, "reader": args.reader,
                      "changed": pending.done, "out": str(args.out)}))
    return 0
