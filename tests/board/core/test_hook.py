from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.board.core import events as ev
from roamline.board.core.debounce import Debouncer
from roamline.board.core.hook import HookTiming
from roamline.board.errors import UsageError

from .conftest import Rig


def lift(rig: Rig, at: int = 100) -> int:
    rig.transition(True, at)
    rig.run_until(at + 300)
    [(kind, value, when)] = rig.kinds(ev.OFF_HOOK)
    assert (kind, value) == (ev.OFF_HOOK, 0) and at <= when <= at + 6  # within the contact chatter
    return at + 300


def test_debouncer_reports_one_change_after_chatter_with_the_last_edge_time() -> None:
    d = Debouncer(10, False, 0)
    for t, lvl in [(0, True), (1, False), (3, True), (4, False), (6, True)]:
        d.edge(lvl, t)
        assert d.poll(t) is None
    assert d.deadline() == 16
    assert d.poll(15) is None
    assert d.poll(16) == 6
    assert d.stable is True
    assert d.poll(100) is None


def test_debouncer_ignores_a_spike_shorter_than_the_settle_time() -> None:
    d = Debouncer(10, True, 0)
    d.edge(False, 50)
    d.edge(True, 59)
    assert d.deadline() is None
    assert d.poll(200) is None and d.stable is True


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=0, max_size=8), st.booleans())
def test_any_chatter_shorter_than_settle_gives_exactly_one_lift(gaps: list[int], start: bool) -> None:
    rig = Rig(seed=None)
    t = 100
    lvl = True
    rig.edges.append((t, True))
    for g in gaps:
        t += g
        if t - 100 >= 9:
            break
        lvl = not lvl
        rig.edges.append((t, lvl))
    if not lvl:
        rig.edges.append((t + 1, True))
    rig.run_until(1000)
    assert [e[0] for e in rig.events] == [ev.OFF_HOOK]


def test_lift_and_hang_up_with_contact_bounce() -> None:
    rig = Rig(seed=7)
    t = lift(rig)
    rig.transition(False, t)
    rig.run_until(t + 2000)
    assert rig.kinds(ev.ON_HOOK) == [(ev.ON_HOOK, 0, rig.kinds(ev.ON_HOOK)[0][2])]
    assert abs(rig.kinds(ev.ON_HOOK)[0][2] - t) <= 6  # at the hang-up, within the chatter
    assert not rig.core.off_hook


@pytest.mark.parametrize(
    ("break_ms", "expect"),
    [
        (99, ev.GLITCH),  # between the pulse and flash windows: ignored
        (100, ev.FLASH),  # flash_min
        (450, ev.FLASH),
        (800, ev.FLASH),  # flash_max
        (801, ev.ON_HOOK),  # one ms longer is a hang-up
        (10, None),  # settles within the debounce: nothing at all
    ],
)
def test_flash_versus_hang_up_at_the_window_edges(break_ms: int, expect: int | None) -> None:
    rig = Rig(seed=None)  # exact edges: the windows are inclusive to the millisecond
    t = lift(rig)
    rig.hook_waveform(t, [(False, break_ms), (True, 2000)])
    rig.run_until(t + 3000)
    got = rig.events[1:]
    if expect is None:
        assert got == []
    elif expect == ev.ON_HOOK:
        assert got[0] == (ev.ON_HOOK, 0, t)
        assert got[1][0] == ev.OFF_HOOK  # the lift that followed is a new lift
    else:
        assert got == [(expect, break_ms, t + break_ms)]


def test_flash_window_holds_with_bounce_on_both_edges() -> None:
    for seed in range(20):
        rig = Rig(seed=seed)
        t = lift(rig)
        rig.hook_waveform(t, [(False, 400), (True, 1000)])
        rig.run_until(t + 2000)
        assert [e[0] for e in rig.events] == [ev.OFF_HOOK, ev.FLASH]


def pulses(rig: Rig, t: int, digit: int, pps: float, break_ratio: float, gap: int = 350) -> int:
    period = 1000 / pps
    brk = round(period * break_ratio)
    make = round(period) - brk
    segs: list[tuple[bool, int]] = []
    for _ in range(digit or 10):
        segs += [(False, brk), (True, make)]
    segs[-1] = (True, gap)
    return rig.hook_waveform(t, segs)


@pytest.mark.parametrize("pps", [8, 10, 12])
@pytest.mark.parametrize("ratio", [0.55, 0.60, 0.70])
def test_pulse_dialling_with_skewed_ratios_and_bounce(pps: int, ratio: float) -> None:
    rig = Rig(seed=pps * 100 + int(ratio * 100))
    t = lift(rig)
    number = [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    for d in number:
        t = pulses(rig, t, d, pps, ratio)
    rig.run_until(t + 1000)
    assert [e[1] for e in rig.kinds(ev.DIGIT)] == number
    assert rig.kinds(ev.GLITCH, ev.FLASH, ev.ON_HOOK, ev.BAD_DIGIT) == []


def test_pulse_dialling_with_random_dials() -> None:
    rng = random.Random(5)
    for _ in range(15):
        rig = Rig(seed=rng.randint(0, 1000))
        t = lift(rig)
        digits = [rng.randint(0, 9) for _ in range(4)]
        for d in digits:
            t = pulses(rig, t, d, rng.uniform(8, 12), rng.uniform(0.55, 0.70), gap=rng.randint(300, 900))
        rig.run_until(t + 1000)
        assert [e[1] for e in rig.kinds(ev.DIGIT)] == digits


def test_eleven_pulses_are_not_a_digit_and_a_hang_up_mid_train_drops_the_digit() -> None:
    rig = Rig(seed=3)
    t = lift(rig)
    segs: list[tuple[bool, int]] = [(False, 60), (True, 40)] * 11
    t = rig.hook_waveform(t, [*segs[:-1], (True, 400)])
    rig.run_until(t)
    assert rig.kinds(ev.BAD_DIGIT) == [(ev.BAD_DIGIT, 11, rig.kinds(ev.BAD_DIGIT)[0][2])]
    t = rig.hook_waveform(t, [(False, 60), (True, 40), (False, 60), (True, 40), (False, 2000)])
    rig.run_until(t)
    assert rig.kinds(ev.DIGIT) == []
    assert rig.kinds(ev.ON_HOOK)


def test_flash_ends_a_digit_in_progress_first() -> None:
    rig = Rig(seed=None)
    t = lift(rig)
    t = rig.hook_waveform(t, [(False, 60), (True, 40), (False, 60), (True, 40), (False, 300), (True, 500)])
    rig.run_until(t)
    assert [(e[0], e[1]) for e in rig.events[1:]] == [(ev.DIGIT, 2), (ev.FLASH, 300)]


def test_pulse_dial_off_makes_short_breaks_glitches_and_allows_flash_from_80ms() -> None:
    rig = Rig(HookTiming(pulse_dial=False, flash_min_ms=80), seed=None)
    t = lift(rig)
    t = rig.hook_waveform(t, [(False, 60), (True, 500), (False, 80), (True, 500)])
    rig.run_until(t)
    assert [(e[0], e[1]) for e in rig.events[1:]] == [(ev.GLITCH, 60), (ev.FLASH, 80)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"flash_min_ms": 90},  # overlaps the pulse window
        {"flash_min_ms": 900, "flash_max_ms": 800},
        {"settle_ms": 30},
        {"interdigit_ms": 50},
    ],
)
def test_inconsistent_timing_is_a_usage_error(kwargs: dict[str, int]) -> None:
    with pytest.raises(UsageError):
        HookTiming(**kwargs)  # type: ignore[arg-type]
