"""The answering-point directory behind the cloud's emergency route (DESIGN §6.4): which PSAP takes an
emergency call from a box at a given location.

CSV format (``roamline cloud psap import FILE.csv``), UTF-8, one header line; each row one service area
of one answering point (an answering point may have several rows)::

    name,uri,lat,lon,radius_m,country,A1,A3
    shelbyville,sip:psap@10.0.0.5:5060,39.4064,-88.7901,15000,,,
    illinois,sip:psap@10.0.0.6:5060,,,,US,IL,
    fallback,sip:psap@10.0.0.7:5060,,,,,,

A row with ``lat``, ``lon`` and ``radius_m`` is a circle; else one with ``country`` (and optionally the
state ``A1`` and the city ``A3``, RFC 5139, compared without case) is an administrative area; a row
with neither is the default. URIs are ``sip:`` with a host (IPv4 or name) and optional port, printable
ASCII with no spaces. A bad row is a UsageError naming its line; nothing is imported then. A file is
read as ``cloud.csvfile`` says (UTF-8, a byte-order mark allowed, line breaks inside quoted fields).

:func:`candidates`: the answering points that cover a location, best first — circles holding a valid GPS
position (smallest first), then the civic address's administrative matches (city over state over
country), then defaults; :func:`choose` is the first. The router tries them in that order, the next when
one fails (no answer, busy, an error). A location that is missing or unconfirmed still picks (the call
is never refused for it: at worst it goes to a default).
"""

from __future__ import annotations

import re
from typing import Any

from roamline.cloud import csvfile
from roamline.cloud.errors import UsageError
from roamline.cloud.records import AnsweringPoint
from roamline.wire import sip
from roamline.wire.errors import PeerError as WirePeerError
from roamline.wire.geo import distance_m

COLUMNS = ("name", "uri", "lat", "lon", "radius_m", "country", "a1", "a3")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._'-]{0,79}")
MAX_RADIUS_M = 500_000.0
MAX_ROWS = 10_000


def parse_csv(text: str) -> list[AnsweringPoint]:
    """Every row, checked; UsageError ``line N: …`` on the first bad one."""
    return csvfile.parse_rows(text, COLUMNS, f"{','.join(COLUMNS[:5])},country,A1,A3", MAX_ROWS,
                              f"more than {MAX_ROWS} answering-point rows", _row)


def _row(cells: list[str]) -> AnsweringPoint:
    name, uri, lat, lon, radius, country, a1, a3 = cells
    if NAME.fullmatch(name) is None:
        raise UsageError(f"name {name[:20]!r} must be 1-80 letters, digits, spaces or . _ ' -")
    if not uri.startswith("sip:"):
        raise UsageError(f"uri {uri[:40]!r} must be a sip: URI")
    if not (uri.isascii() and uri.isprintable()) or " " in uri:  # it stands in SIP request lines
        raise UsageError(f"uri {uri[:40]!r} must be printable ASCII with no spaces")
    try:
        sip.host_port(uri)
    except WirePeerError as exc:
        raise UsageError(f"uri: {exc}") from None
    if lat or lon or radius:
        if not (lat and lon and radius):
            raise UsageError("a circle needs lat, lon and radius_m")
        if country or a1 or a3:
            raise UsageError("a row is a circle or an administrative area, not both")
        return AnsweringPoint(name, uri, "circle", csvfile.number(lat, -90, 90, "lat"),
                              csvfile.number(lon, -180, 180, "lon"),
                              csvfile.number(radius, 1, MAX_RADIUS_M, "radius_m"))
    if country:
        if re.fullmatch(r"[A-Za-z]{2}", country) is None:
            raise UsageError(f"country {country[:10]!r} must be a two-letter code")
        if a3 and not a1:
            raise UsageError("a city (A3) needs its state (A1)")
        for what, v in (("A1", a1), ("A3", a3)):
            if len(v) > 80 or not v.isprintable():
                raise UsageError(f"{what} must be at most 80 printable characters")
        return AnsweringPoint(name, uri, "admin", country=country.upper(), a1=a1, a3=a3)
    if a1 or a3:
        raise UsageError("an administrative area needs its country")
    return AnsweringPoint(name, uri, "default")


def _fold(s: str) -> str:
    return " ".join(s.split()).casefold()


def candidates(points: list[AnsweringPoint],
               location: dict[str, Any] | None) -> list[tuple[AnsweringPoint, str]]:
    """Every answering point that covers ``location``, best first (the order of :func:`choose`: GPS
    circles smallest first, then administrative areas most specific first, then defaults), one per URI:
    where an emergency call goes next when the one before fails."""
    geo = (location or {}).get("geo")
    civic = (location or {}).get("civic") or {}
    ranked: list[tuple[int, float, int, AnsweringPoint, str]] = []
    country = str(civic.get("country", "")).upper()
    for i, p in enumerate(points):
        if p.kind == "circle" and geo is not None:
            if distance_m(geo["lat"], geo["lon"], p.lat or 0.0, p.lon or 0.0) <= (p.radius_m or 0.0):
                ranked.append((0, p.radius_m or 0.0, i, p, "gps"))
        elif p.kind == "admin" and p.country == country:
            if p.a1 and _fold(p.a1) != _fold(str(civic.get("A1", ""))):
                continue
            if p.a3 and _fold(p.a3) != _fold(str(civic.get("A3", ""))):
                continue
            ranked.append((1, -(bool(p.a1) + bool(p.a3)), i, p, "civic"))
        elif p.kind == "default":
            ranked.append((2, 0.0, i, p, "default"))
    out: list[tuple[AnsweringPoint, str]] = []
    seen: set[str] = set()
    for *_, p, why in sorted(ranked, key=lambda r: r[:3]):
        if p.uri not in seen:
            seen.add(p.uri)
            out.append((p, why))
    return out


def choose(points: list[AnsweringPoint],
           location: dict[str, Any] | None) -> tuple[AnsweringPoint, str] | None:
    """The answering point for a box's ``location`` object (wire.location, or None) and why it was chosen
    (``gps`` | ``civic`` | ``default``); None when the directory has nothing that covers it."""
    found = candidates(points, location)
    return found[0] if found else None
