"""The fix validity policy: every rule can reject, and a fix passing all of them is accepted."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamline.firmware.location.errors import UsageError
from roamline.firmware.location.fix import Fix, Policy, Quality, distance_m, judge

GOOD = Fix(at=100.0, mode=3, quality=Quality.GPS, lat=39.78, lon=-89.65, error_m=4.0, satellites=8)


@pytest.mark.parametrize(("change", "reason"), [
    ({"status_void": True}, "void"),
    ({"quality": Quality.SIMULATED}, "simulated"),
    ({"quality": Quality.ESTIMATED}, "dead-reckoning"),
    ({"quality": Quality.MANUAL}, "manual"),
    ({"quality": Quality.NONE}, "no navigation fix"),
    ({"mode": 1}, "time-only"),
    ({"mode": 0}, "no fix mode"),
    ({"lat": None}, "without a position"),
    ({"lat": 0.0, "lon": 0.0}, "out of range"),
    ({"lat": 91.0}, "out of range"),
    ({"error_m": None}, "no error estimate"),
    ({"error_m": float("nan")}, "no error estimate"),
    ({"error_m": 5000.0}, "implausible"),
    ({"error_m": 0.0}, "implausible"),
    ({"at": 80.0}, "stale"),
    ({"at": 200.0}, "future"),
])
def test_each_rule_rejects_with_its_reason(change: dict, reason: str) -> None:
    v = judge(dataclasses.replace(GOOD, **change), now=100.0)
    assert not v.valid and reason in v.reason


def test_a_good_fix_is_valid_in_2d_and_3d_and_dgps_rtk() -> None:
    for change in ({}, {"mode": 2}, {"quality": Quality.DGPS}, {"quality": Quality.RTK}):
        assert judge(dataclasses.replace(GOOD, **change), now=105.0).valid


@given(age=st.floats(0, 100), max_age=st.floats(0.5, 60))
def test_freshness_is_judged_at_now(age: float, max_age: float) -> None:
    now = GOOD.at + age
    v = judge(GOOD, now=now, policy=Policy(max_age_s=max_age))
    assert v.valid == (now - GOOD.at <= max_age)


def test_a_policy_that_cannot_accept_anything_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        Policy(min_error_m=10.0, max_error_m=5.0)


def test_distance_is_about_111_km_per_degree_of_latitude() -> None:
    assert distance_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(111_195, rel=1e-3)
    assert distance_m(39.78, -89.65, 39.78, -89.65) == 0.0
