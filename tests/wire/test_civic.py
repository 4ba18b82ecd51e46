from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamline.wire.civic import CIVIC_ELEMENTS, REQUIRED, check_civic, check_location, describe, parse_civic
from roamline.wire.errors import UsageError

HOME = ["country=US", "A1=IL", "A3=Springfield", "HNO=12", "RD=Elm Street"]


def test_parse_and_describe() -> None:
    civic = parse_civic(["country=us", "a1=IL", "A3=Springfield", "HNO=12", "RD=Elm Street", "FLR=2",
                         "ROOM=201", "PC=62701"])
    assert civic["A1"] == "IL" and civic["RD"] == "Elm Street" and civic["country"] == "US"
    assert civic["FLR"] == "2" and civic["ROOM"] == "201"  # floor and room are kept
    assert describe({"civic": civic}) == "12 Elm Street, floor 2, room 201, Springfield IL 62701, US"


def test_no_pairs_is_no_address() -> None:
    assert parse_civic([]) == {}


@pytest.mark.parametrize(("pairs", "fragment"), [
    ([*HOME, "STREET=Elm"], "'STREET'"),
    ([*HOME, "FLR"], "expected NAME=VALUE"),
    ([*HOME, "FLR= "], "FLR is empty"),
    (["RD=Elm Street"], "missing country, A1, A3, HNO"),
    ([*HOME, "POBOX=12"], "P.O. box is not a dispatchable location"),
    ([*HOME, "pobox=12"], "P.O. box"),
    (["country=USA", *HOME[1:]], "ISO 3166"),
    ([*HOME, "A1=IN"], "A1 is given twice"),
    ([*HOME, "LOC=back\x1b[2Jdoor"], "control characters"),
    ([*HOME, "LOC=" + "x" * 200], "longer than 128"),
])
def test_bad_civic_input(pairs: list[str], fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        parse_civic(pairs)


@pytest.mark.parametrize("missing", REQUIRED)
def test_every_required_element_is_required(missing: str) -> None:
    full = dict(p.split("=", 1) for p in HOME)
    with pytest.raises(UsageError, match=f"missing {missing}"):
        check_civic({k: v for k, v in full.items() if k != missing})


@pytest.mark.parametrize("location", [
    None, "12 Elm Street", {"civic": "x"}, {"civic": {"country": "US"}},
    {"civic": dict(p.split("=", 1) for p in HOME), "method": ""},
    {"civic": dict(p.split("=", 1) for p in HOME), "extra": 1},
    {"civic": {**dict(p.split("=", 1) for p in HOME), "POBOX": "7"}},
    {"civic": {**dict(p.split("=", 1) for p in HOME), "HNO": 12}},
])
def test_bad_locations_are_refused(location: Any) -> None:
    with pytest.raises(UsageError):
        check_location(location)


def test_a_good_location_is_normalised() -> None:
    loc = check_location({"civic": {"country": "us", "a1": "IL", "A3": "X", "RD": "Main", "HNO": "1"}})
    assert loc == {"civic": {"country": "US", "A1": "IL", "A3": "X", "RD": "Main", "HNO": "1"},
                   "method": "installer"}


_names = st.sampled_from([n for n in CIVIC_ELEMENTS if n != "POBOX"])
_values = st.text(st.characters(blacklist_categories=("C", "Zl", "Zp")), min_size=1, max_size=40).filter(
    lambda v: v.strip() != "")


@given(st.dictionaries(_names, _values, max_size=8))
def test_check_civic_accepts_exactly_complete_addresses(extra: dict[str, str]) -> None:
    """Property: any address with every required element (and no P.O. box) passes and keeps every
    element; dropping a required element makes it fail."""
    civic = {**extra, "country": "US", "A1": "IL", "A3": "Springfield", "RD": "Elm", "HNO": "1"}
    out = check_civic(civic)
    assert set(out) == set(civic)
    for name in REQUIRED:
        with pytest.raises(UsageError):
            check_civic({k: v for k, v in civic.items() if k != name})


@given(st.text(max_size=60))
def test_parse_never_fails_other_than_usage_error(text: str) -> None:
    try:
        parse_civic([*HOME, text])
    except UsageError as exc:
        assert "\n" not in str(exc)


def test_describe_nothing() -> None:
    assert describe(None) == "" and describe({"geo": {}}) == ""
