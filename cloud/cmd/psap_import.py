"""`roamline cloud psap import FILE.csv --data DIR [--json]`: load the answering-point directory."""

from __future__ import annotations

import argparse

SUMMARY = "replace the answering-point directory (the emergency route's PSAPs) with a CSV file's rows"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_import_args

    add_import_args(parser, "name,uri,lat,lon,radius_m,country,A1,A3[,callback_from,tls_fingerprint,tls_ca] "
                            "(one header line; tls_ca files are read next to the CSV; see docs/operator.md)")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import print_result, read_csv_file, replace_directory
    from roamline.cloud.errors import UsageError
    from roamline.cloud.psap import parse_csv, transport_of

    base = args.file.resolve().parent

    def read_ca(name: str) -> bytes:
        try:
            data: bytes = (base / name).read_bytes()
            return data
        except OSError as exc:
            raise UsageError(f"tls_ca {name[:40]!r}: {exc.strerror}") from None

    points = parse_csv(read_csv_file(args.file), read_ca)  # every row checked before the store is touched
    replace_directory(args.data, lambda store: store.replace_answering_points(points),
                      "answering-points-imported", {"rows": len(points)})
    kinds = {k: sum(1 for p in points if p.kind == k) for k in ("circle", "admin", "default")}
    result = {"imported": len(points), "answering_points": len({p.name for p in points}), **kinds,
              "tls": sum(1 for p in points if transport_of(p.uri) == "tls"),
              "no_callback": sorted({p.name for p in points if not p.callback_from})}
    print_result(result, f"imported {len(points)} service areas of {result['answering_points']} answering "
                         "points", args.json)
    return 0
