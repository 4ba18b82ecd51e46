"""Location speed-dials resolved (DESIGN §6.5, docs/protocol.md §4.3): which local service a code reaches
from where a box is. Pure functions over the holder's profile, the directory and the box's records; the
registry calls :func:`resolve` for ``service.resolve`` and the box places the call to the number it gets
like any other number (rights, routes and records as usual).

- ``**N``: the holder's ``local_dials`` preference maps N to a category (``**1`` → ``pizza``);
- an N11 code (``311``, ``411``): the directory's category of that name, the same for every holder.

Where the box is: its latest GPS fix, when the card's registration carried one no older than
:data:`FIX_FRESH_S`; else the point surveyed for its recorded address (``location.point``, written at
enrollment). The nearest service of the category whose radius covers that place answers
(:func:`roamline.cloud.services.nearest`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roamline.cloud.records import Service
from roamline.cloud.services import nearest
from roamline.wire import profile as wire_profile
from roamline.wire.local_services import Outcome, ServiceResolved

FIX_FRESH_S = 600.0  # a registration's GPS fix older than this no longer says where the box is


@dataclass(frozen=True, slots=True)
class Place:
    lat: float
    lon: float
    source: str  # "gps" | "recorded"


def category_of(code: str, profile: wire_profile.Profile) -> str | None:
    """The directory category ``code`` asks for (None: the holder set no such speed-dial)."""
    if code.startswith("**"):
        dial = profile.local_dial(code[2:])
        return dial.category if dial is not None else None
    return code  # N11: the category is the code itself


def place_of(registration_location: dict[str, Any] | None, box_location: dict[str, Any] | None,
             now: float) -> Place | None:
    """Where the box is for local services: a fresh GPS fix from the registration's snapshot, else the
    recorded address's surveyed point; None when neither is known."""
    geo = (registration_location or {}).get("geo")
    if isinstance(geo, dict) and now - float(geo.get("at", 0.0)) <= FIX_FRESH_S:
        return Place(float(geo["lat"]), float(geo["lon"]), "gps")
    point = (box_location or {}).get("point")
    if isinstance(point, dict) and "lat" in point and "lon" in point:
        return Place(float(point["lat"]), float(point["lon"]), "recorded")
    return None


def resolve(code: str, profile: wire_profile.Profile, services: list[Service],
            place: Place | None) -> ServiceResolved:
    """The answer to ``service.resolve`` for a card registered at the box (``services``: the directory,
    or just the category's part of it)."""
    category = category_of(code, profile)
    if category is None:
        return ServiceResolved(code=code, outcome=Outcome.NO_CODE)
    if place is None:
        return ServiceResolved(code=code, outcome=Outcome.NO_LOCATION, category=category)
    found = nearest(services, category, place.lat, place.lon)
    if found is None:
        return ServiceResolved(code=code, outcome=Outcome.NO_SERVICE, category=category)
    service, distance = found
    return ServiceResolved(code=code, outcome=Outcome.RESOLVED, number=service.number, name=service.name,
                           category=category, distance_m=round(distance, 1))


__all__ = ["FIX_FRESH_S", "Place", "category_of", "place_of", "resolve"]
