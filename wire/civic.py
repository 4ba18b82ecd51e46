"""Civic addresses for dispatchable locations: the element names of RFC 5139 (PIDF-LO civic address).

Shared by the installer's tool (which records a box's address at enrollment), the registry (which stores
and shows it) and, later, the box's PIDF-LO for emergency calls.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

from roamline.wire.errors import UsageError

# RFC 5139 §3.1 / RFC 4776 civic address elements.
CIVIC_ELEMENTS = (
    "country", "A1", "A2", "A3", "A4", "A5", "A6", "PRM", "PRD", "RD", "STS", "POD", "POM", "RDSEC",
    "RDBR", "RDSUBBR", "HNO", "HNS", "LMK", "LOC", "FLR", "NAM", "PC", "BLD", "UNIT", "ROOM", "SEAT",
    "PLC", "PCN", "POBOX", "ADDCODE",
)
_BY_LOWER = {name.lower(): name for name in CIVIC_ELEMENTS}


# The dispatchable-location rules (issue 11): these must be present, and a P.O. box is not a place anyone
# can be dispatched to. Floor, room, unit, seat and the other elements are kept as given.
REQUIRED = ("country", "A1", "A3", "RD", "HNO")
REFUSED = {"POBOX": "a P.O. box is not a dispatchable location"}
VALUE_MAX = 128


def _check_value(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise UsageError(f"civic element {name} must be text")
    v = value.strip()
    if not v:
        raise UsageError(f"civic element {name} is empty")
    if len(v) > VALUE_MAX:
        raise UsageError(f"civic element {name} is longer than {VALUE_MAX} characters")
    if any(unicodedata.category(c)[0] == "C" for c in v):
        raise UsageError(f"civic element {name} has control characters")
    if name == "country":
        if not (len(v) == 2 and v.isascii() and v.isalpha()):
            raise UsageError(f"civic country {v!r} is not an ISO 3166 two-letter code (like US)")
        v = v.upper()
    return v


def parse_civic_element(pair: str) -> tuple[str, str]:
    """``"RD=Elm Street"`` → ``("RD", "Elm Street")``: an RFC 5139 name (any case), a printable value."""
    key, sep, value = pair.partition("=")
    name = _BY_LOWER.get(key.strip().lower())
    if not sep or name is None:
        shown = key.strip() if len(key) <= 20 else key.strip()[:20] + "…"
        raise UsageError(f"civic element {shown!r}: expected NAME=VALUE with an RFC 5139 name "
                         f"({', '.join(CIVIC_ELEMENTS[:8])}, … FLR, ROOM, PC)")
    if name in REFUSED:
        raise UsageError(f"civic element {name}: {REFUSED[name]}")
    return name, _check_value(name, value)


def check_civic(civic: object) -> dict[str, str]:
    """A complete dispatchable civic address, or UsageError naming what is wrong (registry and tools)."""
    if not isinstance(civic, dict):
        raise UsageError("a civic address must be a table of RFC 5139 elements")
    out: dict[str, str] = {}
    for key, value in civic.items():
        name = _BY_LOWER.get(str(key).lower()) if isinstance(key, str) else None
        if name is None:
            raise UsageError(f"civic element {str(key)[:20]!r} is not an RFC 5139 element")
        if name in REFUSED:
            raise UsageError(f"civic element {name}: {REFUSED[name]}")
        out[name] = _check_value(name, value)
    missing = [n for n in REQUIRED if n not in out]
    if missing:
        raise UsageError(f"a dispatchable address needs {', '.join(REQUIRED)}; missing {', '.join(missing)}")
    return out


def parse_civic(pairs: list[str]) -> dict[str, str]:
    """``["country=US", "A1=IL", "A3=Springfield", "HNO=12", "RD=Elm Street"]`` → a civic address dict.

    Element names are RFC 5139's (case-insensitive on input). No pairs: no address (``{}``); otherwise the
    address must be complete (:func:`check_civic`), each element given once.
    """
    civic: dict[str, str] = {}
    for pair in pairs:
        name, value = parse_civic_element(pair)
        if name in civic:
            raise UsageError(f"civic element {name} is given twice")
        civic[name] = value
    return check_civic(civic) if civic else {}


def check_location(location: object) -> dict[str, Any]:
    """A recorded location as enrollment carries it: ``{"civic": {...}, "method": "installer"}``, and
    optionally ``point``: ``{"lat", "lon"}`` (WGS 84 degrees) where the address is, as the installer
    surveyed it — what location speed-dials measure from when the box has no GPS fix."""
    if not isinstance(location, dict):
        raise UsageError("a location must be an object with a civic address")
    unknown = set(location) - {"civic", "method", "point"}
    if unknown:
        raise UsageError(f"location has unknown fields: {', '.join(sorted(map(str, unknown)))}")
    method = location.get("method", "installer")
    if not isinstance(method, str) or not method or len(method) > 32:
        raise UsageError("location method must be a short text (installer, operator)")
    out: dict[str, Any] = {"civic": check_civic(location.get("civic")), "method": method}
    if location.get("point") is not None:
        out["point"] = check_point(location["point"])
    return out


def check_point(point: object) -> dict[str, float]:
    """``{"lat", "lon"}`` in WGS 84 degrees (0, 0 is refused: a receiver's or a form's default)."""
    if not isinstance(point, dict) or set(point) != {"lat", "lon"}:
        raise UsageError("location point must be an object with lat and lon")
    out: dict[str, float] = {}
    for key, limit in (("lat", 90.0), ("lon", 180.0)):
        v = point[key]
        if type(v) not in (int, float) or not math.isfinite(v) or not -limit <= v <= limit:
            raise UsageError(f"location point {key} must be a number in [{-limit:g}, {limit:g}]")
        out[key] = float(v)
    if out["lat"] == 0.0 and out["lon"] == 0.0:
        raise UsageError("location point 0,0 is no place a box is")
    return out


def parse_point(text: str) -> dict[str, float]:
    """``LAT,LON`` as typed on a command line (``39.7990,-89.6440``)."""
    lat, sep, lon = text.partition(",")
    try:
        if not sep:
            raise ValueError
        return check_point({"lat": float(lat), "lon": float(lon)})
    except ValueError:
        raise UsageError("a point is LAT,LON in degrees, like 39.7990,-89.6440") from None


def describe(location: dict[str, Any] | None) -> str:
    """One line a person reads: '12 Elm Street, floor 2, room 201, Springfield IL 62701, US'."""
    civic = (location or {}).get("civic") or {}
    if not isinstance(civic, dict) or not civic:
        return ""
    street = " ".join(str(civic[k]) for k in ("HNO", "HNS", "PRD", "RD", "STS", "POD") if k in civic)
    parts = [p for p in (civic.get("NAM"), street) if p]
    parts += [f"floor {civic['FLR']}"] if "FLR" in civic else []
    parts += [f"room {civic['ROOM']}"] if "ROOM" in civic else []
    town = " ".join(str(civic[k]) for k in ("A3", "A1", "PC") if k in civic)
    parts += [p for p in (town, civic.get("country")) if p]
    return ", ".join(str(p) for p in parts)
