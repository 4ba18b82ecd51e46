"""Moved detection and the handset confirmation flow (sans-I/O, explicit state table)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.location.errors import UsageError
from roamline.firmware.location.fingerprint import Fingerprint
from roamline.firmware.location.fix import Fix, Quality
from roamline.firmware.location.moved import MovedDetector, ReportConfirmed, ReportUnconfirmed, Say, State
from roamline.wire.errors import UsageError as WireUsageError

HOME = {"civic": {"country": "US", "A1": "IL", "A3": "Springfield", "RD": "Elm Street", "HNO": "12",
                  "FLR": "2"}, "method": "installer"}
SHOP = {"civic": {"country": "US", "A1": "IL", "A3": "Springfield", "RD": "Oak Avenue", "HNO": "400"},
        "method": "operator"}
LAT, LON = 39.78172, -89.65015
M_PER_DEG = 111_195.0


def fix(dnorth_m: float = 0.0, error_m: float = 5.0) -> Fix:
    return Fix(at=0.0, mode=3, quality=Quality.GPS, lat=LAT + dnorth_m / M_PER_DEG, lon=LON, error_m=error_m)


def test_displacement_beyond_threshold_for_persist_fixes_reports_once() -> None:
    d = MovedDetector([HOME], threshold_m=200, persist=3)
    assert d.on_fix(fix(), 1.0) == []  # the first valid fix becomes the reference
    assert d.on_fix(fix(500), 2.0) == [] and d.on_fix(fix(500), 3.0) == []
    [report] = d.on_fix(fix(500), 4.0)
    assert isinstance(report, ReportUnconfirmed) and report.at == 4.0 and "moved 500 m" in report.reason
    assert d.state is State.UNCONFIRMED
    assert d.on_fix(fix(900), 5.0) == []  # already reported


def test_a_jump_that_comes_back_is_multipath_not_a_move() -> None:
    d = MovedDetector([HOME], threshold_m=200, persist=3)
    d.on_fix(fix(), 1.0)
    for n in range(10):
        assert d.on_fix(fix(800 if n % 3 != 2 else 0), float(n)) == []
    assert d.confirmed


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(-1, 1), st.floats(1, 30)), min_size=1, max_size=50))
def test_wandering_within_threshold_plus_errors_never_reports(walk: list[tuple[float, float]]) -> None:
    d = MovedDetector([HOME], threshold_m=200, persist=1)
    d.on_fix(fix(0, 5.0), 0.0)
    for frac, err in walk:
        assert d.on_fix(fix(frac * 199.0, err), 1.0) == []


def test_slack_is_the_two_error_estimates() -> None:
    d = MovedDetector([HOME], threshold_m=100, persist=1)
    d.on_fix(fix(0, 30.0), 0.0)
    assert d.on_fix(fix(150, 30.0), 1.0) == []  # 150 ≤ 100 + 30 + 30
    assert d.on_fix(fix(170, 30.0), 1.0) != []


def test_network_change_reports_and_first_fingerprint_is_the_reference() -> None:
    d = MovedDetector([HOME])
    assert d.on_fingerprint(Fingerprint("203.0.113.5", "192.168.1.1"), 1.0) == []
    assert d.on_fingerprint(Fingerprint("203.0.113.5", None), 2.0) == []  # gateway unknown: no evidence
    [r] = d.on_fingerprint(Fingerprint("203.0.113.5", "10.0.0.1"), 3.0)
    assert isinstance(r, ReportUnconfirmed) and r.reason == "network changed: gateway"
    assert r.distance_m is None


def test_offhook_prompts_with_the_address_key_2_offers_the_next_key_1_confirms() -> None:
    d = MovedDetector([HOME, SHOP], persist=1)
    d.on_fix(fix(), 0.0)
    d.on_fix(fix(5000), 1.0)
    [say] = d.offhook(holder="card-1")
    assert isinstance(say, Say) and "12 Elm Street, floor 2" in say.text and "Press 1" in say.text
    assert d.key("5", 2.0) == []  # not ours
    [say2] = d.key("2", 2.0)
    assert "400 Oak Avenue" in say2.text
    confirmed, thanks = d.key("1", 3.0)
    assert confirmed == ReportConfirmed(at=3.0, by="card-1", address=1, civic=SHOP["civic"])
    assert isinstance(thanks, Say) and "Oak Avenue" in thanks.text
    assert d.state is State.CONFIRMED and d.offered == SHOP
    assert d.on_fix(fix(5000), 4.0) == []  # the confirmed position is the new reference
    assert d.offhook() == []  # nothing to ask


def test_hanging_up_without_confirming_asks_again_next_time() -> None:
    d = MovedDetector([HOME], persist=1)
    d.on_fix(fix(), 0.0)
    d.on_fix(fix(5000), 1.0)
    assert d.offhook()
    d.onhook()
    assert d.state is State.UNCONFIRMED
    [say] = d.offhook()
    assert "Press 1" in say.text and "Press 2" not in say.text  # one address: no "next"
    [confirmed, _] = d.key("1", 9.0)
    assert isinstance(confirmed, ReportConfirmed) and confirmed.by == "handset"


def test_illegal_events_raise() -> None:
    d = MovedDetector([HOME])
    with pytest.raises(UsageError):
        d.key("1", 0.0)  # nothing asked
    with pytest.raises(UsageError):
        MovedDetector([])
    with pytest.raises(WireUsageError):
        MovedDetector([{"civic": {**HOME["civic"], "POBOX": "1"}}])  # the civic rules of wire.civic
    with pytest.raises(UsageError):
        d.on_fix(Fix(at=0.0, mode=1, quality=Quality.NONE), 0.0)


def test_state_table_every_pair_is_legal_or_raises() -> None:
    from roamline.firmware.location.moved import _TABLE

    for state in State:
        for event in ("moved", "offhook", "next", "confirm", "onhook"):
            d = MovedDetector([HOME], state=state)
            if (state, event) in _TABLE:
                d._step(event)
                assert d.state is _TABLE[(state, event)]
            else:
                with pytest.raises(UsageError):
                    d._step(event)
    assert not math.isnan(0.0)
