"""`roamline cloud psap import FILE.csv --data DIR [--json]`: load the answering-point directory."""

from __future__ import annotations

import argparse
import json

SUMMARY = "replace the answering-point directory (the emergency route's PSAPs) with a CSV file's rows"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.wire import validate

    parser.add_argument("file", type=validate.ExistingFile(), metavar="FILE.csv",
                        help="name,uri,lat,lon,radius_m,country,A1,A3[,callback_from,tls_fingerprint,tls_ca] "
                             "(one header "
                             "line; tls_ca files are read next to the CSV; see docs/operator.md)")
    add_data_arg(parser)
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import open_store, wall_now
    from roamline.cloud.errors import UsageError
    from roamline.cloud.psap import parse_csv, transport_of

    try:
        text = args.file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{args.file}: not UTF-8 text") from None
    base = args.file.resolve().parent

    def read_ca(name: str) -> bytes:
        try:
            data: bytes = (base / name).read_bytes()
            return data
        except OSError as exc:
            raise UsageError(f"tls_ca {name[:40]!r}: {exc.strerror}") from None

    points = parse_csv(text, read_ca)  # every row checked before the store is touched
    store = open_store(args.data)
    try:
        with store.transaction():
            store.replace_answering_points(points)
            store.add_event(wall_now(), "answering-points-imported", {"rows": len(points)})
    finally:
        store.close()
    kinds = {k: sum(1 for p in points if p.kind == k) for k in ("circle", "admin", "default")}
    result = {"imported": len(points), "answering_points": len({p.name for p in points}), **kinds,
              "tls": sum(1 for p in points if transport_of(p.uri) == "tls"),
              "no_callback": sorted({p.name for p in points if not p.callback_from})}
    if not args.json:
        print(f"imported {len(points)} service areas of {result['answering_points']} answering points")
    print(json.dumps(result))
    return 0
