"""The `location` object both ends check (docs/protocol.md §4.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamline.wire.errors import UsageError
from roamline.wire.location import check_snapshot

CIVIC = {"country": "us", "A1": "IL", "A3": "Springfield", "RD": "Elm Street", "HNO": "12"}


def test_a_full_snapshot_is_normalised() -> None:
    s = check_snapshot({"civic": CIVIC, "state": "unconfirmed",
                        "geo": {"lat": 39.78, "lon": -89.65, "error_m": 4, "mode": 3, "satellites": 9,
                                "at": 1.8e9},
                        "network": {"public": "2001:db8::1", "gateway": None}})
    assert s["civic"]["country"] == "US" and s["method"] == "installer" and s["state"] == "unconfirmed"
    assert s["geo"] == {"lat": 39.78, "lon": -89.65, "error_m": 4.0, "mode": 3, "satellites": 9, "at": 1.8e9}
    assert s["network"] == {"public": "2001:db8::1", "gateway": None}
    assert check_snapshot({"civic": CIVIC}) == {**check_snapshot({"civic": CIVIC}), "state": "confirmed",
                                                "geo": None, "network": None}


@pytest.mark.parametrize("bad", [
    None, [], {"civic": "12 Elm Street"}, {"civic": {**CIVIC, "POBOX": "3"}}, {"civic": CIVIC, "extra": 1},
    {"civic": CIVIC, "state": "moved"}, {"civic": CIVIC, "geo": {"lat": 91, "lon": 0, "at": 1.0}},
    {"civic": CIVIC, "geo": {"lat": 1, "lon": 0}}, {"civic": CIVIC, "geo": {"lat": True, "lon": 0, "at": 1}},
    {"civic": CIVIC, "geo": {"lat": 1, "lon": 0, "at": 1, "mode": 1}},
    {"civic": CIVIC, "geo": {"lat": 1, "lon": 0, "at": 1, "x": 2}},
    {"civic": CIVIC, "geo": {"lat": float("nan"), "lon": 0, "at": 1}},
    {"civic": CIVIC, "network": {"public": "example.com"}}, {"civic": CIVIC, "network": "10.0.0.1"},
])
def test_malformed_snapshots_are_refused(bad: object) -> None:
    with pytest.raises(UsageError):
        check_snapshot(bad)


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.integers(), st.text(max_size=8),
                                                        st.floats()), max_size=6))
def test_anything_is_either_refused_with_usage_error_or_accepted(obj: dict) -> None:
    try:
        check_snapshot(obj)
    except UsageError:
        pass
