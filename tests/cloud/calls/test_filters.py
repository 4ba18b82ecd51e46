"""Filter and schedule evaluation (pure): each kind, schedule edges, over midnight, DST, call-backs."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.cloud.filters import UTC, Caller, evaluate, local_now, schedule_active, zone
from roamline.wire import profile as wp
from roamline.wire.profile import Action, Refusal

CHI = zoneinfo.ZoneInfo("America/Chicago")


def at(tz: dt.tzinfo, *args: int) -> float:
    """Unix time of local wall time ``args`` (y, m, d, H, M) in ``tz``."""
    return dt.datetime(*args, tzinfo=tz).timestamp()  # type: ignore[misc]


def prof(filters: list[dict[str, Any]], schedules: list[dict[str, Any]] | None = None,
         tz: str = "") -> wp.Profile:
    return wp.parse({"timezone": tz, "filters": filters, "schedules": schedules or []})


SPAMMER = Caller("+19005550123", "ACME SALES")
FRIEND = Caller("+15550300003", "BOB JONES")
WITHHELD = Caller(None, None)


def test_no_filters_ring_through() -> None:
    assert evaluate(wp.EMPTY, SPAMMER, 0.0, UTC).action is Action.RING


def test_each_kind_by_caller_pattern() -> None:
    p = prof([
        {"name": "premium", "action": "block", "prefixes": ["+1900"]},
        {"name": "anon", "action": "voicemail", "withheld": True},
        {"name": "sales", "action": "block", "names": ["*sales*"], "refusal": "silent"},
        {"name": "bob", "action": "forward", "prefixes": ["+15550300003"], "forward_to": "+15550200002"},
    ])
    d = evaluate(p, SPAMMER, 0.0, UTC)
    assert (d.action, d.rule, d.refusal) == (Action.BLOCK, "premium", Refusal.SPOKEN)  # first match wins
    assert evaluate(p, WITHHELD, 0.0, UTC).action is Action.VOICEMAIL
    d = evaluate(p, Caller("+15559990000", "Big Sales Inc"), 0.0, UTC)
    assert (d.action, d.refusal) == (Action.BLOCK, Refusal.SILENT)  # names are case-insensitive globs
    d = evaluate(p, FRIEND, 0.0, UTC)
    assert (d.action, d.forward_to) == (Action.FORWARD, "+15550200002")
    assert evaluate(p, Caller("+15551112222", None), 0.0, UTC).action is Action.RING
    # an exchange that sends digits without '+' still matches the prefix by digits
    assert evaluate(p, Caller("19005550123", None), 0.0, UTC).action is Action.BLOCK


def test_emergency_callbacks_are_never_filtered() -> None:
    p = prof([{"name": "all", "action": "block"}])
    assert evaluate(p, WITHHELD, 0.0, UTC).action is Action.BLOCK
    d = evaluate(p, WITHHELD, 0.0, UTC, callback=True)
    assert d.action is Action.RING and d.callback


BUSINESS = {"name": "business", "windows": [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}]}
EVENINGS = {"name": "evenings", "windows": [{"days": [4], "start": "22:00", "end": "02:00"}]}  # Friday night
VACATION = {"name": "vacation", "periods": [{"start": "2026-12-31T20:00", "end": "2027-01-01T06:00"}]}


@pytest.mark.parametrize(
    ("when", "active"),
    [
        ((2026, 12, 2, 8, 59), False),  # Wednesday just before
        ((2026, 12, 2, 9, 0), True),  # start is inclusive
        ((2026, 12, 2, 16, 59), True),
        ((2026, 12, 2, 17, 0), False),  # end is exclusive
        ((2026, 12, 5, 10, 0), False),  # Saturday
    ],
)
def test_business_hours_edges(when: tuple[int, ...], active: bool) -> None:
    p = prof([{"name": "work", "action": "voicemail", "schedule": "business"}], [BUSINESS])
    d = evaluate(p, FRIEND, at(CHI, *when), CHI)
    assert (d.action is Action.VOICEMAIL) == active


@pytest.mark.parametrize(
    ("when", "active"),
    [
        ((2026, 12, 4, 21, 59), False),  # Friday before
        ((2026, 12, 4, 22, 0), True),
        ((2026, 12, 4, 23, 59), True),
        ((2026, 12, 5, 0, 0), True),  # Saturday, after midnight: still Friday's window
        ((2026, 12, 5, 1, 59), True),
        ((2026, 12, 5, 2, 0), False),
        ((2026, 12, 5, 22, 30), False),  # Saturday night is not listed
        ((2026, 12, 4, 1, 0), False),  # Friday early morning belongs to Thursday's night: not listed
    ],
)
def test_a_window_over_midnight(when: tuple[int, ...], active: bool) -> None:
    p = prof([{"name": "late", "action": "block", "schedule": "evenings"}], [EVENINGS])
    assert (evaluate(p, FRIEND, at(CHI, *when), CHI).action is Action.BLOCK) == active


@pytest.mark.parametrize(
    ("when", "active"),
    [
        ((2026, 12, 31, 19, 59), False),
        ((2026, 12, 31, 20, 0), True),
        ((2027, 1, 1, 0, 0), True),  # over midnight and over the new year
        ((2027, 1, 1, 5, 59), True),
        ((2027, 1, 1, 6, 0), False),
    ],
)
def test_vacation_over_midnight(when: tuple[int, ...], active: bool) -> None:
    p = prof([{"name": "away", "action": "forward", "schedule": "vacation", "forward_to": "+15550200002"}],
             [VACATION])
    assert (evaluate(p, FRIEND, at(CHI, *when), CHI).action is Action.FORWARD) == active


def test_the_schedule_is_in_the_boxs_zone_unless_the_profile_names_one() -> None:
    p = prof([{"name": "work", "action": "voicemail", "schedule": "business"}], [BUSINESS])
    t = at(CHI, 2026, 12, 2, 9, 30)  # 09:30 in Chicago = 15:30 UTC = 00:30 Thursday in Tokyo
    assert evaluate(p, FRIEND, t, CHI).action is Action.VOICEMAIL
    assert evaluate(p, FRIEND, t, zoneinfo.ZoneInfo("Asia/Tokyo")).action is Action.RING
    assert evaluate(p, FRIEND, t, UTC).action is Action.VOICEMAIL  # 15:30 UTC
    own = prof([{"name": "work", "action": "voicemail", "schedule": "business"}], [BUSINESS], tz="Asia/Tokyo")
    assert evaluate(own, FRIEND, t, CHI).action is Action.RING  # the profile's zone wins


def test_dst_keeps_wall_clock_hours() -> None:
    """US DST began 2026-03-08 02:00 and ends 2026-11-01 02:00: business hours stay 09:00–17:00 local."""
    p = prof([{"name": "work", "action": "voicemail", "schedule": "business"}], [BUSINESS])
    for day in ((2026, 3, 6), (2026, 3, 9)):  # Friday before the change, Monday after
        assert evaluate(p, FRIEND, at(CHI, *day, 9, 0), CHI).action is Action.VOICEMAIL
        assert evaluate(p, FRIEND, at(CHI, *day, 8, 59), CHI).action is Action.RING
    # the same UTC instant is 08:30 before the change and 09:30 after it: only the latter is at work
    assert local_now(dt.datetime(2026, 3, 6, 14, 30, tzinfo=UTC).timestamp(), CHI).hour == 8
    assert local_now(dt.datetime(2026, 3, 9, 14, 30, tzinfo=UTC).timestamp(), CHI).hour == 9
    night = prof([{"name": "n", "action": "block", "schedule": "n"}],
                 [{"name": "n", "windows": [{"days": [5], "start": "23:00", "end": "03:00"}]}])
    # Saturday 2026-10-31 23:00 → Sunday 03:00 spans the fall-back: both passes of 01:xx are inside
    first = dt.datetime(2026, 11, 1, 1, 30, tzinfo=CHI, fold=0).timestamp()
    second = dt.datetime(2026, 11, 1, 1, 30, tzinfo=CHI, fold=1).timestamp()
    assert second - first == 3600
    assert evaluate(night, FRIEND, first, CHI).action is Action.BLOCK
    assert evaluate(night, FRIEND, second, CHI).action is Action.BLOCK
    after = dt.datetime(2026, 11, 1, 3, 0, tzinfo=CHI).timestamp()
    assert evaluate(night, FRIEND, after, CHI).action is Action.RING


def test_unknown_zone_names_fall_back_to_utc() -> None:
    assert zone("") is UTC and zone("Nowhere/Land") is UTC and zone("Europe/Paris") is not UTC


# --- properties ------------------------------------------------------------------------------------

_minute = st.integers(0, 24 * 60 - 1)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True), _minute, _minute,
       st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2035, 1, 1)))
def test_window_membership_matches_a_minute_by_minute_model(days: list[int], start: int, end: int,
                                                           local: dt.datetime) -> None:
    """A window covers exactly the minutes from start on a listed day for (end − start) mod 24 h."""
    if start == end:
        return
    w = wp.Window(tuple(sorted(days)), start, end)
    s = wp.Schedule("s", (w,))
    length = (end - start) % (24 * 60)
    local = local.replace(second=0, microsecond=0)
    minute_of_week = local.weekday() * 1440 + local.hour * 60 + local.minute
    model = any((minute_of_week - (d * 1440 + start)) % (7 * 1440) < length for d in days)
    assert schedule_active(s, local) == model


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["ring", "block", "voicemail"]), max_size=6),
       st.lists(st.booleans(), max_size=6),
       st.sampled_from([SPAMMER, FRIEND, WITHHELD]))
def test_the_first_matching_rule_decides(actions: list[str], matches: list[bool], caller: Caller) -> None:
    """Rules that cannot match are skipped; the first that can decides; none: ring."""
    filters = []
    for i, (action, hit) in enumerate(zip(actions, matches, strict=False)):
        f: dict[str, Any] = {"name": f"r{i}", "action": action}
        if not hit:
            f["prefixes"] = ["+999999"]  # matches no caller here
        filters.append(f)
    d = evaluate(prof(filters), caller, 0.0, UTC)
    first = next((f for f in filters if "prefixes" not in f), None)
    if first is None:
        assert d.action is Action.RING and d.rule is None
    else:
        assert (d.action.value, d.rule) == (first["action"], first["name"])
    assert evaluate(prof(filters), caller, 0.0, UTC, callback=True).action is Action.RING
