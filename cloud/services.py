"""The local-services directory behind location speed-dials (DESIGN §6.5): services with a category,
a name, a number, coordinates and a service radius; the nearest matching service whose radius covers the
box's location answers a short code such as ``**1`` (pizza) or an N11 code such as 311.

CSV format (``roamline cloud services import FILE.csv``), UTF-8, one header line::

    category,name,number,lat,lon,radius_m
    pizza,Luigi's,+12175550101,39.7990,-89.6440,8000

Categories are lowercase words (``[a-z0-9][a-z0-9-]{0,31}``); numbers E.164; lat/lon WGS 84 degrees;
radius in metres (0 < r ≤ 200 km). A bad row is a UsageError naming its line; nothing is imported then.
"""

from __future__ import annotations

import re

from roamline.cloud import csvfile
from roamline.cloud.errors import UsageError
from roamline.cloud.records import Service
from roamline.wire.errors import UsageError as WireUsageError
from roamline.wire.geo import distance_m
from roamline.wire.validate import check_e164

COLUMNS = ("category", "name", "number", "lat", "lon", "radius_m")
CATEGORY = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
MAX_RADIUS_M = 200_000.0
MAX_ROWS = 100_000


def parse_csv(text: str) -> list[Service]:
    """Every row, checked; UsageError ``line N: …`` on the first bad one."""
    seen: set[tuple[str, str]] = set()

    def row(cells: list[str]) -> Service:
        category, name, number, lat, lon, radius = cells
        if not CATEGORY.fullmatch(category):
            raise UsageError(f"category {category[:20]!r} must be a lowercase word")
        if not name or len(name) > 80 or not name.isprintable():
            raise UsageError("name must be 1-80 printable characters")
        try:
            e164 = check_e164(number)
        except WireUsageError as exc:
            raise UsageError(f"number: {exc}") from None
        svc = Service(category, name, e164, csvfile.number(lat, -90, 90, "lat"),
                      csvfile.number(lon, -180, 180, "lon"),
                      csvfile.number(radius, 1, MAX_RADIUS_M, "radius_m"))
        if (category, e164) in seen:
            raise UsageError(f"{category} {e164} is listed twice")
        seen.add((category, e164))
        return svc

    return csvfile.parse_rows(text, COLUMNS, ",".join(COLUMNS), MAX_ROWS, f"more than {MAX_ROWS} services",
                              row)


def nearest(services: list[Service], category: str, lat: float, lon: float) -> tuple[Service, float] | None:
    """The closest service of ``category`` whose radius covers (lat, lon), with its distance; None if none
    does. Ties go to the smaller radius (the more local service), then the name."""
    best: tuple[float, float, str, Service] | None = None
    for s in services:
        if s.category != category:
            continue
        d = distance_m(lat, lon, s.lat, s.lon)
        if d > s.radius_m:
            continue
        key = (d, s.radius_m, s.name, s)
        if best is None or key[:3] < best[:3]:
            best = key
    return (best[3], best[0]) if best else None
