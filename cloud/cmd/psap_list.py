"""`roamline cloud psap list --data DIR [--json]`: the answering-point directory, row by row."""

from __future__ import annotations

import argparse
import dataclasses
import json

SUMMARY = "list the answering-point directory (the emergency route's PSAPs and their service areas)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg

    add_data_arg(parser)
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import open_store

    store = open_store(args.data)
    try:
        points = store.answering_points()
    finally:
        store.close()
    rows = [dataclasses.asdict(p) for p in points]
    if not args.json:
        for p in points:
            if p.kind == "circle":
                area = f"{p.lat},{p.lon} r={p.radius_m or 0:g} m"
            elif p.kind == "admin":
                area = "/".join(x for x in (p.country, p.a1, p.a3) if x)
            else:
                area = "default"
            sec = " ".join(p.callback_from) or "no call-backs"
            if p.tls_fingerprint:
                sec += f" sha-256 {p.tls_fingerprint}"
            if p.tls_ca:
                sec += " ca"
            print(f"{p.name}\t{p.uri}\t{area}\t{sec}")
    print(json.dumps(rows))
    return 0
