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

import csv
import io
import math
import re

from roamline.cloud.errors import UsageError
from roamline.cloud.records import Service
from roamline.wire.errors import UsageError as WireUsageError
from roamline.wire.geo import distance_m
from roamline.wire.validate import check_e164

COLUMNS = ("category", "name", "number", "lat", "lon", "radius_m")
CATEGORY = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
MAX_RADIUS_M = 200_000.0
MAX_ROWS = 100_000


def _coord(text: str, lo: float, hi: float, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise UsageError(f"{what} {text[:20]!r} is not a number") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise UsageError(f"{what} {text[:20]!r} is outside [{lo:g}, {hi:g}]")
    return v


def parse_csv(text: str) -> list[Service]:
    """Every row, checked; UsageError ``line N: …`` on the first bad one."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(h.strip().lower() for h in header) != COLUMNS:
        raise UsageError(f"line 1: the header must be {','.join(COLUMNS)}")
    out: list[Service] = []
    seen: set[tuple[str, str]] = set()
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(out) >= MAX_ROWS:
            raise UsageError(f"more than {MAX_ROWS} services")
        if len(row) != len(COLUMNS):
            raise UsageError(f"line {line}: expected {len(COLUMNS)} columns, got {len(row)}")
        category, name, number, lat, lon, radius = (c.strip() for c in row)
        try:
            if not CATEGORY.fullmatch(category):
                raise UsageError(f"category {category[:20]!r} must be a lowercase word")
            if not name or len(name) > 80 or not name.isprintable():
                raise UsageError("name must be 1-80 printable characters")
            try:
                e164 = check_e164(number)
            except WireUsageError as exc:
                raise UsageError(f"number: {exc}") from None
            svc = Service(category, name, e164, _coord(lat, -90, 90, "lat"), _coord(lon, -180, 180, "lon"),
                          _coord(radius, 1, MAX_RADIUS_M, "radius_m"))
        except UsageError as exc:
            raise UsageError(f"line {line}: {exc}") from None
        if (category, e164) in seen:
            raise UsageError(f"line {line}: {category} {e164} is listed twice")
        seen.add((category, e164))
        out.append(svc)
    return out


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
