"""The holder's profile: strict parser with bounded sizes, round trip, PIN hashes, name patterns."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.wire import profile as wp
from roamline.wire.errors import BadBody
from roamline.wire.profile import ProfileError

GOOD: dict[str, Any] = {
    "v": 1,
    "timezone": "America/Chicago",
    "rings": [{"number": "+15550100001", "cadence": "us-dr2"}],
    "schedules": [
        {"name": "business", "windows": [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}]},
        {"name": "evenings", "windows": [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "19:00", "end": "07:00"}]},
        {"name": "vacation", "periods": [{"start": "2026-12-24T18:00", "end": "2027-01-02T08:00"}]},
    ],
    "filters": [
        {"name": "spam", "action": "block", "names": ["*SPAM*"], "prefixes": ["+1900"], "refusal": "silent"},
        {"name": "anon", "action": "voicemail", "withheld": True},
        {"name": "away", "action": "forward", "schedule": "vacation", "forward_to": "+15550200002"},
    ],
    "speed_dials": [{"key": "2", "number": "+15550400004", "label": "Pizza"}],
    "local_dials": [{"code": "1", "category": "pizza"}, {"code": "42", "category": "city-services"}],
    "voicemail": {"timeout_s": 20, "greeting": "g-1", "pin_hash": wp.hash_pin("1234", iterations=1000)},
    "waiting": 3,
}


def test_a_full_profile_parses_and_round_trips() -> None:
    p = wp.parse(GOOD)
    assert p.timezone == "America/Chicago"
    assert p.cadence_for("+15550100001") == "us-dr2" and p.cadence_for("+15550999999") is None
    assert p.speed_dial("2") is not None and p.speed_dial("2").number == "+15550400004"  # type: ignore[union-attr]
    assert p.speed_dial("3") is None
    assert p.local_dial("1") == wp.LocalDial("1", "pizza") and p.local_dial("2") is None
    assert p.filters[0].refusal is wp.Refusal.SILENT and p.filters[2].forward_to == "+15550200002"
    assert p.schedule("evenings").windows[0].end == 7 * 60  # type: ignore[union-attr]
    assert wp.parse(p.to_json()) == p
    assert wp.loads(p.dumps()) == p
    assert wp.loads(p.dumps().encode()) == p
    assert wp.parse({}) == wp.EMPTY


def _win(days: list[int], start: str, end: str) -> dict[str, Any]:
    return {"schedules": [{"name": "s", "windows": [{"days": days, "start": start, "end": end}]}]}


def _per(start: str, end: str) -> dict[str, Any]:
    return {"schedules": [{"name": "s", "periods": [{"start": start, "end": end}]}]}


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"v": 2}, "profile.v"),
        ({"colour": "red"}, "unknown field"),
        ({"timezone": "Mars/Olympus"}, "profile.timezone"),
        ({"rings": [{"number": "+15550100001", "cadence": "us-dr9"}]}, "rings[0].cadence"),
        ({"rings": [{"number": "5550100001", "cadence": "us-dr1"}]}, "rings[0].number"),
        ({"rings": [{"number": "+15550100001", "cadence": "us-dr1"}] * 2}, "appears twice"),
        ({"filters": [{"name": "x", "action": "explode"}]}, "filters[0].action"),
        ({"filters": [{"name": "x", "action": "forward"}]}, "filters[0].forward_to"),
        ({"filters": [{"name": "x", "action": "ring", "forward_to": "+15550200002"}]}, "forward_to"),
        ({"filters": [{"name": "x", "action": "ring", "refusal": "silent"}]}, "filters[0].refusal"),
        ({"filters": [{"name": "x", "action": "ring", "schedule": "nope"}]}, "no schedule"),
        ({"filters": [{"name": "x", "action": "block", "prefixes": ["1900"]}]}, "prefixes[0]"),
        ({"filters": [{"name": "x", "action": "block", "names": [" "]}]}, "names[0]"),
        ({"filters": [{"name": "Bad Name", "action": "ring"}]}, "filters[0].name"),
        ({"filters": [{"name": f"f{i}", "action": "ring"} for i in range(33)]}, "at most 32"),
        ({"schedules": [{"name": "s"}]}, "needs windows or periods"),
        (_win([7], "09:00", "10:00"), "days"),
        (_win([1], "9:00", "10:00"), "start"),
        (_win([1], "25:00", "10:00"), "start"),
        (_win([1], "10:00", "10:00"), "same"),
        (_win([1, 1], "09:00", "10:00"), "days"),
        (_per("2026-02-30T00:00", "2026-03-01T00:00"), "no such date"),
        (_per("2026-03-02T00:00", "2026-03-01T00:00"), "after start"),
        (_per("2026-01-01T00:00", "2028-01-01T00:00"), "longer than"),
        ({"speed_dials": [{"key": "1", "number": "+15550400004"}]}, "speed_dials[0].key"),
        ({"speed_dials": [{"key": "2", "number": "+15550400004"}] * 2}, "appears twice"),
        ({"local_dials": [{"code": "123", "category": "pizza"}]}, "local_dials[0].code"),
        ({"local_dials": [{"code": "*1", "category": "pizza"}]}, "local_dials[0].code"),
        ({"local_dials": [{"code": "1", "category": "Pizza!"}]}, "local_dials[0].category"),
        ({"local_dials": [{"code": "1"}]}, "local_dials[0].category"),
        ({"local_dials": [{"code": "1", "category": "pizza"}] * 2}, "appears twice"),
        ({"voicemail": {"timeout_s": 1}}, "voicemail.timeout_s"),
        ({"voicemail": {"timeout_s": True}}, "voicemail.timeout_s"),
        ({"voicemail": {"pin_hash": "1234"}}, "voicemail.pin_hash"),
        ({"voicemail": {"pin": "1234"}}, "unknown field"),
        ({"waiting": -1}, "waiting"),
        ({"waiting": 1.0}, "waiting"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(change: dict[str, Any], names: str) -> None:
    obj = {**GOOD, **change}
    with pytest.raises(ProfileError) as exc:
        wp.parse(obj)
    assert names in str(exc.value) and "\n" not in str(exc.value)
    assert isinstance(exc.value, BadBody)  # the link answers bad-body


def test_size_and_json_are_bounded() -> None:
    with pytest.raises(ProfileError, match="more than"):
        wp.loads(" " * (wp.MAX_BYTES + 1))
    for text in ("", "{", "[]", "NaN", '{"waiting": NaN}', b"\xff\xfe", "[" * 5000):
        with pytest.raises(ProfileError):
            wp.loads(text)


def test_pin_is_stored_only_as_a_salted_hash() -> None:
    h1, h2 = wp.hash_pin("2468"), wp.hash_pin("2468")
    assert "2468" not in h1 and h1 != h2  # salted
    assert wp.check_pin("2468", h1) and not wp.check_pin("2469", h1) and not wp.check_pin("2468", "junk")
    for bad in ("123", "123456789", "12a4", "١٢٣٤"):
        with pytest.raises(ProfileError):
            wp.hash_pin(bad)
    vm = wp.parse({"voicemail": {"pin_hash": h1}}).voicemail
    assert wp.check_pin("2468", vm.pin_hash)


def test_a_pin_may_not_begin_with_any_dial_plans_emergency_number() -> None:
    from roamline.firmware.dialplan.plan import load_plan

    for country in ("US", "GB", "DE", "AU"):
        for e in load_plan(country).emergency:
            assert e in wp.EMERGENCY_STARTS, (country, e)
            with pytest.raises(ProfileError, match="emergency") as exc:
                wp.check_voicemail_pin(e + "0")
            assert e + "0" not in str(exc.value)  # the refusal never repeats the PIN
    assert wp.check_voicemail_pin("1911") == "1911"  # 911 inside a PIN is fine: only the first keys dial


@given(st.text(max_size=12))
@settings(max_examples=300)
def test_the_pin_validator_takes_exactly_4_to_8_digits_not_starting_an_emergency_call(text: str) -> None:
    ok = (4 <= len(text) <= 8 and text.isascii() and text.isdigit()
          and not any(text.startswith(e) for e in wp.EMERGENCY_STARTS))
    try:
        assert wp.check_voicemail_pin(text) == text and ok
    except ProfileError as exc:
        assert not ok and "\n" not in str(exc)


def test_boxes_get_the_profile_without_the_pin_hash() -> None:
    obj = wp.parse(GOOD).to_json()
    sent = wp.for_box(obj)
    assert sent["voicemail"]["pin_hash"] == "" and obj["voicemail"]["pin_hash"]  # the stored one is kept
    assert wp.parse(sent).voicemail.greeting == "g-1"
    assert {k: v for k, v in sent.items() if k != "voicemail"} == {k: v for k, v in obj.items()
                                                                     if k != "voicemail"}
    assert wp.for_box({}) == {}


# --- properties ------------------------------------------------------------------------------------

_numbers = st.sampled_from(["+15550100001", "+15550200002", "+442079460000", "+4930123456", "+61212345678"])
_names = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,10}", fullmatch=True)
_prefixes = st.from_regex(r"\+[0-9]{1,6}", fullmatch=True)
_patterns = st.text(st.characters(categories=["L", "N"]) | st.just("*"), min_size=1, max_size=10)
_labels = st.text(st.characters(categories=["L"]), max_size=8)
_hhmm = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))


@st.composite
def windows(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(_hhmm)
    end = draw(_hhmm.filter(lambda e: e != start))
    return {"days": draw(st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True)), "start": start,
            "end": end}


@st.composite
def periods(draw: st.DrawFn) -> dict[str, Any]:
    import datetime as dt

    start = draw(st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2035, 1, 1)))
    start = start.replace(second=0, microsecond=0)
    length = draw(st.integers(1, 60 * 24 * 30))
    end = start + dt.timedelta(minutes=length)
    return {"start": start.strftime("%Y-%m-%dT%H:%M"), "end": end.strftime("%Y-%m-%dT%H:%M")}


@st.composite
def profiles(draw: st.DrawFn) -> dict[str, Any]:
    sched_names = draw(st.lists(_names, max_size=3, unique=True))
    schedules = [{"name": n, "windows": draw(st.lists(windows(), min_size=1, max_size=3)),
                  "periods": draw(st.lists(periods(), max_size=2))} for n in sched_names]
    filters = []
    for n in draw(st.lists(_names, max_size=5, unique=True)):
        action = draw(st.sampled_from(["ring", "block", "forward", "voicemail"]))
        f: dict[str, Any] = {"name": n, "action": action,
                             "prefixes": draw(st.lists(_prefixes, max_size=3)),
                             "names": draw(st.lists(_patterns, max_size=2)),
                             "withheld": draw(st.booleans())}
        if sched_names and draw(st.booleans()):
            f["schedule"] = draw(st.sampled_from(sched_names))
        if action == "block":
            f["refusal"] = draw(st.sampled_from(["spoken", "silent"]))
        if action == "forward":
            f["forward_to"] = draw(_numbers)
        filters.append(f)
    rings = [{"number": n, "cadence": draw(st.sampled_from(wp.CADENCES))}
             for n in draw(st.lists(_numbers, max_size=3, unique=True))]
    dials = [{"key": k, "number": draw(_numbers), "label": draw(_labels)}
             for k in draw(st.lists(st.sampled_from(wp.SPEED_DIAL_KEYS), max_size=8, unique=True))]
    local = [{"code": c, "category": draw(st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True))}
             for c in draw(st.lists(st.from_regex(r"[0-9]{1,2}", fullmatch=True), max_size=4, unique=True))]
    return {"v": 1, "timezone": draw(st.sampled_from(["", "UTC", "Europe/London", "America/New_York"])),
            "rings": rings, "schedules": schedules, "filters": filters, "speed_dials": dials,
            "local_dials": local,
            "voicemail": {"timeout_s": draw(st.floats(5, 120)), "greeting": draw(_names)},
            "waiting": draw(st.integers(0, wp.MAX_WAITING))}


@settings(max_examples=60, deadline=None)
@given(profiles())
def test_valid_profiles_round_trip(obj: dict[str, Any]) -> None:
    p = wp.parse(obj)
    assert wp.parse(p.to_json()) == p
    assert wp.loads(p.dumps()) == p
    assert wp.parse(json.loads(json.dumps(p.to_json()))) == p


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30,
)
_keys = st.sampled_from(["v", "timezone", "rings", "schedules", "filters", "speed_dials", "local_dials",
                         "voicemail", "waiting"])


@settings(max_examples=150, deadline=None)
@given(st.one_of(_json, st.dictionaries(_keys, _json, max_size=8), profiles().flatmap(
    lambda p: st.dictionaries(_keys, _json, max_size=2).map(lambda extra: {**p, **extra}))))
def test_arbitrary_input_is_a_profile_or_a_profile_error(obj: Any) -> None:
    try:
        p = wp.parse(obj)
    except ProfileError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert wp.parse(p.to_json()) == p


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_text_never_crashes(data: bytes | str) -> None:
    try:
        wp.loads(data)
    except ProfileError:
        pass


_glob_chars = st.sampled_from(list("ab*?"))


@settings(max_examples=400, deadline=None)
@given(st.text(_glob_chars, max_size=8), st.text(st.sampled_from(list("abAB[")), max_size=10))
def test_name_patterns_agree_with_fnmatch(pattern: str, name: str) -> None:
    assert wp.name_matches(pattern, name) == fnmatch.fnmatchcase(name.casefold(), pattern.casefold())


def test_a_hostile_pattern_stays_linear() -> None:
    assert not wp.name_matches("*a" * 32, "a" * 3000 + "b")
