"""`roamline provision box enroll --registry HOST:PORT --ca CA.pem --token T --out DIR [--box-name N]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from roamline.provisioning.registry_args import add_registry_arguments

SUMMARY = "make a box key, have the registry certify it (one-time token), write key, cert, CA and box.toml"


def configure(parser: argparse.ArgumentParser) -> None:
    add_registry_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="DIR")
    parser.add_argument("--box-name", default="box")
    parser.add_argument("--board", default="sim", help="board profile name")
    parser.add_argument("--line-number", default=None, metavar="E164", help="the box's POTS line number")
    parser.add_argument("--civic", action="append", default=[], metavar="NAME=VALUE",
                        help="the box's dispatchable address, one RFC 5139 element each time (country=US "
                             "A1=IL A3=Springfield HNO=12 RD='Elm Street' FLR=2 ROOM=201 PC=62701)")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from roamline.provisioning.enroll import enroll_box, parse_registry, read_ca

    address = parse_registry(args.registry, args.server_name)
    ca_pem = read_ca(args.ca)
    from roamline.wire.civic import parse_civic

    details: dict[str, object] = {"line_number": args.line_number} if args.line_number else {}
    civic = parse_civic(args.civic)
    if civic:
        details["location"] = {"civic": civic, "method": "installer"}
    box_id, config = asyncio.run(enroll_box(address, ca_pem, args.token, args.out, box_name=args.box_name,
                                            board=args.board, details=details, timeout=args.timeout))
    print(json.dumps({"box_id": box_id, "config": str(config), "out": str(args.out)}))
    return 0
