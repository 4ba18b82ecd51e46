"""`roamline cloud psap import FILE.csv --data DIR [--json]`: load the answering-point directory."""

from __future__ import annotations

import argparse
import json

SUMMARY = "replace the answering-point directory (the emergency route's PSAPs) with a CSV file's rows"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.wire import validate

    parser.add_argument("file", type=validate.ExistingFile(), metavar="FILE.csv",
                        help="name,uri,lat,lon,radius_m,country,A1,A3 (one header line; see cloud.psap)")
    add_data_arg(parser)
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import open_store, wall_now
    from roamline.cloud.errors import UsageError
    from roamline.cloud.psap import parse_csv

    try:
        text = args.file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{args.file}: not UTF-8 text") from None
    points = parse_csv(text)  # every row checked before the store is touched
    store = open_store(args.data)
    try:
        with store.transaction():
            store.replace_answering_points(points)
            store.add_event(wall_now(), "answering-points-imported", {"rows": len(points)})
    finally:
        store.close()
    kinds = {k: sum(1 for p in points if p.kind == k) for k in ("circle", "admin", "default")}
    result = {"imported": len(points), "answering_points": len({p.name for p in points}), **kinds}
    if not args.json:
        print(f"imported {len(points)} service areas of {result['answering_points']} answering points")
    print(json.dumps(result))
    return 0
