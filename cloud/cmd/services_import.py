"""`roamline cloud services import FILE.csv --data DIR [--json]`: load the local-services directory."""

from __future__ import annotations

import argparse

SUMMARY = "replace the local-services directory (location speed-dials) with a CSV file's services"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_import_args

    add_import_args(parser, "category,name,number,lat,lon,radius_m (one header line)")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import print_result, read_csv_file, replace_directory
    from roamline.cloud.services import parse_csv

    services = parse_csv(read_csv_file(args.file))  # every row checked before the store is touched
    categories = sorted({s.category for s in services})
    replace_directory(args.data, lambda store: store.replace_services(services), "services-imported",
                      {"count": len(services), "categories": categories})
    print_result({"imported": len(services), "categories": categories},
                 f"imported {len(services)} services in {len(categories)} categories", args.json)
    return 0
