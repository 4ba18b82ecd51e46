"""`roamline cloud services import FILE.csv --data DIR [--json]`: load the local-services directory."""

from __future__ import annotations

import argparse
import json

SUMMARY = "replace the local-services directory (location speed-dials) with a CSV file's services"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.wire import validate

    parser.add_argument("file", type=validate.ExistingFile(), metavar="FILE.csv",
                        help="category,name,number,lat,lon,radius_m (one header line)")
    add_data_arg(parser)
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import open_store, wall_now
    from roamline.cloud.errors import UsageError
    from roamline.cloud.services import parse_csv

    try:
        text = args.file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{args.file}: not UTF-8 text") from None
    services = parse_csv(text)  # every row checked before the store is touched
    store = open_store(args.data)
    try:
        with store.transaction():
            store.replace_services(services)
            categories = sorted({s.category for s in services})
            store.add_event(wall_now(), "services-imported",
                            {"count": len(services), "categories": categories})
    finally:
        store.close()
    result = {"imported": len(services), "categories": categories}
    if not args.json:
        print(f"imported {len(services)} services in {len(categories)} categories")
    print(json.dumps(result))
    return 0
