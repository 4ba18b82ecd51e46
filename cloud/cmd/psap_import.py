"""`roamline cloud psap import FILE.csv --data DIR [--json]`: load the answering-point directory."""

from __future__ import annotations

import argparse

SUMMARY = "replace the answering-point directory (the emergency route's PSAPs) with a CSV file's rows"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_import_args

    add_import_args(parser, "name,uri,lat,lon,radius_m,country,A1,A3 (one header line; see cloud.psap)")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import print_result, read_csv_file, replace_directory
    from roamline.cloud.psap import parse_csv

    points = parse_csv(read_csv_file(args.file))  # every row checked before the store is touched
    replace_directory(args.data, lambda store: store.replace_answering_points(points),
                      "answering-points-imported", {"rows": len(points)})
    kinds = {k: sum(1 for p in points if p.kind == k) for k in ("circle", "admin", "default")}
    result = {"imported": len(points), "answering_points": len({p.name for p in points}), **kinds}
    print_result(result, f"imported {len(points)} service areas of {result['answering_points']} answering "
                         "points", args.json)
    return 0
