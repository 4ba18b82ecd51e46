"""The dial plan: DESIGN §4.6 order, E.164 through the country, emergency strings whatever happens."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.dialplan import Classifier, Collecting, DigitCollector, Kind, load_plan
from roamline.firmware.dialplan.plan import PLAN_DIR
from roamline.firmware.errors import UsageError

COUNTRIES = sorted(p.stem for p in PLAN_DIR.glob("*.toml"))
keys = st.text(alphabet="0123456789*#", max_size=24)


def us() -> Classifier:
    return Classifier(load_plan("US"), line_number="+12175551000")


@pytest.mark.parametrize(("dialled", "kind", "e164"), [
    ("911", Kind.EMERGENCY, None),
    ("933", Kind.EMERGENCY_TEST, None),
    ("2175550123", Kind.NUMBER, "+12175550123"),
    ("12175550123", Kind.NUMBER, "+12175550123"),
    ("*98", Kind.FEATURE, None),
    ("#2", Kind.PERSONAL, None),
    ("411", Kind.LOCATION, None),
    ("**12", Kind.LOCATION, None),
])
def test_us_classes_in_design_order(dialled: str, kind: Kind, e164: str | None) -> None:
    c = us().classify(dialled)
    assert c.kind is kind and c.complete
    assert c.e164 == e164


def test_local_numbers_take_the_lines_area_code_and_wait_for_the_timeout() -> None:
    c = us()
    assert c.classify("5550123").kind is Kind.INCOMPLETE  # could become ten digits
    final = c.classify("5550123", final=True)
    assert (final.kind, final.e164) == (Kind.NUMBER, "+12175550123")
    assert c.classify("5550123#").e164 == "+12175550123"  # '#' ends dialling


def test_international_through_the_countrys_prefix() -> None:
    assert us().classify("011442079460000", final=True).e164 == "+442079460000"
    gb = Classifier(load_plan("GB"))
    assert gb.classify("00121755501234"[:-1], final=True).e164 == "+12175550123"
    assert gb.classify("02079460000").e164 == "+442079460000"


@pytest.mark.parametrize("country", COUNTRIES)
def test_every_plan_loads_and_its_emergency_strings_classify_at_once(country: str) -> None:
    plan = load_plan(country)
    c = Classifier(plan)
    for e in plan.emergency:
        assert c.classify(e).kind is Kind.EMERGENCY
        col = DigitCollector(c, 0.0)
        for k in e[:-1]:
            assert isinstance(col.key(k, 1.0), Collecting)
        decided = col.key(e[-1], 1.0)
        assert not isinstance(decided, Collecting) and decided.kind is Kind.EMERGENCY
        assert col.deadline() is None  # no inter-digit wait


def test_unknown_country_names_what_exists() -> None:
    with pytest.raises(UsageError, match="US"):
        load_plan("ZZ")


def test_collector_timeouts() -> None:
    col = DigitCollector(us(), 0.0, interdigit_s=4.0, first_digit_s=10.0)
    assert col.deadline() == 10.0
    assert isinstance(col.poll(9.9), Collecting)
    assert col.poll(10.0).kind is Kind.INVALID  # nobody dialled
    col = DigitCollector(us(), 0.0, interdigit_s=4.0)
    for i, k in enumerate("5550123"):
        col.key(k, float(i))
    assert col.deadline() == 10.0
    assert isinstance(col.poll(9.0), Collecting)
    d = col.poll(10.0)
    assert d.kind is Kind.NUMBER and d.e164 == "+12175550123"
    with pytest.raises(UsageError):
        col.key("1", 11.0)


@settings(max_examples=400)
@given(country=st.sampled_from(COUNTRIES), text=keys, final=st.booleans())
def test_the_classifier_is_total(country: str, text: str, final: bool) -> None:
    c = Classifier(load_plan(country), line_number="+12175551000")
    got = c.classify(text, final=final)
    assert got.kind in Kind
    if final or text.endswith("#"):
        assert got.kind is not Kind.INCOMPLETE or text.startswith("#")
    if got.kind is Kind.NUMBER:
        assert got.e164 is not None and got.e164.startswith("+") and got.e164[1:].isdigit()


@settings(max_examples=300)
@given(country=st.sampled_from(COUNTRIES), before=keys, pause=st.floats(0, 100), data=st.data())
def test_no_digit_sequence_keeps_an_emergency_string_from_dialling(
        country: str, before: str, pause: float, data: st.DataObject) -> None:
    """Whatever was dialled before (decided by the classifier, a timeout, or not at all), a fresh
    collection — which call control starts after any decision — dials an emergency string at its last
    digit, and nothing in front of it on the same collection can turn it into something else unless
    those keys were already decided."""
    plan = load_plan(country)
    emergency = data.draw(st.sampled_from(plan.emergency))
    c = Classifier(plan)
    col = DigitCollector(c, 0.0)
    t = 0.0
    decided = None
    for k in before:
        t += 0.1
        r = col.key(k, t)
        if not isinstance(r, Collecting):
            decided = r
            break
    if decided is None:
        decided = col.poll(t + pause)
    # after any decision (or timeout), the next collection starts fresh
    col = DigitCollector(c, t + pause + 1)
    out = None
    for k in emergency:
        out = col.key(k, t + pause + 1.1)
    assert out is not None and not isinstance(out, Collecting)
    assert out.kind is Kind.EMERGENCY


@settings(max_examples=300)
@given(country=st.sampled_from(COUNTRIES), text=keys)
def test_only_the_exact_emergency_string_is_an_emergency_and_it_is_never_incomplete(
        country: str, text: str) -> None:
    plan = load_plan(country)
    c = Classifier(plan).classify(text)
    assert (c.kind is Kind.EMERGENCY) == (text in plan.emergency)
