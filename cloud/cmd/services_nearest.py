"""`roamline cloud services nearest CATEGORY --lat LAT --lon LON --data DIR [--json]`: which service a
location speed-dial of that category resolves to at that place (the operator's check)."""

from __future__ import annotations

import argparse
import json

SUMMARY = "the nearest service of a category whose radius covers a place (what a speed-dial would ring)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.wire import validate

    parser.add_argument("category", type=validate.Identifier(), help="e.g. pizza, taxi, city-services")
    parser.add_argument("--lat", required=True, type=validate.Number(-90, 90), help="latitude, degrees")
    parser.add_argument("--lon", required=True, type=validate.Number(-180, 180), help="longitude, degrees")
    add_data_arg(parser)
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd.common import open_store
    from roamline.cloud.services import nearest

    store = open_store(args.data)
    try:
        found = nearest(store.services(args.category), args.category, float(args.lat), float(args.lon))
    finally:
        store.close()
    if found is None:
        result: dict[str, object] = {"found": False,
                                     "reason": f"no {args.category} service covers this place"}
    else:
        svc, dist = found
        result = {"found": True, "name": svc.name, "number": svc.number, "distance_m": round(dist, 1),
                  "radius_m": svc.radius_m}
    if not args.json:
        found_text = f"{result['name']} {result['number']} ({result['distance_m']} m)"
        print(found_text if found else result["reason"])
    print(json.dumps(result))
    return 0 if found else 1
