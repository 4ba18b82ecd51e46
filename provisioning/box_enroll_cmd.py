"""`roamline provision box enroll --registry HOST:PORT --ca CA.pem --token T --out DIR [--box-name N]
[--line-number E164] [--owner ACCOUNT] …`."""

from __future__ import annotations

import argparse
from typing import Any

from roamline.provisioning.registry_args import add_registry_arguments

SUMMARY = "make a box key, have the registry certify it (one-time token), write key, cert, CA and box.toml"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    add_registry_arguments(parser)
    parser.add_argument("--out", required=True, type=validate.NewDir(), metavar="DIR")
    parser.add_argument("--box-name", default="box", type=validate.DisplayName())
    parser.add_argument("--board", default="sim", type=board_names(), help="board profile name")
    parser.add_argument("--line-number", default=None, type=validate.Phone(), metavar="E164",
                        help="the box's POTS line number")
    parser.add_argument("--owner", default=None, type=validate.DisplayName(), metavar="ACCOUNT",
                        help="the account (id or name) that owns the line: a shared number's message "
                             "goes to its mailbox when the caller chose nobody")
    parser.add_argument("--civic", action="append", default=[], type=civic_element(), metavar="NAME=VALUE",
                        help="the box's dispatchable address, one RFC 5139 element each time: country, "
                             "A1 (state), A3 (city), RD (road) and HNO (house number) are required, "
                             "P.O. boxes are refused (country=US A1=IL A3=Springfield HNO=12 "
                             "RD='Elm Street' FLR=2 ROOM=201 PC=62701)")
    parser.add_argument("--point", default=None, metavar="LAT,LON", type=point_arg(),
                        help="where the address is (WGS 84 degrees, e.g. 39.7990,-89.6440): location "
                             "speed-dials (**1, 311) measure from it when the box has no GPS fix")
    parser.add_argument("--emergency-contact", action="append", default=[], dest="contacts",
                        type=emergency_contact(), metavar="EMAIL|URL",
                        help="who is told when 911 is dialled at this box: an e-mail address or an https:// "
                             "webhook (repeat for several, at most 10)")


def emergency_contact() -> Any:
    from roamline.wire import validate
    from roamline.wire.contacts import check_contact

    return validate.Parsed("emergency contact", check_contact, example="ops@example.com", max_len=2048)


def board_names() -> Any:
    """The validator of ``--board``: a profile shipped in board/profiles."""
    from roamline.wire import validate

    def names() -> list[str]:
        from roamline.board.profile import available_profiles

        return available_profiles()

    return validate.OneOf("board profile", names)


def point_arg() -> Any:
    from roamline.wire import validate
    from roamline.wire.civic import parse_point

    return validate.Parsed("point", parse_point, example="39.7990,-89.6440", max_len=64)


def civic_element() -> Any:
    """The validator of one ``--civic NAME=VALUE`` (the whole address is checked before enrolling)."""
    from roamline.wire import validate
    from roamline.wire.civic import parse_civic_element

    return validate.Parsed("civic element", lambda text: "=".join(parse_civic_element(text)),
                           example="RD=Elm Street", max_len=200)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from roamline.provisioning.enroll import enroll_box, parse_registry, read_ca
    from roamline.provisioning.errors import UsageError
    from roamline.wire import errors
    from roamline.wire.civic import parse_civic

    address = parse_registry(args.registry, args.server_name)
    ca_pem = read_ca(args.ca)
    details: dict[str, object] = {"line_number": args.line_number} if args.line_number else {}
    if args.owner:
        details["owner"] = args.owner
    try:  # the whole address, before anything is made or sent
        civic = parse_civic(args.civic)
    except errors.UsageError as exc:
        raise UsageError(f"--civic: {exc}") from None
    if args.point is not None and not civic:
        raise UsageError("--point: needs the address it locates (--civic)")
    if civic:
        details["location"] = {"civic": civic, "method": "installer"}
        if args.point is not None:
            details["location"] = {**details["location"], "point": args.point}  # type: ignore[dict-item]
    if args.contacts:
        from roamline.wire.contacts import check_contacts

        try:
            details["emergency_contacts"] = check_contacts(args.contacts)
        except errors.UsageError as exc:
            raise UsageError(f"--emergency-contact: {exc}") from None
    box_id, config = asyncio.run(enroll_box(address, ca_pem, args.token, args.out, box_name=args.box_name,
                                            board=args.board, details=details, timeout=args.timeout))
    print(json.dumps({"box_id": box_id, "config": str(config), "out": str(args.out)}))
    return 0
