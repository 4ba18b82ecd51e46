"""Location speed-dials at the registry on SQLite: `service.resolve` for **N (the holder's preference) and
N11 codes, the nearest covering service from the box's GPS fix or its recorded point, and every reason a
code does not resolve."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.cloud import local_dial
from roamline.cloud.records import Service
from roamline.cloud.services import parse_csv
from roamline.wire import profile as wp
from roamline.wire.geo import distance_m
from roamline.wire.local_services import Outcome, ServiceResolve, ServiceResolved
from roamline.wire.messages import Registered

NUM = "+15551230001"
HOME = {"country": "US", "A1": "IL", "A3": "Springfield", "RD": "Elm Street", "HNO": "12"}
SPRINGFIELD = {"lat": 39.7990, "lon": -89.6440}
CSV = """category,name,number,lat,lon,radius_m
pizza,Luigi's,+12175550101,39.8000,-89.6450,8000
pizza,Far Pizza,+12175550102,39.9000,-89.6450,50000
pizza,Chicago Slice,+13125550103,41.8800,-87.6300,10000
311,Springfield City Services,+12175550311,39.8017,-89.6437,30000
taxi,Shelbyville Cabs,+12175550104,39.4064,-88.7901,5000
"""


@pytest.fixture
def world(harness: Any) -> Any:
    h = harness
    h.acct = h.account("Ann", NUM)
    h.box_a = h.enroll_box("a")
    h.card = h.enroll_card(h.acct)
    box = h.store.get_box(h.box_a.box_id)
    h.store.put_box(dataclasses.replace(box, location={"civic": HOME, "method": "installer",
                                                       "point": SPRINGFIELD}))
    h.store.replace_services(parse_csv(CSV))
    dials = [{"code": "1", "category": "pizza"}, {"code": "2", "category": "taxi"},
             {"code": "3", "category": "sushi"}]
    h.store.put_profile(h.acct, wp.parse({"local_dials": dials}).to_json(), h.now)
    h.hello("c1", h.box_a)
    return h


def register(h: Any, geo: dict[str, Any] | None = None) -> None:
    """Register the card with a snapshot carrying ``geo`` (None: the box has no GPS fix)."""
    msg = h.register_msg("c1", h.box_a, h.card)
    snap = {"civic": HOME, "method": "installer", "state": "confirmed", "geo": geo, "network": None}
    assert isinstance(h.reply("c1", dataclasses.replace(msg, location=snap)), Registered)


def ask(h: Any, code: str) -> ServiceResolved:
    r = h.reply("c1", ServiceResolve(card_id=h.card.card_id, code=code))
    assert isinstance(r, ServiceResolved), r
    return r


def test_star_star_1_rings_the_nearest_pizza_whose_radius_covers_the_box(world: Any) -> None:
    h = world
    register(h)  # no GPS: from the point recorded for the box's address
    r = ask(h, "**1")
    assert (r.outcome, r.number, r.name, r.category) == (Outcome.RESOLVED, "+12175550101", "Luigi's", "pizza")
    assert r.distance_m is not None and r.distance_m < 200
    r = ask(h, "311")  # N11: the directory's category of that name, whoever calls
    assert (r.outcome, r.number) == (Outcome.RESOLVED, "+12175550311")


def test_a_fresh_gps_fix_in_the_registration_wins_over_the_recorded_point(world: Any) -> None:
    h = world
    chicago = {"lat": 41.8810, "lon": -87.6290, "error_m": 5.0, "mode": 3, "satellites": 9, "at": h.now}
    register(h, chicago)
    assert ask(h, "**1").number == "+13125550103"
    register(h, {**chicago, "at": h.now - local_dial.FIX_FRESH_S - 1})  # a stale fix says nothing
    assert ask(h, "**1").number == "+12175550101"


def test_unresolvable_codes_say_why(world: Any) -> None:
    h = world
    assert ask(h, "**1").outcome is Outcome.NO_CARD  # not registered here (yet)
    register(h)
    assert ask(h, "**9").outcome is Outcome.NO_CODE  # no such preference
    no = ask(h, "**2")  # taxis exist, but not within their radius of Springfield
    assert (no.outcome, no.category, no.number) == (Outcome.NO_SERVICE, "taxi", None)
    assert ask(h, "**3").outcome is Outcome.NO_SERVICE  # a category nobody lists
    assert ask(h, "411").outcome is Outcome.NO_SERVICE
    box = h.store.get_box(h.box_a.box_id)
    h.store.put_box(dataclasses.replace(box, location={"civic": HOME, "method": "installer"}))
    assert ask(h, "**1").outcome is Outcome.NO_LOCATION  # no GPS, no recorded point


def test_malformed_codes_are_refused_on_the_wire() -> None:
    from roamline.wire.errors import BadBody
    from roamline.wire.messages import from_frame, to_frame

    card = "c" * 32
    for good in ("**1", "**99", "311", "411"):
        assert from_frame(to_frame(ServiceResolve(card_id=card, code=good), id="q1")).message.code == good  # type: ignore[attr-defined]
    for bad in ("**", "**123", "912", "111", "1", "*1", "**1a", "911"):
        with pytest.raises(BadBody):
            from_frame(to_frame(ServiceResolve(card_id=card, code=bad), id="q1"))


_lat = st.floats(39.0, 41.0)
_lon = st.floats(-90.0, -88.0)


@settings(max_examples=80, deadline=None)
@given(services=st.lists(st.tuples(st.sampled_from(["pizza", "taxi"]), _lat, _lon, st.floats(100, 100_000)),
                         max_size=12),
       lat=_lat, lon=_lon)
def test_the_answer_is_the_nearest_covering_service_of_the_category(
        services: list[tuple[str, float, float, float]], lat: float, lon: float) -> None:
    directory = [Service(c, f"s{i}", f"+1217555{i:04d}", a, o, r) for i, (c, a, o, r) in enumerate(services)]
    profile = wp.parse({"local_dials": [{"code": "1", "category": "pizza"}]})
    r = local_dial.resolve("**1", profile, directory, local_dial.Place(lat, lon, "recorded"))
    covering = [(distance_m(lat, lon, s.lat, s.lon), s) for s in directory
                if s.category == "pizza" and distance_m(lat, lon, s.lat, s.lon) <= s.radius_m]
    if not covering:
        assert r.outcome is Outcome.NO_SERVICE and r.number is None
        return
    best = min(d for d, _ in covering)
    assert r.outcome is Outcome.RESOLVED and r.distance_m is not None
    assert abs(r.distance_m - best) < 0.1
    assert r.number in {s.number for d, s in covering if abs(d - best) < 1e-6}


@settings(max_examples=60, deadline=None)
@given(services=st.lists(st.tuples(st.floats(-80, 80), st.floats(-179, 179), st.floats(1, 200_000)),
                         max_size=15),
       lat=st.floats(-80, 80), lon=st.floats(-179, 179))
def test_the_stores_near_query_never_leaves_out_a_covering_service(
        services: list[tuple[float, float, float]], lat: float, lon: float) -> None:
    """The SQL prefilter (latitude difference within the radius) answers exactly what a full scan does."""
    import tempfile
    from pathlib import Path

    from roamline.cloud.services import nearest
    from roamline.cloud.store import SqliteStore

    directory = [Service("pizza", f"s{i}", f"+1217555{i:04d}", a, o, r)
                 for i, (a, o, r) in enumerate(services)]
    with tempfile.TemporaryDirectory() as d, SqliteStore(Path(d) / "r.db") as store:
        store.replace_services(directory)
        near = store.services_near("pizza", lat, lon)
        assert {s.number for s in near} <= {s.number for s in directory}
        full = nearest(store.services("pizza"), "pizza", lat, lon)
        got = nearest(near, "pizza", lat, lon)
        assert (full is None) == (got is None)
        if full is not None and got is not None:
            assert abs(full[1] - got[1]) < 1e-6
