"""Civic addresses for dispatchable locations: the element names of RFC 5139 (PIDF-LO civic address).

Shared by the installer's tool (which records a box's address at enrollment), the registry (which stores
and shows it) and, later, the box's PIDF-LO for emergency calls.
"""

from __future__ import annotations

from typing import Any

from roamline.wire.errors import UsageError

# RFC 5139 §3.1 / RFC 4776 civic address elements.
CIVIC_ELEMENTS = (
    "country", "A1", "A2", "A3", "A4", "A5", "A6", "PRM", "PRD", "RD", "STS", "POD", "POM", "RDSEC",
    "RDBR", "RDSUBBR", "HNO", "HNS", "LMK", "LOC", "FLR", "NAM", "PC", "BLD", "UNIT", "ROOM", "SEAT",
    "PLC", "PCN", "POBOX", "ADDCODE",
)
_BY_LOWER = {name.lower(): name for name in CIVIC_ELEMENTS}


def parse_civic(pairs: list[str]) -> dict[str, str]:
    """``["country=US", "A1=IL", "HNO=12", "RD=Elm Street", "FLR=2"]`` → a civic address dict.

    Element names are RFC 5139's (case-insensitive on input); unknown names or empty values are errors.
    """
    civic: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        name = _BY_LOWER.get(key.strip().lower())
        if not sep or name is None:
            raise UsageError(f"civic element {key.strip()!r}: expected NAME=VALUE with an RFC 5139 name "
                             f"({', '.join(CIVIC_ELEMENTS[:8])}, … FLR, ROOM, PC)")
        if not value.strip():
            raise UsageError(f"civic element {name} is empty")
        civic[name] = value.strip()
    if civic and "country" not in civic:
        raise UsageError("a civic address needs its country (country=US)")
    return civic


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
